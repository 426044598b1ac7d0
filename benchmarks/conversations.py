"""Benchmark of the conversation tier: one agent turn — append one message, read the newest 20.

On a bundled Valkey it starts itself (a single node in cluster mode, and a standalone one), against:

- the floor on the same kind of client: ``RPUSH key <same bytes>`` then ``LRANGE key -20 -1`` (two
  round trips, like agentcache's two calls; no expiry, no lifecycle, no decoding); for ``append``
  alone, ``RPUSH`` and ``PEXPIRE`` in one pipeline (one round trip, like agentcache's append);
- a reference row: agentcache with ``auto_renew=False``, whose append skips the index update;
- the peer, when installed: the OpenAI Agents SDK's ``RedisSession`` (``openai-agents[redis]``, async
  only, on a plain redis-py asyncio client, as it refuses cluster clients):
  ``add_items([item])`` then ``get_items(limit=20)``. On the cluster-mode server it fails (its WATCH
  spans keys of two slots) and is reported as failed.

Each conversation holds 100 messages before timing starts. Three races per server: ``turn``
(append + read 20), ``append`` and ``read20``. Candidates run interleaved (rotating order, same
process, same server); ``x floor`` is the median over the race's rounds of the ratio of the
candidate's median to the floor's in that round, on the same kind of client, ``vs
peer`` the peer's median over agentcache's (above 1: agentcache is faster). ``round trips`` is
counted on one untimed call. Results go to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentcache import AsyncAgentCache, Message
from agentcache.encoding import codec

from .harness import (
    AsyncCandidate,
    Candidate,
    Server,
    Summary,
    SyncCandidate,
    client_name,
    close_server,
    fmt_ratio,
    measure_round_trips,
    point_race,
    progress,
    race,
    run_meta,
    summarize,
    table,
    vs_peer,
    warm_up,
    write_json,
)
from .harness import open_server as harness_open_server
from .peers import load_redis_session

TEXT = (
    "Can you move my Lisbon flight to the 8th and keep the aisle seat? If the fare goes up by more "
    "than 50 euros, ask me first."
)
MESSAGE = Message.user(TEXT, metadata={"client": "web"})
ENVELOPE = codec.encode(MESSAGE.model_dump(), 0, 1 << 20)  # the bytes agentcache stores for MESSAGE
PEER_ITEM: dict[str, Any] = {"role": "user", "content": TEXT}
HISTORY = 100
WINDOW = 20
MODES = ("cluster", "standalone")
OPS = ("turn", "append", "read20")
PEER = "openai-agents RedisSession (peer)"
EXPIRE_MS = 1_800_000
APPEND_TARGET = 1.5
"""Issue 25: an append (a turn's message) at most this over RPUSH+PEXPIRE in one pipeline."""


@dataclass
class Options:
    ops: int
    peer: bool
    out: Path
    warmup: int


@dataclass
class Results:
    meta: dict[str, Any] = field(default_factory=dict)
    rows: list[Summary] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.conversations", description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=None, help="samples per candidate and race (default 3000)")
    parser.add_argument("--quick", action="store_true", help="few samples: a smoke run")
    parser.add_argument("--no-peer", action="store_true", help="skip the OpenAI Agents SDK's RedisSession")
    parser.add_argument("--out", default="bench-results/conversations.json", help="where to write the JSON results")
    args = parser.parse_args(argv)
    ops = args.ops if args.ops is not None else (100 if args.quick else 3000)
    if ops < 1:
        parser.error("--ops must be positive")
    return Options(ops, not args.no_peer, Path(args.out), 20 if args.quick else 300)


def open_server(mode: str, runner: asyncio.Runner, peer_class: Any, failures: list[dict[str, str]]) -> Server:
    """A bundled server with every client, the conversations the candidates drive (history of
    ``HISTORY`` messages) and the floor's lists; the peer when it installs and works there."""

    async def add_peers(s: Server) -> None:
        if peer_class is None:
            return
        # RedisSession refuses cluster clients (it uses WATCH/MULTI): a plain client
        from redis.asyncio import Redis as PeerClient

        client = PeerClient.from_url(s.bundled.url.replace("valkey://", "redis://"))
        peer = peer_class("bench-peer", redis_client=client, ttl=1800)
        try:
            await peer.add_items([PEER_ITEM] * HISTORY)
        except Exception as exc:  # e.g. CROSSSLOT on a cluster-mode server: its keys have no hash tag
            failures.append({"server": mode, "op": "setup", "error": f"{type(exc).__name__}: {exc}"})
            progress(f"{mode}: the peer failed and is left out: {exc!r}")
            await client.aclose()
            return
        s.peers.append((PEER, peer))
        s.closers.append(client.aclose)
        s.state["peer_client"] = client

    async def ping(acache: AsyncAgentCache) -> None:
        await acache.ping()

    s = harness_open_server(mode, runner, lambda cache: cache.ping(), ping, add_peers)
    history = [MESSAGE] * HISTORY
    create = s.cache.conversations.create
    s.state["convs"] = {
        "sync": create(agent_id="bench", user_id="u", messages=history),
        "sync-noauto": create(agent_id="bench", user_id="u", messages=history, auto_renew=False),
        "async": runner.run(s.acache.conversations.create(agent_id="bench", user_id="u", messages=history)),
    }
    for key in ("floor:{sync}", "floor:{async}"):
        s.raw.execute_command("RPUSH", key, *[ENVELOPE] * HISTORY)
    return s


def sync_call(conv: Any, op: str) -> Callable[[], object]:
    def turn() -> object:
        conv.add_message(MESSAGE)
        return conv.messages(limit=WINDOW)

    return {"turn": turn, "append": lambda: conv.add_message(MESSAGE), "read20": lambda: conv.messages(limit=WINDOW)}[
        op
    ]


def async_call(conv: Any, op: str) -> Callable[[], Awaitable[object]]:
    async def turn() -> object:
        await conv.add_message(MESSAGE)
        return await conv.messages(limit=WINDOW)

    async def append() -> object:
        return await conv.add_message(MESSAGE)

    async def read() -> object:
        return await conv.messages(limit=WINDOW)

    return {"turn": turn, "append": append, "read20": read}[op]


def floor_sync(raw: Any, key: str, op: str) -> Callable[[], object]:
    def turn() -> object:
        raw.execute_command("RPUSH", key, ENVELOPE)
        return raw.execute_command("LRANGE", key, -WINDOW, -1)

    def append() -> object:  # one round trip, as agentcache's append
        pipe = raw.pipeline(transaction=False)
        pipe.execute_command("RPUSH", key, ENVELOPE)
        pipe.execute_command("PEXPIRE", key, EXPIRE_MS)
        return pipe.execute()

    return {
        "turn": turn,
        "append": append,
        "read20": lambda: raw.execute_command("LRANGE", key, -WINDOW, -1),
    }[op]


def floor_async(araw: Any, key: str, op: str) -> Callable[[], Awaitable[object]]:
    async def turn() -> object:
        await araw.execute_command("RPUSH", key, ENVELOPE)
        return await araw.execute_command("LRANGE", key, -WINDOW, -1)

    async def append() -> object:
        pipe = araw.pipeline(transaction=False)
        pipe.execute_command("RPUSH", key, ENVELOPE)
        pipe.execute_command("PEXPIRE", key, EXPIRE_MS)
        return await pipe.execute()

    async def read() -> object:
        return await araw.execute_command("LRANGE", key, -WINDOW, -1)

    return {"turn": turn, "append": append, "read20": read}[op]


def peer_call(peer: Any, op: str) -> Callable[[], Awaitable[object]]:
    async def turn() -> object:
        await peer.add_items([PEER_ITEM])
        return await peer.get_items(limit=WINDOW)

    async def append() -> object:
        return await peer.add_items([PEER_ITEM])

    async def read() -> object:
        return await peer.get_items(limit=WINDOW)

    return {"turn": turn, "append": append, "read20": read}[op]


def candidates(s: Server, op: str) -> list[Candidate]:
    command = {"turn": "RPUSH; LRANGE", "append": "RPUSH+PEXPIRE", "read20": "LRANGE -20 -1"}[op]
    sync_floor, async_floor = f"valkey-py sync {command} (floor)", f"valkey-py async {command} (floor)"
    cache = s.cache
    no_auto = SyncCandidate(
        "agentcache sync, auto_renew=False",
        sync_call(s.state["convs"]["sync-noauto"], op),
        "reference",
        client_name(cache.client),
        sync_floor,
        round_trips=lambda: cache.round_trips,
    )
    peer = None
    if s.peer is not None:
        peer = AsyncCandidate(PEER, peer_call(s.peer, op), "peer", client_name(s.state["peer_client"]), async_floor)
    calls = (
        sync_call(s.state["convs"]["sync"], op),
        floor_sync(s.raw, "floor:{sync}", op),
        async_call(s.state["convs"]["async"], op),
        floor_async(s.araw, "floor:{async}", op),
    )
    return point_race(cache, s.acache, s.raw, s.araw, calls, command, [no_auto], peer)


def run_server(s: Server, runner: asyncio.Runner, opts: Options, results: Results) -> None:
    for op in OPS:
        race_candidates = candidates(s, op)
        progress(f"{s.mode}: {op}, {len(race_candidates)} candidates x {opts.ops} samples")
        try:
            warm_up(race_candidates, opts.warmup, runner)
        except Exception as exc:  # the peer can fail on a server kind it does not support
            results.failures.append({"server": s.mode, "op": op, "error": f"{type(exc).__name__}: {exc}"})
            progress(f"{s.mode}: {op}: a candidate failed ({exc!r}); racing without the peer")
            race_candidates = [c for c in race_candidates if c.role != "peer"]
            warm_up(race_candidates, opts.warmup, runner)
        rounds = max(1, opts.ops // 100)
        samples = race(race_candidates, [opts.ops] * len(race_candidates), rounds, runner)
        rows = summarize(race_candidates, samples, {"server": s.mode, "op": op}, rounds)
        for row, candidate in zip(rows, race_candidates, strict=True):
            # the packet counter watches valkey-py; the peer runs on redis-py, so its count is not known
            row.round_trips = None if candidate.role == "peer" else measure_round_trips(candidate, runner)
        results.rows += rows


def report(results: Results) -> None:
    meta = results.meta
    print(f"agentcache conversation benchmark  ({meta['started']}, {meta['machine']})")
    print(f"message: {len(ENVELOPE)} bytes stored; history {HISTORY} messages before timing; read window {WINDOW}")
    for mode in MODES:
        rows = [r for r in results.rows if r.labels["server"] == mode]
        if not rows:
            continue
        print(f"\n== {mode} server, Valkey {meta['servers'][mode]} ==")
        body = [
            [
                r.labels["op"],
                r.candidate,
                r.client,
                r.n,
                r.median_us,
                r.p99_us,
                fmt_ratio(r.ratio_to_floor),
                vs_peer(rows, r, roles=("agentcache", "reference")),
                r.round_trips,
            ]
            for r in rows
        ]
        headers = ["op", "candidate", "client", "n", "median us", "p99 us", "x floor", "vs peer", "round trips"]
        print(table(headers, body, left=3))
    for failure in results.failures:
        print(f"FAILED on the {failure['server']} server ({failure['op']}): {failure['error']}")
    print("\n== Targets ==")
    for r in results.rows:
        if r.labels["op"] == "append" and r.role == "agentcache" and r.ratio_to_floor is not None:
            met = "met" if r.ratio_to_floor <= APPEND_TARGET else "MISSED"
            where = f"{r.labels['server']}: {r.candidate} append <= {APPEND_TARGET}x RPUSH+PEXPIRE"
            print(f"  [{met}] {where}: {r.ratio_to_floor:.2f}x")
    print(f"\ntotal time: {meta['seconds']:.0f} s; results in {meta['out']}")


def main(argv: list[str] | None = None) -> int:
    """Run the conversation benchmark; print tables on stdout and write JSON to ``--out``."""
    opts = parse_args(argv)
    started = time.monotonic()
    peer_class = load_redis_session() if opts.peer else None
    if opts.peer and peer_class is None:
        print("peer skipped: the OpenAI Agents SDK is not installed (pip install 'openai-agents[redis]')")
    results = Results()
    results.meta = run_meta(
        ["openai-agents", "redis", "pydantic"],
        {"ops": opts.ops, "peer": peer_class is not None},
        message_bytes=len(ENVELOPE),
        out=str(opts.out),
        servers={},
    )
    with asyncio.Runner() as runner:
        for mode in MODES:
            progress(f"starting the bundled {mode} server")
            server = open_server(mode, runner, peer_class, results.failures)
            results.meta["servers"][mode] = server.version
            try:
                run_server(server, runner, opts, results)
            finally:
                close_server(server, runner)
    results.meta["seconds"] = round(time.monotonic() - started, 1)
    write_json(results, opts.out)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
