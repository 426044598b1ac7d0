"""Benchmark of the tool tier: agentcache against the raw command (the floor) and against a peer.

What it measures, on two bundled Valkey servers it starts itself (standalone, and a single node in
cluster mode owning all 16384 slots):

1. Point operations on a call ``weather({"city": "Paris", "units": "metric", "days": 3})`` whose
   result is a ~100-byte dict: ``tool.check`` of a stored result (hit), ``tool.check`` of one never
   stored (miss) and ``tool.store`` with ``ttl=3600``, sync and async, against the floor on the same
   kind of client — ``GET`` of a key holding a value of the same size (hit), ``GET`` of a missing key
   (miss), ``SET key value EX 3600`` (store) — and against the peer (``betterdb-agent-cache``, async
   only; its check is GET and then a pipeline of HINCRBYs for its statistics, its store one SET EX).
   A reference row sits in the check-hit race: the canonical form and digest of the arguments alone
   (no I/O: the client-side cost of naming the key). agentcache's check is itself a plain GET.
2. Single-flight: N callers (1, 8, 32) ask at once for the result of the same fresh arguments with
   ``tool.get_or_compute`` and a function that sleeps 50 ms and counts how often it runs — async
   tasks on one ``AsyncAgentCache``, threads on one ``AgentCache``, and separate processes (1, 4, 8),
   each with its own ``AgentCache``. Each burst is repeated for several rounds with fresh arguments
   (the kinds interleaved round by round); for contrast the same burst runs without the cache.

How to read it: every candidate of a point table ran interleaved with the others (rotating order,
same process, same server), so compare rows of one table, not figures across runs. ``median`` and
``p99`` are per call, in microseconds. ``x floor`` is the median over the floor's median on the same
kind of client (1.00 = as fast as the bare command). ``vs peer`` is the peer's median over
agentcache's (above 1: agentcache is faster). ``round trips`` is counted on one untimed call
(agentcache's own counter; packets written to the socket for the others).

In the single-flight table ``executions`` is how many times the function ran in each burst (the
distinct counts over the rounds: ``1`` means once in every round), ``wall ms`` the median and the
worst time of a whole burst, from the start signal until the last caller had its result, and
``x fn`` the median wall time over the function's own 50 ms: the price of waiting for another
caller's result (waiters re-check after 5, 10, 20, ... up to 100 ms, with jitter, so a waiter sees
the result some milliseconds after it is stored). ``round trips`` is the median total over all the
callers of a burst (the thread count is approximate: the counter is not locked). The targets are
checked at the end; the full results go to ``--out`` as JSON.

The peer never sends telemetry (see ``benchmarks/peers.py``); it keeps results for ``TTL_S`` like
agentcache here. It stores strings, so it gets the value as JSON text, encoded once outside the timing, and
its check returns that text undecoded; agentcache's returns the decoded dict.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from types import ModuleType
from typing import Any

from agentcache import AgentCache, AsyncAgentCache
from agentcache.encoding import codec
from agentcache.tiers.tool.canonical import digest

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

TTL_S = 3600
TOOL = "weather"
SLOW_TOOL = "slow_weather"
ARGS: dict[str, Any] = {"city": "Paris", "units": "metric", "days": 3}
MISS_ARGS: dict[str, Any] = {"city": "Lyon", "units": "metric", "days": 3}  # never stored
STORE_ARGS: dict[str, Any] = {"city": "Paris", "units": "metric", "days": 4}
VALUE: dict[str, Any] = {
    "temp_c": [18.5, 21.0, 17.5],
    "conditions": ["sunny", "cloudy", "rain"],
    "wind_kph": 12,
    "source": "open-meteo",
}
ENTRY = codec.encode([VALUE, int(time.time() * 1000), 0, None], 0, 1 << 20)  # what agentcache stores
VALUE_TEXT = json.dumps(VALUE, separators=(",", ":"))  # what the peer (strings only) stores
MODES = ("cluster", "standalone")
MODE_TITLE = {"cluster": "cluster-mode server (1 node, all slots)", "standalone": "standalone server"}
PEER = "betterdb async (peer)"
POINT_TARGET = 1.10  # issue 25: check and store at most 1.10x the raw command (medians of paired ratios)
OPS = ("check hit", "check miss", "store")
TASKS, THREADS, PROCESSES = "async tasks", "threads", "processes"
NO_CACHE = ", no cache"
START_LEAD_S = 0.25  # how far ahead of time a process burst's start is announced


@dataclass
class Options:
    ops: int
    peer: bool
    out: Path
    quick: bool
    warmup: int
    callers: list[int]
    processes: list[int]
    rounds: int
    sleep_s: float


@dataclass
class Burst:
    """One kind of burst (N callers at once) over all its rounds."""

    server: str
    kind: str
    callers: int
    executions: list[int] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    round_trips: list[int] = field(default_factory=list)
    wrong_values: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def cached(self) -> bool:
        return not self.kind.endswith(NO_CACHE)


@dataclass
class Results:
    meta: dict[str, Any] = field(default_factory=dict)
    point: list[Summary] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    peer_stats: dict[str, dict[str, str]] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)


# --- options ------------------------------------------------------------------------------------


def _int_list(text: str, parser: argparse.ArgumentParser, flag: str) -> list[int]:
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        parser.error(f"{flag} must be comma-separated integers, not {text!r}")
    if any(value < 0 for value in values):
        parser.error(f"{flag} must not be negative")
    return [value for value in values if value > 0]


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tool", description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=None, help="samples per candidate for point ops (default 5000)")
    parser.add_argument("--callers", default=None, help="concurrent tasks/threads per burst (default 1,8,32)")
    parser.add_argument("--processes", default=None, help="concurrent processes per burst, 0 for none (default 1,4,8)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of each burst (default 9)")
    parser.add_argument("--quick", action="store_true", help="few samples and rounds: a smoke run")
    parser.add_argument("--no-peer", action="store_true", help="skip betterdb-agent-cache")
    parser.add_argument("--out", default="bench-results/tool.json", help="where to write the JSON results")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    ops = args.ops if args.ops is not None else (300 if quick else 5000)
    rounds = args.rounds if args.rounds is not None else (2 if quick else 9)
    callers = _int_list(args.callers or ("1,8" if quick else "1,8,32"), parser, "--callers")
    processes = _int_list(args.processes or ("2" if quick else "1,4,8"), parser, "--processes")
    if ops < 1 or rounds < 1 or not callers:
        parser.error("--ops, --rounds and --callers must be positive")
    return Options(
        ops=ops,
        peer=not args.no_peer,
        out=Path(args.out),
        quick=quick,
        warmup=30 if quick else 300,
        callers=callers,
        processes=processes,
        rounds=rounds,
        sleep_s=0.05,
    )


# --- servers and clients ------------------------------------------------------------------------


def open_server(mode: str, runner: asyncio.Runner, peer_module: ModuleType | None) -> Server:
    """A bundled server with every client; the caches detect the server kind on their first call."""

    async def add_peers(s: Server) -> None:
        if peer_module is not None:
            peer = make_betterdb(peer_module, type(s.acache.client).from_url(s.bundled.url), TTL_S)
            s.peers.append((PEER, peer))
            s.closers.append(functools.partial(close_betterdb, peer))

    async def first_async(acache: AsyncAgentCache) -> None:
        await acache.tool.check(TOOL, MISS_ARGS)

    return harness_open_server(mode, runner, lambda cache: cache.tool.check(TOOL, MISS_ARGS), first_async, add_peers)


# --- point operations ---------------------------------------------------------------------------


def raw_key(tag: str) -> str:
    return f"bench:raw:tool:{tag}"


def sync_point_calls(s: Server, op: str) -> tuple[SyncCall, SyncCall]:
    """agentcache's sync call for ``op`` and the floor's."""
    cache, raw = s.cache, s.raw
    if op == "check hit":
        key = raw_key("sync")
        return lambda: cache.tool.check(TOOL, ARGS), lambda: raw.execute_command("GET", key)
    if op == "check miss":
        key = raw_key("missing")
        return lambda: cache.tool.check(TOOL, MISS_ARGS), lambda: raw.execute_command("GET", key)
    key = raw_key("sync-store")
    return (
        lambda: cache.tool.store(TOOL, STORE_ARGS, VALUE, ttl=TTL_S),
        lambda: raw.execute_command("SET", key, ENTRY, "EX", TTL_S),
    )


def async_point_calls(s: Server, op: str) -> tuple[AsyncCall, AsyncCall, AsyncCall | None]:
    """agentcache's async call for ``op``, the floor's, and the peer's (None without the peer)."""
    acache, araw, peer = s.acache, s.araw, s.peer
    if op in ("check hit", "check miss"):
        args = ARGS if op == "check hit" else MISS_ARGS
        key = raw_key("async" if op == "check hit" else "missing")
        return (
            lambda: acache.tool.check(TOOL, args),
            lambda: araw.execute_command("GET", key),
            None if peer is None else lambda: peer.tool.check(TOOL, args),
        )
    key = raw_key("async-store")
    return (
        lambda: acache.tool.store(TOOL, STORE_ARGS, VALUE, ttl=TTL_S),
        lambda: araw.execute_command("SET", key, ENTRY, "EX", TTL_S),
        None if peer is None else peer_store(peer),
    )


