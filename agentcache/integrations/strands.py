"""Strands Agents sessions on agentcache: ``AgentCacheSessionManager`` and the ``SessionRepository``
under it, ``AgentCacheSessionRepository`` (extra ``strands``).

What maps to what:

- a Strands session is the conversation of the same id, owned by ``app_id`` and ``user_id``: the
  conversation tier's lifecycle (an inactivity timeout that every message renews, a maximum
  duration, listings by owner) is the session's; a session that timed out reads as missing, so the
  session manager starts it again, empty;
- the messages of every agent in the session are that conversation's messages, in the order they
  were stored, each the ``SessionMessage``'s own dict beside its agent's id; ``update_message`` (a
  guardrail's redaction) appends a revision of that message, which reading applies in its place;
- agent records and multi-agent state are fields of the conversation's state (the session tier's
  thread of the same id, so one hash tag, one slot): ``strands/agent/<agent id>`` and
  ``strands/multi_agent/<id>``, with the session tier's sliding TTL (``state_ttl``). They go with
  the conversation when it is deleted or started again. Being cache entries, they can expire while
  the agent runs: ``update_agent`` then stores the record anew (Strands' file repository raises), and
  the session manager gives an agent whose record expired a new one, so its history is restored.

Strands calls its repository synchronously, so this needs an AgentCache (not an AsyncAgentCache).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentcache.errors import missing_extra

try:
    from strands.session.repository_session_manager import RepositorySessionManager
    from strands.session.session_repository import SessionRepository
    from strands.types.exceptions import SessionException
    from strands.types.session import Session, SessionAgent, SessionMessage, SessionType
except ImportError as missing:
    raise missing_extra(__name__, "strands", missing) from missing

from agentcache.encoding.expiry import TTL
from agentcache.errors import InvalidArgumentError, SessionExists, SessionExpired, SessionNotFound
from agentcache.facade import AgentCache, AsyncAgentCache
from agentcache.integrations.bridge import checked_cache
from agentcache.tiers.content.messages import DataPart, Message, Role

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase
    from strands.types.agent import LocalAgent

__all__ = ["AgentCacheSessionManager", "AgentCacheSessionRepository"]

_OPEN_LOGS = 1024
_AGENT = "strands/agent/"
_MULTI = "strands/multi_agent/"


class _SessionTaken(SessionException):
    """create_session found the id live: another worker started that session first."""


class AgentCacheSessionRepository(SessionRepository):
    """A Strands ``SessionRepository`` on agentcache's conversation and session tiers.

    ``app_id``/``user_id`` own the sessions' conversations (``cache.conversations.list_active``);
    ``settings`` are the conversations' (``timeout``, ``auto_renew``, ``max_duration``, ...). Agent
    records and multi-agent state take the cache's ``session_ttl`` (sliding on read) unless
    ``state_ttl`` is given (``NO_EXPIRY``: never expire).
    """

    def __init__(
        self,
        cache: AgentCache,
        *,
        app_id: str = "strands",
        user_id: str = "anonymous",
        state_ttl: TTL | None = None,
        **settings: Any,
    ) -> None:
        if isinstance(checked_cache(cache), AsyncAgentCache):
            raise InvalidArgumentError(
                "Strands calls its session repository synchronously: give it an AgentCache, not an AsyncAgentCache"
            )
        self.cache: AgentCache = cache
        self.app_id = app_id
        self.user_id = user_id
        self.state_ttl = state_ttl
        self.settings = settings
        self._logs: dict[str, Any] = {}  # open logs by session, so an append is one round trip

    def _log(self, session_id: str) -> Any:
        log = self._logs.pop(session_id, None)
        if log is None:
            log = self.cache.conversations.log(session_id, agent_id=self.app_id, user_id=self.user_id, **self.settings)
            if len(self._logs) >= _OPEN_LOGS:
                del self._logs[next(iter(self._logs))]  # the least recently used
        self._logs[session_id] = log
        return log

    # --- sessions

    def create_session(self, session: Session, **kwargs: Any) -> Session:
        """Start the session's conversation; SessionException if that id is live."""
        try:
            self.cache.conversations.create(
                session_id=session.session_id,
                agent_id=self.app_id,
                user_id=self.user_id,
                metadata={"strands_session": session.to_dict()},
                **self.settings,
            )
        except SessionExists:
            raise _SessionTaken(f"Session {session.session_id} already exists") from None
        self._logs.pop(session.session_id, None)
        return session

    def read_session(self, session_id: str, **kwargs: Any) -> Session | None:
        """The session, or None if its conversation does not exist or timed out."""
        try:
            conv = self.cache.conversations.get(session_id)
        except (SessionNotFound, SessionExpired):
            return None
        stored = conv.metadata.get("strands_session")
        return Session.from_dict(stored) if stored else Session(session_id=session_id, session_type=SessionType.AGENT)

    def delete_session(self, session_id: str, **kwargs: Any) -> None:
        """Remove the session: its messages, agents and multi-agent state."""
        self._logs.pop(session_id, None)
        if not self.cache.conversations.delete(session_id):
            raise SessionException(f"Session {session_id} does not exist")

    # --- agents

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        self._set(session_id, _AGENT + _name(session_agent.agent_id, "agent_id"), session_agent.to_dict())

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        stored = self.cache.session.get(session_id, _AGENT + _name(agent_id, "agent_id"))
        return None if stored is None else SessionAgent.from_dict(stored)

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Replace the agent's record, keeping its ``created_at``. A record that is gone (its TTL ran
        out, or its session timed out and an append started it again) is stored anew, where Strands'
        file repository raises: in a cache, records expire, and the agent carries on."""
        previous = self.read_agent(session_id, session_agent.agent_id)
        if previous is not None:
            session_agent.created_at = previous.created_at
        self.create_agent(session_id, session_agent)

    # --- messages

    def create_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        """Append the message to the session's conversation: one round trip once the session is open."""
        self._append(session_id, agent_id, "message", session_message)

    def read_message(self, session_id: str, agent_id: str, message_id: int, **kwargs: Any) -> SessionMessage | None:
        """The agent's message ``message_id`` (as last updated), or None."""
        _check_id(message_id)
        found = [m for m in self._messages(session_id, agent_id) if m.message_id == message_id]
        return found[-1] if found else None

    def update_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        """Store a new version of the message (keeping its ``created_at``); SessionException if it has none."""
        previous = self.read_message(session_id, agent_id, session_message.message_id)
        if previous is None:
            raise SessionException(f"Message {session_message.message_id} does not exist")
        session_message.created_at = previous.created_at
        self._append(session_id, agent_id, "revision", session_message)

    def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]:
        """The agent's messages in the order they were stored, from ``offset``, at most ``limit``."""
        messages = self._messages(session_id, agent_id)
        return messages[offset:] if limit is None else messages[offset : offset + limit]

    def _append(self, session_id: str, agent_id: str, kind: str, session_message: SessionMessage) -> None:
        _check_id(session_message.message_id)
        data = {"strands_agent": _name(agent_id, "agent_id"), kind: session_message.to_dict()}
        role: Role = "assistant" if session_message.message.get("role") == "assistant" else "user"
        self._log(session_id).append([Message(role=role, parts=[DataPart(data=data)])])

    def _messages(self, session_id: str, agent_id: str) -> list[SessionMessage]:
        """The agent's messages, each revision applied in place of the latest message of its id."""
        out: list[SessionMessage] = []
        for stored in self._log(session_id).read():
            data = stored.parts[0].data if stored.parts and isinstance(stored.parts[0], DataPart) else None
            if not isinstance(data, dict) or data.get("strands_agent") != agent_id:
                continue  # another agent's, or not a Strands message
            if "message" in data:
                out.append(SessionMessage.from_dict(data["message"]))
            elif "revision" in data:
                revised = SessionMessage.from_dict(data["revision"])
                at = [i for i, m in enumerate(out) if m.message_id == revised.message_id]
                if at:
                    out[at[-1]] = revised
        return out

    # --- multi-agent state

    def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        self._set(session_id, _MULTI + _name(multi_agent.id, "multi_agent.id"), multi_agent.serialize_state())

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        stored: dict[str, Any] | None = self.cache.session.get(session_id, _MULTI + _name(multi_agent_id, "id"))
        return stored

    def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """Replace the state (stored anew if it is gone, as ``update_agent``)."""
        self.create_multi_agent(session_id, multi_agent)

    def _set(self, session_id: str, field: str, value: dict[str, Any]) -> None:
        self.cache.session.set(session_id, field, value, ttl=self.state_ttl)


