"""``conv.state``: the session tier with the thread fixed to a conversation's id.

Each method is the session tier's operation of the same name, without its ``thread_id``: typed,
and bound like every other operation (no proxy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from agentcache.core.binding import Bound, E, operation
from agentcache.core.commands import Operation
from agentcache.encoding.expiry import TTL, Deadline
from agentcache.encoding.keys import session_key
from agentcache.tiers.session import tier as session
from agentcache.tiers.settings import Settings

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class _Thread:
    settings: Settings
    id: str


def set_(
    t: _Thread, field: str, value: Any, *, ttl: TTL | None = None, expires_at: Deadline | None = None
) -> Operation[None]:
    """Store ``value`` in ``field`` (see :meth:`SessionTier.set <agentcache.tiers.session.tier.set_>`)."""
    return (yield from session.set_(t.settings, t.id, field, value, ttl=ttl, expires_at=expires_at))


def get(t: _Thread, field: str, default: Any = None, *, model: type[M] | None = None) -> Operation[Any]:
    """The value of ``field``, or ``default``; a hit slides its expiry."""
    return (yield from session.get(t.settings, t.id, field, default, model=model))


def delete(t: _Thread, field: str) -> Operation[bool]:
    """Remove ``field``; whether it existed."""
    return (yield from session.delete(t.settings, t.id, field))


def ttl(t: _Thread, field: str) -> Operation[float | None]:
    """Seconds until ``field`` expires (None: never)."""
    return (yield from session.ttl(t.settings, t.id, field))


def get_all(t: _Thread) -> Operation[dict[str, Any]]:
    """Every field, each refreshed by its own TTL."""
    return (yield from session.get_all(t.settings, t.id))


def touch(t: _Thread) -> Operation[int]:
    """Refresh every field; the field count."""
    return (yield from session.touch(t.settings, t.id))


def fields(t: _Thread) -> Operation[list[str]]:
    """The field names (no refresh)."""
    return (yield from session.fields(t.settings, t.id))


def destroy_thread(t: _Thread) -> Operation[int]:
    """Remove every field of the conversation's state; how many."""
    return (yield from session.destroy_thread(t.settings, t.id))


class ConversationState(Bound[E]):
    """``conv.state``: the session tier with the thread fixed to the conversation's id.

    ``conv.state.set("intent", "book")`` is ``cache.session.set(conv.id, "intent", "book")``."""

    TIER = "session"

    def __init__(self, executor: E, settings: Settings, thread_id: str) -> None:
        Bound.__init__(self, executor, settings)
        self._thread = _Thread(settings, thread_id)

    def _context(self) -> _Thread:
        return self._thread

    set = operation(set_)
    get = operation(get, reads=True)
    delete = operation(delete)
    ttl = operation(ttl, reads=True)
    get_all = operation(get_all, reads=True)
    touch = operation(touch)
    fields = operation(fields, reads=True)
    destroy_thread = operation(destroy_thread)

    def key(self, field: str) -> str:
        """The Valkey key that holds ``field`` (for inspection; no I/O)."""
        return session_key(self._settings.prefix, self._settings.key_id(self._thread.id), field)
