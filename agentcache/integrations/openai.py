"""Cache the official ``openai`` client's responses in Valkey (extra ``openai``).

``cached_openai(client, cache)`` returns the client with ``chat.completions.create`` and
``responses.create`` cached (sync with :class:`~agentcache.AgentCache`, ``AsyncOpenAI`` with
:class:`~agentcache.AsyncAgentCache`, streamed and not); everything else is the client's own. A hit
returns the SDK's own types (``ChatCompletion``, ``ChatCompletionChunk``s, ``Response``, stream
events). See :mod:`agentcache.integrations.endpoints` for how plain and streamed calls are cached.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from openai import AsyncOpenAI, OpenAI
from openai._models import construct_type  # how the SDK itself builds what it receives
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

from agentcache.encoding.expiry import TTL
from agentcache.integrations.endpoints import Endpoint, Proxy, built, check_pair

C = TypeVar("C", OpenAI, AsyncOpenAI)


def _event(data: Any) -> Any:
    return construct_type(type_=ResponseStreamEvent, value=data)


def cached_openai(client: C, cache: Any, *, ttl: TTL | None = None, ignore: Iterable[str] | None = None) -> C:
    """``client`` with its model calls cached in ``cache.llm``; call sites stay as they are.

    ``ttl``: of the responses stored through it (else the model's policy or the cache's
    ``llm_ttl``); ``ignore``: the request parameters that do not change the answer (default
    :data:`~agentcache.IGNORED_PARAMETERS`)."""
    check_pair(client, cache, OpenAI, AsyncOpenAI, "openai")
    chat = Endpoint(
        "chat",
        client.chat.completions.create,
        cache.llm,
        built(ChatCompletion),
        built(ChatCompletionChunk),
        ttl=ttl,
        ignore=ignore,
    )
    responses = Endpoint(
        "responses",
        client.responses.create,
        cache.llm,
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
