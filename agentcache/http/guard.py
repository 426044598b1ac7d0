"""What the HTTP API does before any route runs, against callers that mean harm.

- :class:`GuardedH11Protocol`: uvicorn's h11 protocol with a deadline for a request's headers
  (a connection that trickles its headers, slowloris-style, is closed after ``HEADER_TIMEOUT_S``),
  on top of h11's own bound on an incomplete request head (``MAX_HEAD_BYTES``).
- :class:`Guard` (ASGI middleware): at most ``MAX_HEADERS`` headers (431), a whole head (target and
  headers) of at most ``MAX_HEAD_BYTES`` even when it came in one read (431), a path whose
  percent-escapes are not UTF-8 is a 400 (else ``%FF`` and ``%FE`` would both decode to U+FFFD and
  name one thread), and security headers on every response (``nosniff``; on HTML also a
  Content-Security-Policy that allows only the page's own inline script and style, unless the page
  sets its own, no framing, no referrer).
- :func:`strict_json`: request bodies whose numbers JSON cannot carry back (``NaN``, ``Infinity``,
  ``1e400``) are refused (422), so no write stores what a later read could not answer with.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
from typing import Any
from urllib.parse import unquote_to_bytes

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from agentcache.http.errors import error_response

HEADER_TIMEOUT_S = 10.0
"""How long a connection may take to send one request's headers."""
MAX_HEAD_BYTES = 16 * 1024
"""The largest request head (request line and headers) h11 buffers before it answers 400."""
MAX_HEADERS = 100
"""The most headers one request may carry."""


class HeaderDeadline:
    """A deadline for a request's headers, for the guarded uvicorn protocols: armed while (the rest
    of) a head is awaited; when it passes, the connection is closed."""

    header_timeout = HEADER_TIMEOUT_S
    _header_deadline: asyncio.TimerHandle | None = None

    def _awaiting_head(self) -> bool:
        """Whether the connection is between requests or inside a request's head."""
        raise NotImplementedError

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self._protocol().loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        protocol = self._protocol()
        if self._awaiting_head() and not protocol.transport.is_closing():
            protocol.logger.warning("closing a connection that took over %g s to send its headers", self.header_timeout)
            protocol.transport.close()

    def _protocol(self) -> Any:
        return self  # the uvicorn protocol this is mixed into (its loop, transport and logger)


class GuardedH11Protocol(HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers take over ``HEADER_TIMEOUT_S``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()  # still waiting for (the rest of) a request's headers
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE:
            self._disarm()  # idle between requests: uvicorn's keep-alive timeout rules until data comes

    def _awaiting_head(self) -> bool:
        return bool(self.conn.their_state is h11.IDLE)


def inline_hashes(page: str, tag: str) -> str:
    """The CSP sources (``'sha256-...'``) of every inline ``<tag>`` block of ``page``."""
    blocks = re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", page, flags=re.S)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)


def content_security_policy(page: str) -> str:
    """A policy for ``page``: its own inline script and style (by hash) and same-origin requests only."""
    return (
        f"default-src 'none'; script-src {inline_hashes(page, 'script')}; style-src {inline_hashes(page, 'style')}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _valid_path(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


NOSNIFF = (b"x-content-type-options", b"nosniff")
FRAMING = [(b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]


class Guard:
    """ASGI middleware: header count, UTF-8 paths, security headers (see the module's docstring)."""

    def __init__(self, app: Any, csp: str) -> None:
        self.app, self.csp = app, csp.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = None
        raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        headers = scope["headers"]
        size = len(raw) + len(scope.get("query_string") or b"")
        for name, value in headers:
            size += len(name) + len(value)
        if len(headers) > MAX_HEADERS:
            refusal = error_response(431, "TooManyHeaders", f"send at most {MAX_HEADERS} headers", path=scope["path"])
        elif size > MAX_HEAD_BYTES:  # a whole head that came in one read: the protocols bound it only while it arrives
            refusal = error_response(
                431,
                "HeadTooLarge",
                f"send a request head (target and headers) of at most {MAX_HEAD_BYTES} bytes",
                path=scope["path"],
            )
        elif not (raw.isascii() and b"%" not in raw) and not _valid_path(raw):  # plain ASCII: UTF-8 as it is
            refusal = error_response(
                400, "InvalidPath", "the path's percent-escapes must spell UTF-8", path=scope["path"]
            )
        if refusal is not None:
            await refusal(scope, receive, self._secured(send))
            return
        await self.app(scope, receive, self._secured(send))

    def _secured(self, send: Any) -> Any:
        csp = self.csp

        async def secured(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                html = has_policy = False
                for name, value in headers:
                    if name == b"content-type":
                        html = value.startswith(b"text/html")
                    elif name == b"content-security-policy":
                        has_policy = True  # a page's own stays
                added = [NOSNIFF]
                if html:
                    if not has_policy:
                        added.append((b"content-security-policy", csp))
                    added += FRAMING
                message = {**message, "headers": [*headers, *added]}
            await send(message)

        return secured


class NonFiniteNumber(json.JSONDecodeError):
    """A JSON number that Python would read as NaN or an infinity."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber("numbers must be finite (no NaN, Infinity, or beyond 1.8e308)", text, 0)
    return value


def _refuse_constant(text: str) -> float:
    raise NonFiniteNumber("numbers must be finite (no NaN, Infinity, or beyond 1.8e308)", text, 0)


def strict_json(body: bytes) -> Any:
    """``json.loads`` that refuses NaN, Infinity and numbers too large for a float."""
    return json.loads(body, parse_float=_finite, parse_constant=_refuse_constant)
