"""Benchmark of the session tier: agentcache against the raw command (the floor) and against a peer.

What it measures, on two bundled Valkey servers it starts itself (standalone, and a single node in
cluster mode owning all 16384 slots):

1. Point operations: ``session.get`` (a hit) and ``session.set`` of a ~100-byte dict, sync and
   async, against the floor on the same kind of client — ``GETEX key EX 1800`` and
   ``SET key value EX 1800`` of a value of the same size — and against the peer
   (``betterdb-agent-cache``, async only; its get is GET + HINCRBY + EXPIRE). A reference row
   sends agentcache's get script bare (EVALSHA on the raw client): the script's own cost.
2. Thread-wide operations on a 20-field thread — ``get_all``, ``touch``, ``destroy_thread`` (thread
   re-created, untimed, before each sample) — while the server holds 10k, 100k and 1M unrelated
   keys. The floor there is what a caller who already knew the 20 keys would send: one pipeline of
   20 GETEX / 20 EXPIRE, or one UNLINK. A candidate that raises is dropped and reported as failed.
   On the cluster-mode server the peer runs twice: on the cluster client (like agentcache), and on a
   plain client (it works there because the single node owns every slot).

How to read it: every candidate of a table ran interleaved with the others (rotating order, same
process, same server), so compare rows of one table, not figures across runs. ``median`` and ``p99``
are per call, in microseconds. ``x floor`` is the median over the race's rounds of the candidate's
median over the floor's median in that round, on the same kind of client (1.00 = as fast as the bare
command); ``agentcache get`` on a field this cache wrote or read before is one ``GETEX key PX ms``.
``vs peer`` is the peer's median over agentcache's (above 1: agentcache is faster; where the peer on
the cluster client failed, the plain-client peer).
``round trips`` is counted on one untimed call (agentcache's own counter; packets written to the
socket for the others). With few samples (slow cells) p99 is the maximum. The targets are checked
at the end; the full results go to ``--out`` as JSON.

The peer never sends telemetry: its opt-out variable is set before it is imported, and it runs with
analytics, discovery and config refresh disabled. It stores strings, so it gets the value as JSON
text, encoded once outside the timing.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from valkey.asyncio import Valkey as AsyncValkey

from agentcache import AgentCache, AsyncAgentCache
from agentcache.encoding import codec
from agentcache.encoding.keys import session_thread
from agentcache.tiers.session.tier import SESSION_GET

from .harness import (
    AsyncCall,
    AsyncCandidate,
    Candidate,
    Server,
    Summary,
    SyncCall,
    SyncCandidate,
    Target,
    client_name,
    fmt_ratio,
    plan_samples,
    point_race,
    probe,
    progress,
    race,
    run_meta,
    started_servers,
    summarize,
    table,
    vs_peer,
    warm_up,
    with_round_trips,
    write_json,
)
from .harness import open_server as harness_open_server
from .peers import close_betterdb, load_betterdb, make_betterdb

TTL_S = 1800
VALUE: dict[str, Any] = {
    "intent": "book_flight",
    "origin": "LHR",
    "destination": "LIS",
    "dates": ["2025-06-01", "2025-06-08"],
    "travellers": 2,
    "budget_eur": 1500,
}
ENVELOPE = codec.encode(VALUE, TTL_S * 1000, 1 << 20)  # the bytes agentcache stores for VALUE
VALUE_TEXT = json.dumps(VALUE, separators=(",", ":"))  # what the peer (strings only) stores
POINT_THREAD = "bench-point"
THREAD = "bench-thread"
THREAD_FIELDS = [f"f{i:02d}" for i in range(20)]
FILL_CHUNK = 10_000
MODES = ("cluster", "standalone")
MODE_TITLE = {"cluster": "cluster-mode server (1 node, all slots)", "standalone": "standalone server"}
PEER = "betterdb async (peer)"
PEER_PLAIN = "betterdb async (peer, plain client)"
POINT_TARGET = 1.15
GET_TARGET = {"agentcache sync": 1.05, "agentcache async": 1.10}
"""Issue 25: session get at most this over GETEX on the same kind of client (medians of paired ratios)."""
GET_ALL_LIMIT_US = 2000.0
GET_ALL_GROWTH = 1.5


@dataclass
class Options:
    ops: int
    sizes: list[int]
    peer: bool
    out: Path
    quick: bool
    warmup: int
    thread_budget_s: float
    thread_samples: tuple[int, int]
    thread_rounds: int


@dataclass
class Results:
    meta: dict[str, Any] = field(default_factory=dict)
    point: list[Summary] = field(default_factory=list)
    thread: list[Summary] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)


# --- options ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.session", description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=None, help="samples per candidate for point ops (default 5000)")
    parser.add_argument("--sizes", default=None, help="unrelated keys, comma-separated (default 10000,100000,1000000)")
    parser.add_argument("--quick", action="store_true", help="small sizes and few samples: a smoke run")
    parser.add_argument("--no-peer", action="store_true", help="skip betterdb-agent-cache")
    parser.add_argument("--out", default="bench-results/session.json", help="where to write the JSON results")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    sizes_text = args.sizes or ("2000,20000" if quick else "10000,100000,1000000")
    try:
        sizes = sorted({int(part.replace("_", "")) for part in sizes_text.split(",") if part.strip()})
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, not {sizes_text!r}")
    ops = args.ops if args.ops is not None else (300 if quick else 5000)
    if ops < 1 or not sizes or sizes[0] < 0:
        parser.error("--ops must be positive and --sizes non-empty and non-negative")
    return Options(
        ops=ops,
        sizes=sizes,
        peer=not args.no_peer,
        out=Path(args.out),
        quick=quick,
        warmup=30 if quick else 300,
        thread_budget_s=0.05 if quick else 2.5,
        thread_samples=(3, 15) if quick else (5, 200),
        thread_rounds=3 if quick else 10,
    )


# --- the peer -----------------------------------------------------------------------------------


# --- servers and clients ------------------------------------------------------------------------


def open_server(mode: str, runner: asyncio.Runner, peer_module: ModuleType | None) -> Server:
    """A bundled server with every client; the caches detect the server kind on their first call.
    The peer runs on the client agentcache uses and, on the cluster-mode server, also on a plain
    client (fine there: the single node owns every slot)."""

    async def add_peers(s: Server) -> None:
        if peer_module is None:
            return
        url = s.bundled.url
        s.peers.append((PEER, make_betterdb(peer_module, type(s.acache.client).from_url(url), TTL_S)))
        if mode == "cluster":
            s.peers.append((PEER_PLAIN, make_betterdb(peer_module, AsyncValkey.from_url(url), TTL_S, "betterdb_plain")))
        s.closers += [functools.partial(close_betterdb, peer) for _, peer in s.peers]

    async def first_async(acache: AsyncAgentCache) -> None:
        await acache.session.set(POINT_THREAD, "probe", 1)

    s = harness_open_server(
        mode, runner, lambda cache: cache.session.set(POINT_THREAD, "probe", 1), first_async, add_peers
    )
    s.state["filled"] = 0
    return s


# --- point operations ---------------------------------------------------------------------------


def raw_key(tag: str) -> str:
    return f"bench:raw:{{{POINT_THREAD}}}:{tag}"


def sync_point_calls(s: Server, op: str) -> tuple[SyncCall, SyncCall]:
    """agentcache's sync call for ``op`` and the floor's, each on its own key."""
    cache, raw, key = s.cache, s.raw, raw_key("sync")
    if op == "get":
        return (
            lambda: cache.session.get(POINT_THREAD, "sync"),
            lambda: raw.execute_command("GETEX", key, "EX", TTL_S),
        )
    return (
        lambda: cache.session.set(POINT_THREAD, "sync", VALUE),
        lambda: raw.execute_command("SET", key, ENVELOPE, "EX", TTL_S),
    )


def async_point_calls(s: Server, op: str) -> tuple[AsyncCall, AsyncCall, AsyncCall | None]:
    """agentcache's async call for ``op``, the floor's, and the peer's (None without the peer)."""
    acache, araw, key = s.acache, s.araw, raw_key("async")
    peer = s.peers[0][1] if s.peers else None
    if op == "get":
        return (
            lambda: acache.session.get(POINT_THREAD, "async"),
            lambda: araw.execute_command("GETEX", key, "EX", TTL_S),
            None if peer is None else lambda: peer.session.get(POINT_THREAD, "peer"),
        )
    return (
        lambda: acache.session.set(POINT_THREAD, "async", VALUE),
        lambda: araw.execute_command("SET", key, ENVELOPE, "EX", TTL_S),
        None if peer is None else lambda: peer.session.set(POINT_THREAD, "peer", VALUE_TEXT),
    )