def peer_store(peer: Any) -> AsyncCall:
    """The peer's store of the same call, with the same TTL (it takes the TTL in an options object)."""
    from betterdb_agent_cache.types import ToolStoreOptions

    options = ToolStoreOptions(ttl=TTL_S)
    return lambda: peer.tool.store(TOOL, STORE_ARGS, VALUE_TEXT, options)


def references_for(s: Server, op: str, floor: str) -> list[Candidate]:
    """For a check hit, the digest alone."""
    found: list[Candidate] = []
    if op == "check hit":
        found.append(SyncCandidate("canonical args + digest (no I/O)", lambda: digest(ARGS), "reference"))
    return found


def point_candidates(s: Server, op: str) -> list[Candidate]:
    """agentcache sync/async, the floor on the same clients, references, and the peer, for ``op``."""
    ac_sync, fl_sync = sync_point_calls(s, op)
    ac_async, fl_async, peer_call = async_point_calls(s, op)
    command = "SET EX" if op == "store" else "GET"
    peer = None
    if peer_call is not None and s.peer is not None:
        peer = AsyncCandidate(
            PEER, peer_call, "peer", client_name(s.peer._client), f"valkey-py async {command} (floor)"
        )
    references = references_for(s, op, f"valkey-py sync {command} (floor)") if op != "store" else []
    return point_race(
        s.cache, s.acache, s.raw, s.araw, (ac_sync, fl_sync, ac_async, fl_async), command, references, peer
    )


