"""Per-key rate limits for the HTTP API (seed 002's "rate limiting"), kept in Valkey.

``--rate-limit 600/60`` (or ``AGENTCACHE_HTTP_RATE_LIMIT``): each API key may make 600 requests per
60 seconds, in bursts of up to 600; every worker of ``uvicorn --workers N`` shares the count, since it
lives in Valkey (``cache.limits``: one round trip per request). A refused request is a 429 with
``Retry-After``. Without keys configured, the client's address is limited instead. ``/health`` is
never limited. If Valkey cannot count (unreachable, or out of memory), the request goes on: the
limit is a guard against abuse, not a reason to refuse every caller.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re

from fastapi import Request

from agentcache.errors import BackendError, InvalidArgumentError
from agentcache.facade import AsyncAgentCache
from agentcache.http.auth import presented
from agentcache.http.errors import ApiError

log = logging.getLogger("agentcache.http")

_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|sec|m|min|h|hour)?\s*")
_UNITS = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


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


class RateLimit:
    """Counts each request of a key (or address) against the limit; raises a 429 ``ApiError``."""

    def __init__(self, cache: AsyncAgentCache, requests: int, seconds: float) -> None:
        self.cache, self.requests, self.seconds = cache, requests, seconds

    async def check(self, request: Request) -> None:
        token = presented(request)
        if token:
            name = "http:key:" + hashlib.sha256(token).hexdigest()[:32]  # the key itself is never stored
        else:
            name = "http:addr:" + (request.client.host if request.client else "unknown")
        try:
            verdict = await self.cache.limits.hit(name, self.requests, self.seconds)
        except BackendError as exc:
            log.warning("rate limit not counted (the request goes on): %s", exc)
            return
        if not verdict.allowed:
            wait = max(1, math.ceil(verdict.retry_after))
            raise ApiError(
                429,
                "RateLimited",
                f"over {self.requests} requests per {self.seconds:g} s for this key; retry after {wait} s",
                {"retryAfterSeconds": wait},
                headers={"Retry-After": str(wait)},
            )
