"""The order inside ``agentcache/tiers/`` (docs/architecture.md), checked by parsing the source.

Lower first; a module may import its own level or a lower one. The tiers of level 3 are peers: none
imports another (what they share sits below them, in ``shelf/``, ``settings.py`` or ``content/``).
At folder level (each tier folder or module as one node) the graph has no circle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.unit.test_layout import circles

ROOT = Path(__file__).resolve().parents[2]
TIERS = ROOT / "agentcache" / "tiers"

ORDER = {
    "content": 0,  # messages, parts, provider formats: shared models, no I/O
    "settings": 1,  # one cache's options and run-time state
    "shelf": 2,  # entries, single flight and TTL policies shared by the tool and LLM tiers
    "session": 3,
    "tool": 3,
    "llm": 3,
    "store": 3,
    "limits": 3,
    "monitor": 3,
    "checkpoints": 3,
    "rekey": 3,  # agentcache rekey: seal what is stored again under the current encryption key
    "conversations": 4,  # composes the session tier (conv.state), the LLM and tool tiers (turns)
    "semantic": 4,  # composes the LLM tier (exact hit first, its single flight)
}


def unit_of(module: str) -> str | None:
    """The tier folder or module a dotted module name belongs to (None: outside tiers/)."""
    parts = module.split(".")
    if parts[:2] != ["agentcache", "tiers"] or len(parts) < 3:
        return None
    return parts[2]


def tier_imports() -> list[tuple[str, str, str, str]]:
    """(module, its unit, imported module, that unit) for each import between units of tiers/."""
    found = []
    for path in TIERS.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        here = unit_of(module)
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                there = unit_of(target)
                if here and there and there != here:
                    found.append((module, here, target, there))
    return found


def test_every_unit_has_a_level() -> None:
    units = {p.stem for p in TIERS.iterdir() if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert units - {"__init__"} == set(ORDER)


def test_no_arrow_against_the_order() -> None:
    against = sorted(
        f"{module} imports {target} ({here} {ORDER[here]} -> {there} {ORDER[there]})"
        for module, here, target, there in tier_imports()
        if ORDER[there] > ORDER[here] or (ORDER[there] == ORDER[here] == 3)
    )
    assert against == []


def test_no_circle_between_tier_folders() -> None:
    graph: dict[str, set[str]] = {}
    for _, here, _, there in tier_imports():
        graph.setdefault(here, set()).add(there)
    assert circles(graph) == []
