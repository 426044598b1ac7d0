"""Every server-side script declares its flags on its first line (``#!lua flags=...``), every prelude
none, and the loader keeps the flags line first; the in-memory backend runs such scripts. Whether
the flags match what each script does is judged by a server's command table in
tests/integration/test_script_flags.py."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import agentcache.tiers
from agentcache.core.commands import Script, without_shebang

FLAGS_LINE = re.compile(r"#!lua(?: flags=([a-z-]+(?:,[a-z-]+)*))?\n")


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


PACKAGE = Path(agentcache.tiers.__file__).parent

FLAGS_LINE = re.compile(r"#!lua(?: flags=([a-z-]+(?:,[a-z-]+)*))?\n")


def lua_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.lua"))


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
