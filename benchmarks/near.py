"""Benchmark of the near cache: a local hit against the network, and how fast a change reaches it.

On one bundled Valkey server (a single node in cluster mode), interleaved in one process:

1. Hit latency (µs per call): ``tool.check`` and ``session.get`` hits with ``near_cache=NearCache()``
   (served from memory) and without (one round trip), sync and async; the raw ``GET`` of the
   stored entry (the network floor); ``betterdb-agent-cache``'s async ``tool.check`` (the peer).
2. Invalidation delay (ms): another client (a second connection, as another worker) overwrites an
   entry this cache holds; the time from its write's reply until this cache's copy is dropped, with
   this process idle (polling every 0.1 ms) and with it busy in a loop of local hits (then the
   listening thread also waits for the interpreter's lock: up to its 5 ms switch interval).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    AsyncCandidate,
    Candidate,
    Summary,
    SyncCandidate,
    client_name,
    fmt_ratio,
    progress,
    race,
    run_meta,
    summarize,
    table,
    warm_up,
    write_json,
)
from benchmarks.peers import close_betterdb, load_betterdb, make_betterdb

ARGS = {"query": "weather in Paris", "units": "metric"}
VALUE = {"temperature": 21.5, "sky": "clear", "wind_kmh": 12}


@dataclass
class Results:
    meta: dict[str, Any]
    hits: list[Summary] = field(default_factory=list)
    delay_idle_ms: list[float] = field(default_factory=list)
    delay_busy_ms: list[float] = field(default_factory=list)


def _delays(near: Any, other: Any, n: int, busy: bool) -> list[float]:
    """Milliseconds from ``other``'s overwrite to ``near`` dropping its copy, ``n`` times."""
    out = []
    store = near.settings.near
    for i in range(n):
        near.tool.store("weather", ARGS, {**VALUE, "i": i})
        time.sleep(0.01)
        while not near.tool.check("weather", ARGS).hit or store.stats().entries == 0:
            time.sleep(0.001)
        before = store.stats().invalidations
        other.tool.store("weather", ARGS, {**VALUE, "i": -i})
        written = time.perf_counter()
        while store.stats().invalidations == before:
            if busy:
                near.session.get("busy", "f")  # local hits: this thread keeps the interpreter busy
            else:
                time.sleep(0.0001)
        out.append((time.perf_counter() - written) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.near", description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=5000, help="samples per candidate")
    parser.add_argument("--changes", type=int, default=200, help="overwrites timed for the invalidation delay")
    parser.add_argument("--quick", action="store_true", help="few samples: a smoke run")
    parser.add_argument("--no-peer", action="store_true", help="skip betterdb-agent-cache")
    parser.add_argument("--out", default="bench-results/near.json", help="where to write the JSON results")
    options = parser.parse_args(argv)
    ops, changes = (300, 20) if options.quick else (options.ops, options.changes)

    from agentcache import AgentCache, AsyncAgentCache, BundledValkey, NearCache

    results = Results(run_meta(["betterdb-agent-cache"], vars(options)))
    bundled = BundledValkey("cluster").start()
    runner = asyncio.Runner()
    try:
        near = AgentCache.from_url(bundled.url, near_cache=NearCache())
        plain = AgentCache.from_url(bundled.url)
        other = AgentCache.from_url(bundled.url)
        for cache in (near, plain):
            cache.ping()
        plain.tool.store("weather", ARGS, VALUE, ttl=3600)
        for thread in ("thread", "thread-net"):  # the network candidate's reads refresh (report) its own field
            plain.session.set(thread, "profile", {"name": "Ada", "visits": 3}, ttl=3600)
        plain.session.set("busy", "f", 1, ttl=3600)
        raw = type(plain.client).from_url(bundled.url)
        key = plain.tool.key("weather", ARGS)

        async def connect() -> tuple[Any, Any, Any]:
            anear = AsyncAgentCache.from_url(bundled.url, near_cache=NearCache())
            aplain = AsyncAgentCache.from_url(bundled.url)
            await anear.ping()
            await aplain.ping()
            module = None if options.no_peer else load_betterdb()
            peer = None if module is None else make_betterdb(module, type(aplain.client).from_url(bundled.url), 3600)
            if peer is not None:
                await peer.tool.store("weather", ARGS, '{"temperature":21.5}', None)
            return anear, aplain, peer

        anear, aplain, peer = runner.run(connect())
        time.sleep(0.3)  # tracking live; the reports of the stores above delivered
        floor = "valkey-py GET (floor)"
        candidates: list[Candidate] = [
            SyncCandidate(
                "tool.check near sync", lambda: near.tool.check("weather", ARGS), "agentcache", "memory", floor
            ),
            SyncCandidate(
                "session.get near sync", lambda: near.session.get("thread", "profile"), "agentcache", "memory", floor
            ),
            SyncCandidate(
                "tool.check network sync",
                lambda: plain.tool.check("weather", ARGS),
                "reference",
                client_name(raw),
                floor,
            ),
            SyncCandidate(
                "session.get network sync", lambda: plain.session.get("thread-net", "profile"), "reference", "", floor
            ),
            SyncCandidate(floor, lambda: raw.get(key), "floor", client_name(raw)),
            AsyncCandidate("tool.check near async", lambda: anear.tool.check("weather", ARGS), "agentcache", "memory"),
            AsyncCandidate(
                "session.get near async", lambda: anear.session.get("thread", "profile"), "agentcache", "memory"
            ),
            AsyncCandidate("tool.check network async", lambda: aplain.tool.check("weather", ARGS), "reference"),
        ]
        if peer is not None:
            candidates.append(
                AsyncCandidate("betterdb tool.check (peer)", lambda: peer.tool.check("weather", ARGS), "peer")
            )
        progress(f"hit latency: {len(candidates)} candidates, {ops} samples each")
        warm_up(candidates, 300, runner)
        results.hits = summarize(candidates, race(candidates, [ops] * len(candidates), 10, runner), {})
        progress(f"invalidation delay: {changes} overwrites idle, {changes} busy")
        results.delay_idle_ms = _delays(near, other, changes, busy=False)
        results.delay_busy_ms = _delays(near, other, changes, busy=True)

        print("\nHit latency (µs per call)\n")
        rows = [
            [r.candidate, f"{r.median_us:.2f}", f"{r.p99_us:.2f}", fmt_ratio(r.ratio_to_floor)] for r in results.hits
        ]
        print(table(["candidate", "median", "p99", "x floor"], rows))
        print("\nInvalidation delay (ms from the other client's write to the local copy dropped)\n")
        rows = []
        for name, delays in (("idle", results.delay_idle_ms), ("busy", results.delay_busy_ms)):
            ordered = sorted(delays)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            rows.append([name, f"{statistics.median(ordered):.3f}", f"{p99:.3f}", f"{ordered[-1]:.3f}"])
        print(table(["this process", "median", "p99", "max"], rows))
        write_json(results, Path(options.out))

        async def close() -> None:
            await anear.close()
            await aplain.close()
            if peer is not None:
                await close_betterdb(peer)

        runner.run(close())
        for cache in (near, plain, other):
            cache.close()
        raw.close()
    finally:
        runner.close()
        bundled.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
