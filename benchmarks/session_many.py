"""Session batch operations against N single calls and against a raw pipeline: ``python -m benchmarks.session_many``.

On one bundled server per mode (a cluster-mode node owning every slot, and a standalone one), for
N fields of one thread (default 10): ``get_many`` against N ``get`` calls and against a raw
pipeline of N GETs on the same client (the floor), ``set_many`` against N ``set`` calls and a raw
pipeline of N SETs. The candidates race interleaved in one process, sync and async; the table gives
medians, p99, the ratio to the floor and the round trips each call made.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentcache import AgentCache, AsyncAgentCache
from agentcache.encoding import codec

from .harness import (
    AsyncCandidate,
    Candidate,
    Server,
    Summary,
    SyncCandidate,
    client_name,
    fmt_ratio,
    progress,
    race,
    run_meta,
    started_servers,
    summarize,
    table,
    warm_up,
    with_round_trips,
    write_json,
)
from .harness import open_server as harness_open_server

THREAD = "bench-many"
MODES = ("cluster", "standalone")
VALUE: dict[str, Any] = {"intent": "book_flight", "origin": "LHR", "passengers": 2, "seat": "aisle"}


@dataclass
class Options:
    ops: int
    fields: int
    out: Path
    warmup: int


@dataclass
class Results:
    meta: dict[str, Any] = field(default_factory=dict)
    rows: list[Summary] = field(default_factory=list)


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.session_many", description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=None, help="samples per candidate (default 3000)")
    parser.add_argument("--fields", type=int, default=10, help="fields per call (default 10)")
    parser.add_argument("--quick", action="store_true", help="few samples: a smoke run")
    parser.add_argument("--out", default="bench-results/session_many.json", help="where to write the JSON results")
    args = parser.parse_args(argv)
    ops = args.ops if args.ops is not None else (200 if args.quick else 3000)
    if ops < 1 or args.fields < 1:
        parser.error("--ops and --fields must be positive")
    return Options(ops, args.fields, Path(args.out), 20 if args.quick else 300)


def candidates(s: Server, op: str, n: int) -> list[Candidate]:
    names = [f"f{i}" for i in range(n)]
    values = dict.fromkeys(names, VALUE)
    keys = [s.cache.session.key(THREAD, name) for name in names]
    stored = codec.encode(VALUE, 1_800_000, 1 << 20)
    cache, acache, raw, araw = s.cache, s.acache, s.raw, s.araw

    def pipeline() -> object:
        pipe = raw.pipeline(transaction=False)
        for key in keys:
            pipe.get(key) if op == "get" else pipe.set(key, stored, px=1_800_000)
        return pipe.execute()

    async def apipeline() -> object:
        pipe = araw.pipeline(transaction=False)
        for key in keys:
            pipe.get(key) if op == "get" else pipe.set(key, stored, px=1_800_000)
        return await pipe.execute()

    if op == "get":
        many: Any = lambda: cache.session.get_many(THREAD, names)  # noqa: E731
        amany: Any = lambda: acache.session.get_many(THREAD, names)  # noqa: E731

        def singles() -> object:
            return [cache.session.get(THREAD, name) for name in names]

        async def asingles() -> object:
            return [await acache.session.get(THREAD, name) for name in names]

    else:
        many = lambda: cache.session.set_many(THREAD, values)  # noqa: E731
        amany = lambda: acache.session.set_many(THREAD, values)  # noqa: E731

        def singles() -> object:
            return [cache.session.set(THREAD, name, VALUE) for name in names]

        async def asingles() -> object:
            return [await acache.session.set(THREAD, name, VALUE) for name in names]

    floor, afloor = f"valkey-py sync pipeline of {n}", f"valkey-py async pipeline of {n}"
    counted = {"round_trips": lambda: cache.round_trips}
    acounted = {"round_trips": lambda: acache.round_trips}
    return [
        SyncCandidate(f"agentcache sync {op}_many", many, "agentcache", client_name(cache.client), floor, **counted),
        SyncCandidate(f"agentcache sync {n} x {op}", singles, "reference", client_name(cache.client), floor, **counted),
        SyncCandidate(floor, pipeline, "floor", client_name(raw)),
        AsyncCandidate(
            f"agentcache async {op}_many", amany, "agentcache", client_name(acache.client), afloor, **acounted
        ),
        AsyncCandidate(
            f"agentcache async {n} x {op}", asingles, "reference", client_name(acache.client), afloor, **acounted
        ),
        AsyncCandidate(afloor, apipeline, "floor", client_name(araw)),
    ]


def run_server(s: Server, runner: asyncio.Runner, opts: Options) -> list[Summary]:
    rows: list[Summary] = []
    s.cache.session.set_many(THREAD, {f"f{i}": VALUE for i in range(opts.fields)})
    for op in ("get", "set"):
        progress(f"{s.mode}: {op}_many of {opts.fields} fields")
        race_of = candidates(s, op, opts.fields)
        warm_up(race_of, opts.warmup, runner)
        samples = race(race_of, [opts.ops] * len(race_of), 10, runner)
        rows += with_round_trips(summarize(race_of, samples, {"server": s.mode, "op": op}), race_of, runner)
    return rows


def report(results: Results) -> None:
    meta = results.meta
    print(f"agentcache session batch benchmark  ({meta['started']}, {meta['machine']})")
    print(f"{meta['options']['fields']} fields of {len(codec.encode(VALUE, 0, 1 << 20))} bytes per call")
    for mode in MODES:
        for op in ("get", "set"):
            rows = [r for r in results.rows if r.labels == {"server": mode, "op": op}]
            print(f"\n== {mode} server ({meta['servers'].get(mode, '?')}): {op} ==")
            figures = [
                [r.candidate, r.client, r.n, r.median_us, r.p99_us, fmt_ratio(r.ratio_to_floor), r.round_trips]
                for r in rows
            ]
            print(table(["candidate", "client", "n", "median us", "p99 us", "x floor", "round trips"], figures))
    print(f"\ntotal time: {meta['seconds']:.0f} s; results in {meta['out']}")


def main(argv: list[str] | None = None) -> int:
    """Run the batch benchmark; print tables on stdout and write JSON to ``--out``."""
    opts = parse_args(argv)
    started = time.monotonic()
    results = Results()
    results.meta = run_meta([], {"ops": opts.ops, "fields": opts.fields}, out=str(opts.out), servers={})

    def open_one(mode: str) -> Server:
        async def first_async(acache: AsyncAgentCache) -> None:
            await acache.ping()

        def first(cache: AgentCache) -> None:
            cache.ping()

        return harness_open_server(mode, runner, first, first_async)

    with asyncio.Runner() as runner, started_servers(MODES, open_one, runner) as servers:
        for s in servers:
            results.meta["servers"][s.mode] = s.version
            results.rows += run_server(s, runner, opts)
    results.meta["seconds"] = round(time.monotonic() - started, 1)
    write_json(results, opts.out)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
