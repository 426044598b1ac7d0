"""Rate limits shared by every process: ``cache.limits.hit(name, limit, per)``.

One round trip per request (``rate_limit.lua``): the generic cell rate algorithm on the server's
clock, one small key per limited name (``<prefix>:limit:<name>``) that expires when it no longer
holds anything back. ``limit`` requests per ``per`` seconds, all of them allowed at once (a burst)
after a quiet period; then one every ``per / limit`` seconds. The HTTP API limits each API key with it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from agentcache.core.binding import Bound, E, operation
from agentcache.core.commands import Operation, lua
from agentcache.encoding.keys import limit_key
from agentcache.errors import InvalidArgumentError, shown

RATE_LIMIT = lua(__package__, "rate_limit")


class Verdict(NamedTuple):
    """Whether a request may go on; if not, how long until one may (``retry_after``, seconds)."""

    allowed: bool
    remaining: int
    """Requests still allowed right now after this one (0 when refused)."""
    retry_after: float


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise InvalidArgumentError(f"{what} must be a positive number, not {shown(value)}")
    return float(value)


def hit(s: Any, name: str, limit: int, per: float) -> Operation[Verdict]:
    """Count one request of ``name`` against ``limit`` requests per ``per`` seconds. One round trip."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidArgumentError(f"limit must be an int >= 1, not {shown(limit)}")
    interval = max(1, round(_positive(per, "per") * 1_000_000 / limit))
    key = limit_key(s.options.prefix, name)
    (reply,) = yield [RATE_LIMIT([key], interval, limit)]
    allowed, amount = int(reply[0]), int(reply[1])
    if allowed:
        return Verdict(True, amount, 0.0)
    return Verdict(False, 0, amount / 1_000_000)


class LimitTier(Bound[E]):
    """Rate limits kept in Valkey, shared by every worker."""

    TIER = "limits"
    hit = operation(hit)
