"""What the conversation operations receive first: the tier (:class:`Tier`) or one conversation
(:class:`Ref`), and what an operation that opens a conversation returns (:class:`Opened`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentcache.encoding.keys import (
    ConversationKeys,
    index_agent,
    index_all,
    index_bucket,
    index_user,
)
from agentcache.tiers.conversations.lifecycle import Lifecycle
from agentcache.tiers.settings import Settings

# --- contexts: what the operations receive first ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tier:
    """What the tier's operations receive first: the cache's settings and the lifecycle limits."""

    settings: Settings
    life: Lifecycle


@dataclass(slots=True)
class Ref:
    """One conversation as its handle knows it. The settings are refreshed by every write's reply."""

    tier: Tier
    id: str
    agent_id: str
    user_id: str
    keys: ConversationKeys
    timeout_ms: int
    cap_ms: int  # absolute deadline cap: created + max_duration (server ms)
    auto_renew: bool

    @property
    def indexes(self) -> list[str]:
        return index_keys(self.tier.settings, self.agent_id, self.user_id, self.id)


def index_keys(s: Settings, agent_id: str, user_id: str, session_id: str) -> list[str]:
    """The index sorted sets a conversation is listed in: those of its bucket (one slot: one script
    updates all three)."""
    bucket, prefix = index_bucket(session_id), s.prefix
    agent, user = s.key_id(agent_id, "agent_id"), s.key_id(user_id, "user_id")
    return [index_all(prefix, bucket), index_agent(prefix, agent, bucket), index_user(prefix, user, bucket)]


@dataclass(frozen=True, slots=True)
class Opened:
    """What an operation that opens a conversation (create, get, restore, fork) returns: the
    tier's handles turn it into a :class:`~agentcache.Conversation` (operations build no handles)."""

    ref: Ref
    system: str | None
    metadata: dict[str, Any]
