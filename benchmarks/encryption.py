"""Benchmark of encryption at rest: what ``encryption=`` costs per operation.

On one bundled Valkey server (a single node in cluster mode), in one process, interleaved: each
round times a block of calls on a cache without encryption and a block on a cache with
``encryption=Encryption(...)`` (AES-256-GCM), in alternating order, both against the same server
and the same data sizes. Operations: ``session.get`` (a hit), ``session.set``, ``tool.check`` (a
hit), ``conv.add_message``, each with a small value (~100 bytes) and a larger one (~16 KiB); and the
codec alone (seal + open of one value, no network), which is what encryption adds to a call.

How to read it: ``plain`` and ``sealed`` are medians over rounds of the per-call time in µs;
``ratio`` is the median over rounds of sealed / plain (medians of ratios: each round's two blocks
ran back to back, so drift of the machine cancels out); ``p90 ratio`` is the 90th percentile of
those ratios. On a busy machine expect noise of a few percent either way.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SMALL = {"name": "Ada Lovelace", "visits": 3, "plan": "pro", "tags": ["a", "b"], "note": "x" * 40}
LARGE = {"name": "Ada", "history": ["lorem ipsum dolor sit amet " * 4] * 150}
KEY = bytes(range(32))


def _block(call: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1e6


def race(plain: Callable[[], Any], sealed: Callable[[], Any], rounds: int, n: int) -> dict[str, float]:
    """Per-call µs of each, and the median (and p90) over rounds of sealed / plain."""
    for call in (plain, sealed):
        _block(call, max(1, n // 4))  # warm up
    times: dict[str, list[float]] = {"plain": [], "sealed": []}
    ratios = []
    for i in range(rounds):
        order = [("plain", plain), ("sealed", sealed)] if i % 2 == 0 else [("sealed", sealed), ("plain", plain)]
        got = {name: _block(call, n) for name, call in order}
        for name, us in got.items():
            times[name].append(us)
        ratios.append(got["sealed"] / got["plain"])
    ratios.sort()
    return {
        "plain_us": statistics.median(times["plain"]),
        "sealed_us": statistics.median(times["sealed"]),
        "ratio": statistics.median(ratios),
        "p90_ratio": ratios[min(len(ratios) - 1, int(len(ratios) * 0.9))],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.encryption", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds per operation")
    parser.add_argument("--calls", type=int, default=200, help="calls per block")
    parser.add_argument("--quick", action="store_true", help="few samples: a smoke run")
    parser.add_argument(
        "--id-key", action="store_true", help="the sealed cache also hashes ids in key names (Encryption(id_key=))"
    )
    parser.add_argument("--out", default="bench-results/encryption.json", help="where to write the JSON results")
    options = parser.parse_args(argv)
    rounds, calls = (4, 30) if options.quick else (options.rounds, options.calls)

    from agentcache import AgentCache, BundledValkey, Encryption, Message
    from agentcache.encoding import codec
    from agentcache.options import make_settings

    results: dict[str, Any] = {"options": vars(options), "rows": {}}
    sealer = make_settings({"encryption": Encryption({"k": KEY})})[0].sealer
    assert sealer is not None
    where = "agentcache:session:{thread}:profile"
    for size, value in (("small", SMALL), ("large", LARGE)):
        plain_env = codec.encode(value, 1_800_000, 1 << 24)

        def codec_plain(v: Any = value) -> Any:
            return codec.decode(codec.opened(codec.encode(v, 1_800_000, 1 << 24), None, where))

        def codec_sealed(v: Any = value) -> Any:
            raw = codec.seal(codec.encode(v, 1_800_000, 1 << 24), sealer, where)
            return codec.decode(codec.opened(raw, sealer, where))

        results["rows"][f"codec encode+decode ({size}, {len(plain_env)} B)"] = race(
            codec_plain, codec_sealed, rounds, calls * 5
        )

    bundled = BundledValkey("cluster").start()
    try:
        plain = AgentCache.from_url(bundled.url, prefix="bench-plain")
        id_key = bytes(range(32, 64)) if options.id_key else None
        encryption = Encryption({"k": KEY}, id_key=id_key)
        sealed = AgentCache.from_url(bundled.url, prefix="bench-sealed", encryption=encryption)
        for cache in (plain, sealed):
            cache.ping()
            for size, value in (("small", SMALL), ("large", LARGE)):
                cache.session.set("thread", size, value, ttl=3600)
                cache.tool.store("search", {"q": size}, value, ttl=3600)
        rows = results["rows"]
        for size, value in (("small", SMALL), ("large", LARGE)):

            def get(cache: Any, s: str = size) -> Callable[[], Any]:
                return lambda: cache.session.get("thread", s)

            def put(cache: Any, s: str = size, v: Any = value) -> Callable[[], Any]:
                return lambda: cache.session.set("thread", s, v, ttl=3600)

            def check(cache: Any, s: str = size) -> Callable[[], Any]:
                return lambda: cache.tool.check("search", {"q": s})

            rows[f"session.get ({size})"] = race(get(plain), get(sealed), rounds, calls)
            rows[f"session.set ({size})"] = race(put(plain), put(sealed), rounds, calls)
            rows[f"tool.check ({size})"] = race(check(plain), check(sealed), rounds, calls)
        convs = []
        for cache in (plain, sealed):
            with_id = f"bench-{time.time_ns()}"
            convs.append(cache.conversations.create(session_id=with_id, agent_id="a", user_id="u"))
        text = "a user message of about a hundred bytes, as an agent turn would append it to its history."
        results["rows"]["conv.add_message (~100 B)"] = race(
            lambda: convs[0].add_message(Message.user(text)),
            lambda: convs[1].add_message(Message.user(text)),
            rounds,
            calls,
        )
        for conv in convs:
            conv.delete()
        for cache in (plain, sealed):
            cache.session.destroy_thread("thread")
            cache.close()
    finally:
        bundled.stop()

    hashed = " (the sealed cache also hashes ids: id_key=)" if options.id_key else ""
    print(f"encryption at rest{hashed}: medians of {rounds} interleaved rounds of {calls} calls (µs per call)")
    print(f"{'operation':44} {'plain':>9} {'sealed':>9} {'ratio':>7} {'p90':>7}")
    for name, row in results["rows"].items():
        print(f"{name:44} {row['plain_us']:9.1f} {row['sealed_us']:9.1f} {row['ratio']:7.3f} {row['p90_ratio']:7.3f}")
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
