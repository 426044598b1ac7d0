"""API keys: who may call what.

A key comes as ``Authorization: Bearer <key>`` or as ``X-API-Key: <key>`` (any case: elizaOS's client
sends ``X-API-KEY``, Distri's ``x-api-key``). A user key opens the thread and session routes, an admin
key those and the admin ones. Keys are compared in constant time, as bytes (a key that is not ASCII
is compared like any other, never a 500). Without any key configured nothing is checked.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from fastapi import Request

from agentcache.http.errors import ApiError

Scope = Literal["user", "admin"]


def configured(given: Sequence[str] | None, variable: str) -> tuple[str, ...]:
    """``given``, or the comma-separated keys in the environment variable ``variable``."""
    if given is not None:
        return tuple(given)
    return tuple(key.strip() for key in os.environ.get(variable, "").split(",") if key.strip())


def presented(request: Request) -> bytes:
    """The key the request carries (b"" if none)."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip().encode("utf-8", "surrogateescape")
    return request.headers.get("x-api-key", "").strip().encode("utf-8", "surrogateescape")


def _matches(token: bytes, keys: Sequence[bytes]) -> bool:
    found = False
    for key in keys:  # every key is compared, so timing does not tell which one matched
        found |= hmac.compare_digest(token, key)
    return found


class Keys:
    """The configured keys, and a dependency per scope that refuses requests without a fitting key
    (and, given ``limit``, requests over its rate)."""

    def __init__(
        self, users: Sequence[str], admins: Sequence[str], limit: Callable[[Request], Awaitable[None]] | None = None
    ) -> None:
        self.users = tuple(key.encode() for key in users)
        self.admins = tuple(key.encode() for key in admins)
        self.limit = limit
        self.made: set[Callable[[Request], Awaitable[None]]] = set()
        """The checks :meth:`check` made (the fast path calls them itself: see :mod:`.fast`)."""

    @property
    def required(self) -> bool:
        return bool(self.users or self.admins)

    def scope_of(self, request: Request) -> Scope | None:
        """The scope the request's key grants (None: no valid key). Raises nothing."""
        token = presented(request)
        if not token:
            return None
        if _matches(token, self.admins):
            return "admin"
        return "user" if _matches(token, self.users) else None

    def check(self, needed: Scope) -> Callable[[Request], Awaitable[None]]:
        """The check for ``needed``: a FastAPI dependency that takes the request alone, raising a
        401 or 403 :class:`ApiError` (or the limit's 429)."""

        async def check(request: Request) -> None:
            if not self.required:
                if self.limit is not None:
                    await self.limit(request)
                return
            granted = self.scope_of(request)
            if granted is None:
                raise ApiError(401, "Unauthorized", "send Authorization: Bearer <key> or X-API-Key: <key>")
            if needed == "admin" and granted != "admin":
                raise ApiError(403, "Forbidden", "this endpoint needs an admin key")
            if self.limit is not None:
                await self.limit(request)  # counted only once the key is known to be valid

        self.made.add(check)
        return check
