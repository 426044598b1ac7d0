"""The conversation tier's typed errors, raised before anything is sent (checked on the in-memory
backend's round-trip count; the tier on servers: tests/integration/test_conversations.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcache import (
    InvalidArgumentError,
    InvalidNameError,
    InvalidTimeoutConfig,
    Message,
)
from tests.helpers import new


def test_bad_input_is_refused_before_anything_is_sent(memory_cache: Any) -> None:
    conv = new(memory_cache)
    before = memory_cache.round_trips
    bad_calls: list[tuple[type[Exception], Callable[[], Any]]] = [
        (InvalidNameError, lambda: new(memory_cache, agent_id="")),
        (InvalidNameError, lambda: new(memory_cache, user_id=3)),  # type: ignore[arg-type]
        (InvalidNameError, lambda: memory_cache.conversations.get("")),
        (InvalidArgumentError, lambda: new(memory_cache, system=5)),
        (InvalidArgumentError, lambda: new(memory_cache, messages=["not a message"])),
        (InvalidArgumentError, lambda: new(memory_cache, metadata=[1])),
        (InvalidTimeoutConfig, lambda: new(memory_cache, timeout=1)),  # below the 5-minute minimum
        (InvalidTimeoutConfig, lambda: new(memory_cache, timeout=10**6)),  # above the 24-hour maximum
        (InvalidTimeoutConfig, lambda: new(memory_cache, timeout=-1)),
        (InvalidTimeoutConfig, lambda: new(memory_cache, auto_renew="yes")),
        (InvalidTimeoutConfig, lambda: conv.update_timeout(60)),
        (InvalidTimeoutConfig, lambda: conv.update_timeout()),
        (InvalidTimeoutConfig, lambda: memory_cache.conversations.configure_agent("a", timeout=1)),
        (InvalidArgumentError, lambda: memory_cache.conversations.configure_agent("a")),
        (InvalidArgumentError, lambda: conv.add_message("hi")),
        (InvalidArgumentError, lambda: conv.add_messages(Message.user("not in a list"))),
        (InvalidArgumentError, lambda: conv.messages(limit=0)),
        (InvalidArgumentError, lambda: conv.messages(before=-1)),
        (InvalidArgumentError, lambda: memory_cache.conversations.list_active(limit=0)),
        (InvalidArgumentError, lambda: memory_cache.conversations.list_active(cursor="nonsense")),
        (InvalidTimeoutConfig, lambda: memory_cache.conversations.expiring(within=0)),
    ]
    for error, call in bad_calls:
        with pytest.raises(error) as caught:
            call()
        if isinstance(caught.value, InvalidTimeoutConfig):
            assert caught.value.status_code == 400 and isinstance(caught.value, ValueError)
    assert memory_cache.round_trips == before
