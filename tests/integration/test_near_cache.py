"""The near cache: local hits, invalidation by the server (another process's write, expiry,
eviction, FLUSHALL), a lost listening connection, read-your-writes, the session window, bounds,
both facades, standalone and cluster."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import valkey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcache import AgentCache, AsyncAgentCache, BackendError, NearCache
from agentcache.testing import unique_prefix, valkey_server


def _live(cache: Any, timeout: float = 5.0) -> None:
    """Wait until tracking is live on every primary (the listener starts with the first call)."""
    cache.ping()
    deadline = time.monotonic() + timeout
    while not cache.settings.near.stats().live:
        assert time.monotonic() < deadline, "tracking never became live"
        time.sleep(0.01)


def _settle(cache: Any, *reads: Callable[[], object]) -> None:
    """Read until three rounds in a row are served from memory: the reports of earlier writes (this
    process's too) arrive on their own thread, and one arriving after a read was kept drops it (a
    miss, never a stale hit); on a loaded machine they can take a while."""
    quiet = 0
    deadline = time.monotonic() + 10
    while quiet < 3:
        assert time.monotonic() < deadline, "the reads never settled into memory"
        before = cache.round_trips
        for read in reads:
            read()
        quiet = quiet + 1 if cache.round_trips == before else 0
        time.sleep(0.03)


def _held(cache: Any) -> int:
    return int(cache.settings.near.stats().entries)


def _until(check: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until ``check()`` holds (fails the test after ``timeout``)."""
    started = time.perf_counter()
    while not check():
        assert time.perf_counter() - started < timeout, "not within the bound"
        time.sleep(0.0005)
    return time.perf_counter() - started


@pytest.fixture
def pair(url: str) -> Iterator[tuple[AgentCache, AgentCache]]:
    """A cache with a near cache, and a plain one on the same prefix (another worker)."""
    prefix = unique_prefix()
    with (
        AgentCache.from_url(url, prefix=prefix, near_cache=NearCache()) as near,
        AgentCache.from_url(url, prefix=prefix) as other,
    ):
        _live(near)
        yield near, other


def test_hits_are_served_from_memory_without_a_round_trip(pair: tuple[AgentCache, AgentCache]) -> None:
    near, other = pair
    other.tool.store("search", {"q": 1}, ["a", "b"])
    other.session.set("t", "f", {"x": 1}, ttl=60)
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    other.llm.store(request, {"answer": 42})
    _settle(
        near,
        lambda: near.tool.check("search", {"q": 1}),
        lambda: near.session.get("t", "f"),
        lambda: near.llm.check(request),
    )
    before = near.round_trips
    for _ in range(50):
        assert near.tool.check("search", {"q": 1}).value == ["a", "b"]
        assert near.session.get("t", "f") == {"x": 1}
        assert near.llm.check(request).response == {"answer": 42}
        assert near.tool.get_or_compute("search", {"q": 1}, lambda: pytest.fail("computed")) == ["a", "b"]
    assert near.round_trips == before
    stats = near.stats()
    assert stats.near is not None and stats.near.hits >= 200 and stats.near.entries == 3
    assert stats.tool.hits >= 100, "local hits count as hits in the shared statistics"


def test_another_workers_write_is_seen_within_a_bound(pair: tuple[AgentCache, AgentCache]) -> None:
    near, other = pair
    other.tool.store("weather", {"city": "Paris"}, "sunny")
    other.session.set("t", "f", 1, ttl=60)
    assert near.tool.check("weather", {"city": "Paris"}).value == "sunny"
    assert near.session.get("t", "f") == 1
    other.tool.store("weather", {"city": "Paris"}, "rain")
    other.session.set("t", "f", 2, ttl=60)
    delay = _until(lambda: near.tool.check("weather", {"city": "Paris"}).value == "rain", timeout=2)
    _until(lambda: near.session.get("t", "f") == 2, timeout=2)
    assert delay < 2
    other.tool.invalidate("weather", {"city": "Paris"})
    other.session.delete("t", "f")
    _until(lambda: not near.tool.check("weather", {"city": "Paris"}).hit, timeout=2)
    _until(lambda: near.session.get("t", "f") is None, timeout=2)