def script_reference(s: Server, floor: str) -> SyncCandidate:
    """agentcache's get script sent bare on the raw sync client: how much of get's cost is the script."""
    key = session_thread(s.cache.settings.prefix, POINT_THREAD).field("script")
    raw = s.raw

    def call() -> object:
        return raw.execute_command("EVALSHA", SESSION_GET.sha, 1, key)

    return SyncCandidate("valkey-py sync EVALSHA get script", call, "reference", client_name(raw), floor)


def point_candidates(s: Server, op: str) -> list[Candidate]:
    """agentcache sync/async, the floor on the same clients, and the peer, for ``op`` (get or set).

    For get, also agentcache's get script sent bare (a reference: the script's own cost)."""
    ac_sync, fl_sync = sync_point_calls(s, op)
    ac_async, fl_async, peer_call = async_point_calls(s, op)
    command = "GETEX" if op == "get" else "SET"
    floor_async = f"valkey-py async {command} (floor)"
    peer = None
    if peer_call is not None:
        peer = AsyncCandidate(PEER, peer_call, "peer", client_name(s.peers[0][1]._client), floor_async)
    references = [script_reference(s, f"valkey-py sync {command} (floor)")] if op == "get" else []
    return point_race(
        s.cache, s.acache, s.raw, s.araw, (ac_sync, fl_sync, ac_async, fl_async), command, references, peer
    )


