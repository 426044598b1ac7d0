"""The history over time: what the shared counts did, interval by interval, for the last hour.

Two sources, both summed over every process:

- the statistics hash (``agentcache/stats.py``): hits, misses, writes and cost saved per tier, tool
  and model, which every cache ships anyway;
- the timings hash: per operation, calls, errors, near-cache hits and latency in buckets a quarter
  of an octave wide, shipped by the processes whose cache has a :class:`Timings` observer when
  they call :func:`record` (``agentcache serve`` does both, every :data:`INTERVAL_S`).

:func:`record` is one round trip (``record.lua``): it adds this process's timings, and, once per
interval across all processes, appends one entry to a sorted set: the change of every count since
the previous entry, with each operation's p50 and p99 worked out from the merged buckets. Entries
older than :data:`KEPT_S` are trimmed, and every key expires when nobody records, so the history
takes a bounded amount of memory. :func:`history` reads the entries after a given time: one round
trip, and a page polling it only fetches what it has not seen.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentcache.core.commands import Operation, cmd, lua
from agentcache.core.observe import Record
from agentcache.encoding.keys import history_key, history_last_key, stats_key, timings_key
from agentcache.errors import InvalidArgumentError, shown

INTERVAL_S = 10.0
"""How often an entry is taken (one per interval across every process)."""
KEPT_S = 3600.0
"""How far back the history goes."""
BUCKETS_PER_OCTAVE = 4

RECORD = lua(__package__, "record", name="monitor_record")


def bucket(seconds: float) -> int:
    """The latency bucket of a call that took ``seconds``: ``b`` holds calls of at most 2^(b/4) µs."""
    us = seconds * 1_000_000
    return 0 if us <= 1 else math.ceil(BUCKETS_PER_OCTAVE * math.log2(us))


def bucket_ms(b: int) -> float:
    """The upper bound of latency bucket ``b``, in milliseconds."""
    return float(2 ** (b / BUCKETS_PER_OCTAVE) / 1000)


class Timings:
    """An observer (``observers=[Timings()]``): per operation, this process's calls, errors,
    near-cache hits and latency buckets since they were last shipped by :func:`record`. Thread-safe;
    costs a few microseconds a call."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._names: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def begin(self, record: Record) -> None:
        return None

    def end(self, record: Record, token: Any) -> None:
        head = self._names.get((record.tier, record.operation))
        if head is None:
            head = self._names.setdefault((record.tier, record.operation), f"op/{record.tier}.{record.operation}/")
        latency = f"{head}l{bucket(record.seconds)}"
        with self._lock:
            counts = self._counts
            counts[head + "n"] = counts.get(head + "n", 0) + 1
            counts[latency] = counts.get(latency, 0) + 1
            if record.error is not None:
                counts[head + "err"] = counts.get(head + "err", 0) + 1
            if record.local_hits:
                counts[head + "near"] = counts.get(head + "near", 0) + record.local_hits

    def drain(self) -> dict[str, int]:
        """The counts not yet shipped (and forget them)."""
        with self._lock:
            counts, self._counts = self._counts, {}
        return counts

    def restore(self, counts: dict[str, int]) -> None:
        """Put back counts whose shipping failed."""
        with self._lock:
            for name, amount in counts.items():
                self._counts[name] = self._counts.get(name, 0) + amount


def timings_of(observers: Iterable[Any]) -> Timings | None:
    """The :class:`Timings` among a cache's observers, if any."""
    return next((o for o in observers if isinstance(o, Timings)), None)


def _seconds(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.001 <= value <= 7 * 86400:
        raise InvalidArgumentError(f"{what} must be seconds from 0.001 to 7 days, not {shown(value)}")
    return round(value * 1000)


def record(s: Any, interval: float = INTERVAL_S, kept: float = KEPT_S) -> Operation[bool]:
    """Ship this process's timings and, if this interval has no history entry yet (in any process),
    take it. Returns whether this call took it. One round trip; call it about every ``interval``
    seconds from each process whose timings should count (``agentcache serve`` does)."""
    interval_ms, kept_ms = _seconds(interval, "interval"), _seconds(kept, "kept")
    timings = timings_of(s.options.observers)
    pending = {} if timings is None else timings.drain()
    prefix = s.options.prefix
    keys = [stats_key(prefix), timings_key(prefix), history_key(prefix), history_last_key(prefix)]
    flat = [item for pair in pending.items() for item in pair]
    try:
        (taken,) = yield [RECORD(keys, interval_ms, kept_ms, *flat)]
    except BaseException:
        if timings is not None:
            timings.restore(pending)
        raise
    return int(taken) == 2


@dataclass(frozen=True, slots=True)
class OperationTimes:
    """One operation over one interval: calls, errors, near-cache hits, p50 and p99 latency (ms;
    None without calls timed), as upper bounds of buckets a quarter of an octave wide (+19%)."""

    calls: int
    errors: int
    near_hits: int
    p50_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True, slots=True)
class Entry:
    """One interval of the history: from ``since`` to ``at`` (Unix ms, by the server's clock)."""

    at: int
    since: int
    counts: dict[str, float] = field(default_factory=dict)
    """The change of each statistics field (``session/hits``, ``tool/cost_saved/<tool>``, ...)."""
    operations: dict[str, OperationTimes] = field(default_factory=dict)
    """Per operation (``<tier>.<name>``), from the processes that ship timings."""

    @property
    def seconds(self) -> float:
        return max(0.001, (self.at - self.since) / 1000)


def _times(raw: object) -> OperationTimes | None:
    if not (isinstance(raw, list) and len(raw) == 5 and all(isinstance(n, int | float) for n in raw)):
        return None
    calls, errors, near, b50, b99 = (int(n) for n in raw)
    return OperationTimes(calls, errors, near, None if b50 < 0 else bucket_ms(b50), None if b99 < 0 else bucket_ms(b99))


def parse_entry(raw: bytes | str) -> Entry | None:
    """An entry as ``record.lua`` wrote it, or None if it is not one (written by another version)."""
    try:
        data = json.loads(raw)
        at, since, counts, ops = int(data["t"]), int(data["s"]), data["d"], data["o"]
    except (ValueError, TypeError, KeyError):
        return None
    counts = counts if isinstance(counts, dict) else {}  # Lua's cjson may write an empty table as []
    ops = ops if isinstance(ops, dict) else {}
    numbers = {str(k): float(v) for k, v in counts.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    times = {str(k): t for k, v in ops.items() if (t := _times(v)) is not None}
    return Entry(at, since, numbers, times)


def history(s: Any, since: int = 0) -> Operation[list[Entry]]:
    """The history's entries taken after ``since`` (Unix ms; 0: all kept), oldest first. One round trip."""
    if isinstance(since, bool) or not isinstance(since, int) or since < 0:
        raise InvalidArgumentError(f"since must be Unix milliseconds (an int >= 0), not {shown(since)}")
    (raw,) = yield [cmd("ZRANGEBYSCORE", history_key(s.options.prefix), f"({since}", "+inf")]
    return [entry for item in raw if (entry := parse_entry(item)) is not None]
