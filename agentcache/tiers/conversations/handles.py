"""The handles: ``cache.conversations`` (:class:`ConversationTier`), one conversation
(:class:`Conversation`) and its state (:class:`ConversationState`). They hold no logic: they
bind the operations to the cache's executor and build a handle from what an operation returns."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol, overload

from agentcache.core.binding import Bound, E, opening, operation
from agentcache.encoding.keys import check_name

if TYPE_CHECKING:  # for the types of from_dict only: a tier never runs an executor itself
    from agentcache.core.executors import AsyncExecutor, SyncExecutor
from agentcache.tiers.content.messages import Message
from agentcache.tiers.conversations.agents import agent_config, configure_agent
from agentcache.tiers.conversations.compaction import compact
from agentcache.tiers.conversations.context import context
from agentcache.tiers.conversations.index import expiring, list_active
from agentcache.tiers.conversations.lifecycle import Lifecycle
from agentcache.tiers.conversations.logs import Log, append, clear_log, pop, read, read_tail, replace_all, replace_tail
from agentcache.tiers.conversations.ops import (
    add_message,
    add_messages,
    clear,
    create,
    delete,
    delete_conversation,
    end,
    fork,
    get,
    heartbeat,
    info,
    length,
    messages,
    pop_last,
    renew,
    restore,
    to_dict,
    update_timeout,
)
from agentcache.tiers.conversations.posting import post_message
from agentcache.tiers.conversations.refs import Opened, Ref, Tier
from agentcache.tiers.conversations.state import ConversationState
from agentcache.tiers.conversations.turns import TurnOptions, json_, signature_of, streamed
from agentcache.tiers.conversations.turns import run as run_turn
from agentcache.tiers.settings import Settings


class _SyncCache(Protocol):
    @property
    def conversations(self) -> ConversationTier[SyncExecutor]: ...


class _AsyncCache(Protocol):
    @property
    def conversations(self) -> ConversationTier[AsyncExecutor]: ...


class _Opens(Bound[E]):
    """A handle whose operations can open conversations (``create``, ``fork``...)."""

    def _open(self, opened: Opened) -> Conversation[E]:
        """The handle on a conversation an operation opened, on this handle's executor."""
        return Conversation(self._executor, opened.ref, opened.system, opened.metadata)


