"""Benchmark of the LangGraph store: ``put``, ``get`` and ``search`` of long-term memories.

What it measures, on a bundled Valkey server it starts itself (standalone by default; ``--mode
cluster`` for one node in cluster mode, ``--mode cluster3`` for three primaries):

- ``AgentCacheStore`` (agentcache), sync on an ``AgentCache`` and async on an ``AsyncAgentCache``;
- LangGraph's ``InMemoryStore`` (no I/O: what the store logic alone costs);
- ``ValkeyStore`` from ``langgraph-checkpoint-aws`` on the same server, where it runs (without the
  valkey-search module it searches by SCAN of the keyspace; it takes one valkey-py client);
- the floor of each operation, with valkey-py on the same server: an ``HSET`` of the encoded item
  (put), an ``HMGET`` of it (get), and one pipeline of ``HMGET`` for as many items as the search
  returns (search): one round trip each, as the operation must cost at least.

The data: ``--users`` users (default 200), each with a namespace ``("memories", <user>)`` of 20
memories (~250 bytes each: a text, a kind, an importance). ``put`` replaces a random memory of a
random user (with a TTL where the store takes one), ``get`` reads one, ``search`` asks one user's
namespace for the memories of one kind (5 of its 20, filtered). ``search-all`` asks the whole
``("memories",)`` prefix for the first 10 of a rare kind (it reads every user's namespace).
``median``/``p99`` in microseconds per call; ``x floor``: median over the floor's. Every candidate
ran interleaved in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
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
    probe,
    progress,
    race,
    run_meta,
    summarize,
    table,
    warm_up,
    write_json,
)

MEMORIES = 20
KINDS = ["preference", "fact", "event", "goal"]


@dataclass
class Results:
    meta: dict[str, Any]
    rows: list[Summary] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def memory(user: int, i: int) -> dict[str, Any]:
    kind = "rare" if (user % 50 == 0 and i == 1) else KINDS[i % len(KINDS)]
    return {"text": f"user {user} memory {i}: " + "likes quiet trains and strong tea; " * 6, "kind": kind, "rank": i}


class Driver:
    """Calls one store's put / get / search with random users and memories (seeded alike)."""

    def __init__(self, store: Any, users: int, ttl: float | None) -> None:
        self.store, self.users, self.ttl = store, users, ttl
        self.rng = random.Random(7)

    def _pick(self) -> tuple[tuple[str, ...], str, int, int]:
        user, i = self.rng.randrange(self.users), self.rng.randrange(MEMORIES)
        return ("memories", f"user-{user}"), f"m{i}", user, i

    def _put_kwargs(self) -> dict[str, Any]:
        return {} if self.ttl is None else {"ttl": self.ttl}

    def fill(self) -> None:
        for user in range(self.users):
            for i in range(MEMORIES):
                self.store.put(("memories", f"user-{user}"), f"m{i}", memory(user, i), **self._put_kwargs())

    def put(self) -> object:
        ns, key, user, i = self._pick()
        return self.store.put(ns, key, memory(user, i), **self._put_kwargs())

    async def aput(self) -> object:
        ns, key, user, i = self._pick()
        return await self.store.aput(ns, key, memory(user, i), **self._put_kwargs())

    def get(self) -> object:
        ns, key, _, _ = self._pick()
        return self.store.get(ns, key)

    async def aget(self) -> object:
        ns, key, _, _ = self._pick()
        return await self.store.aget(ns, key)

    def search(self) -> object:
        ns, _, _, _ = self._pick()
        found = self.store.search(ns, filter={"kind": "preference"})
        assert len(found) == MEMORIES // len(KINDS), len(found)
        return found

    async def asearch(self) -> object:
        ns, _, _, _ = self._pick()
        return await self.store.asearch(ns, filter={"kind": "preference"})

    def search_all(self) -> object:
        found = self.store.search(("memories",), filter={"kind": "rare"}, limit=10)
        assert len(found) == min(10, (self.users + 49) // 50), len(found)
        return found

    async def asearch_all(self) -> object:
        return await self.store.asearch(("memories",), filter={"kind": "rare"}, limit=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.langgraph_store", description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=2000, help="samples per candidate and operation")
    parser.add_argument("--users", type=int, default=200, help="users (namespaces), 20 memories each")
    parser.add_argument("--mode", choices=["standalone", "cluster", "cluster3"], default="standalone")
    parser.add_argument("--quick", action="store_true", help="few samples: a smoke run")
    parser.add_argument("--out", default="bench-results/langgraph_store.json", help="where to write the JSON results")
    options = parser.parse_args(argv)
    ops = 100 if options.quick else options.ops

    from langgraph.store.memory import InMemoryStore

    from agentcache import AgentCache, AsyncAgentCache, BundledValkey
    from agentcache.encoding import codec
    from agentcache.integrations.langgraph_store import AgentCacheStore

    dists = ["langgraph", "langgraph-checkpoint", "langgraph-checkpoint-aws", "valkey"]
    results = Results(run_meta(dists, vars(options)))
    server = BundledValkey("cluster", primaries=3) if options.mode == "cluster3" else BundledValkey(options.mode)
    server.start()
    runner = asyncio.Runner()
    try:
        cache = AgentCache.from_url(server.url)
        cache.ping()
        acache = AsyncAgentCache.from_url(server.url)
        runner.run(acache.ping())
        raw = type(cache.client).from_url(server.url)
        ours = Driver(AgentCacheStore(cache), options.users, 60)
        aours = Driver(AgentCacheStore(acache), options.users, 60)
        reference = Driver(InMemoryStore(), options.users, None)
        progress(f"filling {options.users} namespaces of {MEMORIES} memories")
        ours.fill()
        reference.fill()
        aws = _aws_store(server.url, options.mode, options.users, results)

        item = codec.encode(memory(1, 1), 0, 1 << 20)
        keys = [f"floor:{{user}}:{i}" for i in range(MEMORIES)]  # one slot, as one namespace is
        for key in keys:
            raw.hset(key, mapping={"v": item, "c": "1", "u": "1"})

        def floor_put() -> object:
            return raw.hset(keys[0], mapping={"v": item, "u": "2"})

        def floor_get() -> object:
            return raw.hmget(keys[0], "v", "c", "u")

        def floor_search(n: int) -> Any:
            def call() -> object:
                pipe = raw.pipeline(transaction=False)
                for key in keys[:n]:
                    pipe.hmget(key, "v", "c", "u")
                return pipe.execute()

            return call

        client = client_name(cache.client)
        operations = {
            "put": (floor_put, "valkey-py HSET (floor)"),
            "get": (floor_get, "valkey-py HMGET (floor)"),
            "search": (floor_search(MEMORIES // len(KINDS)), "valkey-py pipeline of 5 HMGET (floor)"),
            "search-all": (floor_search(min(10, (options.users + 49) // 50)), "valkey-py pipeline of HMGET (floor)"),
        }
        methods = {"put": "put", "get": "get", "search": "search", "search-all": "search_all"}
        for op, (floor, floor_name) in operations.items():
            sync_name, async_name = methods[op], "a" + methods[op]
            candidates: list[Candidate] = [
                SyncCandidate(
                    "agentcache AgentCacheStore sync", getattr(ours, sync_name), "agentcache", client, floor_name
                ),
                AsyncCandidate(
                    "agentcache AgentCacheStore async",
                    getattr(aours, async_name),
                    "agentcache",
                    client_name(acache.client),
                    floor_name,
                ),
                SyncCandidate(floor_name, floor, "floor", client_name(raw)),
                SyncCandidate("InMemoryStore (no I/O)", getattr(reference, sync_name), "reference", "", floor_name),
            ]
            if aws is not None:
                candidates.append(
                    SyncCandidate(
                        "langgraph-checkpoint-aws ValkeyStore", getattr(aws, sync_name), "peer", "Valkey", floor_name
                    )
                )
            candidates = [c for c in candidates if _runs(c, op, runner, results)]
            count = ops if op != "search-all" else max(20, ops // 10)
            progress(f"{op}: {len(candidates)} candidates, {count} samples each")
            warm_up(candidates, 20, runner)
            samples = race(candidates, [count] * len(candidates), 10, runner)
            rows = summarize(candidates, samples, {"mode": options.mode, "op": op})
            results.rows += rows
            print(f"\nLangGraph store {op} ({options.mode} server, {options.users} users; µs per call)\n")
            ours_median = rows[0].median_us
            print(
                table(
                    ["candidate", "median", "p99", "x floor", "x agentcache sync"],
                    [
                        [
                            r.candidate,
                            f"{r.median_us:.1f}",
                            f"{r.p99_us:.1f}",
                            fmt_ratio(r.ratio_to_floor),
                            fmt_ratio(r.median_us / ours_median),
                        ]
                        for r in rows
                    ],
                )
            )
        for name, why in results.skipped.items():
            print(f"skipped {name}: {why}")
        write_json(results, Path(options.out))
        runner.run(acache.close())
        cache.close()
        raw.close()
    finally:
        runner.close()
        server.stop()
    return 0


def _runs(candidate: Candidate, op: str, runner: asyncio.Runner, results: Results) -> bool:
    """Whether one call of the candidate works; if not, it is skipped with the error."""
    error = probe(candidate, runner)
    if error is not None:
        results.skipped[f"{candidate.name} ({op})"] = error
        return False
    return True


def _aws_store(url: str, mode: str, users: int, results: Results) -> Driver | None:
    """The AWS ValkeyStore on the same server, filled, or None (with why) where it cannot run."""
    name = "langgraph-checkpoint-aws ValkeyStore"
    try:
        from langgraph_checkpoint_aws.store.valkey import ValkeyStore  # type: ignore[import-untyped]
        from valkey import Valkey, ValkeyCluster
    except ImportError as exc:
        results.skipped[name] = f"not installed ({exc})"
        return None
    client = ValkeyCluster.from_url(url) if mode == "cluster3" else Valkey.from_url(url)
    driver = Driver(ValkeyStore(client), users, 60)
    try:
        driver.fill()
        with contextlib.suppress(AssertionError):  # a wrong answer is reported below, not a crash
            driver.search()
        found = driver.store.search(("memories", "user-1"), filter={"kind": "preference"})
        if len(found) != MEMORIES // len(KINDS):
            results.skipped[name] = f"its search answered {len(found)} items where there are {MEMORIES // len(KINDS)}"
            return None
    except Exception as exc:
        results.skipped[name] = f"{type(exc).__name__}: {exc}"
        return None
    return driver


if __name__ == "__main__":
    sys.exit(main())
