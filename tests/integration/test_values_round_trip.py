"""No write can make a thread unreadable (issue 31): what the library stores it reads back, data
that another client wrote under a thread's key is reported for that field only, and a fixed
deadline obeys the same cap as a ttl. Every topology, both facades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentcache import InvalidArgumentError, SerializationError, UnreadableFieldsError
from agentcache.encoding.expiry import MAX_TTL_MS
from tests.helpers import command
from tests.unit.test_values_round_trip import nested_key


def test_foreign_data_hides_only_its_own_field(cache: Any) -> None:
    cache.session.set("mixed", "fine", {"a": 1})
    cache.session.set("mixed", "also", [1, 2])
    cache.session.set("mixed", "deep", {nested_key(1000): 1})
    command(cache, "SET", cache.session.key("mixed", "garbage"), b"\x01\x00\x00\x00\x00\x00\x00\xc1")
    command(cache, "SET", cache.session.key("mixed", "foreign"), b"written by another client")
    with pytest.raises(UnreadableFieldsError) as caught:
        cache.session.get_all("mixed")
    assert set(caught.value.values) == {"also", "deep", "fine"} and caught.value.values["fine"] == {"a": 1}
    assert set(caught.value.unreadable) == {"foreign", "garbage"}
    assert "foreign or corrupt" in caught.value.unreadable["foreign"]
    with pytest.raises(UnreadableFieldsError) as many:
        cache.session.get_many("mixed", ["fine", "foreign", "missing"])
    assert many.value.values == {"fine": {"a": 1}} and set(many.value.unreadable) == {"foreign"}
    with pytest.raises(SerializationError, match="garbage"):  # one field: its own error, as before
        cache.session.get("mixed", "garbage")
    assert cache.session.get("mixed", "also") == [1, 2]


def test_expires_at_has_the_cap_of_a_ttl(cache: Any) -> None:
    before = cache.round_trips
    for deadline in ("9999-12-31T00:00:00Z", datetime(2400, 1, 1, tzinfo=UTC)):
        with pytest.raises(InvalidArgumentError, match="too far ahead"):
            cache.session.set("capped", "f", 1, expires_at=deadline)
    assert cache.round_trips == before  # refused before anything was sent
    within = datetime.now(UTC) + timedelta(milliseconds=MAX_TTL_MS) - timedelta(days=1)
    cache.session.set("capped", "f", 1, expires_at=within)
    cache.session.set_many("capped", {"g": 2}, expires_at="2199-01-01T00:00:00+00:00")
    assert cache.session.get_all("capped") == {"f": 1, "g": 2}
    with pytest.raises(InvalidArgumentError, match="too far ahead"):
        cache.session.set_many("capped", {"h": 3}, expires_at="9999-12-31T00:00:00+00:00")
