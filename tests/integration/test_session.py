"""The session tier on every topology and both facades."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest

from agentcache import (
    NO_EXPIRY,
    FieldNotFoundError,
    InvalidArgumentError,
    InvalidNameError,
    SerializationError,
    ValueTooLargeError,
)
from tests.helpers import command

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    1.5,
    float("inf"),
    "",
    "héllo ✓",
    b"",
    b"\x00\xff raw",
    [1, "a", b"b", None, [2.0]],
    {"nested": {"k": [1, 2]}, "bytes": b"\x01"},
    {1: "int key", "s": "str key"},
]


def key_of(cache: Any, thread: str, field: str) -> str:
    from agentcache.encoding.keys import session_thread

    return session_thread(cache.settings.prefix, thread).field(field)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_round_trip_with_their_types(cache: Any, value: Any) -> None:
    cache.session.set("t", "f", value)
    back = cache.session.get("t", "f")
    assert back == value
    assert type(back) is type(value)


def test_tuples_come_back_as_lists_except_as_dict_keys(cache: Any) -> None:
    cache.session.set("t", "f", (1, 2))
    assert cache.session.get("t", "f") == [1, 2]
    cache.session.set("t", "f", {(1, (2, "x")): [3], "s": 4})
    assert cache.session.get("t", "f") == {(1, (2, "x")): [3], "s": 4}


def test_missing_gives_default(cache: Any) -> None:
    assert cache.session.get("t", "nope") is None
    assert cache.session.get("t", "nope", "dflt") == "dflt"


def test_overwrite_and_delete(cache: Any) -> None:
    cache.session.set("t", "f", 1)
    cache.session.set("t", "f", 2)
    assert cache.session.get("t", "f") == 2
    assert cache.session.delete("t", "f") is True
    assert cache.session.delete("t", "f") is False
    assert cache.session.get("t", "f") is None


class Pref(pydantic.BaseModel):
    theme: str
    when: datetime
    tags: list[str] = []


def test_pydantic_model_by_explicit_class(cache: Any) -> None:
    pref = Pref(theme="dark", when=datetime(2026, 1, 2, tzinfo=UTC), tags=["a"])
    cache.session.set("t", "pref", pref)
    assert cache.session.get("t", "pref", model=Pref) == pref
    assert cache.session.get("t", "pref")["theme"] == "dark"  # without model=: plain data
    assert cache.session.get("t", "missing", model=Pref) is None


def test_model_mismatch_is_a_serialization_error(cache: Any) -> None:
    cache.session.set("t", "f", {"theme": 1})
    with pytest.raises(SerializationError, match="Pref"):
        cache.session.get("t", "f", model=Pref)


def test_default_ttl_applies(cache: Any) -> None:
    cache.session.set("t", "f", 1)
    assert 1790 < cache.session.ttl("t", "f") <= 1800


def test_ttl_of_missing_field_raises(cache: Any) -> None:
    with pytest.raises(FieldNotFoundError, match="nope"):
        cache.session.ttl("t", "nope")
    with pytest.raises(KeyError):
        cache.session.ttl("t", "nope")


def test_no_expiry(cache: Any) -> None:
    cache.session.set("t", "f", 1, ttl=NO_EXPIRY)
    assert cache.session.ttl("t", "f") is None
    assert cache.session.get("t", "f") == 1
    assert cache.session.ttl("t", "f") is None


def test_read_slides_expiry_by_the_fields_own_ttl(cache: Any) -> None:
    cache.session.set("t", "short", "v", ttl=5)
    cache.session.set("t", "long", "v", ttl=timedelta(hours=1))
    for field in ("short", "long"):
        command(cache, "PEXPIRE", key_of(cache, "t", field), 1000)  # as if time had passed
    assert cache.session.get("t", "short") == "v"
    assert cache.session.get("t", "long") == "v"
    assert 4.5 < cache.session.ttl("t", "short") <= 5  # its own 5 s, not the tier's 1800 s
    assert 3590 < cache.session.ttl("t", "long") <= 3600


def test_fixed_deadline_does_not_slide(cache: Any) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    cache.session.set("t", "f", "v", expires_at=deadline)
    before = cache.session.ttl("t", "f")
    assert 55 < before <= 61  # the server clock decides; allow it to run a little behind ours
    command(cache, "PEXPIRE", key_of(cache, "t", "f"), 1000)
    cache.session.get("t", "f")
    assert cache.session.ttl("t", "f") <= 1.0
    cache.session.touch("t")
    assert cache.session.ttl("t", "f") <= 1.0


def test_deadline_as_iso_string_and_in_the_past(cache: Any) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    cache.session.set("t", "f", 1, expires_at=soon)
    assert 25 < cache.session.ttl("t", "f") <= 31
    cache.session.set("t", "f", 1, expires_at="2001-01-01T00:00:00+00:00")
    assert cache.session.get("t", "f") is None


def test_deadline_at_or_before_the_epoch_removes_the_field(cache: Any) -> None:
    cache.session.set("t", "f", 1)
    cache.session.set("t", "f", 2, expires_at="1960-01-01T00:00:00+00:00")
    assert cache.session.get("t", "f") is None


def test_field_expires(cache: Any) -> None:
    cache.session.set("t", "f", 1, ttl=0.05)
    cache.session.set("t", "g", 1)
    time.sleep(0.15)
    assert cache.session.get("t", "f") is None
    assert cache.session.get_all("t") == {"g": 1}


def test_get_all_fields_touch_destroy(cache: Any) -> None:
    state = {f"f{i}": i for i in range(30)}
    for field, value in state.items():
        cache.session.set("thread", field, value, ttl=10 if value % 2 else 20)
    cache.session.set("other", "f0", "not mine")
    assert cache.session.get_all("thread") == state
    assert list(cache.session.get_all("thread")) == sorted(state)
    assert cache.session.fields("thread") == sorted(state)
    for field in state:
        command(cache, "PEXPIRE", key_of(cache, "thread", field), 500)
    assert cache.session.fields("thread") == sorted(state)  # fields() does not refresh
    assert cache.session.ttl("thread", "f1") <= 0.5
    assert cache.session.touch("thread") == 30
    assert 9 < cache.session.ttl("thread", "f1") <= 10
    assert 19 < cache.session.ttl("thread", "f2") <= 20
    for field in state:
        command(cache, "PEXPIRE", key_of(cache, "thread", field), 500)
    cache.session.get_all("thread")
    assert 9 < cache.session.ttl("thread", "f3") <= 10
    assert cache.session.destroy_thread("thread") == 30
    assert cache.session.get_all("thread") == {}
    assert cache.session.destroy_thread("thread") == 0
    assert cache.session.touch("thread") == 0
    assert cache.session.get("other", "f0") == "not mine"


def test_thread_wide_operations_on_a_large_thread(cache: Any) -> None:
    """More fields than one SCAN step sees: every step is followed to the end."""
    for i in range(250):
        cache.session.set("big", f"f{i:03}", i)
    small = cache.session.get_all("big")
    assert len(small) == 250
    assert cache.session.touch("big") == 250
    assert cache.session.destroy_thread("big") == 250


def test_empty_thread(cache: Any) -> None:
    assert cache.session.get_all("nobody") == {}
    assert cache.session.fields("nobody") == []


@pytest.mark.parametrize(
    "bad",
    ["", "x" * 1025, "é" * 513, 5, None, b"bytes", "\ud800"],
    ids=["empty", "1025 bytes", "1026 utf8 bytes", "int", "None", "bytes", "lone surrogate"],
)
def test_bad_names_raise_before_anything_is_sent(cache: Any, bad: Any) -> None:
    sent = cache.round_trips
    calls: tuple[Callable[[], Any], ...] = (
        lambda: cache.session.set(bad, "f", 1),
        lambda: cache.session.set("t", bad, 1),
        lambda: cache.session.get(bad, "f"),
        lambda: cache.session.get("t", bad),
        lambda: cache.session.delete("t", bad),
        lambda: cache.session.ttl(bad, "f"),
        lambda: cache.session.get_all(bad),
        lambda: cache.session.touch(bad),
        lambda: cache.session.fields(bad),
        lambda: cache.session.destroy_thread(bad),
    )
    for call in calls:
        with pytest.raises(InvalidNameError) as caught:
            call()
        assert isinstance(caught.value, ValueError)
    assert cache.round_trips == sent


def test_names_at_the_limit_work(cache: Any) -> None:
    thread, field = "t" * 1024, "é" * 512
    cache.session.set(thread, field, 1)
    assert cache.session.get_all(thread) == {field: 1}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"ttl": 0}, InvalidArgumentError),
        ({"ttl": -1}, InvalidArgumentError),
        ({"ttl": float("nan")}, InvalidArgumentError),
        ({"ttl": True}, InvalidArgumentError),
        ({"ttl": "10"}, InvalidArgumentError),
        ({"ttl": 10**12}, InvalidArgumentError),
        ({"ttl": 10**400}, InvalidArgumentError),
        ({"ttl": timedelta(0)}, InvalidArgumentError),
        ({"expires_at": datetime(2030, 1, 1)}, InvalidArgumentError),  # naive
        ({"expires_at": "tomorrow"}, InvalidArgumentError),
        ({"expires_at": "2030-01-01T00:00:00"}, InvalidArgumentError),  # no offset
        ({"expires_at": 12345}, InvalidArgumentError),
        ({"ttl": 5, "expires_at": "2030-01-01T00:00:00+00:00"}, InvalidArgumentError),
    ],
)
def test_bad_expiry_raises_before_anything_is_sent(cache: Any, kwargs: dict[str, Any], error: type) -> None:
    sent = cache.round_trips
    with pytest.raises(error):
        cache.session.set("t", "f", 1, **kwargs)
    assert cache.round_trips == sent


@pytest.mark.parametrize("value", [{1, 2}, object(), 2**64, -(2**63) - 1, {"k": datetime.now()}])
def test_unsupported_values_raise_serialization_error(cache: Any, value: Any) -> None:
    sent = cache.round_trips
    with pytest.raises(SerializationError) as caught:
        cache.session.set("t", "f", value)
    assert isinstance(caught.value, TypeError)
    assert cache.round_trips == sent
    if isinstance(value, set):
        assert "set" in str(caught.value)


def test_a_failed_encode_leaves_nothing_behind(cache: Any) -> None:
    with pytest.raises(SerializationError, match="64-bit"):
        cache.session.set("t", "f", ["partial", 2**70])
    cache.session.set("t", "f", ["whole"])
    assert cache.session.get("t", "f") == ["whole"]


def test_value_too_large(cache: Any, server_urls: Any) -> None:
    from tests.helpers import make_cache

    small, close = make_cache(cache.topology, "sync", server_urls, max_value_bytes=100)
    try:
        small.session.set("t", "f", b"x" * 90)
        with pytest.raises(ValueTooLargeError, match="max_value_bytes=100"):
            small.session.set("t", "f", b"x" * 100)
        assert small.session.get("t", "f") == b"x" * 90
    finally:
        close()


def test_model_argument_is_checked(cache: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        cache.session.get("t", "f", model=dict)


def test_foreign_value_is_a_serialization_error(cache: Any) -> None:
    command(cache, "SET", key_of(cache, "t", "f"), b"written by someone else")
    with pytest.raises(SerializationError, match="'f'"):
        cache.session.get("t", "f")


def test_longest_ttl_survives_the_sliding_refresh(cache: Any) -> None:
    """The script passes the TTL to PEXPIRE as a Lua number: the largest allowed must stay exact."""
    cache.session.set("t", "f", 1, ttl=10**10)
    command(cache, "PEXPIRE", key_of(cache, "t", "f"), 1000)
    assert cache.session.get("t", "f") == 1
    assert cache.session.ttl("t", "f") > 10**10 - 5
