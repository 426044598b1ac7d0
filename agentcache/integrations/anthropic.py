"""Cache the official ``anthropic`` client's responses in Valkey (extra ``anthropic``).

``cached_anthropic(client, cache)`` returns the client with ``messages.create`` cached (sync with
:class:`~agentcache.AgentCache`, ``AsyncAnthropic`` with :class:`~agentcache.AsyncAgentCache`,
``stream=True`` and not); everything else (``messages.stream``, ``count_tokens``...) is the
client's own, uncached. A hit returns the SDK's own types (``Message``, stream events).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from anthropic import Anthropic, AsyncAnthropic
from anthropic._models import construct_type  # how the SDK itself builds what it receives
from anthropic.types import Message, RawMessageStreamEvent

from agentcache.encoding.expiry import TTL
from agentcache.integrations.endpoints import Endpoint, Proxy, built, check_pair

C = TypeVar("C", Anthropic, AsyncAnthropic)


def _event(data: Any) -> Any:
    return construct_type(type_=RawMessageStreamEvent, value=data)


def cached_anthropic(client: C, cache: Any, *, ttl: TTL | None = None, ignore: Iterable[str] | None = None) -> C:
    """``client`` with ``messages.create`` cached in ``cache.llm``; call sites stay as they are.

    ``ttl`` and ``ignore`` as for :func:`agentcache.integrations.openai.cached_openai`."""
    check_pair(client, cache, Anthropic, AsyncAnthropic, "anthropic")
    messages = Endpoint(
        "anthropic",
        client.messages.create,
        cache.llm,
        built(Message),
        _event,
        ttl=ttl,
        ignore=ignore,
    )
    wrapped: Any = Proxy(client, messages=Proxy(client.messages, create=messages.create))
    return wrapped  # type: ignore[no-any-return]
