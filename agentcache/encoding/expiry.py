"""TTLs and deadlines: turning what callers pass into server milliseconds, with typed errors."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from typing import Final

from agentcache.errors import InvalidArgumentError

MAX_TTL_MS = 10**13  # about 317 years; keeps every figure exact in Lua and in PEXPIRE


class _NoExpiry:
    """Sentinel: the field never expires. Use the singleton :data:`NO_EXPIRY`."""

    _instance: _NoExpiry | None = None

    def __new__(cls) -> _NoExpiry:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "agentcache.NO_EXPIRY"

    def __reduce__(self) -> str:
        return "NO_EXPIRY"


NO_EXPIRY: Final = _NoExpiry()
"""Pass as ``ttl`` (or ``session_ttl``) for a field that never expires."""

TTL = float | int | timedelta | _NoExpiry
Deadline = datetime | str


def ttl_ms(ttl: object, what: str = "ttl") -> int:
    """Milliseconds for a TTL in seconds (or a timedelta); 0 means no expiry (``NO_EXPIRY``)."""
    if ttl is NO_EXPIRY:
        return 0
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, int | float) and not isinstance(ttl, bool):
        try:
            seconds = float(ttl)
        except OverflowError:
            raise InvalidArgumentError(f"{what} is too long; the limit is {MAX_TTL_MS // 1000} s") from None
    else:
        raise InvalidArgumentError(
            f"{what} must be seconds (int or float), a timedelta or agentcache.NO_EXPIRY, not {type(ttl).__name__}"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidArgumentError(
            f"{what} must be a positive number of seconds, not {ttl!r}; "
            "for a field that never expires pass agentcache.NO_EXPIRY"
        )
    if seconds > MAX_TTL_MS / 1000:  # before the product, which can overflow to infinity
        raise InvalidArgumentError(f"{what} of {seconds:g} s is too long; the limit is {MAX_TTL_MS // 1000} s")
    # 4.03 s is 4030 ms, not 4031; a positive TTL under 1 ms is 1 ms, never 0 (which would mean no expiry)
    ms = max(1, math.ceil(round(seconds * 1000, 6)))
    if ms > MAX_TTL_MS:
        raise InvalidArgumentError(f"{what} of {seconds:g} s is too long; the limit is {MAX_TTL_MS // 1000} s")
    return ms


def deadline_ms(expires_at: object) -> int:
    """Unix milliseconds for an aware datetime or an ISO-8601 string with a UTC offset, at most
    ``MAX_TTL_MS`` ahead of now (the cap of a ``ttl``)."""
    if isinstance(expires_at, str):
        try:
            when = datetime.fromisoformat(expires_at)
        except ValueError:
            raise InvalidArgumentError(f"expires_at {expires_at!r} is not an ISO-8601 timestamp") from None
    elif isinstance(expires_at, datetime):
        when = expires_at
    else:
        raise InvalidArgumentError(
            f"expires_at must be an aware datetime or an ISO-8601 string, not {type(expires_at).__name__}"
        )
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidArgumentError(
            f"expires_at {expires_at!r} has no timezone; give one (e.g. '+00:00' or tzinfo=timezone.utc)"
        )
    ms = math.ceil(when.timestamp() * 1000)
    if ms - time.time() * 1000 > MAX_TTL_MS:  # the cap of a ttl, from now (this process's clock)
        raise InvalidArgumentError(
            f"expires_at {when.isoformat()} is too far ahead; the limit is {MAX_TTL_MS // 1000} s from now, as for ttl"
        )
    # PXAT needs a positive time; 1 ms after the epoch is as past as any earlier deadline
    return max(1, ms)
