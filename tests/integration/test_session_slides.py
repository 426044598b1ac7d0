"""Session reads by ``GETEX key PX ms`` when the cache knows the field's sliding TTL.

A cache remembers the TTL a field slides by from its own write or its last read (the value's
header), and reads it next with one GETEX instead of the get script. Another writer (here: a second
cache on the same server, with its own memory, as another process would be) may change how the
field expires meanwhile; the reader sees it in the header that comes back and puts the right expiry
back in one more round trip. These tests hold sliding TTLs, fixed deadlines and no expiry to what
the script gives, whichever cache wrote last.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcache import NO_EXPIRY
from agentcache.encoding.keys import session_key
from tests.helpers import Synced, command, cost


def other(cache: Any) -> Any:
    """A second cache on the same server and prefix, with its own memory of TTLs (another process)."""
    cache.ping()  # settles the client (cluster or not)
    target = getattr(cache, "_target", cache)
    twin = type(target)(target.client, prefix=target.settings.prefix)
    return twin if target is cache else Synced(twin, cache._loop)


def key_of(cache: Any, field: str) -> str:
    return session_key(cache.settings.prefix, "t", field)


def pttl(cache: Any, field: str) -> int:
    return int(command(cache, "PTTL", key_of(cache, field)))


def test_a_known_ttl_is_read_by_getex_in_one_round_trip(cache: Any) -> None:
    cache.session.set("t", "f", "v", ttl=60)
    assert key_of(cache, "f") in cache.settings.slides  # its own write taught it
    command(cache, "PEXPIRE", key_of(cache, "f"), 1000)  # as if time had passed
    assert cost(cache, lambda: cache.session.get("t", "f")) == 1
    assert 59_000 < pttl(cache, "f") <= 60_000


def test_the_first_read_learns_the_ttl_from_the_header(cache: Any) -> None:
    reader = other(cache)
    cache.session.set("t", "f", "v", ttl=30)
    assert key_of(cache, "f") not in reader.settings.slides
    assert reader.session.get("t", "f") == "v"  # the script
    assert key_of(cache, "f") in reader.settings.slides
    command(cache, "PEXPIRE", key_of(cache, "f"), 1000)
    assert cost(reader, lambda: reader.session.get("t", "f")) == 1  # GETEX
    assert 29_000 < pttl(cache, "f") <= 30_000


@pytest.mark.parametrize(("before", "after"), [(60, 5), (5, 60)])
def test_another_writer_changing_the_ttl(cache: Any, before: int, after: int) -> None:
    reader = other(cache)
    cache.session.set("t", "f", "v", ttl=before)
    reader.session.get("t", "f")  # the reader knows `before`
    cache.session.set("t", "f", "w", ttl=after)
    assert cost(reader, lambda: reader.session.get("t", "f")) == 2  # GETEX, then the repair
    assert reader.settings.slides[key_of(cache, "f")][1] == command(cache, "GET", key_of(cache, "f"))[:7]
    assert after * 1000 - 1000 < pttl(cache, "f") <= after * 1000
    command(cache, "PEXPIRE", key_of(cache, "f"), 1000)
    assert cost(reader, lambda: reader.session.get("t", "f")) == 1  # it knows `after` now
    assert after * 1000 - 1000 < pttl(cache, "f") <= after * 1000


def test_another_writer_fixing_a_deadline(cache: Any) -> None:
    reader = other(cache)
    cache.session.set("t", "f", "v", ttl=60)
    reader.session.get("t", "f")
    deadline = datetime.now(UTC) + timedelta(seconds=100)
    cache.session.set("t", "f", "w", expires_at=deadline)
    assert cost(reader, lambda: reader.session.get("t", "f")) == 2
    assert 90_000 < pttl(cache, "f") <= 101_000  # the deadline again, not the 60 s the reader knew
    assert key_of(cache, "f") not in reader.settings.slides  # a fixed deadline is read by the script
    command(cache, "PEXPIRE", key_of(cache, "f"), 1000)
    assert cost(reader, lambda: reader.session.get("t", "f")) == 1
    assert pttl(cache, "f") <= 1000  # does not slide


def test_another_writer_removing_the_expiry(cache: Any) -> None:
    reader = other(cache)
    cache.session.set("t", "f", "v", ttl=60)
    reader.session.get("t", "f")
    cache.session.set("t", "f", "w", ttl=NO_EXPIRY)
    assert reader.session.get("t", "f") == "w"
    assert pttl(cache, "f") == -1
    assert reader.session.get("t", "f") == "w"
    assert pttl(cache, "f") == -1


def test_a_field_gone_is_forgotten(cache: Any) -> None:
    reader = other(cache)
    cache.session.set("t", "f", "v", ttl=60)
    reader.session.get("t", "f")
    cache.session.delete("t", "f")
    assert cost(reader, lambda: reader.session.get("t", "f", "gone")) == 1
    assert key_of(cache, "f") not in reader.settings.slides
    assert command(cache, "EXISTS", key_of(cache, "f")) == 0  # GETEX on a missing key creates nothing


def test_a_user_part_is_never_read_by_getex(cache: Any) -> None:
    cache.session.set_user_part("t", "p", "text", ttl=60)
    field = "__user_part_p"
    cache.session.get("t", field)
    assert key_of(cache, field) not in cache.settings.slides


EXPIRIES = st.sampled_from(["ttl 30", "ttl 90", "fixed", "none"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.booleans(), EXPIRIES, st.booleans()), min_size=1, max_size=6))
def test_two_writers_taking_turns_keep_the_expiry_the_last_write_set(cache: Any, steps: list[Any]) -> None:
    """Each step: one of two caches writes the field with some expiry, then one of them reads it.
    After every read the field expires as the last write said (slid by the read where it slides),
    whatever either cache last knew of it."""
    caches = [cache, other(cache)]
    field = f"f{time.monotonic_ns()}"
    for writer, expiry, reader in steps:
        writing = caches[writer]
        if expiry.startswith("ttl"):
            writing.session.set("t", field, expiry, ttl=int(expiry[4:]))
            command(cache, "PEXPIRE", key_of(cache, field), 1000)  # as if time had passed
        elif expiry == "fixed":
            writing.session.set("t", field, expiry, expires_at=datetime.now(UTC) + timedelta(seconds=200))
        else:
            writing.session.set("t", field, expiry, ttl=NO_EXPIRY)
        assert caches[reader].session.get("t", field) == expiry
        left = pttl(cache, field)
        if expiry.startswith("ttl"):
            assert int(expiry[4:]) * 1000 - 1000 < left <= int(expiry[4:]) * 1000
        elif expiry == "fixed":
            assert 190_000 < left <= 201_000
        else:
            assert left == -1
