"""uvicorn's httptools protocol with the guards that :class:`~agentcache.http.guard.GuardedH11Protocol`
gives the h11 one: a bound on a request head's size and a deadline for its arrival.

h11 refuses a head over ``h11_max_incomplete_event_size``; llhttp (under httptools) has no such
bound and would buffer an endless header line. So the bytes that arrive while a request's head is
incomplete are counted here, and a head over ``MAX_HEAD_BYTES`` is answered 400 and the connection
closed, as h11 does. A connection whose head takes over ``HEADER_TIMEOUT_S`` to arrive
(slowloris-style trickling) is closed. This module needs the ``uvicorn[standard]`` extras (httptools);
``agentcache serve`` falls back to the h11 protocol without them.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from agentcache.http.guard import MAX_HEAD_BYTES, HeaderDeadline

Phase = Literal["idle", "head", "body"]


class GuardedHttpToolsProtocol(HeaderDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol, with a bound on a request head's size (``max_head_bytes``: 400
    and close beyond it) and a deadline for its arrival (``header_timeout``: close after it)."""

    max_head_bytes = MAX_HEAD_BYTES
    _phase: Phase = "idle"  # between requests, reading a head, or past it (body, response)
    _head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that sends nothing is closed too

    def data_received(self, data: bytes) -> None:
        if self._phase != "body":
            self._head_bytes += len(data)  # an upper bound on the head's bytes so far
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
        elif self._phase == "head":
            if self._head_bytes > self.max_head_bytes:
                self._disarm()
                self.logger.warning("closing a connection whose request head is over %d bytes", self.max_head_bytes)
                self.send_400_response("Invalid HTTP request received.")
                return
            self._arm()  # still waiting for (the rest of) a request's headers
        else:
            self._disarm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "head"

    def on_headers_complete(self) -> None:
        self._phase, self._head_bytes = "body", 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase, self._head_bytes = "idle", 0
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _awaiting_head(self) -> bool:
        return self._phase != "body"
