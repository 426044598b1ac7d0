"""Benchmark of throughput under concurrency: session ``get`` hits per second with 1, 16 and 64
asyncio tasks on one ``AsyncAgentCache``, and with 4 processes each on its own ``AgentCache``,
against the raw ``GETEX`` on the same kind of client, on one bundled Valkey server (a single node in
cluster mode, as ``embedded()`` runs it).

Each (candidate, concurrency) runs for ``--seconds`` per round; the rounds alternate agentcache and
the raw client, and the figure is the median over ``--rounds`` rounds. ``ratio``: agentcache's
operations per second over the raw client's (1.00 = as fast as the raw command; the 2-core machine
runs the server, the client and, with processes, the other clients too).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import progress, run_meta, table, write_json

FIELD = ("thread", "profile")
VALUE = {"name": "Ada", "visits": 3, "tags": ["a", "b"]}


@dataclass
class Row:
    setting: str
    agentcache_ops: float
    raw_ops: float

    @property
    def ratio(self) -> float:
        return self.agentcache_ops / self.raw_ops


@dataclass
class Results:
    meta: dict[str, Any]
    rows: list[Row] = field(default_factory=list)


async def _tasks(call: Any, tasks: int, seconds: float) -> float:
    """Operations per second of ``tasks`` tasks each calling ``call()`` in a loop for ``seconds``."""
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return done / (time.perf_counter() - started)


def _process(url: str, raw: bool, seconds: float, start_at: float, out: Any) -> None:
    from agentcache import AgentCache

    cache = AgentCache.from_url(url)
    cache.ping()
    client = type(cache.client).from_url(url)
    key = cache.session.key(*FIELD)

    def call() -> object:
        return client.getex(key, ex=3600) if raw else cache.session.get(*FIELD)

    call()
    while time.time() < start_at:
        time.sleep(0.001)
    done, stop = 0, time.perf_counter() + seconds
    while time.perf_counter() < stop:
        call()
        done += 1
    out.put(done / seconds)
    cache.close()
    client.close()


def _processes(url: str, raw: bool, count: int, seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    start_at = time.time() + 3.0  # after every process has started and connected
    workers = [context.Process(target=_process, args=(url, raw, seconds, start_at, queue)) for _ in range(count)]
    for worker in workers:
        worker.start()
    total = sum(queue.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join()
    return float(total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.concurrency", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per candidate and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="short rounds: a smoke run")
    parser.add_argument("--out", default="bench-results/concurrency.json", help="where to write the JSON results")
    options = parser.parse_args(argv)
    seconds, rounds = (0.3, 1) if options.quick else (options.seconds, options.rounds)

    from agentcache import AgentCache, AsyncAgentCache, BundledValkey

    results = Results(run_meta([], vars(options)))
    bundled = BundledValkey("cluster").start()
    runner = asyncio.Runner()
    try:
        with AgentCache.from_url(bundled.url) as cache:
            cache.session.set(*FIELD, VALUE, ttl=3600)
            key = cache.session.key(*FIELD)

        async def connect() -> tuple[Any, Any]:
            acache = AsyncAgentCache.from_url(bundled.url)
            await acache.session.get(*FIELD)
            return acache, type(acache.client).from_url(bundled.url)

        acache, araw = runner.run(connect())
        for tasks in (1, 16, 64):
            progress(f"{tasks} asyncio task(s)")
            ours, raws = [], []
            for _ in range(rounds):
                ours.append(runner.run(_tasks(lambda: acache.session.get(*FIELD), tasks, seconds)))
                raws.append(runner.run(_tasks(lambda: araw.getex(key, ex=3600), tasks, seconds)))
            results.rows.append(Row(f"{tasks} asyncio task(s)", statistics.median(ours), statistics.median(raws)))
        progress(f"{options.processes} processes")
        ours, raws = [], []
        for _ in range(rounds):
            ours.append(_processes(bundled.url, False, options.processes, seconds))
            raws.append(_processes(bundled.url, True, options.processes, seconds))
        name = f"{options.processes} processes (sync)"
        results.rows.append(Row(name, statistics.median(ours), statistics.median(raws)))

        async def close() -> None:
            await acache.close()
            await araw.aclose()

        runner.run(close())
        print("\nSession get hits per second under concurrency\n")
        rows = [[r.setting, f"{r.agentcache_ops:,.0f}", f"{r.raw_ops:,.0f}", f"{r.ratio:.2f}"] for r in results.rows]
        print(table(["concurrency", "agentcache ops/s", "raw GETEX ops/s", "ratio"], rows))
        write_json(results, Path(options.out))
    finally:
        runner.close()
        bundled.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
