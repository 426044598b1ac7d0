"""Streams the client wrappers hand back: a live one recorded as it goes, or a cached one replayed.

A recording passes every chunk on as the SDK yields it and keeps its JSON data; when the stream has
reached its end (:func:`~agentcache.tiers.content.formats.finished`) it stores the chunks and the
response they add up to, once. A stream that fails, is cut short or that the caller leaves early
stores nothing, so no half response is ever cached. The sync and async classes only loop; what to
store is decided by the ``done`` callback they are given.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from agentcache.errors import AgentCacheError

T = TypeVar("T")
log = logging.getLogger("agentcache.providers")


def dump(response: Any) -> Any:
    """An SDK object as the JSON data the server sent (fields it did not send left out)."""
    return response.model_dump(mode="json", exclude_unset=True, warnings=False)


class Replayed(Generic[T]):
    """A cached stream: the same chunks again, as the SDK's own types (sync and async iteration)."""

    def __init__(self, chunks: list[T]) -> None:
        self._chunks = iter(chunks)

    def __iter__(self) -> Iterator[T]:
        return self._chunks

    def __next__(self) -> T:
        return next(self._chunks)

    def __aiter__(self) -> Replayed[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None

    def close(self) -> Any:
        """Stop early (nothing to release); awaitable on the async facade's streams."""
        self._chunks = iter(())
        return _Done()

    def __enter__(self) -> Replayed[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Replayed[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


class _Done:
    """What ``close()`` returns: awaiting it does nothing, so ``await stream.close()`` works too."""

    def __await__(self) -> Iterator[None]:
        return iter(())


class Recorded(Generic[T]):
    """A live SDK stream, passed through chunk by chunk; ``done(chunks)`` runs once it has ended."""

    def __init__(self, stream: Any, done: Callable[[list[Any]], Any]) -> None:
        self._stream = stream
        self._done = done
        self._chunks: list[Any] = []
        self._iterator: Iterator[T] | None = None

    def __getattr__(self, name: str) -> Any:  # response, close(), ... of the SDK's stream
        return getattr(self._stream, name)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._iterator is None:
            self._iterator = iter(self._stream)
        try:
            chunk = next(self._iterator)
        except StopIteration:
            _finish(self._done, self._chunks)
            raise
        self._chunks.append(dump(chunk))
        return chunk

    def __enter__(self) -> Recorded[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stream.close()


class AsyncRecorded(Generic[T]):
    """:class:`Recorded` for the SDKs' async streams; ``done`` is awaited."""

    def __init__(self, stream: Any, done: Callable[[list[Any]], Awaitable[Any]]) -> None:
        self._stream = stream
        self._done = done
        self._chunks: list[Any] = []
        self._iterator: AsyncIterator[T] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __aiter__(self) -> AsyncRecorded[T]:
        return self

    async def __anext__(self) -> T:
        if self._iterator is None:
            self._iterator = self._stream.__aiter__()
        try:
            chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            try:
                await self._done(self._chunks)
            except AgentCacheError as exc:
                log.warning("a finished stream was not cached: %s", exc)
            raise
        self._chunks.append(dump(chunk))
        return chunk

    async def __aenter__(self) -> AsyncRecorded[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stream.close()


def _finish(done: Callable[[list[Any]], Any], chunks: list[Any]) -> None:
    try:
        done(chunks)
    except AgentCacheError as exc:  # the caller has the whole stream; failing to cache it is not their error
        log.warning("a finished stream was not cached: %s", exc)