class AgentCacheSessionManager(RepositorySessionManager):
    """A Strands session manager on agentcache: ``Agent(session_manager=AgentCacheSessionManager(
    "chat-1", cache))``. Keywords are :class:`AgentCacheSessionRepository`'s. Two workers starting the
    same new session at once both get it (the second finds the first's); an agent whose record
    expired is restored with its history."""

    def __init__(
        self,
        session_id: str,
        cache: AgentCache,
        *,
        app_id: str = "strands",
        user_id: str = "anonymous",
        state_ttl: TTL | None = None,
        **settings: Any,
    ) -> None:
        repository = AgentCacheSessionRepository(cache, app_id=app_id, user_id=user_id, state_ttl=state_ttl, **settings)
        self.repository = repository
        try:
            super().__init__(session_id=session_id, session_repository=repository)
        except _SessionTaken:  # read None, then another worker created it: read it again
            super().__init__(session_id=session_id, session_repository=repository)

    def initialize(self, agent: LocalAgent, **kwargs: Any) -> None:
        """Restore the agent from the session. An agent whose record expired while its messages are
        still in the session gets a new record first, so Strands restores its history (not its state)."""
        agent_id = agent.agent_id
        repository = self.repository
        if (
            agent_id is not None
            and repository.read_agent(self.session_id, agent_id) is None
            and repository.list_messages(self.session_id, agent_id, limit=1)
        ):
            repository.create_agent(self.session_id, SessionAgent.from_agent(agent))
        super().initialize(agent, **kwargs)


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} must be a non-empty str, not {value!r}")
    return value


def _check_id(message_id: object) -> None:
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        raise InvalidArgumentError(f"message_id=<{message_id!r}> | message id must be an integer")
