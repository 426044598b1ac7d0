"""LlamaIndex chat store on agentcache: ``AgentCacheChatStore`` (extra ``llama-index``).

A ``BaseChatStore`` (``llama-index-core``) whose keys are conversations: ``ChatMemoryBuffer(chat_store=
AgentCacheChatStore(cache), chat_store_key=...)`` gives a chat engine or an agent a memory that every
worker shares, with the conversation tier's lifecycle (inactivity timeout renewed by every message,
maximum duration, listings by agent and user; a key that timed out starts again empty). Messages are
stored as the JSON data of LlamaIndex's ``ChatMessage`` and rebuilt as ``ChatMessage`` only.

``add_message``, ``get_messages`` and ``delete_last_message`` are one atomic round trip each once a
key is open. ``set_messages`` replaces the key's conversation whole: delete it, then create it with
the messages (marked as a replace's). When a create finds the key started again in between, by an
append it is deleted again and the create retried; by another replace, that replace came later and
stands. So a concurrent append or replace comes before or after it, never inside; it also starts the
key's lifecycle clock again. ``delete_message(key, idx)`` reads the history, then replaces it: a
message another worker appends to that key in between is lost.

Sync methods take an AgentCache. On an AsyncAgentCache the async ones run on its event loop, and
the sync ones LlamaIndex runs in a worker thread of that loop (``ChatMemoryBuffer.aget`` runs
``get_messages`` so) are sent to it; called anywhere else, they are refused with what to call instead.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any

import pydantic

from agentcache.errors import missing_extra

try:
    from llama_index.core.bridge.pydantic import Field, PrivateAttr
    from llama_index.core.llms import ChatMessage
    from llama_index.core.storage.chat_store.base import BaseChatStore
    from pydantic_core import PydanticSerializationError
except ImportError as missing:
    raise missing_extra(__name__, "llama-index", missing) from missing

from agentcache.errors import InvalidArgumentError, SessionExists, SessionExpired, SessionNotFound
from agentcache.facade import AgentCache, AsyncAgentCache
from agentcache.integrations.bridge import awaited, checked_cache
from agentcache.tiers.content.messages import DataPart, Message

__all__ = ["AgentCacheChatStore"]

_SYNC_HINT = "use the async methods (achat, aget_messages, async_add_message, aset_messages, ...)"
_ROLES = {"user": "user", "assistant": "assistant", "chatbot": "assistant", "model": "assistant"}
_ROLES |= {"system": "system", "developer": "system", "tool": "tool", "function": "tool"}
_TRIES = 5
_MARK = "llama_index_replaced"  # in the metadata of a conversation a replace started
_OPEN_LOGS = 1024
_PAGE = 500


class AgentCacheChatStore(BaseChatStore):
    """A LlamaIndex ``BaseChatStore`` on agentcache's conversation tier: one conversation per key.

    ``agent_id``/``user_id`` own the conversations it starts (``get_keys`` lists theirs);
    ``settings`` are the conversations' (``timeout``, ``auto_renew``, ``max_duration``, ...). The async
    methods work with either facade, the sync ones with an AgentCache (see the module for an
    AsyncAgentCache's).
    """

    agent_id: str = Field(default="llama-index", description="The agent that owns the conversations.")
    user_id: str = Field(default="anonymous", description="The user that owns the conversations.")
    _cache: AgentCache | AsyncAgentCache = PrivateAttr()
    _settings: dict[str, Any] = PrivateAttr(default_factory=dict)
    _logs: dict[str, Any] = PrivateAttr(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = PrivateAttr(default=None)

    def __init__(
        self,
        cache: AgentCache | AsyncAgentCache,
        *,
        agent_id: str = "llama-index",
        user_id: str = "anonymous",
        **settings: Any,
    ) -> None:
        checked_cache(cache)
        super().__init__(agent_id=agent_id, user_id=user_id)  # type: ignore[call-arg]  # this class's fields
        self._cache = cache
        self._settings = settings

    @classmethod
    def class_name(cls) -> str:
        return "AgentCacheChatStore"

    @property
    def cache(self) -> AgentCache | AsyncAgentCache:
        return self._cache

    def _log(self, key: str) -> Any:
        """The open log of ``key`` (kept, so an append is one round trip), least recently used dropped."""
        log = self._logs.pop(key, None)
        if log is None:
            log = self._cache.conversations.log(key, agent_id=self.agent_id, user_id=self.user_id, **self._settings)
            if len(self._logs) >= _OPEN_LOGS:
                del self._logs[next(iter(self._logs))]
        self._logs[key] = log
        return log

    def _sync(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A facade method called from a sync method: directly on an AgentCache. On an AsyncAgentCache,
        from a worker thread of the loop its async methods ran on (LlamaIndex runs sync methods so,
        e.g. ``ChatMemoryBuffer.aget``), on that loop; anywhere else, refused."""
        if not inspect.iscoroutinefunction(method):
            return method(*args, **kwargs)
        loop = self._loop
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if loop is not None and loop.is_running():
                return asyncio.run_coroutine_threadsafe(method(*args, **kwargs), loop).result()
        raise InvalidArgumentError(f"this adapter wraps an AsyncAgentCache: {_SYNC_HINT}, or give it an AgentCache")

    async def _async(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._loop = asyncio.get_running_loop()
        return await awaited(method, *args, **kwargs)

    # --- sync (an AgentCache)

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the key's history with ``messages`` (all or nothing)."""
        self._replace(key, _to_stored(messages))

    def get_messages(self, key: str) -> list[ChatMessage]:
        """The key's history, oldest first (empty if it has none)."""
        return _from_stored(self._sync(self._log(key).read))

    def add_message(self, key: str, message: ChatMessage) -> None:
        """Append one message."""
        self._sync(self._log(key).append, _to_stored([message]))

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Remove the key (its conversation) and return its messages; None if there was none."""
        messages = self.get_messages(key)
        self._logs.pop(key, None)
        existed = self._sync(self._cache.conversations.delete, key)
        return messages if existed else None

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Remove and return message ``idx`` (negative counts from the end); None if out of range."""
        _check_idx(idx)
        stored: list[Message] = self._sync(self._log(key).read)
        if not -len(stored) <= idx < len(stored):
            return None
        removed = stored.pop(idx)
        self._replace(key, stored)
        return _from_stored([removed])[0]

    def delete_last_message(self, key: str) -> ChatMessage | None:
        """Remove and return the newest message (None if there is none), atomically."""
        message = self._sync(self._log(key).pop)
        return None if message is None else _from_stored([message])[0]

    def get_keys(self) -> list[str]:
        """The live keys this store's owner (``agent_id``, ``user_id``) has."""
        keys, cursor = [], None
        while True:
            page = self._sync(self._cache.conversations.list_active, **self._listing(cursor))
            keys += [info.id for info in page]
            cursor = page.cursor
            if cursor is None:
                return keys

    def _listing(self, cursor: str | None) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "user_id": self.user_id, "limit": _PAGE, "cursor": cursor}

    def _replace(self, key: str, stored: list[Message]) -> None:
        for _ in range(_TRIES):
            self._sync(self._cache.conversations.delete, key)
            try:
                self._sync(self._cache.conversations.create, **self._create_args(key, stored))
            except SessionExists:
                try:
                    if _MARK in self._sync(self._cache.conversations.get, key).metadata:
                        return  # another replace started it after our delete: ours came first, and is gone
                except (SessionNotFound, SessionExpired):
                    pass
                continue  # an append started it in between: it goes, as a write before ours
            self._logs.pop(key, None)
            return
        raise SessionExists(f"chat {key!r} kept being written while it was being replaced; try again")

    def _create_args(self, key: str, stored: list[Message]) -> dict[str, Any]:
        metadata = {**(self._settings.get("metadata") or {}), _MARK: True}
        start = {"session_id": key, "agent_id": self.agent_id, "user_id": self.user_id, "messages": stored}
        return start | self._settings | {"metadata": metadata}

    # --- async (either facade)

    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        await self._areplace(key, _to_stored(messages))

    async def aget_messages(self, key: str) -> list[ChatMessage]:
        return _from_stored(await self._async(self._log(key).read))

    async def async_add_message(self, key: str, message: ChatMessage) -> None:
        await self._async(self._log(key).append, _to_stored([message]))

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        messages = await self.aget_messages(key)
        self._logs.pop(key, None)
        existed = await self._async(self._cache.conversations.delete, key)
        return messages if existed else None

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        _check_idx(idx)
        stored: list[Message] = await self._async(self._log(key).read)
        if not -len(stored) <= idx < len(stored):
            return None
        removed = stored.pop(idx)
        await self._areplace(key, stored)
        return _from_stored([removed])[0]

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        message = await self._async(self._log(key).pop)
        return None if message is None else _from_stored([message])[0]

    async def aget_keys(self) -> list[str]:
        keys, cursor = [], None
        while True:
            page = await self._async(self._cache.conversations.list_active, **self._listing(cursor))
            keys += [info.id for info in page]
            cursor = page.cursor
            if cursor is None:
                return keys

    async def _areplace(self, key: str, stored: list[Message]) -> None:
        for _ in range(_TRIES):
            await self._async(self._cache.conversations.delete, key)
            try:
                await self._async(self._cache.conversations.create, **self._create_args(key, stored))
            except SessionExists:
                try:
                    if _MARK in (await self._async(self._cache.conversations.get, key)).metadata:
                        return
                except (SessionNotFound, SessionExpired):
                    pass
                continue
            self._logs.pop(key, None)
            return
        raise SessionExists(f"chat {key!r} kept being written while it was being replaced; try again")


def _check_idx(idx: object) -> None:
    if not isinstance(idx, int) or isinstance(idx, bool):
        raise InvalidArgumentError(f"idx must be an int, not {type(idx).__name__}")


def _to_stored(messages: Sequence[ChatMessage]) -> list[Message]:
    if isinstance(messages, ChatMessage) or not isinstance(messages, Sequence):
        raise InvalidArgumentError("messages must be a list of LlamaIndex ChatMessage")
    out = []
    for message in messages:
        if not isinstance(message, ChatMessage):
            raise InvalidArgumentError(f"messages must be LlamaIndex ChatMessage, not {type(message).__name__}")
        try:
            data = message.model_dump(mode="json")
        except (PydanticSerializationError, ValueError, TypeError) as exc:
            raise InvalidArgumentError(f"this ChatMessage cannot be stored as JSON: {exc}") from exc
        role = _ROLES.get(str(data.get("role")), "user")
        out.append(Message(role=role, parts=[DataPart(data=data)]))  # type: ignore[arg-type]
    return out


def _from_stored(messages: list[Message]) -> list[ChatMessage]:
    data = [m.parts[0].data for m in messages if m.parts and isinstance(m.parts[0], DataPart)]
    if len(data) != len(messages):
        raise InvalidArgumentError("this conversation holds messages that are not LlamaIndex ChatMessages")
    try:
        return [ChatMessage.model_validate_json(json.dumps(d)) for d in data]
    except pydantic.ValidationError as exc:
        raise InvalidArgumentError(
            f"this conversation holds messages that are not LlamaIndex ChatMessages: {exc}"
        ) from exc
