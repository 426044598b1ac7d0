"""Per-key rate limits and quotas for the HTTP API (seed 002's "rate limiting"; issue 31's "nothing
bounds what a key can create"), kept in Valkey.

``--rate-limit 600/60`` (or ``AGENTCACHE_HTTP_RATE_LIMIT``): each API key may make 600 requests per
60 seconds, in bursts of up to 600. A refused request is a 429 ``RateLimited`` with ``Retry-After``.

``--quota threads=1000,keys=200,bytes=50mb,per=1d`` (or ``AGENTCACHE_HTTP_QUOTA``): per window
(``per``, default one day, starting with the key's first write), each API key may write to at most
``threads`` distinct threads or sessions (creating a session counts as one), ``keys`` distinct keys
in any one thread, and ``bytes`` of request bodies. Every request that writes (POST, PUT, PATCH on a
thread's or a session's route, and creating a session) counts, once its key is known to be valid
and before its body is validated, so a refused write stores nothing. Over a quota: 429
``QuotaExceeded``, ``Retry-After`` the end of the window. Deletes never count.

Both are checked by one script call (``cache.limits.admit``: one round trip per request with a rate
limit, per write with only quotas), shared by every worker of ``uvicorn --workers N`` since it
lives in Valkey. Without keys configured, the client's address stands for the key. ``/health`` is
never counted. If Valkey cannot count (unreachable, or out of memory), the request goes on: the
limits guard against abuse, they are not a reason to refuse every caller.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import secrets

from fastapi import Request

from agentcache.errors import BackendError, InvalidArgumentError
from agentcache.facade import AsyncAgentCache
from agentcache.http.auth import presented
from agentcache.http.errors import ApiError
from agentcache.tiers.limits.tier import Quota

log = logging.getLogger("agentcache.http")

_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|sec|m|min|h|hour)?\s*")
_UNITS = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}
_PERIOD = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?")
_PERIODS = {None: 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"(\d+)\s*(b|k|kb|m|mb|g|gb)?")
_SIZES = {None: 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}
QUOTA_FIELDS = {"threads": "threads", "keys": "keys_per_thread", "bytes": "bytes", "per": "window"}
SESSIONS = "/api/messaging/sessions"
"""The Sessions API: a POST here creates a session (a new thread for the quota)."""


def parse_rate(text: str) -> tuple[int, float]:
    """``"600/60"`` (per 60 s), ``"10/s"``, ``"600/min"``, ``"5000/h"``, ``"100/5m"`` as (requests, seconds)."""
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None or (match.group(2) is None and match.group(3) is None):
        raise InvalidArgumentError(f"a rate limit is <requests>/<seconds> (or /s, /min, /h), e.g. 600/60, not {text!r}")
    requests, amount, unit = int(match.group(1)), float(match.group(2) or 1), _UNITS[match.group(3)]
    if requests < 1 or amount <= 0:
        raise InvalidArgumentError(f"a rate limit needs at least 1 request per a positive time, not {text!r}")
    return requests, amount * unit


def configured_rate(given: str | None) -> tuple[int, float] | None:
    """``given``, else ``AGENTCACHE_HTTP_RATE_LIMIT``, parsed; None when neither is set."""
    text = given if given is not None else os.environ.get("AGENTCACHE_HTTP_RATE_LIMIT") or None
    return None if text is None else parse_rate(text)


def parse_quota(text: str) -> Quota:
    """``"threads=1000,keys=200,bytes=50mb,per=1d"`` (any of them; ``per`` in s, m, h or d, default
    one day; bytes in b, kb, mb or gb) as a :class:`Quota`."""
    usage = (
        "a quota is threads=<n>,keys=<n per thread>,bytes=<size>,per=<time> (any of them, at least one "
        f"limit), e.g. threads=1000,keys=200,bytes=50mb,per=1d; not {text!r}"
    )
    figures: dict[str, float | int] = {}
    for item in text.split(",") if isinstance(text, str) else [""]:
        name, _, value = item.strip().lower().partition("=")
        field = QUOTA_FIELDS.get(name.strip())
        value = value.strip()
        if field is None or field in figures:
            raise InvalidArgumentError(usage)
        if field == "window":
            period = _PERIOD.fullmatch(value)
            if period is None:
                raise InvalidArgumentError(usage)
            figures[field] = float(period.group(1)) * _PERIODS[period.group(2)]
        elif field == "bytes":
            size = _SIZE.fullmatch(value)
            if size is None:
                raise InvalidArgumentError(usage)
            figures[field] = int(size.group(1)) * _SIZES[size.group(2)]
        elif value.isdigit():
            figures[field] = int(value)
        else:
            raise InvalidArgumentError(usage)
    quota = Quota(**figures)  # type: ignore[arg-type]
    if not quota.active:
        raise InvalidArgumentError(usage)
    return quota.check()


def configured_quota(given: str | None) -> Quota | None:
    """``given``, else ``AGENTCACHE_HTTP_QUOTA``, parsed; None when neither is set."""
    text = given if given is not None else os.environ.get("AGENTCACHE_HTTP_QUOTA") or None
    return None if text is None else parse_quota(text)


def caller(request: Request) -> str:
    """Who a request counts against: its key's digest (the key itself is never stored), else its address."""
    token = presented(request)
    if token:
        return "http:key:" + hashlib.sha256(token).hexdigest()[:32]
    return "http:addr:" + (request.client.host if request.client else "unknown")


