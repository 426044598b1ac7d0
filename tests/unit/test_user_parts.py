"""User parts that are not parts, or bad names, are refused before anything is sent (on servers:
tests/integration/test_user_parts.py)."""

from __future__ import annotations

from typing import Any

import pytest

from agentcache import (
    InvalidArgumentError,
    InvalidNameError,
    ToolCallPart,
)


def test_bad_user_parts_are_refused_before_anything_is_sent(memory_cache: Any) -> None:
    before = memory_cache.round_trips
    with pytest.raises(InvalidArgumentError, match="TextPart, ImagePart or DataPart"):
        memory_cache.session.set_user_part("t", "call", ToolCallPart(id="c", name="n"))
    with pytest.raises(InvalidArgumentError):
        memory_cache.session.set_user_part("t", "n", 42)
    with pytest.raises(InvalidNameError):
        memory_cache.session.set_user_part("t", "", "empty name")
    with pytest.raises(InvalidNameError):
        memory_cache.session.delete_user_part("t", 3)
    assert memory_cache.round_trips == before