def seed_point(s: Server, runner: asyncio.Runner) -> None:
    """Store what the hit candidates read and check that every cache reads it back (and misses the miss)."""
    s.cache.tool.store(TOOL, ARGS, VALUE, ttl=TTL_S)
    s.raw.execute_command("SET", raw_key("sync"), ENTRY, "EX", TTL_S)
    hit, miss = s.cache.tool.check(TOOL, ARGS), s.cache.tool.check(TOOL, MISS_ARGS)
    if not hit.hit or hit.value != VALUE or miss.hit:
        raise RuntimeError(f"{s.mode}: agentcache's sync check does not read back what was stored: {hit}, {miss}")

    async def seed_async() -> None:
        await s.araw.execute_command("SET", raw_key("async"), ENTRY, "EX", TTL_S)
        ahit, amiss = await s.acache.tool.check(TOOL, ARGS), await s.acache.tool.check(TOOL, MISS_ARGS)
        if not ahit.hit or ahit.value != VALUE or amiss.hit:
            raise RuntimeError(f"{s.mode}: agentcache's async check does not read back what was stored")
        if s.peer is not None:
            await s.peer.tool.store(TOOL, ARGS, VALUE_TEXT)
            phit, pmiss = await s.peer.tool.check(TOOL, ARGS), await s.peer.tool.check(TOOL, MISS_ARGS)
            if not phit.hit or json.loads(phit.response) != VALUE or pmiss.hit:
                raise RuntimeError(f"{s.mode}: the peer's check does not read back what was stored")

    runner.run(seed_async())