def seed_point(s: Server, runner: asyncio.Runner) -> None:
    """Store the values every get candidate reads (each candidate has its own key)."""
    s.cache.session.set(POINT_THREAD, "sync", VALUE)
    s.cache.session.set(POINT_THREAD, "script", VALUE)
    script_key = session_thread(s.cache.settings.prefix, POINT_THREAD).field("script")
    s.raw.execute_command("EVAL", SESSION_GET.source, 1, script_key)  # the reference calls it by SHA
    s.raw.execute_command("SET", raw_key("sync"), ENVELOPE, "EX", TTL_S)

    async def seed_async() -> None:
        await s.acache.session.set(POINT_THREAD, "async", VALUE)
        await s.araw.execute_command("SET", raw_key("async"), ENVELOPE, "EX", TTL_S)
        for _, peer in s.peers[:1]:
            await peer.session.set(POINT_THREAD, "peer", VALUE_TEXT)

    runner.run(seed_async())


def run_point(s: Server, runner: asyncio.Runner, opts: Options) -> list[Summary]:
    seed_point(s, runner)
    rows: list[Summary] = []
    for op in ("get", "set"):
        candidates = point_candidates(s, op)
        progress(f"{s.mode}: point {op}, {len(candidates)} candidates x {opts.ops} samples")
        warm_up(candidates, opts.warmup, runner)
        rounds = max(1, opts.ops // 100)
        samples = race(candidates, [opts.ops] * len(candidates), rounds, runner)
        labels = {"server": s.mode, "op": op}
        rows += with_round_trips(summarize(candidates, samples, labels, rounds), candidates, runner)
    return rows


# --- thread-wide operations ---------------------------------------------------------------------


def floor_keys() -> list[str]:
    return [f"bench:floor:{{{THREAD}}}:{name}" for name in THREAD_FIELDS]


def floor_calls(client: Any, op: str) -> Callable[[], Any]:
    """The known-keys floor of a thread-wide op: one pipeline (or one UNLINK) over the 20 keys."""
    keys = floor_keys()
    args: list[tuple[object, ...]]
    if op == "destroy_thread":
        return lambda: client.execute_command("UNLINK", *keys)
    if op == "seed":
        args = [("SET", key, ENVELOPE, "EX", TTL_S) for key in keys]
    elif op == "get_all":
        args = [("GETEX", key, "EX", TTL_S) for key in keys]
    else:
        args = [("EXPIRE", key, TTL_S) for key in keys]

    def pipeline() -> Any:
        pipe = client.pipeline(transaction=False)
        for command in args:
            pipe.execute_command(*command)
        return pipe.execute()

    return pipeline


def seed_sync(cache: AgentCache) -> Callable[[], None]:
    def seed() -> None:
        for name in THREAD_FIELDS:
            cache.session.set(THREAD, name, VALUE)

    return seed


def seed_async(cache: AsyncAgentCache) -> Callable[[], Awaitable[None]]:
    async def seed() -> None:
        for name in THREAD_FIELDS:
            await cache.session.set(THREAD, name, VALUE)

    return seed


def seed_peer(peer: Any, thread: str) -> Callable[[], Awaitable[None]]:
    async def seed() -> None:
        for name in THREAD_FIELDS:
            await peer.session.set(thread, name, VALUE_TEXT)

    return seed


def thread_candidates(s: Server, op: str) -> list[Candidate]:
    """Candidates for one thread-wide op; ``prepare`` re-creates the thread before each sample of destroy."""
    cache, acache = s.cache, s.acache
    destroy = op == "destroy_thread"
    sync_op: Callable[[str], object] = getattr(cache.session, op)
    async_op: Callable[[str], Awaitable[object]] = getattr(acache.session, op)
    floor_sync, floor_async = "known keys sync (floor)", "known keys async (floor)"
    candidates: list[Candidate] = [
        SyncCandidate(
            "agentcache sync",
            lambda: sync_op(THREAD),
            "agentcache",
            client_name(cache.client),
            floor_sync,
            seed_sync(cache) if destroy else None,
            lambda: cache.round_trips,
        ),
        SyncCandidate(
            floor_sync,
            floor_calls(s.raw, op),
            "floor",
            client_name(s.raw),
            prepare=floor_calls(s.raw, "seed") if destroy else None,
        ),
        AsyncCandidate(
            "agentcache async",
            lambda: async_op(THREAD),
            "agentcache",
            client_name(acache.client),
            floor_async,
            seed_async(acache) if destroy else None,
            lambda: acache.round_trips,
        ),
        AsyncCandidate(
            floor_async,
            floor_calls(s.araw, op),
            "floor",
            client_name(s.araw),
            prepare=floor_calls(s.araw, "seed") if destroy else None,
        ),
    ]
    for name, peer in s.peers:
        peer_op: Callable[[str], Awaitable[object]] = getattr(peer.session, op)
        candidates.append(
            AsyncCandidate(
                name,
                _bind(peer_op, THREAD),
                "peer",
                client_name(peer._client),
                floor_async,
                seed_peer(peer, THREAD) if destroy else None,
            )
        )
    return candidates


def _bind(fn: Callable[[str], Awaitable[object]], thread: str) -> Callable[[], Awaitable[object]]:
    return lambda: fn(thread)


def seed_threads(s: Server, runner: asyncio.Runner) -> None:
    """Create every candidate's 20-field thread (untimed); check agentcache's reads back whole."""
    seed_sync(s.cache)()
    floor_calls(s.raw, "seed")()

    async def seed_all() -> list[int]:
        await seed_async(s.acache)()
        sizes = [len(await s.acache.session.get_all(THREAD))]
        for _, peer in s.peers:
            await seed_peer(peer, THREAD)()
        return sizes

    sizes = [len(s.cache.session.get_all(THREAD)), *runner.run(seed_all())]
    if any(size != len(THREAD_FIELDS) for size in sizes):
        raise RuntimeError(f"{s.mode}: agentcache's seeded thread does not read back 20 fields: {sizes}")


def run_thread_op(
    s: Server, op: str, size: int, runner: asyncio.Runner, opts: Options, failures: list[dict[str, Any]]
) -> list[Summary]:
    seed_threads(s, runner)
    candidates = []
    for candidate in thread_candidates(s, op):
        error = probe(candidate, runner)
        if error is None:
            candidates.append(candidate)
        else:
            progress(f"{s.mode} @ {size:,} keys: {op}: {candidate.name} failed: {error}")
            where = {"server": s.mode, "op": op, "unrelated_keys": size}
            failures.append({**where, "candidate": candidate.name, "error": error})
    estimates = warm_up(candidates, 1, runner)  # the probe was the first call
    low, high = opts.thread_samples
    counts = [plan_samples(estimates[c.name], opts.thread_budget_s, low, high) for c in candidates]
    slowest = max(estimates.values())
    progress(f"{s.mode} @ {size:,} keys: {op}, samples {counts} (slowest {slowest * 1000:.1f} ms/call)")
    samples = race(candidates, counts, opts.thread_rounds, runner)
    rows = summarize(candidates, samples, {"server": s.mode, "op": op, "unrelated_keys": size})
    return with_round_trips(rows, candidates, runner)


def fill(s: Server, target: int) -> float:
    """Add unrelated keys (short values, pipelines of 10k SETs) until the server holds ``target``."""
    started = time.monotonic()
    while s.state["filled"] < target:
        end = min(target, s.state["filled"] + FILL_CHUNK)
        pipe = s.raw.pipeline(transaction=False)
        for i in range(s.state["filled"], end):
            pipe.execute_command("SET", f"unrelated:{i}", "x")
        pipe.execute()
        s.state["filled"] = end
        if end % 100_000 == 0 or end == target:
            progress(f"{s.mode}: filled {end:,} / {target:,} unrelated keys")
    return time.monotonic() - started


def run_threads(servers: list[Server], runner: asyncio.Runner, opts: Options, results: Results) -> None:
    for size in opts.sizes:
        for s in servers:
            seconds = fill(s, size)
            results.fills.append({"server": s.mode, "unrelated_keys": size, "seconds": round(seconds, 2)})
        for s in servers:
            for op in ("get_all", "touch", "destroy_thread"):
                results.thread += run_thread_op(s, op, size, runner, opts, results.failures)


# --- targets ------------------------------------------------------------------------------------


def find(rows: list[Summary], candidate: str, **labels: Any) -> Summary | None:
    for row in rows:
        if row.candidate == candidate and all(row.labels.get(k) == v for k, v in labels.items()):
            return row
    return None


def check_targets(results: Results, sizes: list[int]) -> list[Target]:
    targets: list[Target] = []
    for row in results.point:
        if row.role == "agentcache" and row.ratio_to_floor is not None:
            limit = GET_TARGET.get(row.candidate, POINT_TARGET) if row.labels["op"] == "get" else POINT_TARGET
            name = f"{row.labels['server']}: {row.candidate} {row.labels['op']} <= {limit}x raw command"
            targets.append(Target(name, row.ratio_to_floor, limit, row.ratio_to_floor <= limit))
    small, large = sizes[0], sizes[-1]
    for candidate in ("agentcache sync", "agentcache async"):
        at_large = find(results.thread, candidate, server="cluster", op="get_all", unrelated_keys=large)
        at_small = find(results.thread, candidate, server="cluster", op="get_all", unrelated_keys=small)
        if at_large is None or at_small is None:
            continue
        name = f"cluster: {candidate} get_all at {large:,} keys < {GET_ALL_LIMIT_US:.0f} us"
        targets.append(Target(name, at_large.median_us, GET_ALL_LIMIT_US, at_large.median_us < GET_ALL_LIMIT_US))
        growth = at_large.median_us / at_small.median_us
        name = f"cluster: {candidate} get_all at {large:,} keys <= {GET_ALL_GROWTH}x its time at {small:,}"
        note = growth_note(at_small, at_large)
        targets.append(Target(name, growth, GET_ALL_GROWTH, growth <= GET_ALL_GROWTH, note))
    return targets


def growth_note(small: Summary, large: Summary) -> str:
    """The growth measured against the known-keys floor of each race, which never scans: the two sizes
    are measured minutes apart, so a drift of the machine shows in the floor too and cancels here."""
    if small.ratio_to_floor is None or large.ratio_to_floor is None:
        return ""
    return f"{large.ratio_to_floor / small.ratio_to_floor:.2f}x relative to the known-keys floor of each race"


# --- report -------------------------------------------------------------------------------------


def figures(rows: list[Summary], r: Summary) -> list[object]:
    """The measured columns of one row: n, median, p99, x floor, vs peer, round trips."""
    same_race = [o for o in rows if o.labels == r.labels]
    return [r.n, r.median_us, r.p99_us, fmt_ratio(r.ratio_to_floor), vs_peer(same_race, r, prefer=PEER), r.round_trips]


FIGURE_HEADERS = ["n", "median us", "p99 us", "x floor", "vs peer", "round trips"]


def point_table(rows: list[Summary]) -> str:
    body = [[r.labels["op"], r.candidate, r.client, *figures(rows, r)] for r in rows]
    return table(["op", "candidate", "client", *FIGURE_HEADERS], body, left=3)


def thread_table(rows: list[Summary]) -> str:
    body = [[f"{r.labels['unrelated_keys']:,}", r.labels["op"], r.candidate, *figures(rows, r)] for r in rows]
    return table(["keys", "op", "candidate", *FIGURE_HEADERS], body, left=3)


def print_failures(failures: list[dict[str, Any]]) -> None:
    """Candidates that raised (and were left out of their table), grouped by the error they raised."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for f in failures:
        grouped.setdefault((f["server"], f["candidate"], f["error"]), []).append(f"{f['op']} @ {f['unrelated_keys']:,}")
    for (server, candidate, error), where in grouped.items():
        print(f"FAILED on the {server} server, {candidate}: {', '.join(where)}\n  raised {error}")


def report(results: Results) -> None:
    meta = results.meta
    print(f"agentcache session-tier benchmark  ({meta['started']}, {meta['machine']})")
    print(
        f"value: {len(ENVELOPE)} bytes stored by agentcache ({len(VALUE_TEXT)}-byte JSON for the peer); TTL {TTL_S} s"
    )
    for mode in MODES:
        rows = [r for r in results.point if r.labels["server"] == mode]
        if rows:
            print(f"\n== Point operations: {MODE_TITLE[mode]}, Valkey {meta['servers'][mode]} ==")
            print(point_table(rows))
    for mode in MODES:
        rows = [r for r in results.thread if r.labels["server"] == mode]
        if rows:
            print(f"\n== Thread-wide operations on a 20-field thread: {MODE_TITLE[mode]} ==")
            print(thread_table(rows))
    print_failures(results.failures)
    if results.fills:
        fills = ", ".join(f"{f['server']} {f['unrelated_keys']:,} in {f['seconds']} s" for f in results.fills)
        print(f"\nfill times: {fills}")
    print("\n== Targets ==")
    for t in results.targets:
        shown = f"{t.measured:.0f} us" if t.limit == GET_ALL_LIMIT_US else f"{t.measured:.2f}x"
        note = f" ({t.note})" if t.note else ""
        print(f"  [{'met' if t.met else 'MISSED'}] {t.name}: {shown}{note}")
    print(f"\ntotal time: {meta['seconds']:.0f} s; results in {meta['out']}")


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the session-tier benchmark; print tables on stdout and write JSON to ``--out``."""
    opts = parse_args(argv)
    started = time.monotonic()
    peer_module = load_betterdb() if opts.peer else None
    if opts.peer and peer_module is None:
        print("peer skipped: betterdb-agent-cache is not installed (pip install betterdb-agent-cache)")
    results = Results()
    options = {"ops": opts.ops, "sizes": opts.sizes, "quick": opts.quick, "peer": peer_module is not None}
    results.meta = run_meta(["betterdb-agent-cache"], options, value_bytes=len(ENVELOPE), out=str(opts.out))
    with (
        asyncio.Runner() as runner,
        started_servers(MODES, lambda mode: open_server(mode, runner, peer_module), runner) as servers,
    ):
        results.meta["servers"] = {s.mode: s.version for s in servers}
        for s in servers:
            results.point += run_point(s, runner, opts)
        run_threads(servers, runner, opts, results)
    results.targets = check_targets(results, opts.sizes)
    results.meta["seconds"] = round(time.monotonic() - started, 1)
    write_json(results, opts.out)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
