"""The session tier's operations that the surfaces (the HTTP API, the dashboard, the ``session_data``
tool) call: ``set_value`` / ``delete_value`` (a field that may name a user part), ``peek`` (fields
with their TTLs, refreshing nothing), ``set_capped`` (a write under a per-thread field quota, counted
in the same script call) and ``clear_fields``. Each on every topology and both facades, with its
round-trip cost, and the quota under writers racing from several threads."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agentcache import NO_EXPIRY, AgentCache, DataPart, InvalidArgumentError, InvalidNameError, TextPart
from agentcache.encoding.keys import session_thread
from agentcache.testing import unique_prefix
from agentcache.tiers.session import tier as session
from agentcache.tiers.session.tier import FieldView
from agentcache.tiers.settings import Settings
from tests.helpers import command, cost, drive, names


def warm(cache: Any, thread: str = "warm") -> None:
    """Run each script once, so the counts below do not include a server learning one."""
    cache.session.set_value(thread, "__user_part_w", "w")
    cache.session.set_capped(thread, "w", 1, max_fields=5)
    cache.session.peek(thread)
    cache.session.clear_fields(thread, keep_user_parts=True)
    cache.session.clear_fields(thread)


# --- set_value / delete_value ----------------------------------------------------------------------


def test_set_value_routes_user_parts_and_plain_fields(cache: Any) -> None:
    warm(cache)
    assert cost(cache, lambda: cache.session.set_value("t", "plain", {"a": 1}, ttl=60)) == 1
    assert cost(cache, lambda: cache.session.set_value("t", "__user_part_note", "hello")) == 1
    cache.session.set_value("t", "__user_part_data", {"x": [1, 2]})
    cache.session.set_value("t", "__user_part_part", DataPart(data=7))
    assert cache.session.get("t", "plain") == {"a": 1}
    parts = cache.session.user_parts("t")
    assert parts == {"data": DataPart(data={"x": [1, 2]}), "note": TextPart(text="hello"), "part": DataPart(data=7)}
    assert sorted(cache.session.fields("t")) == ["__user_part_data", "__user_part_note", "__user_part_part", "plain"]


def test_set_value_reads_a_part_with_the_callers_converter_and_keeps_what_was_written(cache: Any) -> None:
    from agentcache.tiers.content.parts import as_written

    written = {"kind": "shout", "words": "hi"}
    cache.session.set_value(
        "t", "__user_part_s", written, as_part=lambda v: TextPart(text=v["words"].upper()), written=written
    )
    assert cache.session.user_parts("t") == {"s": TextPart(text="HI")}
    assert as_written(cache.session.get("t", "__user_part_s")) == written
    cache.session.set_value("t", "plain", 5, as_part=lambda v: 1 / 0, written="ignored")  # not a part: unused
    assert cache.session.get("t", "plain") == 5


def test_set_value_refuses_a_bad_part_name_before_sending(cache: Any) -> None:
    before = cache.round_trips
    with pytest.raises(InvalidNameError):
        cache.session.set_value("t", "__user_part_", "x")
    with pytest.raises(InvalidNameError):
        cache.session.set_value("t", "", "x")
    assert cache.round_trips == before


def test_delete_value_routes_user_parts_and_plain_fields(cache: Any) -> None:
    warm(cache)
    cache.session.set_value("t", "plain", 1)
    cache.session.set_value("t", "__user_part_p", "x")
    assert cost(cache, lambda: cache.session.delete_value("t", "__user_part_p")) == 1
    assert cache.session.user_parts("t") == {}
    assert cache.session.delete_value("t", "__user_part_p") is False
    assert cost(cache, lambda: cache.session.delete_value("t", "plain")) == 1
    assert cache.session.delete_value("t", "plain") is False
    assert cache.session.fields("t") == []


# --- peek --------------------------------------------------------------------------------------------


def test_peek_gives_fields_with_their_ttls_sizes_and_values(cache: Any) -> None:
    warm(cache)
    cache.session.set("t", "b", "short", ttl=60)
    cache.session.set("t", "a", "x" * 500, ttl=None)  # the tier's default TTL
    cache.session.set("t", "forever", 1, ttl=NO_EXPIRY)
    cache.session.set("other", "secret", 1)
    cache.session.set("t:b", "a", 1)  # a thread whose name starts with this one's
    command(cache, "SET", cache.session.key("t", "junk"), b"\xff\x00not ours")
    views = cache.session.peek("t", max_value_bytes=100)
    assert all(isinstance(v, FieldView) for v in views)
    by = {v.field: v for v in views}
    assert list(by) == ["a", "b", "forever", "junk"]  # sorted; no other thread's field
    assert by["a"].value is None and by["a"].size is not None and by["a"].size > 500
    assert by["b"].value == "short" and by["b"].ttl_ms is not None and 55_000 < by["b"].ttl_ms <= 60_000
    assert by["forever"].ttl_ms is None and by["forever"].value == 1
    assert by["junk"].error is not None and by["junk"].value is None
    sizes = cache.session.peek("t", max_value_bytes=0)  # names, TTLs and sizes only
    assert [v.value for v in sizes] == [None] * 4 and all(v.size for v in sizes)
    if cache.topology != "standalone":  # a standalone server's SCAN takes a step per COUNT keys of the keyspace
        assert cost(cache, lambda: cache.session.peek("t")) == 1
    assert cache.session.peek("nobody") == []


def test_peek_refreshes_nothing(cache: Any) -> None:
    cache.session.set("t", "f", 1, ttl=600)
    command(cache, "PEXPIRE", cache.session.key("t", "f"), 5_000)
    (view,) = cache.session.peek("t")
    assert view.ttl_ms is not None and view.ttl_ms <= 5_000
    assert command(cache, "PTTL", cache.session.key("t", "f")) <= 5_000  # a read would have slid it to 600 s


def test_peek_checks_its_arguments(cache: Any) -> None:
    for bad in ({"limit": 0}, {"limit": True}, {"max_value_bytes": -1}, {"max_value_bytes": 1.5}):
        with pytest.raises(InvalidArgumentError):
            cache.session.peek("t", **bad)
    for i in range(5):
        cache.session.set("t", f"f{i}", i)
    assert len(cache.session.peek("t", limit=2)) == 2


# --- set_capped ----------------------------------------------------------------------------------------


def test_set_capped_stores_only_while_the_thread_has_room(cache: Any) -> None:
    warm(cache)
    assert cost(cache, lambda: cache.session.set_capped("t", "a", 1, max_fields=2)) == 1  # on every topology
    assert cache.session.set_capped("t", "b", 2, max_fields=2, ttl=60) is True
    assert cost(cache, lambda: cache.session.set_capped("t", "c", 3, max_fields=2)) == 1
    assert cache.session.set_capped("t", "c", 3, max_fields=2) is False
    assert cache.session.get("t", "c") is None  # refused: nothing written
    assert cache.session.set_capped("t", "a", 9, max_fields=2) is True  # an existing field: no count
    assert cache.session.get_all("t") == {"a": 9, "b": 2}
    assert 55 < (cache.session.ttl("t", "b") or 0) <= 60
    assert cache.session.set_capped("t", "c", 3, max_fields=3) is True


def test_set_capped_counts_user_parts_only_if_asked(cache: Any) -> None:
    cache.session.set_user_part("t", "screenshot", "app's part")
    cache.session.set("t", "a", 1)
    assert cache.session.set_capped("t", "b", 2, max_fields=2) is False  # the part takes a place
    assert cache.session.set_capped("t", "b", 2, max_fields=2, count_user_parts=False) is True
    assert cache.session.set_capped("t", "__user_part_x", "note", max_fields=4) is True  # a part, routed
    assert cache.session.user_parts("t") == {"screenshot": TextPart(text="app's part"), "x": TextPart(text="note")}
    assert cache.session.set_capped("t", "__user_part_y", "no room", max_fields=4) is False
    assert "y" not in cache.session.user_parts("t")


def test_set_capped_checks_its_arguments_before_sending(cache: Any) -> None:
    before = cache.round_trips
    for bad in (0, -1, True, 1.5, None):
        with pytest.raises(InvalidArgumentError):
            cache.session.set_capped("t", "a", 1, max_fields=bad)
    with pytest.raises(InvalidNameError):
        cache.session.set_capped("t", "__user_part_", 1, max_fields=3)
    assert cache.round_trips == before


def test_set_capped_is_one_script_call() -> None:
    """Offline: one batch, one command (the count and the write together), whatever the thread holds."""
    with AgentCache.in_memory() as cache:
        settings: Settings = cache.settings
    batches, stored = drive(session.set_capped(settings, "t", "f", 1, max_fields=3), [[1]])
    assert names(batches) == [["EVALSHA session_put"]] and stored is True
    pattern = session_thread(settings.prefix, "t").pattern
    assert pattern in batches[0][0].args and 3 in batches[0][0].args  # the count happens on the server
    batches, stored = drive(session.set_capped(settings, "t", "f", 1, max_fields=3), [[0]])
    assert stored is False


@pytest.mark.parametrize("topology", ["standalone", "cluster3"])
def test_racing_writers_never_pass_the_quota(topology: str, server_urls: Any) -> None:
    """Eight writers (each its own client) add distinct fields to the same threads at once: each
    thread ends with exactly ``max_fields`` fields, and exactly that many writes were acknowledged."""
    url, prefix, writers, each, max_fields, rounds = server_urls(topology), unique_prefix(), 8, 4, 5, 5
    caches = [AgentCache.from_url(url, prefix=prefix) for _ in range(writers)]
    try:
        for c in caches:
            c.session.set_capped("warm", "w", 1, max_fields=1)  # connected, the script known
        for r in range(rounds):
            start = threading.Barrier(writers)
            stored: list[bool] = []

            def write(w: int, r: int = r, start: threading.Barrier = start, stored: list[bool] = stored) -> None:
                start.wait()
                for i in range(each):
                    stored.append(caches[w].session.set_capped(f"race-{r}", f"w{w}-{i}", i, max_fields=max_fields))

            threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert len(stored) == writers * each
            assert stored.count(True) == max_fields
            assert len(caches[0].session.fields(f"race-{r}")) == max_fields
    finally:
        for c in caches:
            c.close()


# --- clear_fields ----------------------------------------------------------------------------------------


def test_clear_fields_keeps_user_parts_if_asked(cache: Any) -> None:
    warm(cache)
    cache.session.set_many("t", {"a": 1, "b": 2})
    cache.session.set_user_part("t", "p", "part")
    if cache.topology != "standalone":
        assert cost(cache, lambda: cache.session.clear_fields("t", keep_user_parts=True)) == 1
    else:
        cache.session.clear_fields("t", keep_user_parts=True)
    assert cache.session.fields("t") == ["__user_part_p"]
    assert cache.session.user_parts("t") == {"p": TextPart(text="part")}
    cache.session.set("t", "c", 3)
    assert cache.session.clear_fields("t") == 2  # the field and the part
    assert cache.session.fields("t") == [] and cache.session.user_parts("t") == {}
    assert command(cache, "EXISTS", cache.session.key("t", "c")) == 0
