"""Pydantic AI message history on agentcache: ``AgentCacheMessageHistory`` (extra ``pydantic-ai``).

Pydantic AI leaves keeping a history to the caller: ``agent.run(prompt, message_history=...)`` takes
it, ``result.new_messages()`` is what the run added. This keeps that list as a conversation
(``<prefix>:conv:{<session>}:...``, one hash tag, so it works on Valkey Cluster), so a run in another
process continues it. Each message is stored as the JSON form of Pydantic AI's own type adapter
(``ModelMessagesTypeAdapter``) and read back through it only: nothing else is instantiated from the
store. The history has the conversation tier's lifecycle (inactivity timeout renewed by every run,
maximum duration, listings); one that timed out starts again empty.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pydantic

from agentcache.errors import missing_extra

try:
    from pydantic_ai import Agent, AgentRunResult
    from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelRequest, ModelResponse
except ImportError as missing:
    raise missing_extra(__name__, "pydantic-ai", missing) from missing

from agentcache.errors import InvalidArgumentError
from agentcache.facade import AgentCache, AsyncAgentCache
from agentcache.integrations.bridge import awaited, called, checked_cache
from agentcache.tiers.content.messages import DataPart, Message

__all__ = ["AgentCacheMessageHistory"]

_SYNC_HINT = "use the async methods (run, amessages, aadd, aclear)"
_TOOL_PARTS = {"tool-return", "retry-prompt"}


class AgentCacheMessageHistory:
    """A Pydantic AI message history stored as an agentcache conversation.

    ``agent_id``/``user_id`` own the conversation (they index ``cache.conversations.list_active``);
    ``settings`` are the conversation's (``timeout``, ``auto_renew``, ``max_duration``, ...), used when
    it starts. ``run``/``run_sync`` do the whole turn: read the history, run the agent with it, append
    ``result.new_messages()``. Sync methods need an AgentCache; the async ones work with either facade
    (an AgentCache's calls run in a worker thread).
    """

    def __init__(
        self,
        session_id: str,
        cache: AgentCache | AsyncAgentCache,
        *,
        agent_id: str = "pydantic-ai",
        user_id: str = "anonymous",
        **settings: Any,
    ) -> None:
        self.cache = checked_cache(cache)
        self.session_id = session_id
        self._log: Any = cache.conversations.log(session_id, agent_id=agent_id, user_id=user_id, **settings)

    def messages(self, limit: int | None = None) -> list[ModelMessage]:
        """The history, oldest first (the newest ``limit`` messages if given): ``message_history=``."""
        return _from_stored(called(self._log.read, limit, hint=_SYNC_HINT))

    async def amessages(self, limit: int | None = None) -> list[ModelMessage]:
        return _from_stored(await awaited(self._log.read, limit))

    def add(self, messages: Sequence[ModelMessage]) -> None:
        """Append messages (a run's ``new_messages()``), in order, atomically: one round trip once open."""
        if messages:
            called(self._log.append, _to_stored(messages), hint=_SYNC_HINT)

    async def aadd(self, messages: Sequence[ModelMessage]) -> None:
        if messages:
            await awaited(self._log.append, _to_stored(messages))

    def clear(self) -> None:
        """Remove every message (the conversation, its owner and its settings stay)."""
        called(self._log.clear, hint=_SYNC_HINT)

    async def aclear(self) -> None:
        await awaited(self._log.clear)

    async def run(
        self, agent: Agent[Any, Any], user_prompt: Any = None, *, limit: int | None = None, **kwargs: Any
    ) -> AgentRunResult[Any]:
        """``agent.run(user_prompt, message_history=<this history>, **kwargs)``, then append what it added.
        ``limit``: send only the newest ``limit`` messages (the stored history keeps them all)."""
        result = await agent.run(user_prompt, message_history=await self.amessages(limit), **kwargs)
        await self.aadd(result.new_messages())
        return result

    def run_sync(
        self, agent: Agent[Any, Any], user_prompt: Any = None, *, limit: int | None = None, **kwargs: Any
    ) -> AgentRunResult[Any]:
        """``run`` for synchronous code (``agent.run_sync``); needs an AgentCache."""
        history = self.messages(limit)
        result = agent.run_sync(user_prompt, message_history=history, **kwargs)
        self.add(result.new_messages())
        return result


def _role(message: ModelRequest | ModelResponse) -> str:
    if isinstance(message, ModelResponse):
        return "assistant"
    kinds = {part.part_kind for part in message.parts}
    if kinds and kinds <= _TOOL_PARTS:
        return "tool"
    return "system" if kinds == {"system-prompt"} else "user"


def _to_stored(messages: Sequence[ModelMessage]) -> list[Message]:
    if isinstance(messages, ModelRequest | ModelResponse) or not isinstance(messages, Sequence):
        raise InvalidArgumentError("messages must be a list of Pydantic AI messages (e.g. result.new_messages())")
    for message in messages:
        if not isinstance(message, ModelRequest | ModelResponse):
            raise InvalidArgumentError(
                f"messages must be Pydantic AI messages (ModelRequest, ModelResponse), not {type(message).__name__}"
            )
    data = ModelMessagesTypeAdapter.dump_python(list(messages), mode="json")
    return [
        Message(role=_role(m), parts=[DataPart(data=d)])  # type: ignore[arg-type]
        for m, d in zip(messages, data, strict=True)
    ]


def _from_stored(messages: list[Message]) -> list[ModelMessage]:
    data = [m.parts[0].data for m in messages if m.parts and isinstance(m.parts[0], DataPart)]
    if len(data) != len(messages):
        raise InvalidArgumentError("this conversation holds messages that are not Pydantic AI messages")
    try:  # JSON mode, as the data was dumped: bytes come back from their base64
        return ModelMessagesTypeAdapter.validate_json(json.dumps(data))
    except pydantic.ValidationError as exc:
        raise InvalidArgumentError(
            f"this conversation holds messages that are not Pydantic AI messages: {exc}"
        ) from exc
