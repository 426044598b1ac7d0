"""A read for an operator that changes nothing: what the indexes of live conversations hold (how
many, and when they expire). A thread's fields without refreshing them: ``cache.session.peek``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentcache.core.commands import Operation, lua
from agentcache.encoding.keys import INDEX_BUCKETS, index_all
from agentcache.errors import InvalidArgumentError, shown

SESSIONS = lua(__package__, "sessions", name="monitor_sessions")


def _count(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"{what} must be an int from {low} to {high}, not {shown(value)}")
    return value


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