def _writer(url: str, prefix: str, value: str) -> None:
    with AgentCache.from_url(url, prefix=prefix) as cache:
        cache.tool.store("weather", {"city": "Oslo"}, value)


def test_a_write_from_another_process(url: str) -> None:
    prefix = unique_prefix()
    with AgentCache.from_url(url, prefix=prefix, near_cache=NearCache()) as near:
        _live(near)
        near.tool.store("weather", {"city": "Oslo"}, "snow")
        _until(lambda: near.tool.check("weather", {"city": "Oslo"}).value == "snow" and _held(near) == 1)
        process = multiprocessing.get_context("spawn").Process(target=_writer, args=(url, prefix, "thaw"))
        process.start()
        process.join(30)
        assert process.exitcode == 0
        _until(lambda: near.tool.check("weather", {"city": "Oslo"}).value == "thaw", timeout=2)


def test_own_writes_are_read_back_at_once(pair: tuple[AgentCache, AgentCache]) -> None:
    near, _ = pair
    for value in range(20):  # no waiting for the report of the write
        near.session.set("t", "f", value, ttl=60)
        assert near.session.get("t", "f") == value
        near.tool.store("calc", {"x": 1}, value)
        assert near.tool.check("calc", {"x": 1}).value == value
    near.session.delete("t", "f")
    assert near.session.get("t", "f") is None
    near.tool.invalidate("calc", {"x": 1})
    assert not near.tool.check("calc", {"x": 1}).hit
    near.session.set("t", "g", 1, ttl=60)
    near.session.get("t", "g")
    near.session.destroy_thread("t")
    assert near.session.get("t", "g") is None


def test_an_entry_is_not_served_past_its_own_expiry(pair: tuple[AgentCache, AgentCache]) -> None:
    near, other = pair
    other.tool.store("quote", {"s": "X"}, 10, ttl=0.4)
    assert near.tool.check("quote", {"s": "X"}).value == 10
    time.sleep(0.6)
    assert not near.tool.check("quote", {"s": "X"}).hit


def test_session_fields_are_local_only_within_the_window_and_then_refreshed(
    pair: tuple[AgentCache, AgentCache],
) -> None:
    near, other = pair
    other.session.set("t", "f", "v", ttl=5)
    _settle(near, lambda: near.session.get("t", "f"))  # the window (10% of 5 s) started at its server read
    before = near.round_trips
    near.session.get("t", "f")
    assert near.round_trips == before, "inside the window: from memory"
    time.sleep(0.6)
    assert near.session.get("t", "f") == "v"
    assert near.round_trips == before + 1, "past the window: to the server, which refreshes the TTL"
    assert 4900 < int(other.client.pttl(other.session.key("t", "f"))) <= 5000


def test_processes_sharing_a_field_do_not_drop_each_others_copies(url: str) -> None:
    """A read that goes to the server refreshes the field only when less than 98% of its TTL is
    left, so one process's read does not report a change that drops the other's copy (which would
    then read, refresh and drop the first's, in turn, for ever)."""
    prefix = unique_prefix()
    with (
        AgentCache.from_url(url, prefix=prefix, near_cache=NearCache()) as a,
        AgentCache.from_url(url, prefix=prefix, near_cache=NearCache()) as b,
    ):
        _live(a)
        _live(b)
        a.session.set("t", "f", "shared", ttl=60)
        _settle(a, lambda: a.session.get("t", "f"), lambda: b.session.get("t", "f"))
        _settle(b, lambda: a.session.get("t", "f"), lambda: b.session.get("t", "f"))
        before = a.round_trips + b.round_trips
        for _ in range(200):
            assert a.session.get("t", "f") == "shared"
            assert b.session.get("t", "f") == "shared"
        assert a.round_trips + b.round_trips == before


