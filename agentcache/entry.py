"""The ``agentcache`` command's entry point (and ``python -m agentcache``'s): Ctrl-C from the first
moment ends it quietly with status 130.

It imports nothing of its own before its handler is in place, so an interrupt while the command's
modules load (argparse, the CLI, what a command needs) is answered like one during a command
(:func:`agentcache.cli.main` answers those)."""

from __future__ import annotations

import sys

INTERRUPTED = 130
"""What a shell reports for a command stopped by Ctrl-C (128 + SIGINT); ``agentcache.cli`` answers
with the same once it runs (it does not import this module: that would be a circle)."""


def main() -> int:
    """Load the CLI and run the command in ``sys.argv``."""
    try:
        from agentcache.cli import main as run

        return run()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
