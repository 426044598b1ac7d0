"""Benchmark of the LangGraph checkpointer: ``put`` then ``get_tuple`` of a typical checkpoint.

What it measures, on a bundled Valkey server it starts itself (standalone by default, since the
AWS saver needs one; ``--mode cluster`` for a single node in cluster mode, without that peer):

- ``AgentCacheSaver`` (agentcache), sync on an ``AgentCache`` and async on an ``AsyncAgentCache``;
- LangGraph's ``InMemorySaver`` (no I/O: what serialization alone costs) and ``SqliteSaver`` on a
  file (WAL), the savers LangGraph ships;
- ``ValkeySaver`` from ``langgraph-checkpoint-aws`` on the same server, where it installs;
- the floor: a raw ``SET`` of the serialized checkpoint, then a ``GET`` of it (two round trips,
  as any put followed by a read must cost at least).

A typical checkpoint: a chat graph's state after a few turns (12 messages of ~200 characters, a
few small channels), serialized by LangGraph's own serializer. Each call stores a new checkpoint
(a new id, the previous one as parent, as a running graph does) in one of 100 threads, then reads
the thread's newest. ``median``/``p99`` in microseconds per put + get_tuple; ``x floor``: median
over the floor's. Every candidate ran interleaved in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sqlite3
import sys
import tempfile
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

THREADS = 100


@dataclass
class Results:
    meta: dict[str, Any]
    rows: list[Summary] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def typical_state() -> dict[str, Any]:
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}: " + "lorem ipsum dolor " * 11}
        for i in range(12)
    ]
    return {"messages": turns, "user_name": "Ada", "step_count": 6, "route": "answer"}


class Driver:
    """Puts a new checkpoint into one of the threads (each its own chain), then reads the newest."""

    def __init__(self, saver: Any, name: str) -> None:
        from langgraph.checkpoint.base import empty_checkpoint

        self.saver = saver
        self.state = typical_state()
        self.template = empty_checkpoint()
        self.parents: dict[str, str | None] = {}
        self.counter = itertools.count()
        self.prefix = name

    def _next(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        from langgraph.checkpoint.base.id import uuid6

        thread = f"{self.prefix}-{next(self.counter) % THREADS}"
        parent = self.parents.get(thread)
        config: dict[str, Any] = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
        if parent is not None:
            config["configurable"]["checkpoint_id"] = parent
        checkpoint = {**self.template, "id": str(uuid6()), "channel_values": self.state}
        checkpoint["channel_versions"] = {k: 1 for k in self.state}
        return config, checkpoint, {"source": "loop", "step": 1, "parents": {}}

    def call(self) -> object:
        config, checkpoint, metadata = self._next()
        stored = self.saver.put(config, checkpoint, metadata, checkpoint["channel_versions"])
        self.parents[stored["configurable"]["thread_id"]] = stored["configurable"]["checkpoint_id"]
        return self.saver.get_tuple({"configurable": {"thread_id": stored["configurable"]["thread_id"]}})

    async def acall(self) -> object:
        config, checkpoint, metadata = self._next()
        stored = await self.saver.aput(config, checkpoint, metadata, checkpoint["channel_versions"])
        self.parents[stored["configurable"]["thread_id"]] = stored["configurable"]["checkpoint_id"]
        return await self.saver.aget_tuple({"configurable": {"thread_id": stored["configurable"]["thread_id"]}})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.langgraph", description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=2000, help="samples per candidate")
    parser.add_argument("--mode", choices=["standalone", "cluster"], default="standalone")
    parser.add_argument("--quick", action="store_true", help="few samples: a smoke run")
    parser.add_argument("--out", default="bench-results/langgraph.json", help="where to write the JSON results")
    options = parser.parse_args(argv)
    ops = 100 if options.quick else options.ops

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite import SqliteSaver

    from agentcache import AgentCache, AsyncAgentCache, BundledValkey
    from agentcache.integrations.langgraph import AgentCacheSaver

    dists = ["langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite", "langgraph-checkpoint-aws"]
    results = Results(run_meta(dists, vars(options)))
    bundled = BundledValkey(options.mode).start()
    runner = asyncio.Runner()
    folder = tempfile.TemporaryDirectory()
    try:
        cache = AgentCache.from_url(bundled.url)
        cache.ping()
        raw = type(cache.client).from_url(bundled.url)
        acache = AsyncAgentCache.from_url(bundled.url)
        runner.run(acache.ping())
        ours, aours = Driver(AgentCacheSaver(cache), "ours"), Driver(AgentCacheSaver(acache), "aours")
        memory = Driver(InMemorySaver(), "memory")
        amemory = Driver(InMemorySaver(), "amemory")
        connection = sqlite3.connect(str(Path(folder.name) / "checkpoints.db"), check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        sqlite = Driver(SqliteSaver(connection), "sqlite")
        serde = JsonPlusSerializer()
        floor_value = serde.dumps_typed(ours._next()[1])[1]

        def floor() -> object:
            raw.set("floor-checkpoint", floor_value)
            return raw.get("floor-checkpoint")

        floor_name = "valkey-py SET + GET (floor)"
        candidates: list[Candidate] = [
            SyncCandidate(
                "agentcache AgentCacheSaver sync", ours.call, "agentcache", client_name(cache.client), floor_name
            ),
            AsyncCandidate(
                "agentcache AgentCacheSaver async", aours.acall, "agentcache", client_name(acache.client), floor_name
            ),
            SyncCandidate(floor_name, floor, "floor", client_name(raw)),
            SyncCandidate("InMemorySaver sync (no I/O)", memory.call, "reference", "", floor_name),
            AsyncCandidate("InMemorySaver async (no I/O)", amemory.acall, "reference", "", floor_name),
            SyncCandidate("SqliteSaver (file, WAL)", sqlite.call, "peer", "sqlite3", floor_name),
        ]
        aws = _aws_saver(bundled.url, options.mode, results)
        if aws is not None:
            candidates.append(
                SyncCandidate(
                    "langgraph-checkpoint-aws ValkeySaver", Driver(aws, "aws").call, "peer", "Valkey", floor_name
                )
            )
        progress(f"put + get_tuple, {len(candidates)} candidates, {ops} samples each")
        warm_up(candidates, 100, runner)
        samples = race(candidates, [ops] * len(candidates), 10, runner)
        results.rows = summarize(candidates, samples, {"mode": options.mode})
        ours_median = results.rows[0].median_us
        rows = [
            [
                r.candidate,
                f"{r.median_us:.1f}",
                f"{r.p99_us:.1f}",
                fmt_ratio(r.ratio_to_floor),
                fmt_ratio(r.median_us / ours_median),
            ]
            for r in results.rows
        ]
        print(f"\nLangGraph checkpoint put + get_tuple ({options.mode} server; µs per pair)\n")
        print(table(["candidate", "median", "p99", "x floor", "x agentcache sync"], rows))
        for name, why in results.skipped.items():
            print(f"skipped {name}: {why}")
        write_json(results, Path(options.out))
        runner.run(acache.close())
        cache.close()
        raw.close()
        connection.close()
    finally:
        runner.close()
        bundled.stop()
        folder.cleanup()
    return 0


def _aws_saver(url: str, mode: str, results: Results) -> Any:
    """The AWS ValkeySaver on the same server, or None (with why) where it cannot run."""
    name = "langgraph-checkpoint-aws ValkeySaver"
    if mode != "standalone":
        results.skipped[name] = "it takes a standalone valkey-py client"
        return None
    try:
        from langgraph_checkpoint_aws.checkpoint.valkey.saver import ValkeySaver  # type: ignore[import-untyped]
        from valkey import Valkey
    except ImportError as exc:
        results.skipped[name] = f"not installed ({exc})"
        return None
    with contextlib.suppress(Exception):
        return ValkeySaver(Valkey.from_url(url))
    results.skipped[name] = "it did not start"
    return None


if __name__ == "__main__":
    sys.exit(main())
