"""Rate limits and quotas shared by every process: ``cache.limits.hit(name, limit, per)`` and
``cache.limits.admit(name, rate=..., quota=..., thread=..., key=..., size=...)``.

One round trip per request (``admit.lua``), on the server's clock, all or nothing (a refused
request counts against no limit):

- the rate: the generic cell rate algorithm, one small key per limited name
  (``<prefix>:limit:{<name>}``) that expires when it no longer holds anything back. ``limit``
  requests per ``per`` seconds, all of them allowed at once (a burst) after a quiet period; then
  one every ``per / limit`` seconds;
- the quotas (:class:`Quota`), for a request that writes to a thread: how many distinct threads a
  name may write, how many distinct keys in each, and how many bytes, per window. The window starts
  with the name's first counted write and ends ``window`` seconds later, when every count starts
  over (the keys expire then). Threads and keys are kept as 64-bit digests, so the memory a name
  costs is bounded by its own quotas.

The HTTP API admits each API key's requests with it.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

from agentcache.core.binding import Bound, E, operation
from agentcache.core.commands import Operation, lua
from agentcache.encoding.keys import limit_key, quota_keys
from agentcache.errors import InvalidArgumentError, shown

ADMIT = lua(__package__, "admit")


class Verdict(NamedTuple):
    """Whether a request may go on; if not, what refused it and how long until it may."""

    allowed: bool
    remaining: int
    """Requests the rate limit still allows right now after this one (0 when refused, -1 without a rate)."""
    retry_after: float
    """Seconds until a refused request may be allowed (the end of the quota's window for a quota)."""
    refused_by: str = ""
    """``"rate"``, ``"threads"``, ``"keys"`` (keys per thread) or ``"bytes"``; ``""`` if allowed."""
    used: int = 0
    """For a quota's refusal: what the window already counts (threads, keys of the thread, bytes)."""


class Quota(NamedTuple):
    """What one name may write per ``window`` seconds (0: no limit of that kind)."""

    threads: int = 0
    """Distinct threads written to."""
    keys_per_thread: int = 0
    """Distinct keys written to any one thread."""
    bytes: int = 0
    """Bytes written (what the caller sent)."""
    window: float = 86400.0

    def check(self) -> Quota:
        """This quota, or :class:`InvalidArgumentError` if a figure is not usable."""
        figures = (("threads", self.threads), ("keys_per_thread", self.keys_per_thread), ("bytes", self.bytes))
        for what, value in figures:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
                raise InvalidArgumentError(f"a quota's {what} must be an int >= 0 (0: no limit), not {shown(value)}")
        _positive(self.window, "a quota's window")
        if self.window > 10**9:
            raise InvalidArgumentError(f"a quota's window is at most 1e9 s, not {shown(self.window)}")
        return self

    @property
    def active(self) -> bool:
        return bool(self.threads or self.keys_per_thread or self.bytes)


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise InvalidArgumentError(f"{what} must be a positive number, not {shown(value)}")
    return float(value)


def digest(name: str) -> str:
    """64 bits of a thread id or key, as 16 hex characters (what a quota keeps of it)."""
    return hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _rate_args(limit: int, per: float) -> tuple[int, int]:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidArgumentError(f"limit must be an int >= 1, not {shown(limit)}")
    return max(1, round(_positive(per, "per") * 1_000_000 / limit)), limit


def admit(
    s: Any,
    name: str,
    *,
    rate: tuple[int, float] | None = None,
    quota: Quota | None = None,
    thread: str | None = None,
    key: str | None = None,
    size: int = 0,
) -> Operation[Verdict]:
    """Admit one request of ``name``: against ``rate`` (``(limit, per)``: ``limit`` requests per
    ``per`` seconds) and, if it writes to ``thread`` (``key`` of it, ``size`` bytes), against
    ``quota``. One round trip; none when there is nothing to count."""
    interval, burst = (0, 0) if rate is None else _rate_args(*rate)
    if quota is not None:
        if not isinstance(quota, Quota):
            raise InvalidArgumentError(f"quota must be an agentcache Quota, not {type(quota).__name__}")
        quota.check()
    if thread is not None and not isinstance(thread, str):
        raise InvalidArgumentError(f"thread must be a str, not {type(thread).__name__}")
    if key is not None and not isinstance(key, str):
        raise InvalidArgumentError(f"key must be a str, not {type(key).__name__}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidArgumentError(f"size must be an int >= 0, not {shown(size)}")
    counted = quota is not None and quota.active and thread is not None
    named = s.key_id(name, "name")  # under Encryption(id_key=...) key names hold its keyed hash
    rate_key = limit_key(s.options.prefix, named)  # also checks the name
    if not burst and not counted:
        return Verdict(True, -1, 0.0)
    thread_digest = digest(s.key_id(thread)) if counted and thread is not None else ""
    window, threads, keys = quota_keys(s.options.prefix, named, thread_digest or "-")
    if counted and quota is not None:
        limits = (round(quota.window * 1000), quota.threads, quota.keys_per_thread, quota.bytes)
        key_digest = digest(key) if key is not None and quota.keys_per_thread else ""
    else:
        limits, key_digest = (0, 0, 0, 0), ""
    keys_of = [rate_key, window, threads, keys]
    (reply,) = yield [ADMIT(keys_of, interval, burst, *limits, thread_digest, key_digest, size)]
    refused_by = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    if not refused_by:
        return Verdict(True, int(reply[2]), 0.0)
    return Verdict(False, 0, int(reply[1]) / 1_000_000, refused_by, int(reply[2]))


def hit(s: Any, name: str, limit: int, per: float) -> Operation[Verdict]:
    """Count one request of ``name`` against ``limit`` requests per ``per`` seconds. One round trip."""
    return (yield from admit(s, name, rate=(limit, per)))


class LimitTier(Bound[E]):
    """Rate limits and quotas kept in Valkey, shared by every worker."""

    TIER = "limits"
    hit = operation(hit)
    admit = operation(admit)
