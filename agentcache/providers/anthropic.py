"""Cache the official ``anthropic`` client's responses in Valkey (extra ``anthropic``).

``cached_anthropic(client, cache)`` returns the client with ``messages.create`` cached (sync with
:class:`~agentcache.AgentCache`, ``AsyncAnthropic`` with :class:`~agentcache.AsyncAgentCache`,
``stream=True`` and not); everything else (``messages.stream``, ``count_tokens``...) is the
client's own, uncached. A hit returns the SDK's own types (``Message``, stream events).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar

from agentcache.errors import missing_extra

try:
    from anthropic import Anthropic, AsyncAnthropic
    from anthropic._models import construct_type  # how the SDK itself builds what it receives
    from anthropic.types import Message, RawMessageStreamEvent
except ImportError as missing:
    raise missing_extra(__name__, "anthropic", missing) from missing

from agentcache.encoding.expiry import TTL
from agentcache.providers.endpoints import Endpoint, Proxy, built, check_pair
from agentcache.providers.streams import dump
from agentcache.tiers.content.requests import Transcript, anthropic_request, sdk_arguments
from agentcache.tiers.content.specs import OutputSchema, ToolSpec
from agentcache.tiers.semantic.tier import SemanticOptions, front

C = TypeVar("C", Anthropic, AsyncAnthropic)


def _event(data: Any) -> Any:
    return construct_type(type_=RawMessageStreamEvent, value=data)


def cached_anthropic(
    client: C,
    cache: Any,
    *,
    ttl: TTL | None = None,
    ignore: Iterable[str] | None = None,
    semantic: bool | SemanticOptions | None = None,
) -> C:
    """``client`` with ``messages.create`` cached in ``cache.llm``; call sites stay as they are.

    ``ttl``, ``ignore`` and ``semantic`` as for :func:`agentcache.providers.openai.cached_openai`."""
    check_pair(client, cache, Anthropic, AsyncAnthropic, "anthropic")
    llm = front(cache, semantic)
    messages = Endpoint(
        "anthropic",
        client.messages.create,
        llm,
        built(Message),
        _event,
        ttl=ttl,
        ignore=ignore,
    )
    wrapped: Any = Proxy(client, messages=Proxy(client.messages, create=messages.create))
    return wrapped  # type: ignore[no-any-return]


class AnthropicModel:
    """A :class:`~agentcache.tiers.llm.models.ChatModel` on Anthropic's Messages API.

    ``client=`` (an ``Anthropic``) for AgentCache, ``async_client=`` (an ``AsyncAnthropic``) for
    AsyncAgentCache, or ``client_options`` to make them on first use. ``max_tokens`` is required by
    the API (default 1024; a turn's ``max_tokens=`` overrides it). A structured reply
    (``conv.json``) is asked for in the system prompt, with the schema."""

    api: Literal["anthropic"] = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        max_tokens: int = 1024,
        client: Anthropic | None = None,
        async_client: AsyncAnthropic | None = None,
        **client_options: Any,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self._client = client
        self._async_client = async_client
        self._options = client_options

    @property
    def client(self) -> Anthropic:
        if self._client is None:
            self._client = Anthropic(**self._options)
        return self._client

    @property
    def async_client(self) -> AsyncAnthropic:
        if self._async_client is None:
            self._async_client = AsyncAnthropic(**self._options)
        return self._async_client

    def request(
        self, context: Transcript, tools: Sequence[ToolSpec], output: OutputSchema | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The Messages call's keyword arguments for this turn (no I/O)."""
        return anthropic_request(self.model, self.max_tokens, context, tools, output, params)

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        return dump(self.client.messages.create(**sdk_arguments(request)))  # type: ignore[no-any-return]

    async def call_async(self, request: dict[str, Any]) -> dict[str, Any]:
        return dump(await self.async_client.messages.create(**sdk_arguments(request)))  # type: ignore[no-any-return]

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with self.client.messages.create(**sdk_arguments(request), stream=True) as events:
            for event in events:
                yield dump(event)

    async def stream_async(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        stream = await self.async_client.messages.create(**sdk_arguments(request), stream=True)
        async with stream as events:
            async for event in events:
                yield dump(event)
