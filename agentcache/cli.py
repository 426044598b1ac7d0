"""The ``agentcache`` command: ``agentcache demo``, ``agentcache bench session|tool|conversations``."""

from __future__ import annotations

import argparse
import importlib
import sys

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
    try:
        module = importlib.import_module(f"benchmarks.{options.name}")
    except ModuleNotFoundError:
        print(
            f"no benchmark {options.name!r}: benchmarks live in the source checkout's benchmarks/ folder; "
            "run this from the checkout (pip install -e '.[bench]')",
            file=sys.stderr,
        )
        return 2
    return int(module.main(options.args))


if __name__ == "__main__":
    raise SystemExit(main())
