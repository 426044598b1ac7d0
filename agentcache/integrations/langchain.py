"""LangChain on agentcache (extra ``langchain``): a chat message history on the conversation tier
(``AgentCacheChatMessageHistory``) and an LLM response cache on the LLM tier (``AgentCacheLLMCache``).

Messages and generations are stored as their JSON data (``message_to_dict``) and rebuilt as
LangChain's message and generation types only: nothing else is ever instantiated from the store.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any

from agentcache.errors import missing_extra

try:
    from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
    from langchain_core.chat_history import BaseChatMessageHistory
    from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict
    from langchain_core.outputs import ChatGeneration, Generation
except ImportError as missing:
    raise missing_extra(__name__, "langchain", missing) from missing

from agentcache.encoding.expiry import TTL
from agentcache.errors import InvalidArgumentError
from agentcache.facade import AgentCache, AsyncAgentCache
from agentcache.integrations.bridge import awaited, called, checked_cache
from agentcache.tiers.content.messages import DataPart, Message

__all__ = ["LANGCHAIN_MODEL", "AgentCacheChatMessageHistory", "AgentCacheLLMCache"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
_SYNC_HINT = "use the async methods (ainvoke, aget_messages, aadd_messages, aclear)"


class AgentCacheChatMessageHistory(BaseChatMessageHistory):
    """A LangChain ``BaseChatMessageHistory`` stored as an agentcache conversation.

    ``agent_id``/``user_id`` own the conversation; ``settings`` are the conversation's (``timeout``,
    ``auto_renew``, ``max_duration``, ...), used when the history starts. A history that timed out
    starts again empty. Sync methods need an AgentCache; the async ones work with either facade.
    """

    def __init__(
        self,
        session_id: str,
        cache: AgentCache | AsyncAgentCache,
        *,
        agent_id: str = "langchain",
        user_id: str = "anonymous",
        **settings: Any,
    ) -> None:
        self.cache = checked_cache(cache)
        self.session_id = session_id
        self._log: Any = cache.conversations.log(session_id, agent_id=agent_id, user_id=user_id, **settings)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]  # LangChain declares an attribute
        """Every message, oldest first."""
        return _from_stored(called(self._log.read, hint=_SYNC_HINT))

    async def aget_messages(self) -> list[BaseMessage]:
        return _from_stored(await awaited(self._log.read))

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append messages, in order, atomically."""
        if messages:
            called(self._log.append, _to_stored(messages), hint=_SYNC_HINT)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        if messages:
            await awaited(self._log.append, _to_stored(messages))

    def clear(self) -> None:
        """Remove every message."""
        called(self._log.clear, hint=_SYNC_HINT)

    async def aclear(self) -> None:
        await awaited(self._log.clear)


def _to_stored(messages: Sequence[BaseMessage]) -> list[Message]:
    out = []
    for message in messages:
        if not isinstance(message, BaseMessage):
            raise InvalidArgumentError(f"messages must be LangChain messages, not {type(message).__name__}")
        role = _ROLES.get(message.type, "user")
        out.append(Message(role=role, parts=[DataPart(data=message_to_dict(message))]))  # type: ignore[arg-type]
    return out


def _from_stored(messages: list[Message]) -> list[BaseMessage]:
    data = [m.parts[0].data for m in messages if m.parts and isinstance(m.parts[0], DataPart)]
    return messages_from_dict(data)


# --- the LLM cache ----------------------------------------------------------------------------------

LANGCHAIN_MODEL = "langchain"
"""The model name LangChain's entries are filed under in the LLM tier: one TTL policy
(``cache.llm.set_policy("langchain", ...)``), one statistics line, and what ``clear()`` removes."""

_TEMPERATURE = re.compile(r"""["']temperature["']\s*[:,]\s*([0-9.]+)""")


class AgentCacheLLMCache(BaseCache):
    """A LangChain ``BaseCache`` (``set_llm_cache(AgentCacheLLMCache(cache))``) on agentcache's LLM tier.

    The key is the prompt and LangChain's ``llm_string`` (the model and its parameters), so every
    worker shares one entry per request. ``ttl`` is the entries' TTL (else the LLM tier's policy for
    ``"langchain"``, else the cache's ``llm_ttl``)."""

    def __init__(self, cache: AgentCache | AsyncAgentCache, *, ttl: TTL | None = None) -> None:
        self.cache = checked_cache(cache)
        self.ttl = ttl

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The cached generations of this prompt and model, or None."""
        return _generations(called(self.cache.llm.check, _request(prompt, llm_string), hint=_SYNC_HINT))

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        return _generations(await awaited(self.cache.llm.check, _request(prompt, llm_string)))

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store the generations of this prompt and model."""
        called(self.cache.llm.store, _request(prompt, llm_string), _stored(return_val), ttl=self.ttl, hint=_SYNC_HINT)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        await awaited(self.cache.llm.store, _request(prompt, llm_string), _stored(return_val), ttl=self.ttl)

    def clear(self, **kwargs: Any) -> None:
        """Remove every LangChain entry (a walk of the keyspace)."""
        called(self.cache.llm.invalidate_model, LANGCHAIN_MODEL, hint=_SYNC_HINT)

    async def aclear(self, **kwargs: Any) -> None:
        await awaited(self.cache.llm.invalidate_model, LANGCHAIN_MODEL)


def _request(prompt: str, llm_string: str) -> dict[str, Any]:
    if not isinstance(prompt, str) or not isinstance(llm_string, str):
        raise InvalidArgumentError("prompt and llm_string must be str")
    request: dict[str, Any] = {"model": LANGCHAIN_MODEL, "llm": llm_string, "prompt": prompt}
    found = _TEMPERATURE.search(llm_string)
    if found:  # so the LLM tier's rule for sampled requests (llm_cache_sampled) sees it
        with contextlib.suppress(ValueError):
            request["temperature"] = float(found.group(1))
    return request


def _stored(generations: RETURN_VAL_TYPE) -> list[dict[str, Any]]:
    out = []
    for g in generations:
        if not isinstance(g, Generation):
            raise InvalidArgumentError(f"return_val must hold LangChain generations, not {type(g).__name__}")
        message = message_to_dict(g.message) if isinstance(g, ChatGeneration) else None
        out.append({"text": g.text, "info": g.generation_info, "message": message})
    return out


def _generations(result: Any) -> RETURN_VAL_TYPE | None:
    if not result.hit:
        return None
    generations: list[Generation] = []
    for g in result.response:
        if g.get("message") is not None:
            message = messages_from_dict([g["message"]])[0]
            generations.append(ChatGeneration(message=message, generation_info=g.get("info")))
        else:
            generations.append(Generation(text=g["text"], generation_info=g.get("info")))
    return generations
