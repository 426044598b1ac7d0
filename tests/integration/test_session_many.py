"""Batch operations of the session tier: set_many, get_many, delete_many in one round trip each, on
every topology and both facades."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentcache import ValueTooLargeError
from tests.helpers import cost


def test_set_get_and_delete_many(cache: Any) -> None:
    s = cache.session
    s.set_many("t", {"a": 1, "b": {"x": [1, 2]}, "c": b"bytes"}, ttl=60)
    assert s.get_many("t", ["a", "b", "c", "missing"]) == {"a": 1, "b": {"x": [1, 2]}, "c": b"bytes"}
    assert s.get_all("t") == {"a": 1, "b": {"x": [1, 2]}, "c": b"bytes"}
    assert all(59 < (s.ttl("t", f) or 0) <= 60 for f in "abc")
    assert s.get_many("t", ["c", "a", "c"]) == {"c": b"bytes", "a": 1}  # each once, in the order asked
    assert s.delete_many("t", ["a", "c", "missing"]) == 2
    assert s.get_all("t") == {"b": {"x": [1, 2]}}
    at = datetime.now(UTC) + timedelta(hours=1)
    s.set_many("t", {"d": 4}, expires_at=at)
    assert 3590 < (s.ttl("t", "d") or 0) <= 3600.01


def test_each_is_one_round_trip_and_nothing_for_nothing(cache: Any) -> None:
    s = cache.session
    s.set_many("warm", {"a": 1})
    s.get_many("warm", ["a"])  # the server learns the script
    fields = {f"f{i}": i for i in range(50)}
    assert cost(cache, lambda: s.set_many("t", fields)) == 1
    assert cost(cache, lambda: s.get_many("t", list(fields))) == 1
    assert cost(cache, lambda: s.delete_many("t", list(fields))) == 1
    assert cost(cache, lambda: s.set_many("t", {})) == 0
    assert cost(cache, lambda: s.get_many("t", [])) == 0
    assert s.delete_many("t", []) == 0


def test_get_many_slides_each_hit_by_its_own_ttl(cache: Any) -> None:
    s = cache.session
    s.set("t", "short", 1, ttl=2)
    s.set("t", "long", 2, ttl=60)
    time.sleep(1.0)
    assert s.get_many("t", ["short", "long"]) == {"short": 1, "long": 2}
    assert 1.9 < (s.ttl("t", "short") or 0) <= 2  # back to its own 2 s, not the other's 60
    assert 59 < (s.ttl("t", "long") or 0) <= 60


def test_a_value_too_large_refuses_the_whole_batch(cache: Any) -> None:
    with pytest.raises(ValueTooLargeError):
        cache.session.set_many("t", {"small": 1, "big": b"x" * (8 * 1024 * 1024)})
    assert cache.session.get_all("t") == {}
