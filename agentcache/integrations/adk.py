"""Google ADK session service on agentcache: ``AgentCacheSessionService`` (extra ``adk``).

What maps to what:

- a session (app, user, session id) is a conversation owned by agent ``app`` and user ``user``,
  whose messages are the session's events (each kept as ADK's own JSON) and whose lifecycle
  (inactivity timeout, renewal, max duration) is the conversation tier's;
- its state is the session tier's thread of the same id, one field per key;
- ``app:`` keys live in the thread ``adk-app/<app>`` and ``user:`` keys in ``adk-user/<app>/<user>``,
  shared by every session of that app or user; ``temp:`` keys are never stored.

Ids are made of the percent-escaped names (``adk/<app>/<user>/<session>``), so no two sessions,
apps or users share a thread whatever their names.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import quote, unquote

from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events.event import Event
from google.adk.sessions import _session_util
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig, ListSessionsResponse
from google.adk.sessions.session import Session
from google.adk.sessions.state import State

from agentcache.errors import InvalidArgumentError, SessionExists, SessionExpired, SessionNotFound
from agentcache.facade import AgentCache, AsyncAgentCache
from agentcache.integrations.bridge import awaited, checked_cache
from agentcache.tiers.conversations.messages import DataPart, Message

__all__ = ["AgentCacheSessionService"]

_PAGE = 500
_OPEN_LOGS = 1024


def _q(name: object, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"{what} must be a non-empty str, not {name!r}")
    return quote(name, safe="")


def session_thread(app_name: str, user_id: str, session_id: str) -> str:
    """The conversation id and session-tier thread of one ADK session."""
    return f"adk/{_q(app_name, 'app_name')}/{_q(user_id, 'user_id')}/{_q(session_id, 'session_id')}"


def app_thread(app_name: str) -> str:
    return f"adk-app/{_q(app_name, 'app_name')}"


def user_thread(app_name: str, user_id: str) -> str:
    return f"adk-user/{_q(app_name, 'app_name')}/{_q(user_id, 'user_id')}"


class AgentCacheSessionService(BaseSessionService):
    """An ADK ``BaseSessionService`` on agentcache's conversation and session tiers.

    ``settings`` are the conversations' (``timeout``, ``auto_renew``, ``max_duration``, ...): a session
    that timed out is gone for ``get_session`` and ``list_sessions``. State fields take the cache's
    ``session_ttl`` (sliding on read) unless ``state_ttl`` is given (``NO_EXPIRY``: never expire).
    Works with either facade (an AgentCache's calls run in a worker thread).
    """

    def __init__(self, cache: AgentCache | AsyncAgentCache, *, state_ttl: Any = None, **settings: Any) -> None:
        checked_cache(cache)
        self.cache = cache
        self.state_ttl = state_ttl
        self.settings = settings
        self._logs: dict[str, Any] = {}  # open logs by thread, so an append is one round trip

    def _log(self, thread: str, app_name: str, user_id: str) -> Any:
        log = self._logs.pop(thread, None)
        if log is None:
            log = self.cache.conversations.log(thread, agent_id=app_name, user_id=user_id, **self.settings)
            if len(self._logs) >= _OPEN_LOGS:
                del self._logs[next(iter(self._logs))]  # the least recently used
        self._logs[thread] = log
        return log

    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        """Start a session (a new id unless given); ``AlreadyExistsError`` if that id is live."""
        session_id = session_id.strip() if session_id else str(uuid.uuid4())
        thread = session_thread(app_name, user_id, session_id)
        now = time.time()
        try:
            await awaited(
                self.cache.conversations.create,
                agent_id=app_name,
                user_id=user_id,
                session_id=thread,
                metadata={"adk_created": now},
                **self.settings,
            )
        except SessionExists:
            raise AlreadyExistsError(f"Session with id {session_id} already exists.") from None
        await awaited(self.cache.session.destroy_thread, thread)  # state left by an expired session of that id
        await self._save_state(app_name, user_id, thread, state or {})
        session = Session(id=session_id, app_name=app_name, user_id=user_id, state={}, last_update_time=now)
        return await self._merged(session, thread)

    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        """The session with its events (``config``: the newest ``num_recent_events``, those at or
        after ``after_timestamp``) and its state merged with the app's and the user's; None if it
        does not exist or timed out."""
        thread = session_thread(app_name, user_id, session_id.strip())
        try:
            conv = await awaited(self.cache.conversations.get, thread)
        except (SessionNotFound, SessionExpired):
            return None
        limit = config.num_recent_events if config else None
        messages = [] if limit == 0 else list(await awaited(conv.messages, limit))
        events = [Event.model_validate_json(m.parts[0].data["adk_event"]) for m in messages if _is_event(m)]
        if config and config.after_timestamp is not None:
            events = [e for e in events if e.timestamp >= config.after_timestamp]
        updated = events[-1].timestamp if events else float(conv.metadata.get("adk_created", 0.0))
        session = Session(
            id=session_id.strip(), app_name=app_name, user_id=user_id, events=events, last_update_time=updated
        )
        return await self._merged(session, thread)

    async def list_sessions(self, *, app_name: str, user_id: str | None = None) -> ListSessionsResponse:
        """The app's live sessions (of ``user_id`` if given), without events or state, oldest update first."""
        head = f"adk/{_q(app_name, 'app_name')}/"
        found: list[Session] = []
        cursor = None
        while True:
            page = await awaited(
                self.cache.conversations.list_active, agent_id=app_name, user_id=user_id, limit=_PAGE, cursor=cursor
            )
            for info in page:
                parts = info.id[len(head) :].split("/") if info.id.startswith(head) else []
                if len(parts) == 2 and unquote(parts[0]) == info.user_id:
                    found.append(
                        Session(
                            id=unquote(parts[1]),
                            app_name=app_name,
                            user_id=info.user_id,
                            last_update_time=info.last_activity.timestamp(),
                        )
                    )
            cursor = page.cursor
            if cursor is None:
                break
        found.sort(key=lambda s: (s.last_update_time, s.user_id, s.id))
        return ListSessionsResponse(sessions=found)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        """Remove the session: its events and its state (the app's and user's state stay)."""
        thread = session_thread(app_name, user_id, session_id.strip())
        self._logs.pop(thread, None)
        await awaited(self.cache.conversations.delete, thread)
        await awaited(self.cache.session.destroy_thread, thread)

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The user's state shared by their sessions of this app, keys without ``user:``."""
        return dict(await awaited(self.cache.session.get_all, user_thread(app_name, user_id)))

    async def append_event(self, session: Session, event: Event) -> Event:
        """Store the event (not a partial one) and its state changes, ``temp:`` keys excepted."""
        if event.partial:
            return event
        thread = session_thread(session.app_name, session.user_id, session.id)
        event = await super().append_event(session=session, event=event)  # temp: applied in memory, trimmed
        session.last_update_time = event.timestamp
        message = Message(
            role="user" if event.author == "user" else "assistant",
            parts=[DataPart(data={"adk_event": event.model_dump_json(exclude_none=True)})],
        )
        await awaited(self._log(thread, session.app_name, session.user_id).append, [message])
        if event.actions and event.actions.state_delta:
            await self._save_state(session.app_name, session.user_id, thread, event.actions.state_delta)
        return event

    # --- state in three threads

    async def _save_state(self, app_name: str, user_id: str, thread: str, state: dict[str, Any]) -> None:
        deltas = _session_util.extract_state_delta(state)  # drops temp:
        targets = [(app_thread(app_name), deltas["app"]), (user_thread(app_name, user_id), deltas["user"])]
        targets.append((thread, deltas["session"]))
        ttl = {} if self.state_ttl is None else {"ttl": self.state_ttl}
        await asyncio.gather(
            *(awaited(self.cache.session.set_many, where, values, **ttl) for where, values in targets if values)
        )

    async def _merged(self, session: Session, thread: str) -> Session:
        own, app, user = await asyncio.gather(
            awaited(self.cache.session.get_all, thread),
            awaited(self.cache.session.get_all, app_thread(session.app_name)),
            awaited(self.cache.session.get_all, user_thread(session.app_name, session.user_id)),
        )
        state = dict(own)
        state.update({State.APP_PREFIX + k: v for k, v in app.items()})
        state.update({State.USER_PREFIX + k: v for k, v in user.items()})
        session.state = state
        return session


def _is_event(message: Message) -> bool:
    return bool(message.parts) and isinstance(message.parts[0], DataPart) and "adk_event" in message.parts[0].data
