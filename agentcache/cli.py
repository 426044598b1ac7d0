"""The ``agentcache`` command: ``agentcache demo``, ``agentcache mcp`` (the MCP server),
``agentcache serve`` (the HTTP API), ``agentcache stats`` (the shared statistics), ``agentcache
rekey`` (re-encryption) and ``agentcache bench session|tool|conversations|...``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from agentcache import __version__


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each option's default, where it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return action.help
        return super()._get_help_string(action)


INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C (128 + SIGINT)


def main(argv: list[str] | None = None) -> int:
    """Run one command; Ctrl-C ends any of them quietly with status 130 (servers stopped, nothing left)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED


def command_line() -> argparse.ArgumentParser:
    """The command line: every command and its options (what ``--help`` shows)."""
    parser = argparse.ArgumentParser(
        prog="agentcache",
        description="A Valkey-native cache layer for AI agents.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"agentcache {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_help = commands.add_parser(
        "demo",
        help="walk one agent loop on the bundled Valkey server",
        description="Walk one agent loop (session fields with their own TTLs, a cached tool, user parts), "
        "printing each step's keys, on the bundled Valkey server (started and stopped here) or on --url.",
        formatter_class=_Help,
    )
    demo_help.add_argument("--url", default=None, help="a Valkey server instead of the bundled one (prefix demo)")
    mcp = commands.add_parser(
        "mcp",
        help="serve the session_data tool over MCP (stdio; the 'mcp' extra)",
        description="Serve the session_data tool and the thread's resources over MCP on stdio, for one thread "
        "(--thread) or the thread each call names (--thread-from-arg), on the bundled Valkey server or on --url.",
        formatter_class=_Help,
    )
    mcp.add_argument("--url", default=None, help="the Valkey server (default: start the bundled one)")
    where = mcp.add_mutually_exclusive_group(required=True)
    where.add_argument("--thread", help="the one thread the tool and resources serve")
    where.add_argument("--thread-from-arg", action="store_true", help="each call names its thread (thread_id)")
    mcp.add_argument("--allow-user-parts", action="store_true", help="let the model set __user_part_ keys")
    http = commands.add_parser(
        "serve",
        help="serve the HTTP API (the 'http' extra)",
        description="Serve the HTTP API and the dashboard (/dashboard) on the bundled Valkey server (started "
        "and stopped here) or on --url. Keys come from AGENTCACHE_HTTP_USER_KEYS and AGENTCACHE_HTTP_ADMIN_KEYS; "
        "without them only a loopback address is served.",
        formatter_class=_Help,
    )
    http.add_argument("--url", default=None, help="the Valkey server (default: start the bundled one)")
    http.add_argument("--data-dir", default=None, help="with the bundled server: keep its data here")
    http.add_argument(
        "--rate-limit",
        default=None,
        help="requests per API key, e.g. 600/60 (per 60 s), 10/s, 600/min (default: AGENTCACHE_HTTP_RATE_LIMIT)",
    )
    http.add_argument(
        "--model",
        default=None,
        help="provider:model (openai or anthropic, key and base URL from their usual environment variables) "
        "that answers the Sessions API's messages (default: AGENTCACHE_MODEL, else none)",
    )
    http.add_argument(
        "--quota",
        default=None,
        help="what each API key may write per window, e.g. threads=1000,keys=200,bytes=50mb,per=1d "
        "(default: AGENTCACHE_HTTP_QUOTA, else none)",
    )
    http.add_argument(
        "--docs", action="store_true", help="serve /openapi.json (admin key) and Swagger UI at /docs (local assets)"
    )
    http.add_argument(
        "--access-log", action="store_true", help="log one line per request (off by default: no per-request logging)"
    )
    http.add_argument("--host", default="127.0.0.1", help="the address to listen on (loopback unless keys are set)")
    http.add_argument("--port", type=_port, default=8787, help="TCP port, 0 to 65535")
    stats = commands.add_parser(
        "stats",
        help="the shared statistics as tables (the 'cli' extra)",
        description="Print the statistics every process using the caches under --prefix shares on the server "
        "(hits, misses, saved calls per tier and tool), once or every --watch seconds until Ctrl-C.",
        formatter_class=_Help,
    )
    stats.add_argument("--url", required=True, help="the Valkey server, e.g. valkey://localhost:6379")
    stats.add_argument("--prefix", default=None, help="the caches' key prefix (default agentcache)")
    stats.add_argument("--watch", type=_interval, nargs="?", const=2.0, default=None, help="redraw every N seconds (2)")
    rekey = commands.add_parser(
        "rekey",
        help="re-encrypt what is stored under the current encryption key",
        description="Seal every stored value again under the first key of AGENTCACHE_ENCRYPTION_KEYS "
        "(name:base64key,name:base64key: the new key first, the old ones after). Resumable: each step "
        "prints its cursor (and --state keeps it); values already under the current key are left alone.",
        formatter_class=_Help,
    )
    rekey.add_argument("--url", required=True, help="the Valkey server, e.g. valkey://localhost:6379")
    rekey.add_argument("--prefix", default=None, help="the caches' key prefix (default agentcache)")
    rekey.add_argument("--cursor", default=None, help="resume from this cursor (what a stopped run printed)")
    rekey.add_argument("--state", default=None, help="a file that keeps the cursor: read at start, written each step")
    rekey.add_argument("--count", type=_count, default=500, help="keys examined per step (SCAN COUNT)")
    rekey.add_argument(
        "--allow-plaintext", action="store_true", help="also encrypt values stored before encryption was on"
    )
    bench = commands.add_parser(
        "bench",
        help="run a benchmark from benchmarks/ (e.g. 'session')",
        formatter_class=_Help,
    )
    bench.add_argument("name", nargs="?", help="which benchmark: session, tool, conversations, llm, ...")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark (try --help)")
    return parser


def _main(argv: list[str] | None) -> int:
    options = command_line().parse_args(argv)
    from agentcache.errors import AgentCacheError

    try:
        return _run(options)
    except AgentCacheError as exc:  # a missing extra, a bad URL, a server that cannot be reached: one line
        print(f"agentcache {options.command}: {exc}", file=sys.stderr)
        return 2


def _run(options: argparse.Namespace) -> int:
    if options.command == "demo":
        from agentcache.demo import main as demo

        return demo(options.url)
    if options.command == "mcp":
        return _mcp(options)
    if options.command == "serve":
        return _serve(options)
    if options.command == "stats":
        return _stats(options)
    if options.command == "rekey":
        return _rekey(options)
    module = _benchmark(options.name)
    if module is None:
        return 2
    return int(module.main(options.args))


def _serve(options: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401 - only to say what to install
        import uvicorn  # noqa: F401
    except ImportError:
        print('the HTTP API needs the http extra: pip install "valkey-agentcache[http]"', file=sys.stderr)
        return 2
    from agentcache.http.app import serve

    serve(  # a bad option, or a server that cannot be reached, is said before serving (see _main)
        options.url,
        options.host,
        options.port,
        options.data_dir,
        rate_limit=options.rate_limit,
        model=options.model,
        quota=options.quota,
        docs=options.docs,
        access_log=options.access_log,
    )
    return 0


N = TypeVar("N", int, float)


def _ranged(parse: Callable[[str], N], noun: str, low: N, high: N | None = None) -> Callable[[str], N]:
    """An argparse type: ``parse`` the text, refused with a message unless ``low <= it <= high``
    (NaN too), never an error from a bad number later (an OverflowError, a loop that spins)."""

    def checked(text: str) -> N:
        try:
            number = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not (low <= number and (high is None or number <= high)):
            bounds = f"{low} or more" if high is None else f"{low} to {high}"
            raise argparse.ArgumentTypeError(f"{text} is not {noun} ({bounds})")
        return number

    return checked


_port = _ranged(int, "a port number", 0, 65535)
_interval = _ranged(float, "a number of seconds", 0.1, 86400)
_count = _ranged(int, "a count of keys", 1)


def _stats(options: argparse.Namespace) -> int:
    try:
        import rich  # noqa: F401 - only to say what to install
    except ImportError:
        print('agentcache stats needs the cli extra: pip install "valkey-agentcache[cli]"', file=sys.stderr)
        return 2
    from agentcache.stats_view import show

    return show(options.url, options.prefix, options.watch)


def _rekey(options: argparse.Namespace) -> int:
    """Walk the keyspace step by step, printing progress and the cursor to resume from."""
    from agentcache import AgentCache, Encryption
    from agentcache.errors import AgentCacheError

    state = Path(options.state) if options.state else None
    cursor = options.cursor
    if cursor is None and state is not None and state.exists():
        cursor = state.read_text().strip() or None
        if cursor == "done":
            print(f"agentcache rekey: {state} says the walk is done (remove it to walk again)")
            return 0
    if state is not None:
        try:
            with state.open("a"):  # writable now, not after the first step has re-encrypted values
                pass
        except OSError as exc:
            print(f"agentcache rekey: cannot write the state file {str(state)!r}: {exc.strerror}", file=sys.stderr)
            return 2
    extra = {} if options.prefix is None else {"prefix": options.prefix}
    totals = [0, 0, 0, 0]
    reached = None  # the cursor a finished step gave: where a stopped walk resumes
    try:
        encryption = Encryption.from_env(allow_plaintext=options.allow_plaintext)
        with AgentCache.from_url(options.url, encryption=encryption, **extra) as cache:
            print(f"rekey: sealing under key {encryption.current!r} (from {cursor or 'the start'})")
            while True:
                step = cache.rekey(cursor, count=options.count)
                for i, n in enumerate((step.examined, step.rewritten, step.current, step.changed)):
                    totals[i] += n
                for key in step.unreadable:
                    print(f"  unreadable (left alone): {key}", file=sys.stderr)
                if step.plaintext:
                    print(
                        f"  plaintext, stored before encryption was on (left alone; --allow-plaintext encrypts it): "
                        f"{len(step.plaintext)} key(s), e.g. {step.plaintext[0]}",
                        file=sys.stderr,
                    )
                cursor = reached = step.cursor
                if state is not None:
                    state.write_text(cursor or "done")
                print(
                    f"  examined {totals[0]}, re-encrypted {totals[1]}, already current {totals[2]}, "
                    f"changed meanwhile {totals[3]}; cursor {cursor or 'done'}",
                    flush=True,
                )
                if cursor is None:
                    return 0
    except AgentCacheError as exc:
        print(f"agentcache rekey: {exc}", file=sys.stderr)
        if reached:
            print(f"resume with: agentcache rekey --cursor {reached} ...", file=sys.stderr)
        return 2


def _mcp(options: argparse.Namespace) -> int:
    try:
        import mcp  # noqa: F401 - only to say what to install
    except ImportError:
        print('the MCP server needs the mcp extra: pip install "valkey-agentcache[mcp]"', file=sys.stderr)
        return 2
    from agentcache.agent_tools.mcp_server import serve
    from agentcache.core import interrupts

    thread = None if options.thread_from_arg else options.thread
    interrupts.run(serve(options.url, thread_id=thread, allow_user_parts=options.allow_user_parts))
    return 0


def benchmark_names(folder: Path) -> list[str]:
    """The runnable benchmarks in ``folder``: its modules that define ``main`` (not the harness)."""
    return sorted(
        path.stem
        for path in folder.glob("*.py")
        if path.stem.isidentifier() and not path.stem.startswith("_") and "\ndef main(" in path.read_text()
    )


def _benchmark(name: str | None) -> Any:
    """The benchmark module ``name`` from this checkout's ``benchmarks/`` folder, never from another
    installed package that happens to be called ``benchmarks``; None (and a message) if absent."""
    checkout = Path(__file__).resolve().parent.parent
    folder = checkout / "benchmarks"
    if not (folder / "harness.py").is_file():
        print(
            f"no benchmark {name!r}: benchmarks live in the source checkout's benchmarks/ folder; "
            "run this from an editable install of the checkout (pip install -e '.[bench]')",
            file=sys.stderr,
        )
        return None
    names = benchmark_names(folder)
    if name not in names:
        said = "name a benchmark" if name is None else f"no benchmark {name!r}"
        print(f"{said}; the benchmarks are: {', '.join(names)}", file=sys.stderr)
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
