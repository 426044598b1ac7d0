"""Capacity measurements for docs/capacity.md: ``python -m benchmarks.capacity``.

On the bundled server (one node in cluster mode, as ``AgentCache.embedded()`` runs it):

- bytes per session field, tool result and conversation message, small and typical, from INFO
  memory ``used_memory`` before and after writing many of them (per item: the delta over the count)
  and MEMORY USAGE of one key;
- the same fields kept as one hash per thread with Valkey 9's per-field expiry (HSETEX), for the
  layout comparison;
- round trips and server commands of one typical agent turn, from ``cache.round_trips`` and
  INFO commandstats;
- server CPU per call of each operation (commandstats ``usec_per_call``), from which a single
  node's ceiling in calls per second follows (one core runs the commands).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agentcache import AgentCache, BundledValkey, Message
from agentcache.encoding import codec

from .harness import describe_machine, progress

SMALL = {"step": 3}
TYPICAL = {
    "intent": "book_flight",
    "origin": "LHR",
    "destination": "JFK",
    "dates": ["2026-12-01", "2026-12-08"],
    "passengers": [{"name": "Alice Example", "age": 34}, {"name": "Bob Example", "age": 36}],
    "notes": "window seat preferred, vegetarian meal, " * 4,
}
SMALL_TEXT = "ok"
TYPICAL_TEXT = "Can you move my Lisbon flight to the 8th and keep the aisle seat? " * 6


def used(raw: Any) -> int:
    return int(raw.info("memory")["used_memory"])


def per_item(raw: Any, write: Any, count: int) -> float:
    before = used(raw)
    write(count)
    return (used(raw) - before) / count


def measure(count: int) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": describe_machine(), "count": count}
    with BundledValkey("cluster") as server, AgentCache.from_url(server.url, prefix="cap") as cache:
        raw = type(cache.client).from_url(server.url)
        out["server"] = str(raw.info("server")["valkey_version"])
        sizes: dict[str, Any] = {}
        for label, value in (("small", SMALL), ("typical", TYPICAL)):
            progress(f"session fields, {label}")
            encoded = len(codec.encode(value, 1_800_000, 1 << 20))

            def fields(n: int, value: Any = value, label: str = label) -> None:
                for start in range(0, n, 500):
                    cache.session.set_many(f"{label}-{start}", {f"f{i}": value for i in range(start, start + 500)})

            sizes[f"session field, {label}"] = {
                "value_bytes": encoded,
                "bytes_per_item": per_item(raw, fields, count),
                "memory_usage_one_key": raw.memory_usage(cache.session.key(f"{label}-0", "f0")),
            }
            progress(f"hash per thread with HSETEX, {label}")

            def hashes(n: int, value: Any = value, label: str = label) -> None:
                data = codec.encode(value, 1_800_000, 1 << 20)
                for start in range(0, n, 500):
                    pairs = [x for i in range(start, start + 500) for x in (f"f{i}", data)]
                    raw.execute_command("HSETEX", f"cap:h:{{{label}-{start}}}", "PX", 1_800_000, "FIELDS", 500, *pairs)

            sizes[f"hash field with its own TTL (HSETEX), {label}"] = {
                "value_bytes": encoded,
                "bytes_per_item": per_item(raw, hashes, count),
            }
            progress(f"tool results, {label}")

            def results(n: int, value: Any = value, label: str = label) -> None:
                for i in range(n):
                    cache.tool.store(f"tool-{label}", {"i": i}, value, ttl=3600)

            sizes[f"tool result, {label}"] = {"bytes_per_item": per_item(raw, results, count)}
        for label, text in (("small", SMALL_TEXT), ("typical", TYPICAL_TEXT)):
            progress(f"conversation messages, {label}")
            conv = cache.conversations.create(agent_id="cap", user_id="u", session_id=f"cap-{label}")

            def messages(n: int, text: str = text, conv: Any = conv) -> None:
                for start in range(0, n, 200):
                    conv.add_messages([Message.user(text)] * min(200, n - start))

            sizes[f"conversation message, {label}"] = {
                "text_chars": len(text),
                "bytes_per_item": per_item(raw, messages, count),
            }
        out["sizes"] = sizes

        progress("one agent turn")
        conv = cache.conversations.create(agent_id="cap", user_id="u", session_id="turn")
        conv.add_message(Message.user("warm up"))
        conv.context(limit=20)
        cache.tool.get_or_compute("weather", {"city": "Paris"}, lambda: {"temp": 18}, ttl=600)
        cache.session.get("turn", "intent")
        cache.session.get_many("turn", ["intent"])
        cache.session.set("turn", "intent", "book_flight")
        raw.execute_command("CONFIG", "RESETSTAT")
        before = cache.round_trips
        conv.add_message(Message.user(TYPICAL_TEXT))  # the user's message (takes pending user parts)
        cache.session.get_many("turn", ["intent", "prices", "seat"])  # the app's state for this turn
        conv.context(limit=20)  # what the model sees
        cache.tool.get_or_compute("weather", {"city": "Paris"}, lambda: {"temp": 18}, ttl=600)  # a tool hit
        conv.add_message(Message.assistant("It is 18 degrees in Paris."))  # the model's answer
        cache.session.set("turn", "intent", "answered")  # the app notes progress
        turn_round_trips = cache.round_trips - before
        stats = raw.info("commandstats")
        out["turn"] = {
            "round_trips": turn_round_trips,
            "server_commands": {k.removeprefix("cmdstat_"): [v["calls"], v["usec"]] for k, v in stats.items()},
            "top_level_usec": sum(
                stats[f"cmdstat_{name}"]["usec"] for name in ("evalsha", "set", "hget") if f"cmdstat_{name}" in stats
            ),
        }

        progress("server CPU per call")
        raw.execute_command("CONFIG", "RESETSTAT")
        for _ in range(2000):
            cache.session.get("turn", "intent")
        get_stats = raw.info("commandstats")
        raw.execute_command("CONFIG", "RESETSTAT")
        for i in range(2000):
            cache.session.set("turn", f"f{i % 50}", TYPICAL)
        set_stats = raw.info("commandstats")
        raw.execute_command("CONFIG", "RESETSTAT")
        for _ in range(500):
            conv.add_message(Message.user(TYPICAL_TEXT))
        append_stats = raw.info("commandstats")
        out["usec_per_call"] = {
            "session get (script)": get_stats["cmdstat_evalsha"]["usec_per_call"],
            "session set (SET)": set_stats["cmdstat_set"]["usec_per_call"],
            "conversation append (script + index)": append_stats["cmdstat_evalsha"]["usec_per_call"],
        }
        raw.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="items per measurement (default 20000)")
    parser.add_argument("--out", default="bench-results/capacity.json", help="where to write the JSON results")
    args = parser.parse_args(argv)
    results = measure(max(1000, args.count))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
