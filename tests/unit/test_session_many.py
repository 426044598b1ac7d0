"""``set_many``/``get_many``/``delete_many`` refuse bad input before anything is sent, and a refused
``set_many`` writes none of its fields (on servers: tests/integration/test_session_many.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from agentcache import InvalidArgumentError, InvalidNameError, SerializationError


def test_bad_input_is_refused_before_anything_is_sent(memory_cache: Any) -> None:
    s = memory_cache.session
    before = memory_cache.round_trips
    refusals: list[tuple[Callable[[], Any], type[Exception]]] = [
        (lambda: s.set_many("t", [("a", 1)]), InvalidArgumentError),
        (lambda: s.set_many("t", {"a": 1, "": 2}), InvalidNameError),
        (lambda: s.set_many("t", {"a": 1, "b": object()}), SerializationError),
        (lambda: s.set_many("t", {"a": 1}, ttl=5, expires_at=datetime.now(UTC)), InvalidArgumentError),
        (lambda: s.get_many("t", "ab"), InvalidArgumentError),
        (lambda: s.get_many("t", ["a", 3]), InvalidNameError),
        (lambda: s.delete_many("", ["a"]), InvalidNameError),
    ]
    for call, error in refusals:
        with pytest.raises(error):
            call()
    assert memory_cache.round_trips == before
    assert s.get_all("t") == {}  # a refused set_many wrote nothing, not even its valid fields
