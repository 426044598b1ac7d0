"""The tool tier on every topology and both facades."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from agentcache import (
    NO_EXPIRY,
    AgentCache,
    InvalidArgumentError,
    SerializationError,
    ToolPolicy,
    ValueTooLargeError,
)
from tests.helpers import command, cost, make_cache
from tests.integration.test_session import VALUES

ARGS = {"city": "Paris", "units": "metric", "days": 3}


class Forecast(pydantic.BaseModel):
    city: str
    temps: list[float]


def test_a_stored_result_is_a_hit_with_its_metadata(cache: Any) -> None:
    tool = cache.tool
    assert tool.check("weather", ARGS).hit is False
    before = datetime.now(UTC)
    tool.store("weather", ARGS, {"temp": 21}, ttl=60, cost=0.02)
    found = tool.check("weather", {"days": 3, "units": "metric", "city": "Paris"})  # another key order
    assert found.hit is True
    assert found.value == {"temp": 21}
    assert found.cost == 0.02
    assert 55 < found.ttl <= 60
    assert found.stored_at is not None
    assert abs((found.stored_at - before).total_seconds()) < 5
    tool.store("weather", ARGS, "no ttl")
    assert tool.check("weather", ARGS).ttl is None


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_round_trip_with_their_types(cache: Any, value: Any) -> None:
    cache.tool.store("t", [1], value)
    back = cache.tool.check("t", [1]).value
    assert back == value
    assert type(back) is type(value)


def test_results_read_back_as_models(cache: Any) -> None:
    cache.tool.store("forecast", "Paris", Forecast(city="Paris", temps=[1.5, 2.0]))
    assert cache.tool.check("forecast", "Paris").value == {"city": "Paris", "temps": [1.5, 2.0]}
    assert cache.tool.check("forecast", "Paris", model=Forecast).value == Forecast(city="Paris", temps=[1.5, 2.0])
    got = cache.tool.get_or_compute("forecast", "Paris", lambda: 1 / 0, model=Forecast)
    assert got == Forecast(city="Paris", temps=[1.5, 2.0])
    with pytest.raises(SerializationError, match="forecast"):
        cache.tool.check("forecast", "Paris", model=ToolPolicyModel)


class ToolPolicyModel(pydantic.BaseModel):
    ttl: int


def test_calls_that_json_would_merge_are_different_entries(cache: Any) -> None:
    for i, args in enumerate([{"n": 1}, {"n": 1.0}, {"n": "1"}, {"n": True}]):
        cache.tool.store("t", args, i)
    assert [cache.tool.check("t", a).value for a in [{"n": 1}, {"n": 1.0}, {"n": "1"}, {"n": True}]] == [0, 1, 2, 3]
    cache.tool.store("t", [1, 2], "list")
    assert cache.tool.check("t", (1, 2)).value == "list"


def test_tools_do_not_share_results(cache: Any) -> None:
    cache.tool.store("a", ARGS, "from a")
    assert cache.tool.check("b", ARGS).hit is False
    assert cache.tool.check("a:b", ARGS).hit is False


def test_too_large_results_are_refused(server_urls: Any) -> None:
    cache, close = make_cache("memory", "sync", server_urls, max_value_bytes=100)
    try:
        with pytest.raises(ValueTooLargeError):
            cache.tool.store("t", 1, "x" * 200)
        with pytest.raises(ValueTooLargeError):
            cache.tool.get_or_compute("t", 1, lambda: "x" * 200)
        assert command(cache, "EXISTS", cache.tool.key("t", 1)) == 0  # the claim was given up
    finally:
        close()


def test_ttl_precedence_call_then_policy_then_option_then_none(server_urls: Any, cache: Any) -> None:
    if cache.topology == "memory":
        pytest.skip("two in-memory caches share nothing")
    other, close = make_cache(cache.topology, "sync", server_urls, prefix=cache.settings.prefix, tool_ttl=100)
    try:
        cache.tool.store("t", 1, "none")
        assert cache.tool.check("t", 1).ttl is None  # no option, no policy
        other.tool.store("t", 2, "option")
        assert 95 < other.tool.check("t", 2).ttl <= 100
        cache.tool.set_policy("t", ttl=500)
        other.tool.store("t", 3, "stale")  # other read "no policy" under a second ago: it may apply that
        assert 95 < other.tool.check("t", 3).ttl <= 100
        other.settings.policies.refresh_seconds = 0  # from now on it re-reads the policy on every store
        other.tool.store("t", 3, "policy")
        assert 495 < other.tool.check("t", 3).ttl <= 500
        other.tool.store("t", 4, "call", ttl=20)
        assert 15 < other.tool.check("t", 4).ttl <= 20
        cache.tool.set_policy("t", ttl=NO_EXPIRY)
        cache.tool.store("t", 5, "never")
        assert cache.tool.check("t", 5).ttl is None
        other.tool.store("t", 6, "never either")
        assert other.tool.check("t", 6).ttl is None
        assert other.tool.get_or_compute("t", 7, lambda: "computed") == "computed"
        assert other.tool.check("t", 7).ttl is None
    finally:
        close()


def test_policies_are_stored_in_valkey(cache: Any, server_urls: Any) -> None:
    assert cache.tool.get_policy("search") is None
    cache.tool.set_policy("search", ttl=90)
    assert cache.tool.get_policy("search") == ToolPolicy(ttl=90.0)
    if cache.topology != "memory":  # another cache (a process would do the same) reads it
        other, close = make_cache(cache.topology, "sync", server_urls, prefix=cache.settings.prefix)
        try:
            # a cache that has not read the policy yet applies it on its first store
            other.ping()
            other.topology = cache.topology
            load_scripts(other, server_urls)
            assert cost(other, lambda: other.tool.store("search", 1, "r")) == 2  # store + TTL correction
            assert 85 < other.tool.check("search", 1).ttl <= 90
            assert cost(other, lambda: other.tool.store("search", 2, "r")) == 1
            assert other.tool.get_policy("search") == ToolPolicy(ttl=90.0)
        finally:
            close()
    assert cache.tool.clear_policy("search") is True
    assert cache.tool.clear_policy("search") is False
    assert cache.tool.get_policy("search") is None


def load_scripts(cache: Any, server_urls: Any) -> None:
    """Teach every node the scripts, so that no count below includes a NOSCRIPT resend."""
    import valkey

    from agentcache.core.commands import Script
    from agentcache.tiers.session import tier as session
    from agentcache.tiers.shelf import scripts
    from tests.integration.test_round_trips import cluster_ports

    sources = [v.source for m in (session, scripts) for v in vars(m).values() if isinstance(v, Script)]
    ports = cluster_ports(cache)
    if not ports:
        for source in sources:
            command(cache, "SCRIPT", "LOAD", source)
        return
    for port in ports:
        with valkey.Valkey(port=port) as node:
            for source in sources:
                node.script_load(source)


def test_round_trips_of_point_operations(cache: Any, server_urls: Any) -> None:
    cache.tool.set_policy("t", ttl=100)  # this cache now knows the policy
    load_scripts(cache, server_urls)
    cache.settings.stats.flush_seconds = 0  # statistics go out with every batch: still no extra round trip
    assert cost(cache, lambda: cache.tool.check("t", 0)) == 1
    assert cost(cache, lambda: cache.tool.check("t", 1)) == 1
    assert cost(cache, lambda: cache.tool.store("t", 1, "v")) == 1
    assert cost(cache, lambda: cache.tool.get_or_compute("t", 1, lambda: 1 / 0)) == 1  # a hit
    assert cost(cache, lambda: cache.tool.get_or_compute("t", 2, lambda: "v")) == 2  # claim, store
    assert cost(cache, lambda: cache.tool.invalidate("t", 2)) == 1
    assert cost(cache, lambda: cache.session.get("t", "f")) == 1
    assert cost(cache, lambda: cache.session.set("t", "f", 1)) == 1


def test_get_or_compute_computes_once_then_hits(cache: Any) -> None:
    calls: list[int] = []

    def fn() -> Any:
        calls.append(1)
        return (1, {"k": b"v"})

    assert cache.tool.get_or_compute("t", ARGS, fn, ttl=60) == [1, {"k": b"v"}]  # as the cache returns it
    assert cache.tool.get_or_compute("t", ARGS, fn, ttl=60) == [1, {"k": b"v"}]
    assert calls == [1]
    assert 55 < cache.tool.check("t", ARGS).ttl <= 60


class BoomError(Exception):
    pass


def test_a_failing_function_caches_nothing_and_releases_its_claim(cache: Any) -> None:
    def fail() -> Any:
        raise BoomError("no weather today")

    with pytest.raises(BoomError, match="no weather today"):
        cache.tool.get_or_compute("t", ARGS, fail, lock_timeout=60)
    assert command(cache, "EXISTS", cache.tool.key("t", ARGS)) == 0
    assert cache.tool.check("t", ARGS).hit is False
    start = time.monotonic()
    assert cache.tool.get_or_compute("t", ARGS, lambda: "ok", lock_timeout=60) == "ok"  # no wait for the claim
    assert time.monotonic() - start < 30


def test_a_waiter_computes_when_the_computing_caller_fails(server_urls: Any, cache: Any) -> None:
    if not isinstance(cache, AgentCache):
        pytest.skip("the async facade is covered by test_tool_async.py")
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def failing() -> Any:
        started.set()
        release.wait(10)
        raise BoomError

    def first() -> None:
        try:
            cache.tool.get_or_compute("t", ARGS, failing)
        except BoomError:
            outcome["first"] = "raised"

    thread = threading.Thread(target=first)
    thread.start()
    started.wait(10)
    waiter = threading.Thread(target=lambda: outcome.update(second=cache.tool.get_or_compute("t", ARGS, lambda: 2)))
    waiter.start()
    time.sleep(0.05)  # the waiter finds the claim and waits
    release.set()
    thread.join(10)
    waiter.join(10)
    assert outcome == {"first": "raised", "second": 2}


def test_threads_asking_at_once_compute_once(cache: Any) -> None:
    if not isinstance(cache, AgentCache):
        pytest.skip("the async facade is covered by test_tool_async.py")
    runs: list[int] = []

    def slow() -> str:
        runs.append(1)
        time.sleep(0.2)
        return "result"

    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.tool.get_or_compute("slow", ARGS, slow))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == ["result"] * 6
    assert runs == [1]
    assert len(cache.settings.flights) == 0


def test_a_lapsed_claim_is_taken_over(cache: Any) -> None:
    """A claim left by a caller that died lapses after its lock_timeout; the next caller computes."""
    key = cache.tool.key("t", ARGS)
    command(cache, "SET", key, b"\x00dead caller token", "PX", 300)
    assert cache.tool.check("t", ARGS).hit is False  # a claim is not a result
    assert cache.tool.invalidate("t", ARGS) is False  # nor is it removed as one
    assert cache.tool.get_or_compute("t", ARGS, lambda: "taken over") == "taken over"


def test_the_sync_facade_refuses_coroutine_functions(server_urls: Any) -> None:
    cache, close = make_cache("memory", "sync", server_urls)

    async def fetch() -> int:
        return 1

    try:
        with pytest.raises(InvalidArgumentError, match="AsyncAgentCache"):
            cache.tool.get_or_compute("t", 1, fetch)
        assert command(cache, "EXISTS", cache.tool.key("t", 1)) == 0
        with pytest.raises(InvalidArgumentError, match="coroutine"):
            cache.tool.cached()(fetch)
    finally:
        close()


def test_invalidate_one_call(cache: Any) -> None:
    cache.tool.store("t", ARGS, 1)
    assert cache.tool.invalidate("t", {"days": 3, "city": "Paris", "units": "metric"}) is True
    assert cache.tool.invalidate("t", ARGS) is False
    assert cache.tool.check("t", ARGS).hit is False


def test_invalidate_tool_removes_every_result_of_that_tool_only(cache: Any) -> None:
    for i in range(300):  # spread over every slot and node
        cache.tool.store("search", {"q": i}, i)
    for name in ["search:x", "searc", "search*", "other"]:
        cache.tool.store(name, {"q": 1}, name)
    command(cache, "SET", cache.tool.key("search", "computing"), b"\x00token", "PX", 60_000)
    assert cache.tool.invalidate_tool("search") == 300
    assert cache.tool.invalidate_tool("search") == 0
    assert cache.tool.check("search", {"q": 5}).hit is False
    for name in ["search:x", "searc", "search*", "other"]:
        assert cache.tool.check(name, {"q": 1}).value == name
    assert cache.tool.invalidate_tool("search*") == 1
    assert cache.tool.check("search:x", {"q": 1}).hit is True


def test_statistics_per_tier_and_per_tool(cache: Any) -> None:
    cache.reset_stats()
    cache.session.set("t", "f", 1)
    cache.session.get("t", "f")
    cache.session.get("t", "missing")
    cache.tool.check("search", 1)
    cache.tool.store("search", 1, "r", cost=0.5)
    for _ in range(3):
        cache.tool.check("search", 1)
    cache.tool.get_or_compute("fetch", 2, lambda: "x", cost=2)
    cache.tool.get_or_compute("fetch", 2, lambda: "x")
    stats = cache.stats()
    assert (stats.session.hits, stats.session.misses, stats.session.writes) == (1, 1, 1)
    assert stats.session.hit_rate == 0.5
    assert (stats.tool.hits, stats.tool.misses, stats.tool.writes) == (4, 2, 2)
    search, fetch = stats.tools["search"], stats.tools["fetch"]
    assert (search.hits, search.misses, search.writes, search.cost_saved) == (3, 1, 1, 1.5)
    assert search.hit_rate == 0.75
    assert (fetch.hits, fetch.misses, fetch.writes, fetch.cost_saved) == (1, 1, 1, 2)
    assert search.recommendation == "not_enough_data"
    cache.reset_stats()
    assert cache.stats().tool.hits == 0


def test_recommendations_follow_the_hit_rate(cache: Any) -> None:
    cache.reset_stats()
    cache.tool.store("hot", 1, "r")
    cache.tool.store("cold", 1, "r")
    for i in range(20):
        cache.tool.check("hot", 1 if i else 2)  # 19 of 20 hit
        cache.tool.check("cold", 1 if i < 2 else i)  # 2 of 20 hit
        cache.tool.check("warm", 1)
    cache.tool.store("warm", 1, "r")
    for _ in range(20):
        cache.tool.check("warm", 1)  # 20 of 40
    tools = cache.stats().tools
    assert tools["hot"].recommendation == "raise_ttl"
    assert tools["warm"].recommendation == "keep"
    assert tools["cold"].recommendation == "lower_ttl_or_stop"


def test_statistics_are_shared_by_caches_on_one_server(cache: Any, server_urls: Any) -> None:
    if cache.topology == "memory":
        pytest.skip("in-memory caches share nothing")
    cache.reset_stats()
    other, close = make_cache(cache.topology, "sync", server_urls, prefix=cache.settings.prefix)
    other.tool.check("t", 1)
    other.session.get("t", "f")
    close()  # closing ships its counts
    cache.tool.check("t", 1)
    stats = cache.stats()
    assert stats.tool.misses == 2
    assert stats.session.misses == 1


def test_counts_ship_with_a_later_round_trip(cache: Any, server_urls: Any) -> None:
    if cache.topology == "memory":
        pytest.skip("in-memory caches share nothing")
    cache.reset_stats()
    other, close = make_cache(cache.topology, "sync", server_urls, prefix=cache.settings.prefix)
    try:
        other.settings.stats.flush_seconds = 0.05
        other.tool.check("t", 1)
        assert cache.stats().tool.misses == 0  # still in the other cache's process
        time.sleep(0.1)
        other.tool.check("t", 2)  # this batch carries the count made before it
        assert cache.stats().tool.misses == 1
    finally:
        close()


def test_the_decorator_binds_arguments_by_signature(cache: Any) -> None:
    if not isinstance(cache, AgentCache):
        pytest.skip("the async facade's decorator is covered by test_tool_async.py")
    runs: list[tuple[Any, ...]] = []

    @cache.tool.cached("lookup", ttl=60, ignore=("verbose",))
    def lookup(a: int, b: int = 2, *rest: int, verbose: bool = False, **extra: Any) -> int:
        runs.append((a, b, rest, extra))
        return a + b + sum(rest) + int(sum(extra.values()))

    assert lookup(1) == 3
    assert lookup(1, 2) == 3
    assert lookup(a=1, b=2, verbose=True) == 3
    assert lookup(1, 2, 3) == 6
    assert lookup(1, 2, x=4) == 7
    assert lookup(1, 2, x=4) == 7
    assert runs == [(1, 2, (), {}), (1, 2, (3,), {}), (1, 2, (), {"x": 4})]
    assert lookup.tool == "lookup"
    assert lookup.invalidate(1) is True
    assert lookup(1) == 3
    assert len(runs) == 4
    with pytest.raises(TypeError):
        lookup()  # type: ignore[call-arg]  # a wrong call fails as it would uncached


def triple(x: int) -> int:
    return 3 * x


def test_the_decorator_takes_a_name_and_can_be_bare(cache: Any) -> None:
    if not isinstance(cache, AgentCache):
        pytest.skip("the async facade's decorator is covered by test_tool_async.py")
    cached_triple = cache.tool.cached(triple)  # as @cache.tool.cached on a module-level function
    assert cached_triple.tool == f"{__name__}.triple"
    assert cached_triple(2) == 6
    assert cache.tool.check(f"{__name__}.triple", {"x": 2}).value == 6

    @cache.tool.cached("weather")
    def weather(city: str) -> str:
        return f"sunny in {city}"

    assert weather("Paris") == "sunny in Paris"
    assert cache.tool.check("weather", {"city": "Paris"}).value == "sunny in Paris"
    with pytest.raises(InvalidArgumentError, match="ignore"):
        cache.tool.cached("w", ignore=("nope",))(weather)


def test_functions_defined_inside_functions_need_a_name(cache: Any) -> None:
    """Closures made by one factory share a qualified name: without a name they would share results."""
    if not isinstance(cache, AgentCache):
        pytest.skip("the async facade's decorator is covered by test_tool_async.py")

    def make(n: int) -> Any:
        def add(x: int) -> int:
            return x + n

        return add

    with pytest.raises(InvalidArgumentError, match="name="):
        cache.tool.cached()(make(1))
    add1, add100 = cache.tool.cached("add1")(make(1)), cache.tool.cached("add100")(make(100))
    assert (add1(1), add100(1)) == (2, 101)


def test_a_broken_statistics_hash_does_not_fail_the_operations_it_rides_with(cache: Any) -> None:
    command(cache, "SET", f"{cache.settings.prefix}:stats", "not a hash")
    cache.settings.stats.flush_seconds = 0
    cache.session.get("t", "f")
    cache.session.set("t", "f", "written")  # carries the count of the get: HINCRBY fails, the set stands
    assert cache.session.get("t", "f") == "written"
    cache.tool.store("t", 1, "stored")
    assert cache.tool.check("t", 1).value == "stored"
    assert cache.tool.get_or_compute("t", 2, lambda: "computed") == "computed"


def test_a_tool_result_is_true_on_a_hit_and_false_on_a_miss(cache: Any) -> None:
    miss = cache.tool.check("search", {"q": "bool"})
    assert not miss and miss.hit is False
    cache.tool.store("search", {"q": "bool"}, None)  # a stored None (or 0, or "") is still a hit
    hit = cache.tool.check("search", {"q": "bool"})
    assert hit and hit.hit and hit.value is None
