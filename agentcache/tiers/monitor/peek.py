"""Reads for an operator that change nothing: a thread's fields with the time each has left (no
sliding refresh, unlike ``session.get_all``: looking at a thread must not keep it alive), and what
the indexes of live conversations hold (how many, and when they expire)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentcache.core.commands import Operation, lua
from agentcache.encoding import codec
from agentcache.encoding.keys import INDEX_BUCKETS, index_all, session_thread
from agentcache.errors import InvalidArgumentError, SerializationError, shown

THREAD = lua(__package__, "thread", name="monitor_thread")
SESSIONS = lua(__package__, "sessions", name="monitor_sessions")
MAX_VALUE_BYTES = 64 * 1024
"""Values larger than this (stored) are reported by size only."""


@dataclass(frozen=True, slots=True)
class FieldView:
    """One field of a thread as it is on the server."""

    field: str
    ttl_ms: int | None
    """Milliseconds left; None: it never expires."""
    value: Any = None
    size: int | None = None
    """Set (bytes stored) when the value was too large to fetch; ``value`` is then None."""
    error: str | None = None
    """Why the value could not be read (``value`` is then None)."""


def _count(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"{what} must be an int from {low} to {high}, not {shown(value)}")
    return value


def _view(field: str, ms: int, raw: Any) -> FieldView:
    ttl = None if ms < 0 else ms
    if isinstance(raw, int):
        return FieldView(field, ttl, size=raw) if raw >= 0 else FieldView(field, ttl, error="not a string key")
    try:
        return FieldView(field, ttl, codec.decode(raw))
    except SerializationError as exc:
        return FieldView(field, ttl, error=str(exc))


def thread(
    s: Any, thread_id: str, *, limit: int = 200, max_value_bytes: int = MAX_VALUE_BYTES
) -> Operation[list[FieldView]]:
    """Up to ``limit`` fields of a thread, sorted by name, with the milliseconds each has left and
    its value (values over ``max_value_bytes`` by size only). Refreshes nothing. One round trip per
    SCAN step (one on a cluster-mode server)."""
    _count(limit, "limit", 1, 10_000)
    _count(max_value_bytes, "max_value_bytes", 0, 1 << 30)
    keys = session_thread(s.options.prefix, thread_id)
    found: list[FieldView] = []
    cursor: Any = 0
    while True:
        (reply,) = yield [THREAD([keys.anchor], cursor, keys.pattern, s.options.scan_count, max_value_bytes)]
        cursor, items = reply[0], reply[1:]
        for key, ms, raw in zip(items[::3], items[1::3], items[2::3], strict=True):
            name = keys.field_of(key)
            if name is not None:
                found.append(_view(name, int(ms), raw))
        if cursor in (b"0", "0", 0) or len(found) >= limit:
            return sorted(found, key=lambda f: f.field)[:limit]


@dataclass(frozen=True, slots=True)
class SessionCounts:
    """What the indexes of live conversations hold, by the server's clock."""

    now_ms: int
    live: int
    """Live conversations (their deadline is ahead)."""
    expiring: list[int]
    """How many expire in each of the next bins (``bin_ms`` wide), soonest first."""
    bin_ms: int


def sessions(s: Any, *, bin_s: float = 60.0, bins: int = 30) -> Operation[SessionCounts]:
    """How many conversations are live and how many expire in each of the next ``bins`` spans of
    ``bin_s`` seconds. One round trip (a script call per index bucket, in one pipeline)."""
    if isinstance(bin_s, bool) or not isinstance(bin_s, int | float) or not 1 <= bin_s <= 86400:
        raise InvalidArgumentError(f"bin_s must be seconds from 1 to 86400, not {shown(bin_s)}")
    _count(bins, "bins", 1, 1440)
    bin_ms = round(bin_s * 1000)
    replies = yield [SESSIONS([index_all(s.options.prefix, b)], bin_ms, bins) for b in range(INDEX_BUCKETS)]
    rows = [[int(n) for n in reply] for reply in replies]
    return SessionCounts(
        max(row[0] for row in rows),
        sum(row[1] for row in rows),
        [sum(row[2 + i] for row in rows) for i in range(bins)],
        bin_ms,
    )
