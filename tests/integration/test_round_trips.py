"""Round trips are the currency: what each operation costs, counted by the executor and by the server."""

from __future__ import annotations

from typing import Any

import pytest

from agentcache import AgentCache
from agentcache.testing import unique_prefix
from tests.helpers import cost


def test_point_operations_cost_one_round_trip(cache: Any) -> None:
    cache.session.set("warm", "up", 1)
    cache.session.get("warm", "up")
    cache.session.get("warm", "unknown")  # the first script call may teach the server the script
    cache.session.get_all("warm")
    assert cost(cache, lambda: cache.session.set("t", "f", {"v": 1})) == 1
    assert cost(cache, lambda: cache.session.get("t", "f")) == 1
    assert cost(cache, lambda: cache.session.get("t", "missing")) == 1
    assert cost(cache, lambda: cache.session.ttl("t", "f")) == 1
    assert cost(cache, lambda: cache.session.delete("t", "f")) == 1


def test_a_script_the_server_lacks_is_sent_once_more_then_cached(cache: Any, server_urls: Any) -> None:

    cache.session.set("t", "f", 1)
    flush_scripts(cache, server_urls)
    # a field this cache has not seen is read by the get script (one it wrote is a plain GETEX)
    assert cost(cache, lambda: cache.session.get("t", "g")) == 2  # EVALSHA -> NOSCRIPT -> EVAL
    assert cost(cache, lambda: cache.session.get("t", "g")) == 1


def flush_scripts(cache: Any, server_urls: Any) -> None:
    """Make every node of the cache's server forget its scripts."""
    import valkey

    from tests.helpers import command

    if cache.topology == "memory":
        command(cache, "SCRIPT", "FLUSH")
        return
    for port in {int(server_urls(cache.topology).rsplit(":", 1)[1])} | cluster_ports(cache):
        with valkey.Valkey(port=port) as admin:
            admin.script_flush()


def cluster_ports(cache: Any) -> set[int]:
    """Every primary's port, so a test can act on each node of a cluster."""
    from tests.helpers import command

    if not cache.topology.startswith("cluster"):
        return set()
    command(cache, "PING")
    return {int(line.split()[1].split(":")[1].split("@")[0]) for line in slots_lines(cache)}


def slots_lines(cache: Any) -> list[str]:
    import valkey

    nodes = cache.client.get_primaries()
    with valkey.Valkey(host=nodes[0].host, port=nodes[0].port) as admin:
        return [line for line in admin.execute_command("CLUSTER", "NODES").decode().splitlines() if "master" in line]


@pytest.mark.parametrize("topology", ["cluster", "cluster3"])
def test_thread_wide_operations_on_cluster_do_not_depend_on_unrelated_keys(topology: str, server_urls: Any) -> None:
    """On a cluster-mode server the SCAN stays in the thread's slot: one round trip per operation
    whether the server holds 0 or 20 000 unrelated keys."""
    import valkey

    url = server_urls(topology)
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        for i in range(20):
            cache.session.set("thread", f"f{i}", i)
        cache.session.get_all("thread")  # the node that owns the thread learns the script
        empty = {
            op: cost(cache, lambda op=op: getattr(cache.session, op)("thread")) for op in ("get_all", "touch", "fields")
        }
        filler = valkey.ValkeyCluster.from_url(url)
        pipe = filler.pipeline()
        for i in range(20_000):
            pipe.set(f"unrelated:{cache.settings.prefix}:{i}", b"x")
        pipe.execute()
        full = {
            op: cost(cache, lambda op=op: getattr(cache.session, op)("thread")) for op in ("get_all", "touch", "fields")
        }
        assert empty == full == {"get_all": 1, "touch": 1, "fields": 1}
        assert len(cache.session.get_all("thread")) == 20
        assert cost(cache, lambda: cache.session.destroy_thread("thread")) == 1
        for i in range(0, 20_000, 1000):
            filler.delete(*[f"unrelated:{cache.settings.prefix}:{j}" for j in range(i, i + 1000)])
        filler.close()


def test_thread_wide_round_trips_follow_the_thread_size_on_cluster(server_urls: Any) -> None:
    with AgentCache.from_url(server_urls("cluster"), prefix=unique_prefix(), scan_count=100) as cache:
        cache.session.get_all("warm-up")
        for i in range(1000):
            cache.session.set("big", f"f{i}", i)
        trips = cost(cache, lambda: cache.session.get_all("big"))
        assert 1 < trips <= 1000 // 100 + 2  # about one per scan_count keys of the thread


def test_server_sees_one_command_per_point_operation(server_urls: Any) -> None:
    """Cross-check the executor's count with the server's own command statistics."""
    import valkey

    url = server_urls("standalone")
    admin = valkey.Valkey.from_url(url)
    prefix = unique_prefix()
    with (
        AgentCache.from_url(url, prefix=prefix, cluster=False) as cache,
        AgentCache.from_url(url, prefix=prefix, cluster=False) as other,
    ):
        cache.session.set("t", "f", 1)
        cache.session.get("t", "f")
        other.session.get("t", "f")
        admin.config_resetstat()
        for _ in range(10):
            cache.session.set("t", "f", 1)
            cache.session.get("t", "f")
        other.session.get("t", "g")  # a field this cache has not seen: the get script
        stats: dict[str, Any] = admin.info("commandstats")  # type: ignore[assignment]
    admin.close()
    calls = {name.removeprefix("cmdstat_"): stat["calls"] for name, stat in stats.items()}
    calls.pop("info", None)
    calls.pop("config|resetstat", None)
    # SET and GETEX came from the client (the TTL of a field it wrote is known: no script); the
    # other cache's read of an unseen field is one EVALSHA, whose GET ran inside the script
    assert calls == {"set": 10, "getex": 10, "evalsha": 1, "get": 1}


def test_a_batch_of_several_commands_is_one_pipeline_and_resends_only_unknown_scripts(
    cache: Any, server_urls: Any
) -> None:
    """The executors' pipeline path, and NOSCRIPT handled inside a batch: replies stay in order."""
    import inspect

    from agentcache.core.commands import cmd
    from agentcache.encoding import codec
    from agentcache.tiers.session.tier import SESSION_GET

    key = cache.session.key("t", "f")
    cache.session.set("t", "f", "v")
    flush_scripts(cache, server_urls)

    def op() -> Any:
        replies = yield [cmd("SET", key + "x", b"1"), SESSION_GET([key]), cmd("GET", key + "x")]
        return replies

    before = cache.round_trips
    result = cache._executor.run(op())
    replies = cache._loop.run_until_complete(result) if inspect.isawaitable(result) else result
    assert cache.round_trips - before == 2  # the batch, then the one unknown script by body
    assert codec.decode(replies[1]) == "v" and replies[2] == b"1" and replies[0]
    assert cache.session.get("t", "f") == "v"
