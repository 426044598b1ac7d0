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

The service behaves as ADK's own ``InMemorySessionService`` where ADK's services agree, and as that
one where they do not (docs/frameworks/adk.md says where). A call that raises has stored nothing and left the
``Session`` object it was given as it was: every value is checked before the first write, and the
event, the first write, fails alone if the session is gone.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from agentcache.errors import missing_extra

try:
    from google.adk.errors.already_exists_error import AlreadyExistsError
    from google.adk.events.event import Event
    from google.adk.sessions import _session_util
    from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig, ListSessionsResponse
    from google.adk.sessions.session import Session
    from google.adk.sessions.state import State
except ImportError as missing:
    raise missing_extra(__name__, "adk", missing) from missing

from agentcache.encoding import codec
from agentcache.encoding.expiry import ttl_ms
from agentcache.encoding.keys import session_key
from agentcache.errors import InvalidArgumentError, SessionExists, SessionExpired, SessionNotFound
from agentcache.facade import AgentCache, AsyncAgentCache
from agentcache.integrations.bridge import awaited, checked_cache
from agentcache.tiers.content.messages import DataPart, Message
from agentcache.tiers.content.parts import USER_PART_PREFIX

try:
    from google.adk.errors.session_not_found_error import SessionNotFoundError
except ImportError:  # an ADK before the error existed: its services raised ValueError

    class SessionNotFoundError(ValueError):  # type: ignore[no-redef]
        """The session does not exist (ADK's own class where the installed ADK has one)."""


__all__ = ["AgentCacheSessionService", "SessionNotFoundError"]