def run_point(s: Server, runner: asyncio.Runner, opts: Options, failures: list[dict[str, Any]]) -> list[Summary]:
    seed_point(s, runner)
    rows: list[Summary] = []
    for op in OPS:
        candidates: list[Candidate] = []
        for candidate in point_candidates(s, op):
            error = probe(candidate, runner)
            if error is None:
                candidates.append(candidate)
            else:
                progress(f"{s.mode}: {op}: {candidate.name} failed: {error}")
                failures.append({"server": s.mode, "op": op, "candidate": candidate.name, "error": error})
        progress(f"{s.mode}: {op}, {len(candidates)} candidates x {opts.ops} samples")
        warm_up(candidates, opts.warmup, runner)
        rounds = max(1, opts.ops // 100)
        samples = race(candidates, [opts.ops] * len(candidates), rounds, runner)
        labels = {"server": s.mode, "op": op}
        rows += with_round_trips(summarize(candidates, samples, labels, rounds), candidates, runner)
    return rows


def peer_stats(s: Server) -> dict[str, str]:
    """The peer's statistics hash (its check's second round trip writes there; errors are swallowed)."""
    if s.peer is None:
        return {}
    reply = s.raw.execute_command("HGETALL", s.peer._stats_key)
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    return {_text(name): _text(value) for name, value in pairs if _text(name).startswith("tool:")}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- single-flight ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one burst did."""

    executions: int
    wall_s: float
    round_trips: int
    wrong_values: int
    errors: list[str]


async def async_burst(acache: AsyncAgentCache, args: dict[str, Any], n: int, sleep_s: float, cached: bool) -> Outcome:
    """``n`` tasks at once ask for ``args`` (through the cache, or straight from the function)."""
    executions = 0

    async def slow() -> dict[str, Any]:
        nonlocal executions
        executions += 1
        await asyncio.sleep(sleep_s)
        return VALUE

    async def one() -> Any:
        if cached:
            return await acache.tool.get_or_compute(SLOW_TOOL, args, slow, ttl=TTL_S)
        return await slow()

    before = acache.round_trips
    start = time.perf_counter()
    replies = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    wall = time.perf_counter() - start
    errors = [f"{type(r).__name__}: {r}" for r in replies if isinstance(r, BaseException)]
    wrong = sum(1 for r in replies if not isinstance(r, BaseException) and r != VALUE)
    return Outcome(executions, wall, acache.round_trips - before, wrong, errors)


def thread_burst(cache: AgentCache, args: dict[str, Any], n: int, sleep_s: float, cached: bool) -> Outcome:
    """``n`` threads, released together, ask for ``args`` (through the cache, or straight from the function)."""
    lock = threading.Lock()
    executions = [0]
    replies: list[Any] = [None] * n
    errors: list[str] = []
    go = threading.Event()

    def slow() -> dict[str, Any]:
        with lock:
            executions[0] += 1
        time.sleep(sleep_s)
        return VALUE

    def worker(i: int) -> None:
        go.wait()
        try:
            replies[i] = cache.tool.get_or_compute(SLOW_TOOL, args, slow, ttl=TTL_S) if cached else slow()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    before = cache.round_trips
    start = time.perf_counter()
    go.set()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    wrong = sum(1 for r in replies if r != VALUE) - len(errors)
    return Outcome(executions[0], wall, cache.round_trips - before, wrong, errors)


def _process_worker(jobs: Queue[Any], done: Queue[Any]) -> None:
    """A worker process: per job, wait for the announced start and call ``get_or_compute`` once."""
    caches: dict[str, AgentCache] = {}
    executions = [0]
    sleep_s = [0.0]

    def slow() -> dict[str, Any]:
        executions[0] += 1
        time.sleep(sleep_s[0])
        return VALUE

    try:
        while (job := jobs.get()) is not None:
            url, args, start_at, sleep_s[0] = job
            if url not in caches:  # connect (and detect the server kind) before the first burst
                caches[url] = AgentCache.from_url(url)
                caches[url].tool.check(TOOL, MISS_ARGS)
            cache = caches[url]
            if args is None:
                done.put(None)
                continue
            executions[0] = 0
            time.sleep(max(0.0, start_at - time.perf_counter()))
            before = cache.round_trips
            error = ""
            try:
                value = cache.tool.get_or_compute(SLOW_TOOL, args, slow, ttl=TTL_S)
            except Exception as exc:
                value, error = None, f"{type(exc).__name__}: {exc}"
            done.put((executions[0], time.perf_counter(), cache.round_trips - before, value == VALUE, error))
    finally:
        for cache in caches.values():
            with contextlib.suppress(Exception):
                cache.close()


class ProcessPool:
    """Worker processes (spawned: each imports agentcache afresh), one job queue each.

    Start times are compared across processes: ``perf_counter`` is the system-wide monotonic clock."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.done: Queue[Any] = context.Queue()
        self.jobs: list[Queue[Any]] = [context.Queue() for _ in range(size)]
        self.workers: list[BaseProcess] = [
            context.Process(target=_process_worker, args=(jobs, self.done), daemon=True) for jobs in self.jobs
        ]
        for worker in self.workers:
            worker.start()

    def connect(self, url: str) -> None:
        """Every worker connects to ``url`` (untimed)."""
        for jobs in self.jobs:
            jobs.put((url, None, 0.0, 0.0))
        for _ in self.jobs:
            self.done.get(timeout=120)

    def burst(self, url: str, args: dict[str, Any], n: int, sleep_s: float) -> Outcome:
        start_at = time.perf_counter() + START_LEAD_S
        for jobs in self.jobs[:n]:
            jobs.put((url, args, start_at, sleep_s))
        reports = [self.done.get(timeout=120) for _ in range(n)]
        return Outcome(
            executions=sum(r[0] for r in reports),
            wall_s=max(r[1] for r in reports) - start_at,
            round_trips=sum(r[2] for r in reports),
            wrong_values=sum(1 for r in reports if not r[3] and not r[4]),
            errors=[r[4] for r in reports if r[4]],
        )

    def close(self) -> None:
        for jobs in self.jobs:
            with contextlib.suppress(Exception):
                jobs.put(None)
        for worker in self.workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5)


