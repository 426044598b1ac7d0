"""The README has one framework or observer example per tag (parsed here; each runs, in a fresh
interpreter on the bundled server, in tests/integration/test_framework_readme.py)."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()

TAGS = "langgraph|langgraph-store|openai-agents|langchain|adk|pydantic-ai|llama-index|strands|observers"

BLOCKS = re.findall(rf"```python \{{({TAGS})\}}\n(.*?)```", README, flags=re.S)


def test_every_framework_has_an_example() -> None:
    assert sorted(name for name, _ in BLOCKS) == sorted(TAGS.split("|")), "one example per tag"
