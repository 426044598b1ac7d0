"""One cached model endpoint (a ``create`` method of an SDK client), for the client wrappers.

A plain call goes through ``cache.llm.get_or_compute`` (single flight: concurrent identical calls
reach the model once) and returns the SDK's own response type, rebuilt from the cached JSON data.
A streamed call (``stream=True``) replays the cached chunks when the entry has them; otherwise it
streams from the model and stores the chunks and the response they add up to once the stream has
ended (a stream that fails, is cut or is left early stores nothing). Concurrent identical
streamed misses each reach the model: a stream cannot wait for another caller's.

With ``semantic=``, ``llm`` is a :class:`~agentcache.tiers.semantic.tier.SemanticFront` with the
same three methods: a plain call is served by the exact tier, then by meaning, then by the model; a
streamed call replays the chunks of the exact entry, else of a semantic match stored from a stream,
and a finished stream is kept in both tiers.

Every request is keyed with its API's name (``agentcache_api``) beside its parameters, so Chat
Completions, Responses and Anthropic Messages requests never share an entry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from agentcache.encoding.expiry import TTL
from agentcache.errors import InvalidArgumentError
from agentcache.providers.streams import AsyncRecorded, Recorded, Replayed, dump
from agentcache.tiers.content.formats import Api, assemble, finished
from agentcache.tiers.llm.request import API_KEY

_VALIDATES_EXTRA = "extra" in inspect.signature(BaseModel.model_validate).parameters
"""Whether pydantic validates with ``extra=`` given per call (2.12 and later)."""


def _listed(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The call's arguments with iterators made lists: the request is both keyed and sent."""
    return {
        name: list(value) if isinstance(value, Iterator) or type(value).__name__ == "generator" else value
        for name, value in kwargs.items()
    }


def built(model: type[Any]) -> Callable[[Any], Any]:
    """The SDK's model from cached JSON data, as the SDK builds a server's reply.

    The data was dumped from an object the SDK built, so strict validation (one pass in
    pydantic-core, ~30x faster than the SDK's recursive ``construct``) gives the same object:
    strict mode coerces nothing but an int in a float field, which ``construct`` makes a float too.
    Data the SDK's model rejects (a field the server sent in another shape, a new union member, a
    field the SDK does not know: validation would count it as set) is built with ``construct``,
    exactly as the SDK built it the first time; so is everything on pydantic before 2.12 (no
    ``extra=`` on validation)."""
    construct = model.construct
    if not _VALIDATES_EXTRA:
        return lambda data: construct(**data)
    validate = model.model_validate

    def build(data: Any) -> Any:
        try:
            return validate(data, strict=True, extra="forbid")
        except ValueError:  # pydantic's ValidationError: the SDK's own way takes what its model rejects
            return construct(**data)

    return build


class Endpoint:
    """``create`` of one SDK resource, cached in ``llm`` (a cache's ``cache.llm``)."""

    def __init__(
        self,
        api: Api,
        create: Callable[..., Any],
        llm: Any,
        response: Callable[[Any], Any],
        chunk: Callable[[Any], Any],
        *,
        ttl: TTL | None,
        ignore: Iterable[str] | None,
    ) -> None:
        self.api = api
        self._create = create
        self._llm = llm
        self._response = response
        self._chunk = chunk
        self._ttl = ttl
        self._ignore = None if ignore is None else frozenset(ignore)
        self.create: Callable[..., Any] = self._acreate if llm.asynchronous else self._screate

    def _request(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if API_KEY in kwargs:
            raise InvalidArgumentError(f"{API_KEY} is the wrapper's own request field; do not pass it")
        return {**kwargs, API_KEY: self.api}  # keyed by the tier's first step: a bad request fails before any I/O

    def _finished(self, kwargs: Mapping[str, Any], chunks: list[Any]) -> bool:
        wants_usage = bool((kwargs.get("stream_options") or {}).get("include_usage"))
        return finished(self.api, chunks, wants_usage)

    def _screate(self, **kwargs: Any) -> Any:
        kwargs = _listed(kwargs)
        request = self._request(kwargs)
        llm = self._llm
        if not kwargs.get("stream"):
            data = llm.get_or_compute(request, lambda: dump(self._create(**kwargs)), ttl=self._ttl, ignore=self._ignore)
            return self._response(data)
        found = llm.check(request, ignore=self._ignore)
        if found.hit and found.chunks is not None:  # (an uncertain semantic match has chunks, not served)
            return Replayed([self._chunk(chunk) for chunk in found.chunks])

        def done(chunks: list[Any]) -> None:
            if self._finished(kwargs, chunks):
                response = assemble(self.api, chunks)
                llm.store(request, response, chunks=chunks, ttl=self._ttl, ignore=self._ignore)

        return Recorded(self._create(**kwargs), done)

    async def _acreate(self, **kwargs: Any) -> Any:
        kwargs = _listed(kwargs)
        request = self._request(kwargs)
        llm = self._llm
        if not kwargs.get("stream"):

            async def call() -> Any:
                return dump(await self._create(**kwargs))

            data = await llm.get_or_compute(request, call, ttl=self._ttl, ignore=self._ignore)
            return self._response(data)
        found = await llm.check(request, ignore=self._ignore)
        if found.hit and found.chunks is not None:  # (an uncertain semantic match has chunks, not served)
            return Replayed([self._chunk(chunk) for chunk in found.chunks])

        async def done(chunks: list[Any]) -> None:
            if self._finished(kwargs, chunks):
                response = assemble(self.api, chunks)
                await llm.store(request, response, chunks=chunks, ttl=self._ttl, ignore=self._ignore)

        return AsyncRecorded(await self._create(**kwargs), done)


class Proxy:
    """An SDK object with some attributes replaced; everything else is the object's own."""

    def __init__(self, target: Any, **overrides: Any) -> None:
        self._target = target
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def __repr__(self) -> str:
        return f"<cached {self._target!r}>"


def check_pair(client: Any, cache: Any, sync_type: type, async_type: type, sdk: str) -> None:
    """Refuse a client and cache that do not match (sync with sync, asyncio with asyncio)."""
    llm = getattr(cache, "llm", None)
    if llm is None:
        raise InvalidArgumentError(f"cache must be an AgentCache or AsyncAgentCache, not {type(cache).__name__}")
    if not isinstance(client, sync_type | async_type):
        raise InvalidArgumentError(f"client must be a {sdk} client, not {type(client).__name__}")
    if isinstance(client, async_type) != llm.asynchronous:
        partner = "AsyncAgentCache" if isinstance(client, async_type) else "AgentCache"
        raise InvalidArgumentError(
            f"pair {type(client).__name__} with {partner}: "
            "a sync client goes with the sync cache, an async client with the async one"
        )
