"""Cache the official ``openai`` client's responses in Valkey (extra ``openai``).

``cached_openai(client, cache)`` returns the client with ``chat.completions.create`` and
``responses.create`` cached (sync with :class:`~agentcache.AgentCache`, ``AsyncOpenAI`` with
:class:`~agentcache.AsyncAgentCache`, streamed and not); everything else is the client's own. A hit
returns the SDK's own types (``ChatCompletion``, ``ChatCompletionChunk``s, ``Response``, stream
events). See :mod:`agentcache.providers.endpoints` for how plain and streamed calls are cached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar

from agentcache.errors import missing_extra

try:
    from openai import AsyncOpenAI, OpenAI
    from openai._models import construct_type  # how the SDK itself builds what it receives
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from openai.types.responses import Response, ResponseStreamEvent
except ImportError as missing:
    raise missing_extra(__name__, "openai", missing) from missing

from agentcache.encoding.expiry import TTL
from agentcache.providers.endpoints import Endpoint, Proxy, built, check_pair
from agentcache.providers.streams import dump
from agentcache.tiers.content.requests import Transcript, chat_request, sdk_arguments
from agentcache.tiers.content.specs import OutputSchema, ToolSpec
from agentcache.tiers.semantic.tier import SemanticOptions, front

C = TypeVar("C", OpenAI, AsyncOpenAI)


def _event(data: Any) -> Any:
    return construct_type(type_=ResponseStreamEvent, value=data)


def cached_openai(
    client: C,
    cache: Any,
    *,
    ttl: TTL | None = None,
    ignore: Iterable[str] | None = None,
    semantic: bool | SemanticOptions | None = None,
) -> C:
    """``client`` with its model calls cached in ``cache.llm``; call sites stay as they are.

    ``ttl``: of the responses stored through it (else the model's policy or the cache's
    ``llm_ttl``); ``ignore``: the request parameters that do not change the answer (default
    :data:`~agentcache.IGNORED_PARAMETERS`); ``semantic``: also serve calls whose prompt means
    the same as one answered before (``cache.semantic``: exact hit first, then semantic, then the
    model; a streamed call replays a match stored from a stream), ``True`` or a
    :class:`~agentcache.tiers.semantic.tier.SemanticOptions` (scope, threshold, judge)."""
    check_pair(client, cache, OpenAI, AsyncOpenAI, "openai")
    llm = front(cache, semantic)
    chat = Endpoint(
        "chat",
        client.chat.completions.create,
        llm,
        built(ChatCompletion),
        built(ChatCompletionChunk),
        ttl=ttl,
        ignore=ignore,
    )
    responses = Endpoint(
        "responses",
        client.responses.create,
        llm,
        built(Response),
        _event,
        ttl=ttl,
        ignore=ignore,
    )
    wrapped: Any = Proxy(
        client,
        chat=Proxy(client.chat, completions=Proxy(client.chat.completions, create=chat.create)),
        responses=Proxy(client.responses, create=responses.create),
    )
    return wrapped  # type: ignore[no-any-return]


class OpenAIChatModel:
    """A :class:`~agentcache.tiers.llm.models.ChatModel` on an OpenAI-compatible Chat Completions
    endpoint (OpenAI, or any server speaking its API: vLLM, Ollama, LiteLLM...).

    Pass ``client=`` (an ``OpenAI``) for turns on AgentCache and ``async_client=`` (an
    ``AsyncOpenAI``) for AsyncAgentCache, or neither: they are made on first use from
    ``client_options`` (``base_url``, ``api_key``... as ``OpenAI(...)`` takes them)."""

    api: Literal["chat"] = "chat"

    def __init__(
        self,
        model: str,
        *,
        client: OpenAI | None = None,
        async_client: AsyncOpenAI | None = None,
        **client_options: Any,
    ) -> None:
        self.model = model
        self._client = client
        self._async_client = async_client
        self._options = client_options

    @property
    def client(self) -> OpenAI:
        if self._client is None:
            self._client = OpenAI(**self._options)
        return self._client

    @property
    def async_client(self) -> AsyncOpenAI:
        if self._async_client is None:
            self._async_client = AsyncOpenAI(**self._options)
        return self._async_client

    def request(
        self, context: Transcript, tools: Sequence[ToolSpec], output: OutputSchema | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The Chat Completions call's keyword arguments for this turn (no I/O)."""
        return chat_request(self.model, context, tools, output, params)

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        return dump(self.client.chat.completions.create(**sdk_arguments(request)))  # type: ignore[no-any-return]

    async def call_async(self, request: dict[str, Any]) -> dict[str, Any]:
        return dump(await self.async_client.chat.completions.create(**sdk_arguments(request)))  # type: ignore[no-any-return]

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with self.client.chat.completions.create(
            **sdk_arguments(request), stream=True, stream_options={"include_usage": True}
        ) as chunks:
            for chunk in chunks:
                yield dump(chunk)

    async def stream_async(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        stream = await self.async_client.chat.completions.create(
            **sdk_arguments(request), stream=True, stream_options={"include_usage": True}
        )
        async with stream as chunks:
            async for chunk in chunks:
                yield dump(chunk)
