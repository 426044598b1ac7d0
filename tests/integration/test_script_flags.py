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

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import valkey

import agentcache.tiers
from tests.unit.test_script_flags import flags_of, loaded_scripts

PACKAGE = Path(agentcache.tiers.__file__).parent
CALL = re.compile(r"redis\.call\(\s*'([A-Za-z]+)'")


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
