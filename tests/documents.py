"""The project's documents (README.md and every page under docs/) and the code in them.

Every fenced ``python`` block of every document runs in the tests, in a fresh interpreter:

- untagged blocks (```` ```python ````) in tests/integration/test_project.py, importing only what the
  quickstart's first command installs;
- blocks tagged with a framework, observer or other extra (```` ```python {langgraph} ````,
  ``{encryption}``, ``{semantic}``) in tests/integration/test_framework_readme.py, with every extra
  installed and the OpenAI SDK pointed at the loopback model server;
- blocks tagged ``{openai}`` or ``{anthropic}`` in tests/integration/test_llm_clients.py, against the
  loopback model server.

A block that must not run says why in an HTML comment on the line right above it (invisible on the
page): ``<!-- not run: an excerpt of agentcache's own source, not a program -->``. Use it sparingly.
The same block shown on two pages runs once (the first place it appears names it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]

FENCE = re.compile(r"^```python(?: \{([a-z0-9-]+)\})?\s*$")
NOT_RUN = re.compile(r"^<!-- not run: (\S.*?) -->$")

FRAMEWORK_TAGS = (
    *("langgraph", "langgraph-store", "openai-agents", "langchain", "adk", "pydantic-ai", "llama-index"),
    *("strands", "observers"),
)
EXTRA_TAGS = ("encryption", "semantic")  # other extras' blocks: run like the frameworks', none required
MODEL_TAGS = ("openai", "anthropic")
KNOWN_TAGS = ("", *FRAMEWORK_TAGS, *EXTRA_TAGS, *MODEL_TAGS)


class Block(NamedTuple):
    """One fenced python block: where it starts (``docs/session.md:12``), its tag ("" for none), its
    code, and why it does not run (None: it runs)."""

    where: str
    tag: str
    code: str
    not_run: str | None


def documents() -> list[Path]:
    """README.md, then every Markdown page under docs/, in path order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks_of(path: Path) -> list[Block]:
    """The fenced python blocks of one document."""
    lines = path.read_text().splitlines()
    name = path.relative_to(ROOT).as_posix()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        above = lines[index - 1].strip() if index else ""
        reason = NOT_RUN.match(above)
        end = index + 1
        while end < len(lines) and lines[end] != "```":
            end += 1
        assert end < len(lines), f"{name}:{index + 1}: the python block is never closed"
        code = "\n".join(lines[index + 1 : end]) + "\n"
        found.append(Block(f"{name}:{index + 1}", fence.group(1) or "", code, reason.group(1) if reason else None))
        index = end + 1
    return found


def all_blocks() -> list[Block]:
    """Every fenced python block of every document, run or not."""
    return [block for path in documents() for block in blocks_of(path)]


def runnable(*tags: str) -> list[Block]:
    """The blocks to run with one of ``tags`` ("" for untagged), each distinct code once."""
    seen: set[str] = set()
    chosen: list[Block] = []
    for block in all_blocks():
        if block.not_run is None and block.tag in tags and block.code not in seen:
            seen.add(block.code)
            chosen.append(block)
    return chosen
