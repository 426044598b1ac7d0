"""The monitor tier (``cache.monitor``): the history over time, the servers' health, and reads that
change nothing; on every topology and both facades, and offline where a failure is the point."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import valkey

from agentcache.core.commands import Script
from agentcache.encoding.expiry import NO_EXPIRY
from agentcache.encoding.keys import history_key, primaries_key, session_key
from agentcache.errors import BackendError, InvalidArgumentError
from agentcache.options import make_settings
from agentcache.tiers.monitor.history import Timings, bucket, bucket_ms, parse_entry, record
from agentcache.tiers.monitor.servers import PRIMARIES_SEEN, Replica, servers
from agentcache.tiers.settings import Settings
from tests.conftest import FACADES, TOPOLOGIES
from tests.helpers import command, cost, drive, make_cache, names

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


def test_timings_that_could_not_be_shipped_are_kept_for_the_next_record() -> None:
    timings = Timings()
    settings, _ = make_settings({"prefix": "p", "observers": [timings]})
    timings.end(_record("session", "get", 0.0002), None)
    sent: list[Any] = []
    with pytest.raises(BackendError):
        drive(record(settings), [BackendError(["EVALSHA"], ConnectionError("lost"))], sent)
    assert names(sent) == [["EVALSHA monitor_record"]]
    b = bucket(0.0002)
    assert timings.drain() == {"op/session.get/n": 1, f"op/session.get/l{b}": 1}  # restored, then drained
    assert bucket_ms(b) >= 0.2 > bucket_ms(b - 1)  # the bucket's bound is within a quarter octave above


def _record(tier: str, operation: str, seconds: float) -> Any:
    from agentcache.core.observe import Record

    return Record(tier, operation, seconds=seconds)


def test_an_entry_from_another_version_is_skipped() -> None:
    assert parse_entry(b"not json") is None
    assert parse_entry(b'{"t": 1}') is None
    entry = parse_entry(b'{"t": 2000, "s": 1000, "d": [], "o": {"x.y": [1, 0, 0, 40, 44], "bad": [1]}}')
    assert entry is not None and entry.counts == {} and set(entry.operations) == {"x.y"}
    assert entry.seconds == 1.0


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


def test_thread_shows_fields_and_time_left_without_refreshing_them(cache: Any) -> None:
    cache.session.set("peek", "b", {"x": [1, 2]}, ttl=60)
    cache.session.set("peek", "a", "kept", ttl=NO_EXPIRY)
    cache.session.set("peek", "big", "x" * 200, ttl=60)
    cache.session.set("peek:b", "a", 1)  # another thread, whose name starts with this one's
    time.sleep(0.05)
    fields = cache.monitor.thread("peek", max_value_bytes=100)
    assert [f.field for f in fields] == ["a", "b", "big"]
    by = {f.field: f for f in fields}
    assert by["a"].value == "kept" and by["a"].ttl_ms is None
    assert by["b"].value == {"x": [1, 2]} and by["b"].ttl_ms is not None and 0 < by["b"].ttl_ms < 60_000
    assert by["big"].value is None and by["big"].size is not None and by["big"].size > 200
    left = cache.session.ttl("peek", "b")
    assert left is not None and left < 59.99  # looking did not slide its expiry (get_all would have)
    if cache.topology in ("cluster", "cluster3"):
        assert cost(cache, lambda: cache.monitor.thread("peek")) == 1  # the SCAN stays in the thread's slot
    assert cache.monitor.thread("nobody-here") == []


def test_a_field_that_cannot_be_decoded_is_reported_not_raised(cache: Any) -> None:
    cache.session.set("broken", "fine", 1)
    key = session_key(cache.settings.prefix, "broken", "bad")
    command(cache, "SET", key, b"\x01\x00\x00\x00\x00\x00\x00\xc1")  # a header, then a byte msgpack refuses
    by = {f.field: f for f in cache.monitor.thread("broken")}
    assert by["fine"].value == 1 and by["bad"].error is not None and by["bad"].ttl_ms is None


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


def test_bad_arguments_are_refused_before_anything_is_sent(cache: Any) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: cache.monitor.record(interval=0),
        lambda: cache.monitor.record(kept=float("nan")),
        lambda: cache.monitor.history(-1),
        lambda: cache.monitor.servers(census_keys=-1),
        lambda: cache.monitor.thread("t", limit=0),
        lambda: cache.monitor.sessions(bins=0),
    ]
    for call in calls:
        before = cache.round_trips
        with pytest.raises(InvalidArgumentError):
            call()
        assert cache.round_trips == before


def test_settings_give_the_record_operation_its_timings() -> None:
    timings = Timings()
    settings: Settings = make_settings({"observers": [timings]})[0]
    timings.end(_record("tool", "check", 0.001), None)
    batches, taken = drive(record(settings, interval=1), [[2]])
    (script,) = batches[0]
    assert taken is True and "op/tool.check/n" in script.args and timings.drain() == {}


class _Node:
    def __init__(self, name: str) -> None:
        self.name = name


def _node_reply(run_id: str, *, promoted: bool = False) -> list[Any]:
    info = [b"run_id", run_id.encode(), b"role", b"master", b"used_memory", b"1000", b"maxmemory", b"0"]
    info += [b"maxmemory_policy", b"allkeys-lru", b"connected_slaves", b"1"]
    info += [b"slave0", b"ip=10.0.0.2,port=7004,state=online,offset=99,lag=1"]
    info += [b"second_repl_offset", b"1234" if promoted else b"-1"]
    cluster = [b"cluster_state", b"ok", b"cluster_current_epoch", b"7"]
    labels = len(census_labels())
    return [info, cluster, [10, 1, 10, 4, *([0] * (labels - 1)), 6]]


def census_labels() -> list[str]:
    from agentcache.encoding.keys import census_heads

    return [label for label, _ in census_heads("p")]


def test_a_primary_down_is_reported_and_the_others_shown() -> None:
    settings, _ = make_settings({"prefix": "p"})
    lost = BackendError(["EVALSHA monitor_node"], ConnectionError("refused"))
    batches, health = drive(
        servers(settings),
        [[_node_reply("r1")], lost, [_node_reply("r3", promoted=True)], [1]],
        primaries=[_Node("a:1"), _Node("b:2"), _Node("c:3")],
    )
    assert names(batches) == [["EVALSHA monitor_node"]] * 3 + [["EVALSHA monitor_primaries"]]
    assert batches[-1][0].args[-2:] == ("r1", "r3")  # the run ids of the primaries that answered
    first, down, promoted = health.nodes
    assert down.error is not None and "refused" in down.error and not down.readable
    assert first.memory is not None and first.memory.policy == "allkeys-lru" and not first.memory.evicts_conversations
    assert first.replicas == [Replica("10.0.0.2:7004", "online", 1)] and not first.promoted
    assert promoted.promoted and health.primary_changes == 1
    assert health.cluster == {"cluster_state": "ok", "cluster_current_epoch": "7"}
    census = first.census
    assert census is not None and census.exact and census.tiers["session"] == 4 and census.tiers["foreign"] == 6
