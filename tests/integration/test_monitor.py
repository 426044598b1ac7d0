"""The monitor tier (``cache.monitor``): the history over time, the servers' health, and reads that
change nothing; on every topology and both facades, and offline where a failure is the point."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import valkey

from agentcache.core.commands import Script
from agentcache.encoding.keys import history_key, primaries_key
from agentcache.tiers.monitor.history import Timings
from agentcache.tiers.monitor.servers import PRIMARIES_SEEN
from tests.conftest import FACADES, TOPOLOGIES
from tests.helpers import command, cost, make_cache

PRIMARY_COUNT = {"standalone": 1, "cluster": 1, "cluster3": 3, "memory": 1, "external": None, "docker": 1}


@pytest.fixture(params=[(t, f) for t in TOPOLOGIES for f in FACADES], ids=lambda p: f"{p[0]}-{p[1]}")
def timed(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> Iterator[Any]:
    """A fresh cache whose operations are timed (``observers=[Timings()]``)."""
    topology, facade = request.param
    made, close = make_cache(topology, facade, server_urls, observers=[Timings()])
    made.topology = topology
    yield made
    close()


def test_the_history_takes_one_entry_per_interval_with_what_the_counts_did(timed: Any) -> None:
    interval = 0.5  # long enough that a loaded machine does not pass it between two calls below
    assert timed.monitor.record(interval=interval) is False  # the first call keeps the counts: no entry yet
    for i in range(3):
        timed.session.set("t", f"f{i}", i)
        assert timed.session.get("t", f"f{i}") == i
    timed.tool.check("search", {"q": 1})  # a miss
    timed.tool.store("search", {"q": 1}, "result", cost=0.5)
    assert timed.tool.check("search", {"q": 1}).hit
    with pytest.raises(ValueError):
        timed.session.set("t", "", 1)  # raised before anything is sent: a timed error all the same
    timed.stats()  # ships this process's counts
    # Intervals are aligned to the clock (a new one starts at every multiple of ``interval``): wait for
    # the start of the next one, so the two calls below fall in one interval however loaded the machine.
    time.sleep(interval - time.time() % interval + 0.01)
    assert cost(timed, lambda: timed.monitor.record(interval=interval)) == 1
    assert timed.monitor.record(interval=interval) is False  # this interval has its entry already
    entries = timed.monitor.history()
    assert len(entries) == 1
    (entry,) = entries
    assert entry.since < entry.at
    counts = entry.counts
    assert counts["session/writes"] == 3 and counts["session/hits"] == 3
    assert counts["tool/hits/search"] == 1 and counts["tool/misses/search"] == 1
    assert counts["tool/cost_saved/search"] == pytest.approx(0.5)
    get = entry.operations["session.get"]
    assert get.calls == 3 and get.errors == 0
    assert get.p50_ms is not None and get.p99_ms is not None and 0 < get.p50_ms <= get.p99_ms
    assert entry.operations["session.set"].calls == 4 and entry.operations["session.set"].errors == 1
    assert cost(timed, lambda: timed.monitor.history(entry.at)) == 1
    assert timed.monitor.history(entry.at) == []


def test_the_history_is_bounded_in_time_and_expires_when_nobody_records(timed: Any) -> None:
    interval, kept = 0.1, 1.0  # a kept window a loaded machine cannot pass between the last calls
    timed.monitor.record(interval=interval, kept=kept)
    for _ in range(14):
        time.sleep(interval)
        timed.session.set("t", "f", 1)
        timed.monitor.record(interval=interval, kept=kept)
    entries = timed.monitor.history()
    assert 1 <= len(entries) <= 11  # 14 intervals were recorded; what is older than 1 s was trimmed
    assert all(e.at >= entries[-1].at - kept * 1000 for e in entries)
    left = command(timed, "PTTL", history_key(timed.settings.prefix))
    assert 0 < left <= kept * 1000


def test_servers_reports_each_primary_and_counts_the_keys_of_each_tier(cache: Any) -> None:
    for i in range(3):
        cache.session.set("census", f"f{i}", i)
    cache.tool.store("search", {"q": 1}, "r")
    health = cache.monitor.servers(census_keys=100_000)
    expected = PRIMARY_COUNT.get(cache.topology)
    if expected is not None:
        assert len(health.nodes) == expected
    census = [n.census for n in health.nodes]
    assert all(c is not None and c.exact for c in census)
    assert sum(c.tiers["session"] for c in census if c) == 3
    assert sum(c.tiers["tool"] for c in census if c) == 1
    if cache.topology != "memory":  # the in-memory backend has no INFO to speak of
        for node in health.nodes:
            assert node.readable and node.role == "master" and node.memory is not None
            assert node.memory.used > 0 and node.clients >= 1 and node.run_id
        assert health.primary_changes == 0  # first look: the primaries are remembered
        assert (health.cluster is not None) == cache.topology.startswith("cluster")
    primaries = len(health.nodes)
    assert cost(cache, lambda: cache.monitor.servers()) == primaries + (1 if cache.topology != "memory" else 0)


def test_changes_of_primaries_are_counted_after_the_first_look(server_urls: Callable[[str], str]) -> None:
    client = valkey.Valkey.from_url(server_urls("standalone"))
    key = primaries_key(f"test-primaries-{time.monotonic_ns()}")
    try:
        seen = _script(client, PRIMARIES_SEEN, key)
        assert seen("r1", "r2") == 0  # remembered
        assert seen("r1", "r2") == 0
        assert seen("r1", "r3") == 1  # r2's place taken: a failover (or a restart)
        assert seen("r3", "r4", "r5") == 3
        for i in range(80):
            seen(f"n{i}")
        assert client.execute_command("HLEN", key) <= 65  # at most 64 run ids, and the count
        assert seen("n79") == 83
    finally:
        client.delete(key)
        client.close()


def _script(client: Any, script: Script, key: str) -> Callable[..., int]:
    return lambda *args: int(client.execute_command("EVAL", script.source, 1, key, *args))


def test_sessions_counts_the_live_conversations_and_when_they_expire(cache: Any) -> None:
    for minutes in (5, 10, 15):
        cache.conversations.create(agent_id="a", user_id="u", timeout=minutes * 60)
    ended = cache.conversations.create(agent_id="a", user_id="u", timeout=600)
    ended.end()
    counts = cache.monitor.sessions(bin_s=60, bins=20)
    assert counts.live == 3
    assert [i for i, n in enumerate(counts.expiring) if n] == [4, 9, 14]  # (4, 5], (9, 10], (14, 15] minutes
    assert sum(counts.expiring) == 3 and counts.bin_ms == 60_000
    assert cost(cache, lambda: cache.monitor.sessions()) == 1
