"""OpenAI Agents SDK session on agentcache: ``AgentCacheSession`` (extra ``openai-agents``).

The session's items are the messages of a conversation (``<prefix>:conv:{<session>}:...``, one hash
tag, so it works on Valkey Cluster), each item kept exactly as the SDK gave it. The history gets the
conversation tier's lifecycle for free: an inactivity timeout that each run renews, a maximum
duration, and the expiry warnings and listings of ``cache.conversations``. A session that timed out
starts again empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentcache.errors import missing_extra

try:
    from agents.memory.session_settings import SessionSettings, coerce_session_settings, resolve_session_limit
except ImportError as missing:
    raise missing_extra(__name__, "openai-agents", missing) from missing

from agentcache.errors import InvalidArgumentError
from agentcache.facade import AgentCache, AsyncAgentCache
from agentcache.integrations.bridge import awaited, checked_cache
from agentcache.tiers.content.messages import DataPart, Message

try:  # the SDK's own backends' compaction hooks (private names: without them, compaction still works)
    from agents.memory.session import _await_mutation, _CompactionSnapshot
except ImportError:  # pragma: no cover - an SDK without them: get_items and clear_session + add_items
    _CompactionSnapshot = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from agents.items import TResponseInputItem

__all__ = ["AgentCacheSession"]

_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}


class AgentCacheSession:
    """An OpenAI Agents SDK ``Session`` stored as an agentcache conversation.

    ``agent_id`` and ``user_id`` own the conversation (they index ``cache.conversations.list_active``);
    ``session_settings`` (a ``SessionSettings`` or its dict, ``{"limit": 20}``) are the SDK's, as its
    own sessions take them (default ``SessionSettings()``); ``settings`` are the conversation's
    (``timeout``, ``auto_renew``, ``max_duration``, ...), used when the session starts. Works with
    either facade (an AgentCache's calls run in a worker thread; an AsyncAgentCache from any event
    loop, see docs/frameworks/openai-agents.md).
    """

    session_settings: SessionSettings | None  # as the SDK's Session protocol declares it; never None here

    def __init__(
        self,
        session_id: str,
        cache: AgentCache | AsyncAgentCache,
        *,
        agent_id: str = "openai-agents",
        user_id: str = "anonymous",
        session_settings: SessionSettings | dict[str, Any] | None = None,
        **settings: Any,
    ) -> None:
        checked_cache(cache)
        self.session_id = session_id
        self.session_settings = (
            SessionSettings() if session_settings is None else coerce_session_settings(session_settings)
        )
        self.cache = cache
        self._log: Any = cache.conversations.log(session_id, agent_id=agent_id, user_id=user_id, **settings)

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The history, oldest first: the latest ``limit`` items (else ``session_settings.limit``, else all)."""
        limit = resolve_session_limit(limit, self.session_settings)
        return [_item(m) for m in await awaited(self._log.read, limit)]

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append items, in order, atomically (one round trip once the session is open)."""
        if items:
            await awaited(self._log.append, [_message(item) for item in items])

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the newest item (None if the session is empty)."""
        message = await awaited(self._log.pop)
        return None if message is None else _item(message)

    async def clear_session(self) -> None:
        """Remove every item (the conversation, its owner and its settings stay)."""
        await awaited(self._log.clear)

    # The two hooks the SDK's OpenAIResponsesCompactionSession looks for on a backend (its SQLite
    # and Redis sessions have them): compaction reads the newest items and replaces them atomically.
    # A subclass that transforms items gets neither, as in the SDK, so they never bypass it.

    async def _get_compaction_snapshot(self, limit: int, *, prune_prefix: Callable[[Any], bool] | None = None) -> Any:
        """The newest ``limit`` items and an atomic replacement of a suffix of them, refused when
        the history changed since. With ``prune_prefix`` (the SDK's EncryptedSession passes one that
        is true for expired items), the replacement also removes the oldest items it is true for,
        up to the first it is not, as the SDK's SQLite session does."""
        if type(self) is not AgentCacheSession or _CompactionSnapshot is None or limit <= 0:
            return None
        read = await awaited(self._log.read_tail, limit)
        if read is None:
            return None
        log = self._log
        prune = None if prune_prefix is None else _pruning(prune_prefix)

        async def replace_suffix(start: int, output: list[TResponseInputItem]) -> bool:
            messages = [_message(item) for item in output]
            return bool(await _await_mutation(awaited(log.replace_tail, read, start, messages, prune)))

        return _CompactionSnapshot([_item(m) for m in read.messages], read.start == 0, replace_suffix)

    async def _atomic_replace_items(self, items: list[TResponseInputItem]) -> bool:
        """Replace the whole history by ``items`` in one script call (no clear-then-add gap)."""
        if type(self) is not AgentCacheSession:
            return False
        return bool(await awaited(self._log.replace_all, [_message(item) for item in items]))


def _pruning(prune_prefix: Callable[[Any], bool]) -> Callable[[Message], bool]:
    """``prune_prefix`` over stored messages: never true for one that is not an SDK item."""

    def prune(message: Message) -> bool:
        part = message.parts[0] if len(message.parts) == 1 else None
        return isinstance(part, DataPart) and bool(prune_prefix(part.data))

    return prune


def _message(item: Any) -> Message:
    if not isinstance(item, dict):
        raise InvalidArgumentError(f"session items are dicts (the SDK's input items), not {type(item).__name__}")
    role = _ROLES.get(item.get("role", ""), "tool" if str(item.get("type", "")).endswith("_output") else "assistant")
    return Message(role=role, parts=[DataPart(data=item)])  # type: ignore[arg-type]


def _item(message: Message) -> Any:
    part = message.parts[0] if message.parts else None
    if not isinstance(part, DataPart):
        raise InvalidArgumentError("this conversation holds messages that are not OpenAI Agents SDK items")
    return part.data
