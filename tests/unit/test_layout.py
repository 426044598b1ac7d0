"""The layout rules of docs/architecture.md, checked by parsing the source: layers as folders,
imports pointing down, no circle, Lua in .lua files, every key built in the key module (the wheel
and the CLI's benchmarks: tests/integration/test_layout.py)."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PACKAGE = ROOT / "agentcache"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# Lower number = lower layer. A module may import its own layer or any lower one, never a higher one.
LAYERS = {
    "agentcache.errors": 0,
    "agentcache.encoding": 1,
    "agentcache.core": 2,
    "agentcache.embedders": 2,  # text to vectors (local model, OpenAI): below the semantic tier that uses them
    "agentcache.stats": 2,  # the statistics buffer and its two operations: below the tiers that count
    "agentcache.server": 2,
    "agentcache.tiers": 3,
    "agentcache.options": 4,
    "agentcache.facade": 5,
    "agentcache.agent_tools": 6,  # a surface: above the tiers, beside the facades' users
    "agentcache.http": 6,
    "agentcache.integrations": 6,  # framework adapters (each behind an extra)
    "agentcache.providers": 6,  # model SDK wrappers (each behind an extra)
    "agentcache.observers": 6,  # OpenTelemetry and Prometheus observers (each behind an extra)
    "agentcache.testing": 6,
    "agentcache.demo": 6,
    "agentcache.stats_view": 6,  # agentcache stats: tables of the shared statistics (rich)
    "agentcache.cli": 7,
    "agentcache": 7,  # the package's face re-exports from everywhere
}


def layer(module: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


@functools.cache
def imports() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports (type-only imports too).
    Parsed once per run: the source does not change while the tests read it."""
    found: dict[str, set[str]] = {}
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("agentcache"):
                    targets.add(node.module)
                    targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{name}: relative import; the package uses absolute imports")
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name.startswith("agentcache"))
        found[name] = {t for t in targets if t in modules and t != name}
    return found


def test_the_layers_are_folders() -> None:
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("_")} >= {
        "core",
        "encoding",
        "tiers",
    }
    assert (PACKAGE / "tiers" / "tool").is_dir() and (PACKAGE / "tiers" / "conversations").is_dir()


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in imports().items()
        for target in targets
        if layer(target) > layer(module) and not (module == "agentcache" or target == "agentcache")
    ]
    assert upward == []


def test_no_tier_runs_an_executor_or_knows_a_facade() -> None:
    """Tiers learn what they need (``Bound.asynchronous``) from the binding; an executor type may
    appear in a tier only for type checking (under ``if TYPE_CHECKING``, not at run time)."""
    graph = imports()
    for path in (PACKAGE / "tiers").rglob("*.py"):
        module = module_name(path)
        assert not {t for t in graph[module] if t.startswith(("agentcache.facade", "agentcache.options"))}, module
        run_time = {
            node.module for node in ast.parse(path.read_text()).body if isinstance(node, ast.ImportFrom) and node.module
        }
        assert "agentcache.core.executors" not in run_time, f"{module} imports an executor"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle found by a depth-first walk of ``graph`` (node -> the nodes it imports)."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_circle() -> None:
    # the package face imports everything; nothing inside imports the face (the next test)
    graph = {m: {t for t in targets if t != "agentcache"} for m, targets in imports().items() if m != "agentcache"}
    assert circles(graph) == []


def test_nothing_inside_imports_the_package_face() -> None:
    inside = [m for m, targets in imports().items() if "agentcache" in targets and layer(m) < layer("agentcache")]
    assert inside == []


def test_lua_lives_in_lua_files() -> None:
    offenders = [p for p in PACKAGE.rglob("*.py") if re.search(r"redis\.call\(|server\.call\(", p.read_text())]
    assert offenders == []
    scripts = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.lua"))
    assert len(scripts) >= 10
    for path in PACKAGE.rglob("*.lua"):
        text = path.read_text()
        if text.startswith("#!lua"):  # a script's flags line comes first (tests/integration/test_script_flags.py)
            text = text.split("\n", 1)[1]
        assert text.startswith("-- "), f"{path.name} has no header comment"


def test_every_key_is_built_in_the_key_module() -> None:
    keyish = re.compile(r"""f["'][^"']*\{[^}]*prefix[^}]*\}:""")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in PACKAGE.rglob("*.py")
        if p != PACKAGE / "encoding" / "keys.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if keyish.search(line)
    ]
    assert offenders == []
