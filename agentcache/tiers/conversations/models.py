"""The conversation tier's result types: what a conversation's lifecycle looks like (SessionInfo)
and pages of messages and of conversations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentcache.tiers.content.messages import Message

Status = Literal["active", "near_expiration", "expired", "ended"]
SNAPSHOT_FORMAT = "agentcache.conversation/1"
DEFAULT_PAGE = 100


class SessionInfo(BaseModel):
    """Where a conversation stands in its lifecycle, by the server's clock."""

    model_config = ConfigDict(frozen=True)

    id: str
    agent_id: str
    user_id: str
    status: Status
    created_at: datetime
    last_activity: datetime
    expires_at: datetime
    """When it expires (expired: when it did). Never later than ``created_at + max_duration``."""
    time_remaining: timedelta
    """Until ``expires_at``; zero once expired or ended."""
    timeout: timedelta
    """The inactivity timeout: how far a renewal pushes ``expires_at`` out."""
    auto_renew: bool
    max_duration: timedelta
    warning_threshold: timedelta
    """``status`` is ``near_expiration`` once ``time_remaining`` is at most this."""
    renewal_count: int
    """How many times the deadline moved out (automatic and manual renewals)."""
    message_count: int
    """How many messages the history holds."""
    ended_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    """The metadata it was created with."""
    lost_messages: int = 0
    """How many messages the conversation counts beyond those stored: its history was evicted (an
    evicting ``maxmemory-policy``, see ``docs/memory.md``) or deleted. While this is not 0, reading
    the history raises :class:`~agentcache.HistoryLost`; ``clear()`` starts it over."""


class MessagePage(list[Message]):
    """Messages in chronological order; ``cursor`` pages further back (``before=cursor``), None at the start."""

    def __init__(self, messages: Iterable[Message], cursor: int | None) -> None:
        super().__init__(messages)
        self.cursor = cursor


class SessionPage(list[SessionInfo]):
    """Live conversations, soonest deadline first; pass ``cursor`` for the next page (None: no more).

    A page can hold fewer than ``limit`` items (entries that turned out stale are left out)."""

    def __init__(self, infos: Iterable[SessionInfo], cursor: str | None) -> None:
        super().__init__(infos)
        self.cursor = cursor
