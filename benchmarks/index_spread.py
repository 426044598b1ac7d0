"""Conversation appends on a 3-primary cluster with the indexes in one slot (the old layout) and
spread over 16 hash tags: ``python -m benchmarks.index_spread``.

For each layout: a fresh bundled 3-primary cluster, ``--conversations`` conversations, then
``--tasks`` concurrent asyncio tasks append messages for ``--seconds`` seconds. Reported: appends
per second, and per primary the script calls and their server time (INFO commandstats), which
shows how evenly the primaries share the work. The one-slot layout is had by setting the bucket
count to 1 for the run, so both layouts run the same code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import valkey

from agentcache import AsyncAgentCache, BundledValkey, Message
from agentcache.encoding import keys
from agentcache.tiers.conversations import index

from .harness import describe_machine, progress, table

MESSAGE = Message.user("Can you move my Lisbon flight to the 8th and keep the aisle seat?")


def set_buckets(n: int) -> None:
    keys.INDEX_BUCKETS = n
    setattr(index, "INDEX_BUCKETS", n)  # the name list_active and expiring read  # noqa: B010


async def appends(url: str, conversations: int, tasks: int, seconds: float) -> int:
    async with AsyncAgentCache.from_url(url, prefix="spread") as cache:
        convs = [await cache.conversations.create(agent_id="bench", user_id=f"u{i % 50}") for i in range(conversations)]
        for conv in convs:  # every node learns the scripts before the clock starts
            await conv.add_message(MESSAGE)
        done = 0
        stop = time.monotonic() + seconds

        async def worker(offset: int) -> None:
            nonlocal done
            i = offset
            while time.monotonic() < stop:
                await convs[i % len(convs)].add_message(MESSAGE)
                done += 1
                i += tasks

        for node in valkey.ValkeyCluster.from_url(url).get_primaries():
            valkey.Valkey(host=node.host, port=node.port).execute_command("CONFIG", "RESETSTAT")
        await asyncio.gather(*(worker(t) for t in range(tasks)))
        return done


def per_node(url: str) -> list[dict[str, Any]]:
    rows = []
    for node in valkey.ValkeyCluster.from_url(url).get_primaries():
        info: dict[str, Any] = valkey.Valkey(host=node.host, port=node.port).info("commandstats")  # type: ignore[assignment]
        stats = info.get("cmdstat_evalsha", {})
        rows.append({"port": node.port, "script_calls": stats.get("calls", 0), "script_usec": stats.get("usec", 0)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.index_spread", description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", default="bench-results/index_spread.json")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"machine": describe_machine(), "options": vars(args), "layouts": {}}
    original = keys.INDEX_BUCKETS
    try:
        for label, buckets in (("one slot (before)", 1), (f"{original} buckets (after)", original)):
            set_buckets(buckets)
            progress(f"{label}: starting a 3-primary cluster")
            with BundledValkey("cluster", primaries=3) as server:
                done = asyncio.run(appends(server.url, args.conversations, args.tasks, args.seconds))
                results["layouts"][label] = {"appends_per_s": round(done / args.seconds), "nodes": per_node(server.url)}
    finally:
        set_buckets(original)
    print(f"conversation appends on a 3-primary cluster ({describe_machine()}), {args.tasks} tasks, {args.seconds} s")
    for label, got in results["layouts"].items():
        total = sum(n["script_usec"] for n in got["nodes"]) or 1
        rows = [
            [n["port"], n["script_calls"], n["script_usec"], f"{100 * n['script_usec'] / total:.0f}%"]
            for n in got["nodes"]
        ]
        print(f"\n== {label}: {got['appends_per_s']} appends/s ==")
        print(table(["primary", "script calls", "script usec", "share of script time"], rows))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
