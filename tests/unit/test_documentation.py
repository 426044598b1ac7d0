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