def test_fixed_deadlines_and_no_ttl_are_not_kept(pair: tuple[AgentCache, AgentCache]) -> None:
    near, other = pair
    from datetime import UTC, datetime, timedelta

    other.session.set("t", "fixed", 1, expires_at=datetime.now(UTC) + timedelta(seconds=30))
    time.sleep(0.05)
    near.session.get("t", "fixed")
    before = near.round_trips
    near.session.get("t", "fixed")
    assert near.round_trips == before + 1


def test_bounded_by_entries_and_bytes(url: str) -> None:
    with AgentCache.from_url(url, prefix=unique_prefix(), near_cache=NearCache(max_entries=3, max_bytes=10_000)) as c:
        _live(c)
        for i in range(5):
            c.tool.store("t", {"i": i}, i)

        def read_all() -> bool:
            for i in range(5):
                c.tool.check("t", {"i": i})
            return c.settings.near is not None and c.settings.near.stats().evictions >= 2

        _until(read_all)
        stats = c.stats().near
        assert stats is not None and stats.entries <= 3
        c.tool.store("big", {}, "x" * 20_000)
        time.sleep(0.05)
        c.tool.check("big", {})
        assert c.stats().near.bytes <= 10_000  # type: ignore[union-attr]


async def test_the_async_facade(url: str) -> None:
    prefix = unique_prefix()
    async with AsyncAgentCache.from_url(url, prefix=prefix, near_cache=NearCache()) as near:
        await near.ping()
        while not near.settings.near.stats().live:  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
        await near.tool.store("t", {"a": 1}, "one")
        quiet = 0
        for _ in range(300):  # until reads come from memory (the store's own report may come late)
            before = near.round_trips
            assert (await near.tool.check("t", {"a": 1})).value == "one"
            quiet = quiet + 1 if near.round_trips == before else 0
            if quiet == 3:
                break
            await asyncio.sleep(0.03)
        assert quiet == 3
        with AgentCache.from_url(url, prefix=prefix) as other:
            other.tool.store("t", {"a": 1}, "two")
        for _ in range(400):
            if (await near.tool.check("t", {"a": 1})).value == "two":
                break
            await asyncio.sleep(0.005)
        assert (await near.tool.check("t", {"a": 1})).value == "two"


# --- on a server of its own: FLUSHALL, eviction, a killed listening connection -------------------


@pytest.fixture
def own_server() -> Iterator[str]:
    with valkey_server("standalone") as server:
        yield server.url


def test_flushall_empties_the_near_cache(own_server: str) -> None:
    with AgentCache.from_url(own_server, near_cache=NearCache()) as near:
        _live(near)
        near.tool.store("t", {}, 1)
        _settle(near, lambda: near.tool.check("t", {}))
        store = near.settings.near
        assert store is not None
        stats, sent = store.stats(), near.round_trips
        assert near.tool.check("t", {}).value == 1
        assert near.round_trips == sent and store.stats().hits == stats.hits + 1, "served from memory"
        assert _held(near) >= 1
        valkey.Valkey.from_url(own_server).flushall()
        _until(lambda: not near.tool.check("t", {}).hit, timeout=2)
        assert store.stats().flushes > stats.flushes, "the server's report flushed the near cache"


def test_evicted_keys_are_not_served(own_server: str) -> None:
    admin = valkey.Valkey.from_url(own_server)
    with AgentCache.from_url(own_server, near_cache=NearCache()) as near:
        _live(near)
        near.tool.store("first", {}, "x" * 1000)
        time.sleep(0.05)
        assert near.tool.check("first", {}).hit
        admin.config_set("maxmemory-policy", "allkeys-lru")
        admin.config_set("maxmemory", "3mb")
        for i in range(40_000):  # eviction samples keys (approximate LRU): fill until it took ours
            admin.set(f"filler:{i}", "y" * 1000)
            if i % 500 == 499 and not admin.exists(near.tool.key("first", {})):
                break
        assert admin.exists(near.tool.key("first", {})) == 0, "the server evicted it"
        _until(lambda: not near.tool.check("first", {}).hit, timeout=2)