class Conversation(_Opens[E]):
    """A handle on one conversation. Holds no history: every call reads or writes the server.

    On :class:`~agentcache.AsyncAgentCache` every method is awaited. ``len(conv)`` works on the sync
    facade; on either, ``conv.length()`` does the same.
    """

    TIER = "conversations"

    def __init__(self, executor: E, ref: Ref, system: str | None, metadata: dict[str, Any]) -> None:
        Bound.__init__(self, executor, ref.tier.settings)
        self._ref = ref
        self.id = ref.id
        """The session id; also the thread id of :attr:`state`."""
        self.agent_id = ref.agent_id
        self.user_id = ref.user_id
        self.system = system
        """The system prompt it was created with, or None."""
        self.metadata = metadata
        """The metadata it was created with (a copy; changing it changes nothing stored)."""
        self.state: ConversationState[E] = ConversationState(executor, ref.tier.settings, ref.id)
        """The session tier bound to this conversation's id (see :class:`ConversationState`)."""

    def _context(self) -> Ref:
        return self._ref

    add_message = operation(add_message)
    add_messages = operation(add_messages)
    post_message = operation(post_message)
    messages = operation(messages, reads=True)
    length = operation(length, reads=True)
    clear = operation(clear)
    pop_last = operation(pop_last)
    info = operation(info, reads=True)
    heartbeat = operation(heartbeat)
    renew = operation(renew)
    update_timeout = operation(update_timeout)
    end = operation(end)
    delete = operation(delete_conversation)
    fork = opening(fork, _Opens._open)
    to_dict = operation(to_dict, reads=True)
    context = operation(context, reads=True)
    compact = operation(compact)
    run = operation(run_turn)
    json = operation(json_)

    @signature_of(run_turn)  # the operation: in this class body, ``run`` is the descriptor above
    def stream(self, prompt: str | Message, **options: Any) -> Any:
        """:meth:`run`, streamed: yields ``TextDelta`` events as the reply comes, a ``ToolCallEvent``
        per tool the model asks for, and ``Done`` (with the :class:`TurnResult`) once the turn is
        stored. A cached response replays its stream. Leaving early, a failure or a cut stream add
        nothing. An iterator on AgentCache; ``async for`` on AsyncAgentCache. Takes :meth:`run`'s
        arguments."""
        return self._executor.stream(streamed(self._ref, prompt, TurnOptions.from_keywords(options)))

    def __len__(self) -> int:
        """The history's length (sync facade only: on the async one, ``await conv.length()``)."""
        if self.asynchronous:
            raise TypeError("len() cannot wait for the server on AsyncAgentCache; use 'await conv.length()'")
        count: Any = self._executor.run(length(self._ref))  # a SyncExecutor's: the count itself
        return int(count)

    @overload
    @classmethod
    def from_dict(
        cls, data: dict[str, Any], cache: _SyncCache, session_id: str | None = None
    ) -> Conversation[SyncExecutor]: ...
    @overload
    @classmethod
    def from_dict(
        cls, data: dict[str, Any], cache: _AsyncCache, session_id: str | None = None
    ) -> Coroutine[Any, Any, Conversation[AsyncExecutor]]: ...
    @classmethod
    def from_dict(cls, data: dict[str, Any], cache: Any, session_id: str | None = None) -> Any:
        """Restore a snapshot (:meth:`to_dict`) into ``cache`` as a live conversation.

        Same as ``cache.conversations.restore(data)``: on an AsyncAgentCache it returns an awaitable
        (``conv = await Conversation.from_dict(data, acache)``)."""
        return cache.conversations.restore(data, session_id)

    def __repr__(self) -> str:
        return f"<Conversation id={self.id!r} agent_id={self.agent_id!r} user_id={self.user_id!r}>"


class ConversationLog(Bound[E]):
    """A conversation used as a plain log (``cache.conversations.log``): opened on first use,
    started when it does not exist, started again, empty, after it timed out or was ended."""

    TIER = "conversations"

    def __init__(self, executor: E, log: Log) -> None:
        Bound.__init__(self, executor, log.tier.settings)
        self._log = log
        self.session_id = log.session_id

    def _context(self) -> Log:
        return self._log

    append = operation(append)
    read = operation(read, reads=True)
    pop = operation(pop)
    clear = operation(clear_log)
    read_tail = operation(read_tail, reads=True)
    replace_tail = operation(replace_tail)
    replace_all = operation(replace_all)


class ConversationTier(_Opens[E]):
    """``cache.conversations``: create, find, list and configure conversations."""

    TIER = "conversations"

    def __init__(self, executor: E, settings: Settings, lifecycle: Lifecycle) -> None:
        Bound.__init__(self, executor, settings)
        self.lifecycle = lifecycle
        """The limits in force (from ConversationConfig, the environment, or the built-in defaults)."""
        self._tier = Tier(settings, lifecycle)

    def _context(self) -> Tier:
        return self._tier

    create = opening(create, _Opens._open)
    get = opening(get, _Opens._open, reads=True)
    restore = opening(restore, _Opens._open)
    delete = operation(delete)
    list_active = operation(list_active, reads=True)
    expiring = operation(expiring, reads=True)
    configure_agent = operation(configure_agent)
    agent_config = operation(agent_config, reads=True)

    def log(self, session_id: str, *, agent_id: str, user_id: str, **settings: Any) -> ConversationLog[E]:
        """The conversation ``session_id`` as a plain log of messages (what the framework adapters
        store in): ``append``, ``read(limit)``, ``pop``, ``clear``. It is started, with ``agent_id``,
        ``user_id`` and ``settings`` (``create``'s: timeout, auto_renew, max_duration, system,
        metadata, ...), on the first append when it is not live; reading a missing or expired log
        gives nothing. No I/O here."""
        check_name(session_id, "session_id")
        start = {"agent_id": agent_id, "user_id": user_id, **settings}
        return ConversationLog(self._executor, Log(self._tier, session_id, start))
