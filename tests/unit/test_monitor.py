"""The monitor tier offline, where a failure is the point: timings kept when a record fails, entries
of another version skipped, a primary down reported (``drive``; live: tests/integration/test_monitor.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcache.errors import BackendError, InvalidArgumentError
from agentcache.options import make_settings
from agentcache.tiers.monitor.history import Timings, bucket, bucket_ms, parse_entry, record
from agentcache.tiers.monitor.servers import Replica, servers
from agentcache.tiers.settings import Settings
from tests.helpers import drive, names


def census_labels() -> list[str]:
    from agentcache.encoding.keys import census_heads

    return [label for label, _ in census_heads("p")]


def _record(tier: str, operation: str, seconds: float) -> Any:
    from agentcache.core.observe import Record

    return Record(tier, operation, seconds=seconds)


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


def test_an_entry_from_another_version_is_skipped() -> None:
    assert parse_entry(b"not json") is None
    assert parse_entry(b'{"t": 1}') is None
    entry = parse_entry(b'{"t": 2000, "s": 1000, "d": [], "o": {"x.y": [1, 0, 0, 40, 44], "bad": [1]}}')
    assert entry is not None and entry.counts == {} and set(entry.operations) == {"x.y"}
    assert entry.seconds == 1.0


def test_settings_give_the_record_operation_its_timings() -> None:
    timings = Timings()
    settings: Settings = make_settings({"observers": [timings]})[0]
    timings.end(_record("tool", "check", 0.001), None)
    batches, taken = drive(record(settings, interval=1), [[2]])
    (script,) = batches[0]
    assert taken is True and "op/tool.check/n" in script.args and timings.drain() == {}


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


def test_bad_arguments_are_refused_before_anything_is_sent(memory_cache: Any) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: memory_cache.monitor.record(interval=0),
        lambda: memory_cache.monitor.record(kept=float("nan")),
        lambda: memory_cache.monitor.history(-1),
        lambda: memory_cache.monitor.servers(census_keys=-1),
        lambda: memory_cache.monitor.sessions(bins=0),
    ]
    for call in calls:
        before = memory_cache.round_trips
        with pytest.raises(InvalidArgumentError):
            call()
        assert memory_cache.round_trips == before