async def written(request: Request) -> tuple[str | None, str | None, int]:
    """The thread a request writes to (None: it writes none), the key it writes in it, and its bytes."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None, None, 0
    params = request.path_params
    thread = params.get("thread_id", params.get("session_id"))
    if thread is None and request.url.path.rstrip("/") == SESSIONS:
        thread = "new session " + secrets.token_hex(8)  # its id is made by the route: a new thread
    if thread is None:
        return None, None, 0
    body = await request.body()  # read already for a route with a body (FastAPI keeps it)
    key = None
    if "thread_id" in params:
        try:
            data = await request.json() if body else None
        except ValueError:
            data = None  # the route answers it
        if isinstance(data, dict) and isinstance(data.get("key"), str):
            key = data["key"]
    return str(thread), key, len(body)


class Admission:
    """Counts each request of a key (or address) against the rate limit and, for a write, the
    quota; raises a 429 :class:`ApiError` for a refused one."""

    def __init__(self, cache: AsyncAgentCache, rate: tuple[int, float] | None, quota: Quota | None) -> None:
        self.cache, self.rate, self.quota = cache, rate, quota

    async def check(self, request: Request) -> None:
        thread, key, size = await written(request) if self.quota is not None else (None, None, 0)
        if self.rate is None and thread is None:
            return
        try:
            verdict = await self.cache.limits.admit(
                caller(request), rate=self.rate, quota=self.quota, thread=thread, key=key, size=size
            )
        except BackendError as exc:
            log.warning("rate limit and quota not counted (the request goes on): %s", exc)
            return
        if verdict.allowed:
            return
        wait = max(1, math.ceil(verdict.retry_after))
        if verdict.refused_by == "rate" and self.rate is not None:
            requests, seconds = self.rate
            raise ApiError(
                429,
                "RateLimited",
                f"over {requests} requests per {seconds:g} s for this key; retry after {wait} s",
                {"retryAfterSeconds": wait},
                headers={"Retry-After": str(wait)},
            )
        assert self.quota is not None
        quota = self.quota
        limit, what = {
            "threads": (quota.threads, "threads written"),
            "keys": (quota.keys_per_thread, "keys written in this thread"),
            "bytes": (quota.bytes, "bytes written"),
        }[verdict.refused_by]
        raise ApiError(
            429,
            "QuotaExceeded",
            f"this key's quota of {limit} {what} per {quota.window:g} s is used up; it starts over in {wait} s",
            {
                "quota": {"keys": "keysPerThread"}.get(verdict.refused_by, verdict.refused_by),
                "limit": limit,
                "used": verdict.used,
                "retryAfterSeconds": wait,
            },
            headers={"Retry-After": str(wait)},
        )
