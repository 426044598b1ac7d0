"""The documentation keeps up with the code: the README stays short, and the troubleshooting page
has a section for every typed error (what the site builds, strictly, is checked by .ci/run)."""

from __future__ import annotations

import inspect
import re

import agentcache.errors
from agentcache.errors import AgentCacheError
from tests.documents import ROOT


def test_the_readme_is_short_and_has_no_relative_image() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250, "the README links to docs/ for the rest"
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)|<img [^>]*src=\"([^\"]+)\"", readme)
    relative = [src for pair in images for src in pair if src and not src.startswith("https://")]
    assert relative == [], f"a package index cannot show relative images: {relative}"


def test_every_error_has_a_troubleshooting_section() -> None:
    page = (ROOT / "docs" / "troubleshooting.md").read_text()
    sections = set(re.findall(r"^### `(\w+)`$", page, flags=re.M))
    errors = {
        name
        for name, value in vars(agentcache.errors).items()
        if inspect.isclass(value) and issubclass(value, AgentCacheError) and value.__module__ == "agentcache.errors"
    }
    assert "BackendError" in errors and "SessionNotFound" in errors
    assert sorted(errors - sections) == [], "say when each error happens and what to do (docs/troubleshooting.md)"
    assert sorted(sections - errors) == [], "a section for an error that no longer exists"


def _section(page: str, heading: str) -> str:
    start = page.index(f"\n## {heading}\n")
    end = page.find("\n## ", start + 1)
    return page[start : end if end != -1 else len(page)]


def test_getting_started_lists_every_extra() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    table = _section((ROOT / "docs" / "getting-started.md").read_text(), "Extras")
    listed = {
        name for cell in re.findall(r"^\| ([^|]+) \|", table, flags=re.M) for name in re.findall(r"`([\w-]+)`", cell)
    }
    assert sorted(set(extras) - listed) == [], "say what each extra brings (docs/getting-started.md, Extras)"
    assert sorted(listed - set(extras)) == [], "an extra that pyproject.toml does not have"


def test_getting_started_lists_every_command_and_option() -> None:
    import argparse

    from agentcache.cli import command_line

    commands = next(a for a in command_line()._actions if isinstance(a, argparse._SubParsersAction)).choices
    section = _section((ROOT / "docs" / "getting-started.md").read_text(), "The command line")
    rows = dict(re.findall(r"^\| `agentcache (\w+)([^`]*)` \|", section, flags=re.M))
    assert sorted(rows) == sorted(commands), "a row for each command (docs/getting-started.md, The command line)"
    words = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert f"has {words[len(commands)]} commands" in section
    for name, command in commands.items():
        options = {o for a in command._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
        shown = set(re.findall(r"--[\w-]+", rows[name]))
        assert sorted(options - shown) == [], f"agentcache {name}: options missing from its row"
        assert sorted(shown - options) == [], f"agentcache {name}: its row shows options it does not have"
