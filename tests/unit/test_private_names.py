"""Private names stay private, checked by parsing the source.

A name with a leading underscore belongs to its module: no agentcache module imports one from
another (a name two modules share is public, with a docstring). And the facades' underscored
attributes (``_executor``, ``_settings``...) are read only by the facade itself and the layers it
is built from (``core/`` and ``tiers/``): a surface goes through the public API."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "agentcache"
FACADE = PACKAGE / "facade.py"
BINDING = PACKAGE / "core" / "binding.py"
INSIDE = (PACKAGE / "core", PACKAGE / "tiers")  # the facade is built from these


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(path: Path) -> list[str]:
    """``module name`` for each underscored name ``path`` imports from an agentcache module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("agentcache")):
            found += [f"{node.module} {alias.name}" for alias in node.names if private(alias.name)]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if any(map(private, alias.name.split(".")[1:]))]
    return found


def facade_private_attributes() -> set[str]:
    """The underscored attributes and methods of the facades and of ``Bound``, their base."""
    names: set[str] = set()
    for path, classes in ((FACADE, {"_Facade", "AgentCache", "AsyncAgentCache"}), (BINDING, {"Bound"})):
        for cls in ast.parse(path.read_text(encoding="utf-8")).body:
            if not (isinstance(cls, ast.ClassDef) and cls.name in classes):
                continue
            for node in ast.walk(cls):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and private(node.name):
                    names.add(node.name)
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                    if private(node.attr) and isinstance(node.ctx, ast.Store):
                        names.add(node.attr)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and private(node.id):
                    names.add(node.id)  # class attributes (_EXECUTOR, _ASYNC)
    return names


def test_the_facade_has_private_attributes_to_guard() -> None:
    """The check below looks for these names: it finds them where they are defined."""
    assert {"_executor", "_settings", "_context", "_setup", "_server"} <= facade_private_attributes()


def test_no_module_imports_a_private_name_of_another() -> None:
    found = [f"{path.relative_to(ROOT)}: {name}" for path in modules() for name in private_imports(path)]
    assert found == [], "make these names public (and give them a docstring) or move them:\n" + "\n".join(found)


def test_the_import_check_sees_a_private_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from agentcache.tiers.x import _hidden, shown, __all__\nimport agentcache._private\nfrom os import _exit\n"
    )
    assert private_imports(sample) == ["agentcache.tiers.x _hidden", "agentcache._private"]


def outside_reads(path: Path, names: set[str]) -> list[str]:
    """``line: expr._name`` for each facade attribute read on something other than ``self``/``cls``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute) or node.attr not in names:
            continue
        if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_surfaces_do_not_read_the_facades_private_attributes() -> None:
    names = facade_private_attributes()
    surfaces = [p for p in modules() if p != FACADE and not any(p.is_relative_to(inside) for inside in INSIDE)]
    assert len(surfaces) > 10  # the surfaces are there to check: http, agent_tools, integrations, cli...
    found = [f"{path.relative_to(ROOT)}:{read}" for path in surfaces for read in outside_reads(path, names)]
    assert found == [], "use the facade's public API (or add to it) instead of:\n" + "\n".join(found)


def test_the_attribute_check_sees_a_private_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f(cache, self):\n    return cache._executor.run, self._executor, cache.settings\n")
    assert outside_reads(sample, {"_executor"}) == ["2: cache._executor"]