T = TypeVar("T")
_PAGE = 500
_OPEN = 1024  # conversations kept open (LRU), so an append is one round trip
_AT_ONCE = 32  # sessions whose state list_sessions reads at the same time
_GONE = (SessionNotFound, SessionExpired)


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
    that timed out is gone for ``get_session``, ``list_sessions`` and ``append_event``. State fields
    take the cache's ``session_ttl`` (sliding on read) unless ``state_ttl`` is given (``NO_EXPIRY``:
    never expire). Works with either facade (an AgentCache's calls run in a worker thread).
    """

    def __init__(self, cache: AgentCache | AsyncAgentCache, *, state_ttl: Any = None, **settings: Any) -> None:
        checked_cache(cache)
        if state_ttl is not None:
            ttl_ms(state_ttl, "state_ttl")  # a bad TTL fails here, not halfway through a write
        self.cache = cache
        self.state_ttl = state_ttl
        self.settings = settings
        self._open: dict[str, Any] = {}  # open conversations by thread, least recently used first

    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        """Start a session (a new id unless given); ``AlreadyExistsError`` if that id is live. A
        state that cannot be stored raises before anything is."""
        session_id = (session_id.strip() if session_id else "") or str(uuid.uuid4())
        thread = session_thread(app_name, user_id, session_id)
        writes = self._checked_state(app_name, user_id, thread, state or {})
        now = time.time()
        try:
            conv = await awaited(
                self.cache.conversations.create,
                agent_id=app_name,
                user_id=user_id,
                session_id=thread,
                metadata={"adk_created": now},
                **self.settings,
            )
        except SessionExists:
            raise AlreadyExistsError(f"Session with id {session_id} already exists.") from None
        self._keep(thread, conv)
        await awaited(self.cache.session.destroy_thread, thread)  # state left by an expired session of that id
        await self._write_state(writes)
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
        session_id = session_id.strip()
        thread = session_thread(app_name, user_id, session_id)
        limit = config.num_recent_events if config else None
        try:
            conv = await self._conversation(thread)
            messages = list(await awaited(conv.messages, 1 if limit == 0 else limit))
        except _GONE:
            self._open.pop(thread, None)
            return None
        self._keep(thread, conv)
        events = _events(messages)
        updated = events[-1].timestamp if events else float(conv.metadata.get("adk_created", 0.0))
        if limit == 0:
            events = []  # the newest was read for last_update_time only
        if config and config.after_timestamp is not None:
            events = [e for e in events if e.timestamp >= config.after_timestamp]
        session = Session(id=session_id, app_name=app_name, user_id=user_id, events=events, last_update_time=updated)
        return await self._merged(session, thread)

    async def list_sessions(self, *, app_name: str, user_id: str | None = None) -> ListSessionsResponse:
        """The app's live sessions (of ``user_id`` if given) without their events, each with its state
        merged with the app's and its user's, oldest update first."""
        head = f"adk/{_q(app_name, 'app_name')}/"
        found: list[tuple[str, str]] = []  # (user, session id)
        cursor = None
        while True:
            page = await awaited(
                self.cache.conversations.list_active, agent_id=app_name, user_id=user_id, limit=_PAGE, cursor=cursor
            )
            for info in page:
                parts = info.id[len(head) :].split("/") if info.id.startswith(head) else []
                if len(parts) == 2 and unquote(parts[0]) == info.user_id:
                    found.append((info.user_id, unquote(parts[1])))
            cursor = page.cursor
            if cursor is None:
                break
        found = list(dict.fromkeys(found))  # a session renewed while paging can show up twice
        limit = asyncio.Semaphore(_AT_ONCE)
        users = list(dict.fromkeys(user for user, _ in found))
        app_state, user_states, sessions = await asyncio.gather(
            awaited(self.cache.session.get_all, app_thread(app_name)),
            _bounded(limit, [functools.partial(self._user_state, app_name, user) for user in users]),
            _bounded(limit, [functools.partial(self._listed, app_name, user, sid) for user, sid in found]),
        )
        shared = dict(zip(users, user_states, strict=True))
        listed = []
        for session in sessions:
            if session is not None:  # it ended while being listed
                session.state.update({State.APP_PREFIX + k: v for k, v in app_state.items()})
                session.state.update({State.USER_PREFIX + k: v for k, v in shared[session.user_id].items()})
                listed.append(session)
        listed.sort(key=lambda s: (s.last_update_time, s.user_id, s.id))
        return ListSessionsResponse(sessions=listed)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        """Remove the session: its events and its state (the app's and user's state stay). A session
        that does not exist is no error."""
        thread = session_thread(app_name, user_id, session_id.strip())
        self._open.pop(thread, None)
        await awaited(self.cache.conversations.delete, thread)
        await awaited(self.cache.session.destroy_thread, thread)

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The user's state shared by their sessions of this app, keys without ``user:``."""
        return await self._user_state(app_name, user_id)

    async def append_event(self, session: Session, event: Event) -> Event:
        """Store the event (not a partial one) and its state changes, ``temp:`` keys excepted, then
        apply it to ``session``. ``SessionNotFoundError`` if the session does not exist (deleted,
        timed out, never created): appending never starts one. A state value that cannot be stored
        raises before anything is written, and ``session`` and ``event`` are left as they were."""
        if event.partial:
            return event
        thread = session_thread(session.app_name, session.user_id, session.id)
        delta = event.actions.state_delta if event.actions else {}
        kept = {k: v for k, v in delta.items() if not k.startswith(State.TEMP_PREFIX)}
        stored = event
        if kept != delta:  # stored without temp: keys; the event itself is trimmed once stored
            stored = event.model_copy(update={"actions": event.actions.model_copy(update={"state_delta": kept})})
        writes = self._checked_state(session.app_name, session.user_id, thread, kept)
        message = Message(
            role="user" if event.author == "user" else "assistant",
            parts=[DataPart(data={"adk_event": stored.model_dump_json(exclude_none=True)})],
        )
        try:
            conv = await self._conversation(thread)
            await awaited(conv.add_messages, [message], attach_user_parts=False)
        except _GONE:
            self._open.pop(thread, None)
            raise SessionNotFoundError(f"Session {session.id} not found.") from None
        self._keep(thread, conv)
        await self._write_state(writes)
        event = await super().append_event(session=session, event=event)  # temp: applied, trimmed, appended
        session.last_update_time = event.timestamp
        return event

    # --- state in three threads

    def _checked_state(self, app_name: str, user_id: str, thread: str, state: dict[str, Any]) -> list[Any]:
        """The writes of ``state`` as ``(thread, values)``, each value checked as the session tier
        checks it (name, encoding, size) so that none of them fails once the first is sent."""
        deltas = _session_util.extract_state_delta(state)  # drops temp:
        targets = [(app_thread(app_name), deltas["app"]), (user_thread(app_name, user_id), deltas["user"])]
        targets.append((thread, deltas["session"]))
        s = self.cache.settings
        for where, values in targets:
            for field, value in values.items():
                if isinstance(field, str) and field.startswith(USER_PART_PREFIX):
                    raise InvalidArgumentError(
                        f"state key {field!r}: names starting with {USER_PART_PREFIX!r} are reserved"
                    )
                session_key(s.prefix, where, field)
                codec.encode(value, 0, s.max_value_bytes)
        return [(where, values) for where, values in targets if values]

    async def _write_state(self, writes: list[Any]) -> None:
        ttl = {} if self.state_ttl is None else {"ttl": self.state_ttl}
        await asyncio.gather(*(awaited(self.cache.session.set_many, where, values, **ttl) for where, values in writes))

    async def _user_state(self, app_name: str, user_id: str) -> dict[str, Any]:
        return dict(await awaited(self.cache.session.get_all, user_thread(app_name, user_id)))

    async def _listed(self, app_name: str, user_id: str, session_id: str) -> Session | None:
        """A session as list_sessions gives it: no events, its own state, its last update."""
        thread = session_thread(app_name, user_id, session_id)
        try:
            conv = await awaited(self.cache.conversations.get, thread)
            newest, own = await asyncio.gather(awaited(conv.messages, 1), awaited(self.cache.session.get_all, thread))
        except _GONE:
            return None
        events = _events(newest)
        updated = events[-1].timestamp if events else float(conv.metadata.get("adk_created", 0.0))
        return Session(id=session_id, app_name=app_name, user_id=user_id, state=dict(own), last_update_time=updated)

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

    async def _conversation(self, thread: str) -> Any:
        """The open conversation of ``thread`` (one round trip to open it if it is not open here)."""
        conv = self._open.get(thread)
        return await awaited(self.cache.conversations.get, thread) if conv is None else conv

    def _keep(self, thread: str, conv: Any) -> None:
        self._open.pop(thread, None)
        if len(self._open) >= _OPEN:
            del self._open[next(iter(self._open))]  # the least recently used
        self._open[thread] = conv


def _events(messages: Iterable[Message]) -> list[Event]:
    return [
        Event.model_validate_json(m.parts[0].data["adk_event"])
        for m in messages
        if m.parts and isinstance(m.parts[0], DataPart) and "adk_event" in m.parts[0].data
    ]


async def _bounded(limit: asyncio.Semaphore, calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with limit:
            return await call()

    return list(await asyncio.gather(*(one(call) for call in calls)))