def run_single_flight(s: Server, runner: asyncio.Runner, opts: Options, pool: ProcessPool | None) -> list[Burst]:
    """Every (kind, N) burst once per round, kinds interleaved; fresh arguments for every burst."""
    plan: list[Burst] = []
    for kind in (TASKS, THREADS, TASKS + NO_CACHE, THREADS + NO_CACHE):
        plan += [Burst(s.mode, kind, n) for n in opts.callers]
    if pool is not None:
        pool.connect(s.bundled.url)
        plan += [Burst(s.mode, PROCESSES, n) for n in opts.processes]
    progress(f"{s.mode}: single-flight, {len(plan)} bursts x {opts.rounds} rounds")
    for index in range(opts.rounds):
        for burst in plan:
            args = {**ARGS, "burst": f"{burst.kind}/{burst.callers}/{index}"}
            if burst.kind == PROCESSES and pool is not None:
                outcome = pool.burst(s.bundled.url, args, burst.callers, opts.sleep_s)
            elif burst.kind.startswith(TASKS):
                outcome = runner.run(async_burst(s.acache, args, burst.callers, opts.sleep_s, burst.cached))
            else:
                outcome = thread_burst(s.cache, args, burst.callers, opts.sleep_s, burst.cached)
            burst.executions.append(outcome.executions)
            burst.wall_ms.append(outcome.wall_s * 1000)
            burst.round_trips.append(outcome.round_trips if burst.cached else 0)
            burst.wrong_values += outcome.wrong_values
            burst.errors += outcome.errors
    return plan


# --- targets ------------------------------------------------------------------------------------


def check_targets(results: Results) -> list[Target]:
    targets: list[Target] = []
    for row in results.point:
        if row.role == "agentcache" and row.ratio_to_floor is not None:
            name = f"{row.labels['server']}: {row.candidate} {row.labels['op']} <= {POINT_TARGET}x raw command"
            targets.append(Target(name, row.ratio_to_floor, POINT_TARGET, row.ratio_to_floor <= POINT_TARGET))
    for mode in MODES:
        for kind in (TASKS, THREADS, PROCESSES):
            bursts = [b for b in results.bursts if b.server == mode and b.kind == kind]
            if not bursts:
                continue
            worst = max(max(b.executions) for b in bursts)
            faults = sum(b.wrong_values + len(b.errors) for b in bursts)
            rounds = sum(len(b.executions) for b in bursts)
            callers = ", ".join(str(b.callers) for b in bursts)
            name = f"{mode}: single-flight, {kind} ({callers} callers): the function ran once per burst"
            note = f"{rounds} bursts, at most {worst} executions; {faults} callers got an error or a wrong value"
            targets.append(Target(name, worst, 1, worst == 1 and faults == 0, note))
    return targets


# --- report -------------------------------------------------------------------------------------


FIGURE_HEADERS = ["n", "median us", "p99 us", "x floor", "vs peer", "round trips"]


def point_table(rows: list[Summary]) -> str:
    body = []
    for r in rows:
        same_race = [o for o in rows if o.labels == r.labels]
        figures = [r.n, r.median_us, r.p99_us, fmt_ratio(r.ratio_to_floor), vs_peer(same_race, r), r.round_trips]
        body.append([r.labels["op"], r.candidate, r.client or "-", *figures])
    return table(["op", "candidate", "client", *FIGURE_HEADERS], body, left=3)


