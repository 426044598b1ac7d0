"""Benchmark of a model-driven turn (``conv.run``) by the conversation's length: 10, 100 and 1,000
messages.

On a bundled Valkey it starts itself (a single node in cluster mode), with the loopback model server
of the tests (``tests/fake_models.py``, no delay) behind the real ``openai`` client as the model.
Each conversation starts from ``N`` messages (~130 characters each, user and assistant
alternating); every turn sends a new prompt ``REPLY noted ...`` (so the request reaches the model
and the reply is short), reads the whole history and appends two messages. The sizes run
interleaved (the order rotates every round), all in one process.

Beside each size, ``model call`` times the model call alone (``model.call(request)`` with the very
request the turn sent: the openai client, HTTP on loopback and the fake server), so ``ours`` (turn
minus model call, per pair) is the part agentcache spends: reading and decoding the history,
building the request, the LLM tier's key and its two round trips, the append. ``round trips`` is
counted on one untimed turn.

The fake server's kept request bodies are cleared after each turn.

``--profile N``: cProfile over ``N`` turns of the largest conversation, the top 15 entries by
cumulative time printed (``--sort tottime`` for own time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import progress, run_meta, table

SIZES = (10, 100, 1000)
TEXT = (
    "Can you move my Lisbon flight to the 8th and keep the aisle seat? If the fare goes up by more "
    "than 50 euros, ask me first. ({i})"
)


def _history(n: int) -> list[Any]:
    from agentcache import Message

    return [
        Message.user(TEXT.format(i=i)) if i % 2 == 0 else Message.assistant(f"Done: {TEXT.format(i=i)}")
        for i in range(n)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.turns", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="turns per size")
    parser.add_argument("--quick", action="store_true", help="5 rounds: a smoke run")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="conversation lengths, comma-separated")
    parser.add_argument("--profile", type=int, default=0, help="profile this many turns of the largest size")
    parser.add_argument("--sort", default="cumulative", help="the profile's order (cumulative, tottime)")
    parser.add_argument("--out", default="bench-results/turns.json")
    args = parser.parse_args(argv)
    rounds = 5 if args.quick else args.rounds
    sizes = [int(s) for s in args.sizes.split(",")]

    from agentcache import AgentCache, BundledValkey
    from agentcache.providers.openai import OpenAIChatModel
    from tests.fake_models import FakeModelServer

    models = FakeModelServer().start()
    models.delay = 0.0
    bundled = BundledValkey("cluster").start()
    try:
        cache = AgentCache.from_url(bundled.url)
        model = OpenAIChatModel("gpt-bench", base_url=models.openai_url, api_key="t", max_retries=0)
        convs = {}
        for n in sizes:
            progress(f"writing a conversation of {n} messages")
            convs[n] = cache.conversations.create(
                agent_id="bench", user_id="u", messages=_history(n), system="Be brief."
            )
        counter = 0

        def turn(n: int) -> tuple[float, dict[str, Any]]:
            nonlocal counter
            counter += 1
            started = time.perf_counter()
            convs[n].run(f"REPLY noted, turn {counter}", model=model)
            elapsed = time.perf_counter() - started
            with models.lock:  # the server keeps every body: a growing heap makes the collector slow
                body = models.requests[-1][1]
                models.requests.clear()
            return elapsed, body

        for n in sizes:  # warm up: clients, scripts, imports
            turn(n)
        trips = {}
        for n in sizes:
            before = cache.round_trips
            turn(n)
            trips[n] = cache.round_trips - before
        if args.profile:
            n = max(sizes)
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.profile):
                turn(n)
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(args.sort).print_stats(15)
            print(f"profile of {args.profile} turns at {n} messages:")
            print(text.getvalue())
        rows: dict[int, list[tuple[float, float]]] = {n: [] for n in sizes}
        for i in range(rounds):
            order = sizes[i % len(sizes) :] + sizes[: i % len(sizes)]
            for n in order:
                elapsed, body = turn(n)
                request = {k: v for k, v in body.items() if k != "stream"}
                started = time.perf_counter()
                model.call(request)
                rows[n].append((elapsed, time.perf_counter() - started))
            progress(f"round {i + 1}/{rounds}")
        lines = []
        for n in sizes:
            turns = [t for t, _ in rows[n]]
            calls = [c for _, c in rows[n]]
            ours = [t - c for t, c in rows[n]]
            lines.append(
                [
                    n,
                    len(turns),
                    f"{statistics.median(turns) * 1000:.2f}",
                    f"{statistics.median(calls) * 1000:.2f}",
                    f"{statistics.median(ours) * 1000:.2f}",
                    trips[n],
                ]
            )
        print(table(["messages", "n", "turn ms", "model call ms", "ours ms", "round trips"], lines))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = run_meta(["valkey-agentcache"], {"sizes": sizes, "rounds": rounds})
        out.write_text(
            json.dumps({"meta": meta, "turns": {str(n): rows[n] for n in sizes}, "round_trips": trips}) + "\n"
        )
        print(f"results: {out}", file=sys.stderr)
        cache.close()
    finally:
        bundled.stop()
        models.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
