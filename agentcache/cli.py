"""The ``agentcache`` command: ``agentcache demo``, ``agentcache bench session|tool|conversations``."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from agentcache import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentcache", description="A Valkey-native cache layer for AI agents.")
    parser.add_argument("--version", action="version", version=f"agentcache {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="walk one agent loop on the bundled Valkey server")
    bench = commands.add_parser("bench", help="run a benchmark from benchmarks/ (e.g. 'session')")
    bench.add_argument("name", help="which benchmark: session, tool, conversations")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark (try --help)")
    options = parser.parse_args(argv)

    if options.command == "demo":
        from agentcache.demo import main as demo

        return demo()
    module = _benchmark(options.name)
    if module is None:
        return 2
    return int(module.main(options.args))


def _benchmark(name: str) -> Any:
    """The benchmark module ``name`` from this checkout's ``benchmarks/`` folder, never from another
    installed package that happens to be called ``benchmarks``; None (and a message) if absent."""
    checkout = Path(__file__).resolve().parent.parent
    folder = checkout / "benchmarks"
    if not name.isidentifier() or not (folder / f"{name}.py").is_file() or not (folder / "harness.py").is_file():
        print(
            f"no benchmark {name!r}: benchmarks live in the source checkout's benchmarks/ folder; "
            "run this from an editable install of the checkout (pip install -e '.[bench]')",
            file=sys.stderr,
        )
        return None
    sys.path.insert(0, str(checkout))  # ours first, whatever else is installed
    loaded = sys.modules.get("benchmarks")
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve().parent != folder:
        print(f"another package named 'benchmarks' is already imported ({loaded!r}); not running it", file=sys.stderr)
        return None
    module = importlib.import_module(f"benchmarks.{name}")
    if Path(module.__file__ or "").resolve().parent != folder:
        print(
            f"'benchmarks.{name}' resolved outside this checkout ({module.__file__}); not running it", file=sys.stderr
        )
        return None
    return module


if __name__ == "__main__":
    raise SystemExit(main())