def burst_table(bursts: list[Burst], sleep_s: float) -> str:
    body: list[list[object]] = []
    for b in bursts:
        wall = statistics.median(b.wall_ms)
        body.append(
            [
                b.kind,
                b.callers,
                len(b.wall_ms),
                "/".join(str(e) for e in sorted(set(b.executions))),
                wall,
                max(b.wall_ms),
                fmt_ratio(wall / (sleep_s * 1000)),
                int(statistics.median(b.round_trips)) if b.cached else None,
                b.wrong_values + len(b.errors),
            ]
        )
    headers = ["callers", "N", "rounds", "executions", "wall ms", "max ms", "x fn", "round trips", "errors"]
    return table(headers, body, left=1)


def report(results: Results, opts: Options) -> None:
    meta = results.meta
    print(f"agentcache tool-tier benchmark  ({meta['started']}, {meta['machine']})")
    print(
        f"args {json.dumps(ARGS)}; value: {len(ENTRY)} bytes stored by agentcache "
        f"({len(VALUE_TEXT)}-byte JSON for the peer, inside its JSON entry); TTL {TTL_S} s"
    )
    for mode in MODES:
        rows = [r for r in results.point if r.labels["server"] == mode]
        if rows:
            print(f"\n== Point operations: {MODE_TITLE[mode]}, Valkey {meta['servers'][mode]} ==")
            print(point_table(rows))
    for f in results.failures:
        print(f"FAILED on the {f['server']} server, {f['op']}: {f['candidate']} raised {f['error']}")
    for mode in MODES:
        bursts = [b for b in results.bursts if b.server == mode]
        if bursts:
            print(
                f"\n== Single-flight: N callers at once, a {opts.sleep_s * 1000:.0f} ms function: {MODE_TITLE[mode]} =="
            )
            print(burst_table(bursts, opts.sleep_s))
            for b in bursts:
                for error in sorted(set(b.errors)):
                    print(f"  {b.kind} x {b.callers}: {error}")
    for mode, counts in results.peer_stats.items():
        shown = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "empty"
        print(f"\npeer statistics hash on the {mode} server after the run: {shown}")
    print("\n== Targets ==")
    for t in results.targets:
        shown = f"{t.measured:.2f}x" if t.limit == POINT_TARGET else f"{t.measured:.0f}"
        note = f" ({t.note})" if t.note else ""
        print(f"  [{'met' if t.met else 'MISSED'}] {t.name}: {shown}{note}")
    print(f"\ntotal time: {meta['seconds']:.0f} s; results in {meta['out']}")


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the tool-tier benchmark; print tables on stdout and write JSON to ``--out``."""
    opts = parse_args(argv)
    started = time.monotonic()
    peer_module = load_betterdb() if opts.peer else None
    if opts.peer and peer_module is None:
        print("peer skipped: betterdb-agent-cache is not installed (pip install betterdb-agent-cache)")
    results = Results()
    results.meta = run_meta(
        ["betterdb-agent-cache"],
        {
            "ops": opts.ops,
            "callers": opts.callers,
            "processes": opts.processes,
            "rounds": opts.rounds,
            "function_ms": opts.sleep_s * 1000,
            "quick": opts.quick,
            "peer": peer_module is not None,
        },
        value_bytes=len(ENTRY),
        out=str(opts.out),
    )
    pool: ProcessPool | None = None
    with (
        asyncio.Runner() as runner,
        started_servers(MODES, lambda mode: open_server(mode, runner, peer_module), runner) as servers,
    ):
        results.meta["servers"] = {s.mode: s.version for s in servers}
        for s in servers:
            results.point += run_point(s, runner, opts, results.failures)
            if s.peer is not None:
                results.peer_stats[s.mode] = peer_stats(s)
        try:
            if opts.processes:
                progress(f"spawning {max(opts.processes)} worker processes")
                pool = ProcessPool(max(opts.processes))
            for s in servers:
                results.bursts += run_single_flight(s, runner, opts, pool)
        finally:
            if pool is not None:
                pool.close()
    results.targets = check_targets(results)
    results.meta["seconds"] = round(time.monotonic() - started, 1)
    write_json(results, opts.out)
    report(results, opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
