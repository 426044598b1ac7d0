"""Observers: what sees each operation (tracing, metrics), at no cost when there is none.

An observer is given to a cache with the ``observers=`` option (for example
``agentcache.observers.opentelemetry.OpenTelemetryTracing()`` or
``agentcache.observers.prometheus.PrometheusMetrics()``). Without one, the binding hands out the
plain bound methods: nothing is measured or wrapped. With one, each call is run inside a
:class:`Record` (a context variable, so concurrent tasks and threads each keep their own) that the
executor and the statistics buffer fill in: round trips, keys named, hits and misses. The observer
gets the tier, the operation's name, and the record; never arguments or values.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from agentcache.core.commands import Batch


@dataclass(slots=True)
class Record:
    """What one operation did (filled in while it runs)."""

    tier: str
    operation: str
    started: float = 0.0
    seconds: float = 0.0
    round_trips: int = 0
    keys: int = 0
    """Keys named by the commands sent (a script's KEYS, a command's key arguments)."""
    hits: int = 0
    misses: int = 0
    local_hits: int = 0
    """Hits served by the near cache (also counted in ``hits``)."""
    error: BaseException | None = None

    @property
    def hit(self) -> bool | None:
        """True if every lookup hit, False if one missed, None if the operation looked nothing up."""
        if self.misses:
            return False
        return True if self.hits else None


class Observer(Protocol):
    """Sees every operation of the caches it is given to. An observer may also have a
    ``wants() -> bool`` method: while it says False (say, tracing with no tracer provider set), the
    call is run without a record for it, and when no observer wants it, without any record."""

    def begin(self, record: Record) -> Any:
        """Called before the operation runs; returns what :meth:`end` is given back (a span)."""

    def end(self, record: Record, token: Any) -> None:
        """Called after it ran (``record.error`` set if it raised)."""


CURRENT: ContextVar[Record | None] = ContextVar("agentcache_record", default=None)
"""The record of the operation running in this context, when a cache has observers."""

_MULTI_KEY = frozenset({"UNLINK", "DEL", "MGET", "EXISTS", "TOUCH"})
_KEYLESS = frozenset({"SCAN", "CLUSTER", "PING", "TIME", "SCRIPT", "CLIENT", "INFO"})


def count_batch(batch: Batch) -> None:
    """Add one round trip and the keys of ``batch`` to the current record (if any)."""
    record = CURRENT.get()
    if record is None:
        return
    record.round_trips += 1
    for command in batch:
        args = command.args
        name = str(args[0]).upper()
        if name in ("EVALSHA", "EVAL"):
            record.keys += int(args[2])
        elif name in _MULTI_KEY:
            record.keys += len(args) - 1
        elif name not in _KEYLESS and len(args) > 1:
            record.keys += 1


def count_lookup(hit: bool) -> None:
    """Add a hit or a miss to the current record (if any)."""
    record = CURRENT.get()
    if record is not None:
        if hit:
            record.hits += 1
        else:
            record.misses += 1


Started = tuple[Record, list[tuple[Observer, Any]], Any]


def count_local_hit() -> None:
    """Add a near-cache hit to the current record (if any); the tier counts the hit itself."""
    record = CURRENT.get()
    if record is not None:
        record.local_hits += 1


def begin(observers: tuple[Observer, ...], tier: str, operation: str) -> Started | None:
    """Start a record for one call: (the record, each observer that wants it with its token, the
    context token); None when no observer wants this call."""
    wanted = [o for o in observers if getattr(o, "wants", _always)()]
    if not wanted:
        return None
    record = Record(tier, operation, time.perf_counter())
    tokens = [(observer, observer.begin(record)) for observer in wanted]
    return record, tokens, CURRENT.set(record)


def end(started: Started, error: BaseException | None) -> None:
    """Finish the record and hand it to the observers (in reverse order of :func:`begin`)."""
    record, tokens, context = started
    CURRENT.reset(context)
    record.seconds = time.perf_counter() - record.started
    record.error = error
    for observer, token in reversed(tokens):
        observer.end(record, token)


def _always() -> bool:
    return True