def test_a_lost_listening_connection_flushes_and_recovers(own_server: str) -> None:
    admin = valkey.Valkey.from_url(own_server)
    with AgentCache.from_url(own_server, near_cache=NearCache()) as near:
        _live(near)
        near.tool.store("t", {}, "old")
        time.sleep(0.05)
        assert near.tool.check("t", {}).value == "old"
        flushes = near.stats().near.flushes  # type: ignore[union-attr]
        admin.client_kill_filter(_type="pubsub")
        admin.set(near.tool.key("t", {}), b"")  # changed while nobody listens (its report is lost)
        admin.delete(near.tool.key("t", {}))
        with AgentCache.from_url(own_server) as other:
            other.tool.store("t", {}, "new")
        _until(lambda: near.stats().near.flushes > flushes, timeout=5)  # type: ignore[union-attr]
        _live(near)
        assert near.tool.check("t", {}).value == "new"
        assert near.tool.check("t", {}).value == "new"


# --- the session guarantee -------------------------------------------------------------------------


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps=st.lists(st.floats(min_value=0.0, max_value=0.6), min_size=2, max_size=4))
def test_a_field_read_within_the_guarantee_never_expires(gaps: list[float], server_urls: Callable[[str], str]) -> None:
    """TTL 1 s, window 10%: a field read at least every 0.88 s never expires on the server (the gaps
    stop at 0.6 s, leaving room for a loaded machine's scheduling)."""
    url = server_urls("cluster")
    with AgentCache.from_url(url, prefix=unique_prefix(), near_cache=NearCache(session_window=0.1)) as near:
        _live(near)
        near.session.set("t", "f", "kept", ttl=1)
        assert near.session.get("t", "f") == "kept"
        for gap in gaps:
            time.sleep(gap)
            assert near.session.get("t", "f") == "kept"
        assert int(near.client.pttl(near.session.key("t", "f"))) > 0


def test_a_failover_flushes_and_tracking_resumes_on_the_new_primary() -> None:
    """A primary SIGKILLed: its listening connection breaks, everything is flushed, tracking
    resumes on the promoted replica, and changes made after the failover are seen there too."""
    with valkey_server("cluster3r") as cluster:
        prefix = unique_prefix()
        keys = [{"n": i} for i in range(30)]  # spread over every primary's slots
        with (
            AgentCache.from_url(cluster.url, prefix=prefix, near_cache=NearCache()) as near,
            AgentCache.from_url(cluster.url, prefix=prefix) as other,
        ):
            _live(near)
            for args in keys:
                other.tool.store("t", args, "before")
            time.sleep(1.5)  # the reports delivered; the replicas caught up
            for args in keys:
                _until(lambda a=args: near.tool.check("t", a).value == "before")  # type: ignore[misc]
            flushes = near.stats().near.flushes  # type: ignore[union-attr]
            cluster.nodes[1].kill()

            def recovered() -> bool:
                for args in keys:
                    with contextlib.suppress(BackendError):
                        near.tool.check("t", args)
                stats = near.settings.near.stats()  # type: ignore[union-attr]  # local: no round trip
                return stats.live and stats.flushes > flushes

            _until(recovered, timeout=30)
            for args in keys:
                for _attempt in range(100):
                    try:
                        other.tool.store("t", args, "after")
                        break
                    except BackendError:
                        time.sleep(0.1)
            for args in keys:
                _until(lambda a=args: near.tool.check("t", a).value == "after", timeout=3)  # type: ignore[misc]
