"""Request bodies: the size limit, and ``Content-Encoding: gzip``.

One ASGI middleware. A body over the limit ends the request with 413 as soon as that is known: from
``Content-Length``, or while a body without one (chunked) arrives. A gzip body (Distri's Rust client
compresses its requests) is inflated as it arrives and the limit applies to the inflated size, so a
gzip bomb costs at most ``limit`` bytes of memory and is a 413 with nothing stored; the app then sees
a plain body. Any other content encoding is a 415.
"""

from __future__ import annotations

import zlib
from typing import Any

from agentcache.http.errors import error_response

Message = dict[str, Any]


async def _answer(scope: Any, send: Any, status: int, code: str, message: str) -> None:
    response = error_response(status, code, message, path=scope.get("path", ""))
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class BodyLimit:
    """ASGI middleware: at most ``limit`` body bytes reach the app (after gzip is undone)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, encoding, chunked = None, b"", False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"content-encoding":
                encoding = value.strip().lower()
            elif name == b"transfer-encoding":
                chunked = True
        if length is None and not chunked and not encoding:  # HTTP/1.1: without either, no body
            await self.app(scope, receive, send)
            return
        too_large = f"the body is over {self.limit} bytes"
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _answer(scope, send, 413, "PayloadTooLarge", too_large)
            return
        if encoding in (b"gzip", b"x-gzip"):
            await self._inflated(scope, receive, send)
            return
        if encoding not in (b"", b"identity"):
            await _answer(scope, send, 415, "UnsupportedEncoding", "send the body plain or with Content-Encoding: gzip")
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Any, receive: Any, send: Any) -> None:
        received, refused = 0, False

        async def counted() -> Message:
            nonlocal received, refused
            message: Message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.limit:
                    refused = True
                    await _answer(scope, send, 413, "PayloadTooLarge", f"the body is over {self.limit} bytes")
                    return {"type": "http.disconnect"}  # the app stops reading; its own answer is dropped
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, guarded)

    async def _inflated(self, scope: Any, receive: Any, send: Any) -> None:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and trailer
        out: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            more = bool(message.get("more_body"))
            try:
                chunk = inflater.decompress(message.get("body", b""), self.limit + 1 - size)
            except zlib.error:
                await _answer(scope, send, 400, "InvalidBody", "the body is not valid gzip")
                return
            size += len(chunk)
            out.append(chunk)
            if size > self.limit or inflater.unconsumed_tail:
                await _answer(scope, send, 413, "PayloadTooLarge", f"the body inflates to over {self.limit} bytes")
                return
        if not inflater.eof:
            await _answer(scope, send, 400, "InvalidBody", "the gzip body ends early")
            return
        body = b"".join(out)
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")]
        headers.append((b"content-length", str(len(body)).encode()))
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                message: Message = await receive()
                return message
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)
