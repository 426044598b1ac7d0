"""The project's promises outside the library that need no server: the quickstart and CI agree, the
CLI's version and its refusal of an unknown benchmark (the rest: tests/integration/test_project.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:bash|sh)\n(.*?)```", section, flags=re.S)
    assert block, "the quickstart has a shell block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_quickstart_has_two_commands_and_ci_runs_the_test_one() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    assert "agentcache demo" in commands[0]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_cli_version_and_unknown_benchmark() -> None:
    from agentcache.cli import main

    assert main(["bench", "no-such-benchmark"]) == 2
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
