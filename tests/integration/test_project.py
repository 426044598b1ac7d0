"""The project's promises outside the library: the documents' examples, the demo, compose.yaml, CI, the CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.documents import Block, runnable

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = runnable("")  # README.md's and docs/'s untagged python blocks (tests/documents.py)


def not_installed_by_quickstart() -> list[str]:
    """Top-level modules of the extras the quickstart's first command does not install."""
    import tomllib
    from importlib.metadata import packages_distributions

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    kept = {re.split(r"[\[<>=~!; ]", req, maxsplit=1)[0].lower() for req in extras["embedded"]}
    others = {
        re.split(r"[\[<>=~!; ]", req, maxsplit=1)[0].lower().replace("_", "-")
        for name, reqs in extras.items()
        if name != "embedded"
        for req in reqs
        if not req.startswith("valkey-agentcache")
    } - kept
    return sorted(
        module
        for module, dists in packages_distributions().items()
        if any(d.lower().replace("_", "-") in others for d in dists) and module.isidentifier()
    )


BLOCKER = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name} is not installed by the quickstart", name=name)
sys.meta_path.insert(0, Blocker())
"""


@pytest.mark.parametrize("block", EXAMPLES, ids=[block.where for block in EXAMPLES])
def test_documented_examples_run_after_the_first_quickstart_command(block: Block) -> None:
    """Each example of the README and the docs runs in a fresh interpreter that can import only what
    ``pip install -e ".[embedded]"`` installs (the other extras' modules are made unimportable)."""
    blocked = not_installed_by_quickstart()
    assert "fakeredis" in blocked and "pytest" in blocked
    code = f"BLOCKED = {set(blocked)!r}\n{BLOCKER}\nexec(compile({block.code!r}, {block.where!r}, 'exec'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, f"the python block at {block.where} failed:\n{done.stderr}"


def test_demo_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "agentcache.cli", "demo"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "round trips : 1" in done.stdout
    steps = done.stdout.split("\n> ")
    read = next(step for step in steps if step.startswith("turn 2: read the prices"))
    assert "NOSCRIPT" not in read  # a plain GETEX: no script, so no resend to explain (it once said there was)
    tool = next(step for step in steps if step.startswith("tool: search flights"))
    assert "round trips : 3" in tool and "resending a script new to this server" in tool  # the claim's first use
    again = next(step for step in steps if step.startswith("after: nothing left"))
    assert "round trips : 1" in again and "NOSCRIPT" not in again  # the same script, now known
    assert "{'intent': 'book_flight', 'prices': {'SOF': 129.0, 'VIE': 88.5}, 'seat': 'aisle'}" in done.stdout
    assert "search_flights: hit rate 50%, cost saved 0.01" in done.stdout
    assert done.stdout.rstrip().endswith("see README.md for the rest.")


def test_the_demo_on_a_shared_server_leaves_nothing_and_runs_the_same_twice(server_urls: Any) -> None:
    """On --url it left its tool results and statistics: a second run's 'miss' was a hit."""
    import valkey

    url = server_urls("standalone")
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "agentcache", "demo", "--url", url], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "search_flights: hit rate 50%, cost saved 0.01" in done.stdout
    client = valkey.Valkey.from_url(url)
    try:
        assert list(client.scan_iter(match="demo:*", count=1000)) == []
    finally:
        client.close()


def compose_commands() -> list[list[str]]:
    found = []
    if shutil.which("docker-compose"):
        found.append(["docker-compose"])
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            found.append(["docker", "compose"])
    return found


@pytest.mark.parametrize("profile", [[], ["--profile", "cluster"]], ids=["single-node", "cluster"])
def test_compose_file_validates(profile: list[str]) -> None:
    commands = compose_commands()
    if not commands:
        pytest.skip("neither docker compose nor docker-compose is installed")
    for command in commands:
        done = subprocess.run(
            [*command, "-f", str(ROOT / "compose.yaml"), *profile, "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr


def test_session_benchmark_smoke(tmp_path: Path) -> None:
    """The benchmark runs end to end (tiny sizes) and writes its JSON; its timings are not asserted."""
    import json

    from agentcache.cli import main

    out = tmp_path / "session.json"
    assert main(["bench", "session", "--quick", "--out", str(out)]) == 0
    assert json.loads(out.read_text())


def test_tool_benchmark_smoke(tmp_path: Path) -> None:
    """The tool benchmark runs end to end and every single-flight burst ran its function once."""
    import json

    from agentcache.cli import main

    out = tmp_path / "tool.json"
    assert main(["bench", "tool", "--quick", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["bursts"]
    cached = [b for b in results["bursts"] if "no cache" not in b["kind"]]
    assert cached
    assert all(set(b["executions"]) == {1} and not b["errors"] and not b["wrong_values"] for b in cached)
