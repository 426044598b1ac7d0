"""Benchmark of history compaction: context size and turn latency over a 1,000-message conversation,
with and without ``compact_at``.

On a bundled Valkey it starts itself (a single node in cluster mode), with the loopback model server
of the tests (``tests/fake_models.py``) as the model. Two conversations start from the same 1,000
messages (~130 characters each); then turns run on both, interleaved (the order alternates), each
with a new prompt (so every turn's request reaches the model):

- ``plain``: ``conv.run(prompt, model=...)``: every turn reads and sends the whole history;
- ``compact_at``: ``conv.run(prompt, model=..., compact_at=CompactAt(chars=BUDGET))``: the first
  turn summarises all but the newest ``BUDGET/2`` characters, later turns send the summary and the
  messages after it, compacting again whenever that passes the budget.

The summariser is the same server answering with an ~800-character summary (a wrapper puts
``REPLY <text>`` after the transcript, so the server is sent the whole transcript and answers
short, as a real summariser would). Reported per candidate: the turn's latency (median, p90), the
characters and messages of the context sent, the input tokens the model reported, and the median of
the per-pair ratios plain/compact_at. The turn that compacts is reported apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import progress, run_meta, table

HISTORY = 1000
BUDGET = 20_000
TEXT = (
    "Can you move my Lisbon flight to the 8th and keep the aisle seat? If the fare goes up by more "
    "than 50 euros, ask me first. ({i})"
)


class ShortSummariser:
    """A ChatModel that sends the transcript and asks the model server for an ~800-character reply."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.api = inner.api
        self.model = inner.model

    def request(self, context: Any, tools: Sequence[Any], output: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        from agentcache import Context, Message

        text = context.messages[-1].text
        short = "REPLY " + (text[:400] + " ... " + text[-400:]).replace("\n", " ")
        return dict(
            self.inner.request(Context(context.system, [*context.messages, Message.user(short)]), tools, output, params)
        )

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        return dict(self.inner.call(request))

    async def call_async(self, request: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.inner.call_async(request))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compaction", description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=40, help="turns per conversation")
    parser.add_argument("--quick", action="store_true", help="few turns: a smoke run")
    parser.add_argument("--out", default="bench-results/compaction.json")
    args = parser.parse_args(argv)
    turns = 6 if args.quick else args.turns

    from agentcache import AgentCache, BundledValkey, CompactAt, Message
    from agentcache.providers.openai import OpenAIChatModel
    from tests.fake_models import FakeModelServer

    models = FakeModelServer().start()
    models.delay = 0.0
    bundled = BundledValkey("cluster").start()
    try:
        cache = AgentCache.from_url(bundled.url)
        model = OpenAIChatModel("gpt-bench", base_url=models.openai_url, api_key="t", max_retries=0)
        at = CompactAt(chars=BUDGET, model=ShortSummariser(model))  # type: ignore[arg-type]
        progress(f"writing two conversations of {HISTORY} messages")
        history = [
            Message.user(TEXT.format(i=i)) if i % 2 == 0 else Message.assistant(f"Done: {TEXT.format(i=i)}")
            for i in range(HISTORY)
        ]
        plain = cache.conversations.create(agent_id="bench", user_id="u", messages=history, system="Be brief.")
        compacting = cache.conversations.create(agent_id="bench", user_id="u", messages=history, system="Be brief.")
        rows: dict[str, list[dict[str, Any]]] = {"plain": [], "compact_at": []}
        for turn in range(turns):
            order = [("plain", plain, None), ("compact_at", compacting, at)]
            for name, conv, compact_at in order if turn % 2 == 0 else order[::-1]:
                prompt = f"REPLY noted, turn {turn} of {name}"
                started = time.perf_counter()
                result = conv.run(prompt, model=model, compact_at=compact_at)
                elapsed = time.perf_counter() - started
                _, body = models.requests[-1]
                rows[name].append(
                    {
                        "ms": elapsed * 1000,
                        "chars": sum(len(json.dumps(m.get("content"))) for m in body["messages"]),
                        "messages": len(body["messages"]),
                        "input_tokens": result.input_tokens,
                        "compacted": result.compacted,
                    }
                )
            progress(f"turn {turn + 1}/{turns}")
        report(rows, Path(args.out), cache)
        cache.close()
    finally:
        bundled.stop()
        models.stop()
    return 0


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] if ordered else float("nan")


def report(rows: dict[str, list[dict[str, Any]]], out: Path, cache: Any) -> None:
    """Print the tables and write the JSON."""
    steady = {name: [r for r in runs if not r["compacted"]] for name, runs in rows.items()}
    lines = []
    for name, runs in steady.items():
        ms = [r["ms"] for r in runs]
        lines.append(
            [
                name,
                len(runs),
                f"{_median(ms):.2f}",
                f"{_p90(ms):.2f}",
                f"{_median([r['chars'] for r in runs]):.0f}",
                f"{_median([r['messages'] for r in runs]):.0f}",
                f"{_median([r['input_tokens'] for r in runs]):.0f}",
            ]
        )
    print(
        table(
            ["turns without compaction", "n", "median ms", "p90 ms", "context chars", "messages", "input tokens"], lines
        )
    )
    pairs = list(zip(rows["plain"], rows["compact_at"], strict=True))
    ratios = [p["ms"] / c["ms"] for p, c in pairs if not c["compacted"]]
    size = [p["chars"] / c["chars"] for p, c in pairs if not c["compacted"]]
    print(
        f"median of per-turn ratios plain/compact_at: latency {_median(ratios):.2f}x, context size {_median(size):.1f}x"
    )
    compacting = [r for r in rows["compact_at"] if r["compacted"]]
    for r in compacting:
        print(
            f"a compacting turn: {r['ms']:.1f} ms, {r['compacted']} messages summarised, then {r['chars']} chars sent"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = run_meta(["valkey-agentcache"], {"history": HISTORY, "budget": BUDGET})
    out.write_text(json.dumps({"meta": meta, "turns": rows}, indent=2, default=str) + "\n")
    print(f"results: {out}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
