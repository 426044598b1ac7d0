"""The conversation tier's key layout.

A conversation's keys carry the same hash tag as the session tier's keys of the same id (a
conversation's id is also its thread id), so its meta, its history and its state share one slot and
one script can update them together::

    <prefix>:conv:{<session>}:meta     hash: owner, settings, clocks, status
    <prefix>:conv:{<session>}:msgs     list: the history, one msgpack envelope per message

The indexes that answer ``list_active`` and ``expiring`` live together in a slot of their own, so
one script updates the global, per-agent and per-user index at once::

    <prefix>:conv-index:{<prefix>}:all            sorted set: session id -> deadline (ms)
    <prefix>:conv-index:{<prefix>}:agent:<agent>  same, one agent's conversations
    <prefix>:conv-index:{<prefix>}:user:<user>    same, one user's conversations
    <prefix>:conv-agent:<agent>                   hash: the agent's defaults (configure_agent)
"""

from __future__ import annotations

from dataclasses import dataclass

from .names import encode_name


@dataclass(frozen=True, slots=True)
class ConversationKeys:
    meta: str
    msgs: str

    @property
    def both(self) -> list[str]:
        return [self.meta, self.msgs]


def conversation_keys(prefix: str, session_id: str) -> ConversationKeys:
    """The keys of one conversation; ``{<session>}`` is the session tier's hash tag for that thread."""
    head = f"{prefix}:conv:{{{encode_name(session_id, 'session_id')}}}:"
    return ConversationKeys(head + "meta", head + "msgs")


def index_all(prefix: str) -> str:
    return f"{prefix}:conv-index:{{{prefix}}}:all"


def index_agent(prefix: str, agent_id: str) -> str:
    return f"{prefix}:conv-index:{{{prefix}}}:agent:{encode_name(agent_id, 'agent_id')}"


def index_user(prefix: str, user_id: str) -> str:
    return f"{prefix}:conv-index:{{{prefix}}}:user:{encode_name(user_id, 'user_id')}"


def agent_config_key(prefix: str, agent_id: str) -> str:
    return f"{prefix}:conv-agent:{encode_name(agent_id, 'agent_id')}"
