"""Every server-side script declares its flags on its first line (``#!lua flags=...``), and the
flags match what it does, judged by the server's own command table (issue 29, docs/memory.md):

- ``no-writes``: it calls no write command (so it runs on a server out of memory, and on replicas);
- ``allow-oom``: it writes, but never a command the server refuses for memory (``denyoom``): it
  refreshes expiries or removes, so it must keep working when memory is full;
- no flags (``#!lua``): it calls a ``denyoom`` command, so a server over ``maxmemory`` refuses the
  whole call before it starts, never after half of it ran.

A prelude (the start the loader puts before some scripts) has no flags line of its own: the loader
keeps the script's flags line first, where the server reads it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import valkey

import agentcache.tiers
from agentcache.core.commands import Script, without_shebang

PACKAGE = Path(agentcache.tiers.__file__).parent
FLAGS_LINE = re.compile(r"#!lua(?: flags=([a-z-]+(?:,[a-z-]+)*))?\n")
CALL = re.compile(r"redis\.call\(\s*'([A-Za-z]+)'")


def lua_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.lua"))


def loaded_scripts() -> list[Script]:
    """Every script the tiers load (module-level Script objects)."""
    found: dict[str, Script] = {}
    for module in pkgutil.walk_packages([str(PACKAGE)], "agentcache.tiers."):
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, Script):
                found[value.sha] = value
    return list(found.values())


def flags_of(source: str) -> set[str] | None:
    """The flags a script declares, or None if its first line is not a flags line."""
    match = FLAGS_LINE.match(source)
    if match is None:
        return None
    return set(match.group(1).split(",")) if match.group(1) else set()


@pytest.fixture(scope="module")
def command_flags(server_urls: Callable[[str], str]) -> Iterator[Callable[[str], set[str]]]:
    """The server's flags of a command (``write``, ``denyoom``, ...), from COMMAND INFO."""
    client = valkey.Valkey.from_url(server_urls("standalone"))
    known: dict[str, set[str]] = {}

    def flags(name: str) -> set[str]:
        if name not in known:
            info = client.execute_command("COMMAND", "INFO", name)  # valkey-py: {name: {"flags": [...]}}
            assert name.lower() in info, f"the server does not know {name}"
            known[name] = {f.decode() if isinstance(f, bytes) else f for f in info[name.lower()]["flags"]}
        return known[name]

    yield flags
    client.close()


def test_every_script_file_has_a_flags_line_and_every_prelude_none() -> None:
    scripts = loaded_scripts()
    assert len(scripts) >= 20
    bodies = [without_shebang(s.source).split("\n", 1)[1] for s in scripts]
    for path in lua_files():
        text = path.read_text()
        if text.startswith("#!"):
            assert flags_of(text) is not None, f"{path.name}: the first line is not '#!lua' or '#!lua flags=...'"
            first, body = text.split("\n", 1)
            users = [s for s in scripts if s.source.startswith(first + "\n") and s.source.endswith(body)]
            assert users, f"{path.name} is not loaded by any tier"
        else:  # a prelude: loaded only after a script's flags line
            assert any(text in b for b in bodies), f"{path.name} has no flags line and is no script's prelude"


def test_every_loaded_script_starts_with_its_flags_line() -> None:
    for script in loaded_scripts():
        flags = flags_of(script.source)
        assert flags is not None, f"{script.name}: the server reads flags only on the very first line"
        assert flags <= {"no-writes", "allow-oom"}, f"{script.name}: unexpected flags {flags}"
        assert flags != {"no-writes", "allow-oom"}, f"{script.name}: no-writes already runs out of memory"
        assert script.source.count("#!lua") == 1, f"{script.name}: a second flags line (in its prelude?)"


def test_the_flags_match_what_each_script_calls(command_flags: Callable[[str], set[str]]) -> None:
    for script in loaded_scripts():
        assert script.source.count("redis.call(") == len(CALL.findall(script.source)), (
            f"{script.name}: every redis.call names its command literally, so this test can judge it"
        )
        called = {name.upper() for name in CALL.findall(script.source)}
        writes = {c for c in called if "write" in command_flags(c)}
        grows = {c for c in called if "denyoom" in command_flags(c)}
        flags = flags_of(script.source)
        if flags == {"no-writes"}:
            assert not writes, f"{script.name} is no-writes but calls {writes}"
        elif flags == {"allow-oom"}:
            assert writes and not grows, f"{script.name} is allow-oom: it must only refresh or remove, not {grows}"
        else:
            assert flags == set() and grows, (
                f"{script.name} declares no flags, so it is refused when memory is full, but it calls no "
                f"command that needs memory ({sorted(called)}): make it no-writes or allow-oom"
            )


def test_the_server_accepts_every_script_under_its_sha(server_urls: Callable[[str], str]) -> None:
    """SCRIPT LOAD compiles the body and parses its flags line; the SHA is what EVALSHA sends."""
    for topology in ("standalone", "cluster"):
        client = valkey.Valkey.from_url(server_urls(topology))
        try:
            for script in loaded_scripts():
                assert client.script_load(script.source) == script.sha, script.name
        finally:
            client.close()


def test_the_in_memory_backend_runs_scripts_with_flags_lines() -> None:
    """fakeredis's Lua cannot parse a flags line: its client sends it as a comment (same line
    numbers), and a call by the SHA of the real body runs that."""
    from agentcache.core.connect import memory_client

    client = memory_client(asynchronous=False)
    source = "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])"
    script = Script("probe", source)
    client.set("k", "v")
    assert client.eval(source, 1, "k") == b"v"
    assert client.evalsha(script.sha, 1, "k") == b"v"
    pipe = client.pipeline(transaction=False)
    pipe.evalsha(script.sha, 1, "k")
    pipe.eval(source, 1, "k")
    assert pipe.execute() == [b"v", b"v"]
