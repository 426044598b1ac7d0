"""Benchmark of the C reply parser: session ``get`` and tool ``check`` hits, and their raw
commands, with valkey-py's pure-Python parser and with libvalkey's C parser (the ``speedups``
extra, in ``embedded``), interleaved in one process against one bundled standalone server
(valkey-py's async cluster client takes no parser choice), sync and async. ``x floor``: median
over the raw command's with the same parser.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    AsyncCandidate,
    Candidate,
    RaceResults,
    SyncCandidate,
    bench_parser,
    fmt_ratio,
    progress,
    race,
    run_meta,
    summarize,
    table,
    warm_up,
    write_json,
)


def main(argv: list[str] | None = None) -> int:
    options = bench_parser("parser", __doc__, 4000).parse_args(argv)
    ops = 300 if options.quick else options.ops

    from valkey._parsers import _AsyncRESP2Parser, _RESP2Parser
    from valkey.utils import LIBVALKEY_AVAILABLE

    from agentcache import AgentCache, AsyncAgentCache, BundledValkey

    if not LIBVALKEY_AVAILABLE:
        print('libvalkey is not installed: pip install "valkey-agentcache[speedups]"', file=sys.stderr)
        return 2
    bundled = BundledValkey("standalone").start()  # the async cluster client takes no parser_class
    runner = asyncio.Runner()
    candidates: list[Candidate] = []
    closers: list[Any] = []
    try:
        setups: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
            ("python", {"parser_class": _RESP2Parser}, {"parser_class": _AsyncRESP2Parser}),
            ("libvalkey", {}, {}),
        ]
        for label, sync_kw, async_kw in setups:
            cache: Any = AgentCache.from_url(bundled.url, **sync_kw)
            cache.session.set("t", "f", {"name": "Ada", "visits": 3}, ttl=3600)
            cache.tool.store("search", {"q": "paris"}, {"hits": ["a", "b", "c"]})
            cache.session.get("t", "f")
            cache.tool.check("search", {"q": "paris"})
            raw = type(cache.client).from_url(bundled.url, **sync_kw)
            key = cache.session.key("t", "f")
            floor = f"raw GETEX sync ({label})"
            candidates += [
                SyncCandidate(f"session.get sync ({label})", _get(cache), "agentcache", label, floor),
                SyncCandidate(f"tool.check sync ({label})", _check(cache), "agentcache", label, floor),
                SyncCandidate(floor, _getex(raw, key), "floor", label),
            ]

            async def connect(kw: dict[str, Any] = async_kw) -> tuple[Any, Any]:
                acache = AsyncAgentCache.from_url(bundled.url, **kw)
                await acache.session.get("t", "f")
                return acache, type(acache.client).from_url(bundled.url, **kw)

            acache, araw = runner.run(connect())
            afloor = f"raw GETEX async ({label})"
            candidates += [
                AsyncCandidate(f"session.get async ({label})", _get(acache), "agentcache", label, afloor),
                AsyncCandidate(afloor, _getex(araw, key), "floor", label),
            ]
            closers += [cache.close, raw.close, lambda a=acache, r=araw: runner.run(_aclose(a, r))]
        progress(f"{len(candidates)} candidates, {ops} samples each")
        warm_up(candidates, 300, runner)
        rows = summarize(candidates, race(candidates, [ops] * len(candidates), 10, runner), {})
        print("\nThe C reply parser (µs per call)\n")
        print(
            table(
                ["candidate", "median", "p99", "x floor"],
                [[r.candidate, f"{r.median_us:.1f}", f"{r.p99_us:.1f}", fmt_ratio(r.ratio_to_floor)] for r in rows],
            )
        )
        write_json(RaceResults(run_meta(["libvalkey"], vars(options)), rows), Path(options.out))
        for close in closers:
            close()
    finally:
        runner.close()
        bundled.stop()
    return 0


def _get(cache: Any) -> Any:
    return lambda: cache.session.get("t", "f")


def _check(cache: Any) -> Any:
    return lambda: cache.tool.check("search", {"q": "paris"})


def _getex(raw: Any, key: str) -> Any:
    return lambda: raw.getex(key, ex=3600)


async def _aclose(acache: Any, araw: Any) -> None:
    await acache.close()
    await araw.aclose()


if __name__ == "__main__":
    sys.exit(main())
