"""Benchmark of the LLM tier: a cached ``chat.completions.create`` against the raw GET of its entry,
and a hit against a miss of a model that takes 300 ms.

What it measures, on a bundled Valkey server it starts itself (a single node in cluster mode, as
``embedded()`` runs it), with the loopback model server of the tests (``tests/fake_models.py``):

1. Overhead of a hit: ``client.chat.completions.create(...)`` through ``cached_openai`` on a stored
   response (a ~300-byte completion), sync and async; ``cache.llm.check`` of the same request (the
   tier alone, returning JSON data rather than the SDK's ``ChatCompletion``); the floor is
   ``GET`` of the entry's key on the same kind of client. The peer, ``betterdb-agent-cache``'s LLM
   tier (async only; its check is a GET plus its statistics), checks the same request.
2. Hit against miss: the same call when the response is cached, and with a fresh ``seed`` every time
   (a miss: the model server waits 300 ms, then the response is stored), interleaved.

``median``/``p99`` in microseconds (milliseconds in the second table), ``x floor``: median over the
floor's. Compare rows of one table only: every candidate of a table ran interleaved in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
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
    with_round_trips,
    write_json,
)
from benchmarks.peers import close_betterdb, load_betterdb, make_betterdb

MESSAGES = [
    {"role": "system", "content": "You are a helpful travel assistant. Answer in one sentence."},
    {"role": "user", "content": "REPLY The capital of France is Paris, on the Seine, about 2.1 million people."},
]
REQUEST = {"model": "gpt-bench", "messages": MESSAGES, "temperature": 0, "max_tokens": 200}


@dataclass
class Results:
    meta: dict[str, Any]
    overhead: list[Summary] = field(default_factory=list)
    hit_vs_miss: list[Summary] = field(default_factory=list)


def overhead_candidates(
    cache: Any, acache: Any, client: Any, aclient: Any, raw: Any, araw: Any, peer: Any
) -> list[Candidate]:
    key = cache.llm.key({**REQUEST, "agentcache_api": "chat"})
    keyed = {**REQUEST, "agentcache_api": "chat"}
    floor_sync, floor_async = "valkey-py sync GET (floor)", "valkey-py async GET (floor)"
    candidates: list[Candidate] = [
        SyncCandidate(
            "cached chat.completions.create sync",
            lambda: client.chat.completions.create(**REQUEST),
            "agentcache",
            client_name(cache.client),
            floor_sync,
            round_trips=lambda: cache.round_trips,
        ),
        SyncCandidate(
            "cache.llm.check sync", lambda: cache.llm.check(keyed), "agentcache", client_name(cache.client), floor_sync
        ),
        SyncCandidate(floor_sync, lambda: raw.get(key), "floor", client_name(raw)),
        AsyncCandidate(
            "cached chat.completions.create async",
            lambda: aclient.chat.completions.create(**REQUEST),
            "agentcache",
            client_name(acache.client),
            floor_async,
            round_trips=lambda: acache.round_trips,
        ),
        AsyncCandidate(
            "cache.llm.check async",
            lambda: acache.llm.check(keyed),
            "agentcache",
            client_name(acache.client),
            floor_async,
        ),
        AsyncCandidate(floor_async, lambda: araw.get(key), "floor", client_name(araw)),
    ]
    if peer is not None:
        params = {"model": REQUEST["model"], "messages": MESSAGES, "temperature": 0, "max_tokens": 200}
        candidates.append(
            AsyncCandidate("betterdb-agent-cache llm.check (peer)", lambda: peer.llm.check(params), "peer")
        )
    return candidates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.llm", description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=3000, help="samples per candidate in the overhead race")
    parser.add_argument("--misses", type=int, default=15, help="samples of the hit-against-miss race")
    parser.add_argument("--quick", action="store_true", help="few samples: a smoke run")
    parser.add_argument("--no-peer", action="store_true", help="skip betterdb-agent-cache")
    parser.add_argument("--out", default="bench-results/llm.json", help="where to write the JSON results")
    options = parser.parse_args(argv)
    ops, misses = (200, 3) if options.quick else (options.ops, options.misses)

    import openai

    from agentcache import AgentCache, AsyncAgentCache, BundledValkey
    from agentcache.providers.openai import cached_openai
    from tests.fake_models import FakeModelServer

    models = FakeModelServer().start()
    models.delay = 0.3
    bundled = BundledValkey("cluster").start()
    runner = asyncio.Runner()
    results = Results(run_meta(["valkey", "openai", "betterdb-agent-cache"], vars(options)))
    try:
        cache = AgentCache.from_url(bundled.url)
        cache.ping()
        raw = type(cache.client).from_url(bundled.url)
        client: Any = cached_openai(openai.OpenAI(base_url=models.openai_url, api_key="bench", max_retries=0), cache)

        async def connect() -> tuple[Any, Any, Any, Any]:
            acache = AsyncAgentCache.from_url(bundled.url)
            await acache.ping()
            araw = type(acache.client).from_url(bundled.url)
            aclient: Any = cached_openai(
                openai.AsyncOpenAI(base_url=models.openai_url, api_key="b", max_retries=0), acache
            )
            module = None if options.no_peer else load_betterdb()
            peer = None if module is None else make_betterdb(module, type(acache.client).from_url(bundled.url), 3600)
            return acache, araw, aclient, peer

        acache, araw, aclient, peer = runner.run(connect())
        client.chat.completions.create(**REQUEST)  # stored once; every timed call below is a hit
        if peer is not None:
            params = {"model": REQUEST["model"], "messages": MESSAGES, "temperature": 0, "max_tokens": 200}
            text = client.chat.completions.create(**REQUEST).model_dump_json()
            runner.run(peer.llm.store(params, text))
        progress("overhead of a hit")
        candidates = overhead_candidates(cache, acache, client, aclient, raw, araw, peer)
        warm_up(candidates, 200, runner)
        samples = race(candidates, [ops] * len(candidates), 10, runner)
        results.overhead = with_round_trips(summarize(candidates, samples, {}), candidates, runner)

        progress("hit against a 300 ms miss")
        seeds = itertools.count(1)
        slow = {**REQUEST, "messages": [MESSAGES[0], {"role": "user", "content": "SLOW question"}]}
        client.chat.completions.create(**slow)
        versus: list[Candidate] = [
            SyncCandidate("hit (cached)", lambda: client.chat.completions.create(**slow), "agentcache"),
            SyncCandidate(
                "miss (model 300 ms)", lambda: client.chat.completions.create(**slow, seed=next(seeds)), "reference"
            ),
        ]
        samples = race(versus, [misses, misses], misses, runner)
        results.hit_vs_miss = summarize(versus, samples, {})

        rows = [
            [r.candidate, r.client, f"{r.median_us:.1f}", f"{r.p99_us:.1f}", fmt_ratio(r.ratio_to_floor), r.round_trips]
            for r in results.overhead
        ]
        print("\nOverhead of a cache hit (µs per call)\n")
        print(table(["candidate", "client", "median", "p99", "x floor", "round trips"], rows))
        rows = [[r.candidate, f"{r.median_us / 1000:.2f}", f"{r.p99_us / 1000:.2f}"] for r in results.hit_vs_miss]
        print("\nHit against miss (ms per call)\n")
        print(table(["candidate", "median", "p99"], rows))
        write_json(results, Path(options.out))

        async def close_async() -> None:
            await acache.close()
            await araw.aclose()
            if peer is not None:
                await close_betterdb(peer)

        runner.run(close_async())
        cache.close()
        raw.close()
    finally:
        runner.close()
        bundled.stop()
        models.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
