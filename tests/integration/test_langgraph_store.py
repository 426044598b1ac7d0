"""The store tier (``cache.store``) and LangGraph's store on it (``AgentCacheStore``): items,
order, paging, filters judged on the server (checked against the same rules judged here, over
hostile values), namespaces listed from the registry, TTLs refreshed on read, round trips, the
registry under concurrent writers, LangGraph's ``InMemoryStore`` as the reference for the same ops,
and a real compiled graph that reads on one thread the memory another thread wrote."""

from __future__ import annotations

import inspect
import itertools
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.store.base import BaseStore, InvalidNamespaceError, PutOp
from langgraph.store.memory import InMemoryStore

from agentcache import (
    AgentCache,
    AsyncAgentCache,
    GetItem,
    InvalidArgumentError,
    ListNamespaces,
    PutItem,
    SearchItems,
    SemanticSearchUnavailable,
)
from agentcache.encoding.keys import store_member, store_namespace_keys
from agentcache.integrations.langgraph import AgentCacheSaver
from agentcache.integrations.langgraph_store import AgentCacheStore
from agentcache.testing import unique_prefix
from agentcache.tiers.store.filters import check_filter
from agentcache.tiers.store.tier import (
    STORE_ALIVE,
    STORE_DELETE,
    STORE_GET,
    STORE_MARK,
    STORE_PUT,
    STORE_SEARCH,
    STORE_TOUCH,
)
from tests.helpers import command, cost
from tests.integration.test_acl import restricted  # noqa: F401 - the fixture: a user with the documented ACL rule


def _keys(items: list[Any]) -> list[str]:
    return [i.key for i in items]


def _pttl(cache: Any, key: str) -> int:
    return int(command(cache, "PTTL", key))


# --- the tier, on every topology and both facades ------------------------------------------------


def test_put_get_replace_delete(cache: Any) -> None:
    s = cache.store
    assert s.get(("users", "u1"), "prefs") is None
    s.put(("users", "u1"), "prefs", {"theme": "dark", "size": 3})
    first = s.get(("users", "u1"), "prefs")
    assert first.value == {"theme": "dark", "size": 3}
    assert first.namespace == ("users", "u1") and first.key == "prefs"
    assert first.created_at == first.updated_at and first.created_at.tzinfo is not None
    s.put(("users", "u1"), "prefs", {"theme": "light"})
    second = s.get(("users", "u1"), "prefs")
    assert second.value == {"theme": "light"}
    assert second.created_at == first.created_at, "replacing keeps the creation time"
    assert second.updated_at > first.updated_at
    assert s.get(("users", "u1"), "prefs", refresh=False) == second
    assert s.delete(("users", "u1"), "prefs") is True
    assert s.delete(("users", "u1"), "prefs") is False
    assert s.get(("users", "u1"), "prefs") is None
    assert s.list_namespaces() == []


def test_search_orders_pages_and_filters(cache: Any) -> None:
    s = cache.store
    s.put(("docs", "b"), "b1", {"n": 1, "kind": "note"})
    s.put(("docs", "a"), "a1", {"n": 2, "kind": "memo", "tags": ["x", "y"]})
    s.put(("docs",), "top", {"n": 0, "kind": "note"})
    s.put(("docs", "a"), "a2", {"n": 3, "kind": "note", "meta": {"lang": "en"}})
    s.put(("docs", "a"), "a1", {"n": 4, "kind": "memo", "tags": ["x", "y"]})  # keeps its place
    s.put(("docs", "a", "deep"), "d1", {"n": 5, "kind": "note"})
    s.put(("other",), "o1", {"n": 6})
    # namespace order (a namespace before those below it), then insertion order within one
    assert _keys(s.search(("docs",))) == ["top", "a1", "a2", "d1", "b1"]
    assert _keys(s.search(("docs", "a"))) == ["a1", "a2", "d1"]
    assert _keys(s.search(("docs", "a", "deep"))) == ["d1"]
    assert _keys(s.search(())) == ["top", "a1", "a2", "d1", "b1", "o1"]
    assert _keys(s.search(("doc",))) == [], "a prefix is whole labels"
    # pages across namespaces
    assert _keys(s.search(("docs",), limit=2)) == ["top", "a1"]
    assert _keys(s.search(("docs",), limit=2, offset=2)) == ["a2", "d1"]
    assert _keys(s.search(("docs",), limit=10, offset=4)) == ["b1"]
    assert _keys(s.search(("docs",), offset=9)) == []
    assert s.search(("docs",), limit=0) == []
    # filters the server judges, and those judged here (nested dicts, lists)
    assert _keys(s.search(("docs",), filter={"kind": "note"})) == ["top", "a2", "d1", "b1"]
    assert _keys(s.search(("docs",), filter={"kind": "note"}, limit=2, offset=1)) == ["a2", "d1"]
    assert _keys(s.search(("docs",), filter={"n": {"$gt": 1, "$lte": 4}})) == ["a1", "a2"]
    assert _keys(s.search(("docs",), filter={"kind": {"$ne": "note"}})) == ["a1"]
    assert _keys(s.search(("docs",), filter={"kind": {"$gte": "n"}})) == ["top", "a2", "d1", "b1"]
    assert _keys(s.search(("docs",), filter={"missing": None})) == ["top", "a1", "a2", "d1", "b1"]
    assert _keys(s.search(("docs",), filter={"tags": ["x", "y"]})) == ["a1"]
    assert _keys(s.search(("docs",), filter={"meta": {"lang": "en"}, "n": 3})) == ["a2"]
    assert _keys(s.search(("docs",), filter={"meta": {"lang": "en"}}, offset=1)) == []
    assert s.search(("docs",), filter={"kind": "note"})[0].value == {"n": 0, "kind": "note"}


def test_a_search_goes_on_where_a_call_stopped(cache: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One script call looks at a bounded number of items (so it never holds the server long); the
    search goes on from there in the next round trip, with the same results."""
    import agentcache.tiers.store.tier as tier

    s = cache.store
    values = [{"n": i, "kind": "ab"[i % 2], "tags": [i % 3]} for i in range(25)]
    s.batch([PutItem(("big",), f"k{i:02}", v, ttl=60 if i % 4 else None) for i, v in enumerate(values)])
    s.put(("big", "sub"), "s0", {"n": 99, "kind": "a", "tags": [0]})
    queries: list[dict[str, Any]] = [
        {},
        {"filter": {"kind": "a"}, "limit": 5, "offset": 2},
        {"filter": {"n": {"$gte": 20}}},
        {"filter": {"tags": [0]}, "limit": 4, "offset": 3},
        {"filter": {"kind": "a"}, "limit": 20, "offset": 10},
        {"limit": 3, "offset": 24},
    ]
    for sub in ("a", "b", "c", "d", "e"):
        s.put(("big", "sub", sub), "x", {"n": 100, "kind": "b", "tags": [sub]})
    listings: list[dict[str, Any]] = [{"prefix": ("big",)}, {"prefix": ("big",), "max_depth": 2}, {"suffix": ("c",)}]
    whole = [[(i.namespace, i.key) for i in s.search(("big",), **q)] for q in queries]
    listed = [s.list_namespaces(**q) for q in listings]
    monkeypatch.setattr(tier, "SEARCH_BUDGET", 3)
    monkeypatch.setattr(tier, "REGISTRY_PAGE", 2)  # and the registry, a page of 2 namespaces at a time
    assert [[(i.namespace, i.key) for i in s.search(("big",), **q)] for q in queries] == whole
    assert [s.list_namespaces(**q) for q in listings] == listed
    assert whole[4][-1] == (("big", "sub"), "s0")
    assert [i.namespace[-1] for i in s.search(("big",), filter={"n": 100}, offset=1)] == ["b", "c", "d", "e"]
    assert listed[1] == [("big",), ("big", "sub")]
    assert cost(cache, lambda: s.search(("big",), filter={"n": {"$gte": 20}}, limit=1)) == 7
    assert cost(cache, lambda: s.search(("big",), filter={"tags": ["e"]})) > 4


def test_list_namespaces(cache: Any) -> None:
    s = cache.store
    names = [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
        ("users", "123"),
        ("a-b",),
        ("a", "b"),
    ]
    for i, ns in enumerate(names):
        s.put(ns, f"id_{i}", {"i": i})
    assert s.list_namespaces() == sorted(names)
    assert s.list_namespaces(prefix=("a", "b")) == [
        ("a", "b"),
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
    ]
    assert s.list_namespaces(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f"), ("b", "a", "f")]
    assert s.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert s.list_namespaces(prefix=("a",), suffix=("*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert s.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b"),
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "b", "f"),
    ]
    assert s.list_namespaces(max_depth=1) == [("a",), ("a-b",), ("b",), ("users",)]
    assert s.list_namespaces(prefix=("a", "b"), limit=2, offset=1) == [("a", "b", "c"), ("a", "b", "d", "e")]
    assert s.list_namespaces(prefix=("nothing",)) == []
    s.delete(("a", "b", "c"), "id_0")  # its namespace is empty now: gone from the list
    assert ("a", "b", "c") not in s.list_namespaces(prefix=("a",))


def test_names_are_isolated(cache: Any) -> None:
    s = cache.store
    odd = ["{x}", "*", "%7B", "a:b", "ü", "tab\there", "[1]"]
    for label in odd:
        s.put(("ns", label), label, {"label": label})
    s.put(("ns",), "", {"empty key": True})
    s.put(("ns",), "k{1}*", {"braces": True})
    for label in odd:
        assert [i.value for i in s.search(("ns", label))] == [{"label": label}]
        assert s.get(("ns", label), label).key == label
    assert s.get(("ns",), "").value == {"empty key": True}
    assert s.get(("ns",), "k{1}*").value == {"braces": True}
    assert s.get(("ns",), "k{1}") is None
    assert s.list_namespaces(prefix=("ns",)) == sorted([("ns",)] + [("ns", label) for label in odd])
    assert len(s.search(("ns",), limit=100)) == len(odd) + 2


def test_round_trips(cache: Any) -> None:
    s = cache.store
    if cache.topology.startswith("cluster"):  # a script is known per node: load ours on every primary
        cache.ping()
        for script in (STORE_PUT, STORE_GET, STORE_DELETE, STORE_SEARCH, STORE_TOUCH, STORE_ALIVE, STORE_MARK):
            loaded = cache.client.script_load(script.source)
            if inspect.isawaitable(loaded):
                cache._loop.run_until_complete(loaded)
    # warm up: every script once, so a server that lacked one (NOSCRIPT, then EVAL) does not count
    s.put(("warm",), "k", {"v": {"x": 1}}, ttl=60)
    s.get(("warm",), "k")
    s.search(("warm",), filter={"v": 1})
    s.search((), filter={"v": {"x": 1}})  # (refreshed in a round trip of its own: the touch script)
    s.delete(("warm",), "k")
    s.list_namespaces()  # (takes the namespace the delete emptied out of the registry,
    s.list_namespaces()  # then its root, whose registry is empty now)
    s.put(("mem", "u1"), "k0", {"v": 0})
    s.put(("mem", "u1", "sub"), "k0", {"v": 0})
    assert cost(cache, lambda: s.put(("mem", "u1"), "k1", {"v": 1})) == 1
    assert cost(cache, lambda: s.put(("mem", "new"), "k", {"v": 1})) == 3, "a new namespace is registered"
    assert cost(cache, lambda: s.get(("mem", "u1"), "k1")) == 1
    assert cost(cache, lambda: s.get(("mem", "u1"), "k1", refresh=False)) == 1
    assert cost(cache, lambda: s.get(("mem", "u1"), "missing")) == 1
    assert cost(cache, lambda: s.delete(("mem", "u1"), "k1")) == 1
    # a namespace with nothing below it: the registry and the namespace in one round trip
    assert cost(cache, lambda: s.search(("mem", "new"))) == 1
    assert cost(cache, lambda: s.search(("mem", "new"), filter={"v": {"$gte": 1}})) == 1
    # one more for the namespaces below, unless the namespace itself fills the page
    assert cost(cache, lambda: s.search(("mem", "u1"))) == 2
    assert cost(cache, lambda: s.search(("mem", "u1"), limit=1)) == 1
    assert cost(cache, lambda: s.search(("mem",), filter={"v": 0})) == 2
    # a filter only this process judges, on items with a TTL: one more to refresh what it returns
    s.put(("mem", "ttl"), "k", {"v": {"x": 1}}, ttl=60)
    assert cost(cache, lambda: s.search(("mem", "ttl"), filter={"v": {"x": 1}})) == 2
    assert cost(cache, lambda: s.search(("mem", "ttl"), filter={"v": {"x": 1}}, refresh=False)) == 1
    assert cost(cache, lambda: s.list_namespaces(prefix=("mem",))) == 2
    assert cost(cache, lambda: s.list_namespaces()) == 3, "without a prefix: the roots first"
    assert cost(cache, lambda: s.search((), filter={"v": 7})) == 3
    gets = [GetItem(("mem", "u1"), f"k{i}") for i in range(20)]
    assert cost(cache, lambda: s.batch(gets)) == 1
    puts = [PutItem(("mem", "u1"), f"k{i}", {"i": i}) for i in range(20)]
    assert cost(cache, lambda: s.batch(puts)) == 1
    assert cost(cache, lambda: s.batch([*gets, SearchItems(("mem", "new")), *puts])) == 2


def test_ttl_is_per_item_and_refreshed_by_reads(cache: Any) -> None:
    s = cache.store
    ns = ("ttl", "u1")
    keys = store_namespace_keys(cache.settings.prefix, ns)
    item = keys.item(store_member("k"))
    s.put(ns, "k", {"v": 1}, ttl=60)
    s.put(ns, "forever", {"v": 2})
    assert 55_000 < _pttl(cache, item) <= 60_000
    assert _pttl(cache, keys.item(store_member("forever"))) == -1
    assert _pttl(cache, keys.idx) == -1, "the index lives as long as the item without a TTL"
    command(cache, "PEXPIRE", item, 5_000)
    s.get(ns, "k", refresh=False)
    assert _pttl(cache, item) <= 5_000
    s.get(ns, "k")
    assert _pttl(cache, item) > 55_000, "a read sets the item's TTL again"
    command(cache, "PEXPIRE", item, 5_000)
    s.search(ns, refresh=False)
    assert _pttl(cache, item) <= 5_000
    s.search(ns)
    assert _pttl(cache, item) > 55_000
    command(cache, "PEXPIRE", item, 5_000)
    s.search(("ttl",), filter={"v": 1})  # found below the prefix: refreshed in a round trip of its own
    assert _pttl(cache, item) > 55_000
    s.delete(ns, "forever")
    assert 0 < _pttl(cache, keys.idx) <= 60_001, "without items that never expire, the index expires too"
    assert _pttl(cache, keys.idx) >= _pttl(cache, item) - 2  # (read one after the other)


def test_items_expire_and_their_namespace_goes(cache: Any) -> None:
    s = cache.store
    s.put(("short",), "k", {"v": 1}, ttl=0.3)
    s.put(("short", "below"), "k", {"v": 1}, ttl=0.3)
    s.put(("long",), "k", {"v": 2})
    assert s.list_namespaces() == [("long",), ("short",), ("short", "below")]
    time.sleep(0.45)
    assert s.get(("short",), "k") is None
    assert s.search(("short",)) == []
    assert s.list_namespaces() == [("long",)]
    prefix = cache.settings.prefix
    assert command(cache, "ZRANGE", f"{prefix}:store-ns:{{short}}", 0, -1) == [], "the registry forgot them"
    assert command(cache, "ZRANGE", f"{prefix}:store-ns:{{long}}", 0, -1) == [b"long"]
    assert command(cache, "ZRANGE", f"{prefix}:store-roots", 0, -1) == [b"long"], "and their root"


def test_a_batch_reads_before_it_writes(cache: Any) -> None:
    s = cache.store
    s.put(("b",), "k", {"v": 1})
    got, _, found, _, listed = s.batch(
        [
            GetItem(("b",), "k"),
            PutItem(("b",), "k", {"v": 2}),
            SearchItems(("b",)),
            PutItem(("b",), "k", {"v": 3}),
            ListNamespaces((("prefix", ("b",)),)),
        ]
    )
    assert got.value == {"v": 1} and [i.value for i in found] == [{"v": 1}] and listed == [("b",)]
    assert s.get(("b",), "k").value == {"v": 3}, "the last write of an item wins"


# --- filters: what the server judges is what the rules say ----------------------------------------

EDGE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    127,
    128,
    -32,
    -33,
    255,
    65536,
    -(2**31),
    2**53,
    2**53 + 1,
    -(2**63),
    2**63,
    2**64 - 1,
    0.5,
    -0.0,
    1.0,
    1e308,
    5e-324,
    math.inf,
    -math.inf,
    math.nan,
    "",
    "a",
    "b",
    "é",
    "\U0001f600",
    "x" * 40,
    "1",
    b"a",
    b"",
    [1],
    [],
    {"a": 1},
    {},
]
OPERANDS = st.one_of(
    st.sampled_from([v for v in EDGE_VALUES if not isinstance(v, list | dict | bytes)]),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
    st.booleans(),
)
OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]


@st.composite
def server_filters(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in draw(st.lists(st.sampled_from(["a", "b", "missing"]), min_size=1, max_size=2, unique=True)):
        if draw(st.booleans()):
            out[field] = draw(OPERANDS)
        else:
            ops = draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=2, unique=True))
            operand = {op: draw(OPERANDS) for op in ops}
            for op in ops:  # order operators take numbers and strings only
                if op not in ("$eq", "$ne") and operand[op] is None:
                    operand[op] = 0
            out[field] = operand
    return out


@pytest.fixture(params=["standalone", "memory"], scope="module")
def filtered(
    request: pytest.FixtureRequest, server_urls: Callable[[str], str]
) -> Iterator[tuple[AgentCache, list[Any]]]:
    """A cache holding one item per pair of edge values (fields a and b), in one namespace."""
    cache = (
        AgentCache.in_memory(prefix=unique_prefix())
        if request.param == "memory"
        else AgentCache.from_url(server_urls("standalone"), prefix=unique_prefix())
    )
    rng = random.Random(7)
    values = [{"a": a, "b": rng.choice(EDGE_VALUES)} for a in EDGE_VALUES for _ in range(2)]
    values += [{"a": 1}, {"b": "a"}, {"a": [1, {"b": 2}], "b": {"c": [None]}}]
    cache.store.batch([PutItem(("f",), f"k{i}", v) for i, v in enumerate(values)])
    yield cache, values
    cache.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(f=server_filters())
def test_the_server_judges_filters_as_the_rules_say(filtered: tuple[AgentCache, list[Any]], f: dict[str, Any]) -> None:
    cache, values = filtered
    checked = check_filter(f)
    expected = [f"k{i}" for i, v in enumerate(values) if checked.matches(v)]
    got = cache.store.search(("f",), filter=f, limit=1000)
    assert _keys(got) == expected, (checked.server_only, f)


# --- LangGraph's store ----------------------------------------------------------------------------


@pytest.fixture
def lg_cache(url: str) -> Iterator[AgentCache]:
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        yield cache


def _same(ours: Any, theirs: Any, *, any_namespace_order: bool) -> None:
    def plain(result: Any) -> Any:
        if isinstance(result, list) and result and hasattr(result[0], "key"):
            rows = [(tuple(i.namespace), i.key, i.value) for i in result]
            return sorted(rows, key=lambda r: r[0]) if any_namespace_order else rows
        if hasattr(result, "key"):
            return (tuple(result.namespace), result.key, result.value)
        return result

    assert plain(ours) == plain(theirs)


def test_it_answers_as_in_memory_store_does(lg_cache: AgentCache) -> None:
    """The same random ops on both stores give the same results (InMemoryStore orders the
    namespaces of a search by when each was first written, we by name: the rows are compared in
    namespace order there; within a namespace the order is the same)."""
    ours, theirs = AgentCacheStore(lg_cache), InMemoryStore()
    rng = random.Random(2024)
    spaces = [("m",), ("m", "u1"), ("m", "u2"), ("m", "u1", "x"), ("n", "u1"), ("m", "u3")]
    keys = [f"k{i}" for i in range(6)]
    live: set[tuple[str, ...]] = set()
    for step in range(160):
        ns, key = rng.choice(spaces), rng.choice(keys)
        roll = rng.random()
        if roll < 0.45:
            value = {"n": rng.randint(0, 5), "kind": rng.choice(["a", "b"]), "tags": rng.choice([["x"], ["y"], []])}
            ours.put(ns, key, value)
            theirs.put(ns, key, value)
            live.add(ns)
        elif roll < 0.55:
            ours.delete(ns, key)
            theirs.delete(ns, key)
        elif roll < 0.7:
            _same(ours.get(ns, key), theirs.get(ns, key), any_namespace_order=False)
        elif roll < 0.92:
            prefix = ns[: rng.randint(0, len(ns))]
            f = rng.choice(
                [None, {"kind": "a"}, {"n": {"$gte": 2}}, {"n": {"$lt": 4}, "kind": "b"}, {"tags": ["x"]}, {"n": 3}]
            )
            several = sum(1 for s in spaces if s[: len(prefix)] == prefix) > 1
            limit, offset = (100, 0) if several else (rng.randint(1, 5), rng.randint(0, 3))
            _same(
                ours.search(prefix, filter=f, limit=limit, offset=offset),
                theirs.search(prefix, filter=f, limit=limit, offset=offset),
                any_namespace_order=several,
            )
        else:
            root, depth, limit = ns[:1], rng.choice([None, 1, 2]), rng.choice([2, 100])
            assert ours.list_namespaces(prefix=root, max_depth=depth, limit=limit) == _held(theirs).list_namespaces(
                prefix=root, max_depth=depth, limit=limit
            ), step
    assert live


def _held(store: InMemoryStore) -> InMemoryStore:
    """A copy of ``store`` without the namespaces it keeps listing after their items were deleted."""
    copy = InMemoryStore()
    for ns, items in store._data.items():
        for key, item in items.items():
            copy.put(ns, key, item.value)
    return copy


def _on(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


def _turn(user: str, said: str) -> Turn:
    return {"user": user, "said": said, "answer": ""}


def test_a_graph_reads_on_one_thread_what_another_wrote(url: str) -> None:
    """A compiled graph with a checkpointer and the store: thread 1 learns a fact about a user,
    thread 2 (another conversation, another worker's cache) answers from it."""
    prefix = unique_prefix()
    with AgentCache.from_url(url, prefix=prefix) as cache:
        assert _memory_graph(cache).invoke(_turn("ada", "I love Valkey"), _on("t1"))["answer"] == "noted"
    with AgentCache.from_url(url, prefix=prefix) as other:
        graph = _memory_graph(other)
        out = graph.invoke(_turn("ada", "what do I love?"), _on("t2"))
        assert out["answer"] == "you told me: I love Valkey"
        assert graph.get_state(_on("t2")).values["answer"] == out["answer"]
        assert other.store.list_namespaces() == [("memories", "ada")]
        assert graph.invoke(_turn("bob", "what do I love?"), _on("t3"))["answer"] == "I know nothing about you yet"


async def test_a_graph_reads_memory_async(url: str) -> None:
    async with AsyncAgentCache.from_url(url, prefix=unique_prefix()) as cache:
        graph = _memory_graph(cache)
        await graph.ainvoke(_turn("ada", "I love Valkey"), _on("a1"))
        out = await graph.ainvoke(_turn("ada", "what?"), _on("a2"))
        assert out["answer"] == "you told me: I love Valkey"
        found = await AgentCacheStore(cache).asearch(("memories", "ada"), filter={"text": "I love Valkey"})
        assert [i.key for i in found] == ["m0"]


class Turn(TypedDict):
    user: str
    said: str
    answer: str


def _memory_graph(cache: AgentCache | AsyncAgentCache) -> Any:
    from langgraph.config import get_store
    from langgraph.graph import END, START, StateGraph

    def remember(state: Turn) -> dict[str, str]:
        store = get_store()
        if state["said"].startswith("I love"):
            ns = ("memories", state["user"])
            store.put(ns, f"m{len(store.search(ns))}", {"text": state["said"]})
            return {"answer": "noted"}
        found = store.search(("memories", state["user"]))
        return {"answer": f"you told me: {found[0].value['text']}" if found else "I know nothing about you yet"}

    async def aremember(state: Turn) -> dict[str, str]:
        store = get_store()
        if state["said"].startswith("I love"):
            ns = ("memories", state["user"])
            await store.aput(ns, f"m{len(await store.asearch(ns))}", {"text": state["said"]})
            return {"answer": "noted"}
        found = await store.asearch(("memories", state["user"]))
        return {"answer": f"you told me: {found[0].value['text']}" if found else "I know nothing about you yet"}

    builder = StateGraph(Turn)
    builder.add_node("remember", aremember if isinstance(cache, AsyncAgentCache) else remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    return builder.compile(checkpointer=AgentCacheSaver(cache), store=AgentCacheStore(cache))


def test_ttl_config_as_langgraph_defines_it(lg_cache: AgentCache) -> None:
    store = AgentCacheStore(lg_cache, ttl={"default_ttl": 2, "refresh_on_read": False})
    store.put(("t",), "k", {"v": 1})
    item = store_namespace_keys(lg_cache.settings.prefix, ("t",)).item(store_member("k"))
    assert 110_000 < lg_cache.client.pttl(item) <= 120_000, "default_ttl is in minutes"
    lg_cache.client.pexpire(item, 5_000)
    store.get(("t",), "k")
    assert lg_cache.client.pttl(item) <= 5_000, "refresh_on_read=False: reads do not refresh"
    store.get(("t",), "k", refresh_ttl=True)
    assert lg_cache.client.pttl(item) > 110_000, "unless a read asks"
    store.put(("t",), "once", {"v": 2}, ttl=None)
    assert lg_cache.client.pttl(store_namespace_keys(lg_cache.settings.prefix, ("t",)).item("once")) == -1
    store.put(("t",), "short", {"v": 3}, ttl=0.5)
    short = store_namespace_keys(lg_cache.settings.prefix, ("t",)).item("short")
    assert 25_000 < lg_cache.client.pttl(short) <= 30_000
    assert AgentCacheStore(lg_cache).ttl_config is None
    with pytest.raises(InvalidArgumentError):
        AgentCacheStore(lg_cache, ttl={"default_ttl": -1})
    with pytest.raises(InvalidArgumentError):
        AgentCacheStore(lg_cache, ttl={"max_ttl": 1})  # type: ignore[arg-type]


def test_langgraph_rules_and_refusals(lg_cache: AgentCache) -> None:
    store: BaseStore = AgentCacheStore(lg_cache)
    with pytest.raises(InvalidNamespaceError):
        store.put(("langgraph", "x"), "k", {})
    with pytest.raises(InvalidNamespaceError):
        store.batch([PutOp(("a.b",), "k", {})])
    with pytest.raises(InvalidNamespaceError):
        store.search(("a", ""))
    store.batch([PutOp(("langgraph", "x"), "k", {"v": 1})])  # past the public put, as InMemoryStore allows
    assert store.get(("langgraph", "x"), "k").value == {"v": 1}  # type: ignore[union-attr]
    with pytest.raises(SemanticSearchUnavailable, match="semantic"):
        store.search(("a",), query="what does Ada like?")
    with pytest.raises(SemanticSearchUnavailable):
        AgentCacheStore(lg_cache, index={"dims": 3, "embed": lambda texts: [[0.0] * 3 for _ in texts]})
    assert store.search(("langgraph",), query="") != []


async def test_an_async_cache_refuses_the_sync_methods(url: str) -> None:
    async with AsyncAgentCache.from_url(url, prefix=unique_prefix()) as cache:
        store = AgentCacheStore(cache)
        with pytest.raises(InvalidArgumentError, match="aget"):
            store.get(("a",), "k")
        await store.aput(("a",), "k", {"v": 1})
        assert (await store.aget(("a",), "k")).value == {"v": 1}  # type: ignore[union-attr]
        assert await store.alist_namespaces() == [("a",)]


# --- the layout: cluster-safe, no SCAN ------------------------------------------------------------


@pytest.mark.parametrize("restricted", ["standalone", "cluster3"], indirect=True)
def test_the_readme_acl_rule_is_enough(restricted: tuple[str, str, str]) -> None:  # noqa: F811
    """Every store path (registration, filters, refresh, expiry and pruning, listings with and
    without a prefix) as a user with exactly the documented least-privilege rule: the fixture then
    checks the ACL LOG holds no refusal."""
    url, prefix, _ = restricted
    with AgentCache.from_url(url, prefix=prefix) as cache:
        s = cache.store
        s.put(("acl", "u1"), "k", {"v": 1}, ttl=60)
        s.put(("acl", "u1"), "forever", {"v": {"x": 1}})
        s.put(("acl", "gone"), "k", {"v": 1}, ttl=0.05)
        got = s.get(("acl", "u1"), "k")
        assert got is not None and got.value == {"v": 1}
        assert s.get(("acl", "u1"), "k", refresh=False) is not None
        assert len(s.search(("acl",), filter={"v": {"x": 1}})) == 1
        assert len(s.search(("acl", "u1"), filter={"v": {"$gte": 1}})) == 1
        time.sleep(0.1)
        assert s.list_namespaces() == [("acl", "u1")]
        assert s.delete(("acl", "u1"), "forever") is True
        s.delete(("acl", "u1"), "k")
        assert s.list_namespaces(prefix=("acl",)) == []
        assert s.list_namespaces() == []  # (and the root leaves)
        assert s.batch([GetItem(("acl", "u1"), "k"), PutItem(("acl", "u2"), "k", {"v": 2})]) == [None, None]


def test_a_namespace_is_one_slot_and_listing_never_scans(server_urls: Callable[[str], str]) -> None:
    import valkey
    from valkey.crc import key_slot

    with AgentCache.from_url(server_urls("standalone"), prefix=unique_prefix()) as cache:
        for u in range(30):
            cache.store.put(("users", f"u{u}"), "k", {"u": u})
        keys = store_namespace_keys(cache.settings.prefix, ("users", "u1"))
        names = [*keys.all, keys.item(store_member("k"))]
        assert len({key_slot(k.encode()) for k in names}) == 1
        admin = valkey.Valkey.from_url(server_urls("standalone"))

        def scans() -> int:
            stats: dict[str, dict[str, int]] = admin.info("commandstats")  # type: ignore[assignment]
            return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("scan", "keys"))

        before = scans()
        assert len(cache.store.list_namespaces(prefix=("users",))) == 30
        assert len(cache.store.search(("users",), limit=100)) == 30
        assert scans() == before
        admin.close()


def _after_round(op: Any, n: int, act: Callable[[], object]) -> Any:
    """``op`` (an operation), with ``act()`` run between its round trip ``n`` and the next."""
    replies = None
    for done in itertools.count(1):
        try:
            step = op.send(replies)
        except StopIteration as stop:
            return stop.value
        replies = yield step
        if done == n:
            act()


@pytest.mark.parametrize("topology", ["standalone", "cluster3"])
def test_a_namespace_written_while_it_is_pruned_stays_listed(topology: str, server_urls: Callable[[str], str]) -> None:
    """A reader finds a namespace empty and takes it out of the registry; a writer fills it again
    right between the reader's check and the removal (and registers it before the removal lands):
    the reader's second look puts it back."""
    from agentcache.tiers.store.tier import list_namespaces

    url, prefix = server_urls(topology), unique_prefix()
    with AgentCache.from_url(url, prefix=prefix) as reader, AgentCache.from_url(url, prefix=prefix) as writer:
        reader.store.put(("gone",), "k", {"v": 1})
        reader.store.delete(("gone",), "k")  # empty: the registry still lists it
        op = list_namespaces(reader.settings, prefix=("gone",))  # the registry, the check, then the pruning
        found = reader._executor.run(_after_round(op, 2, lambda: writer.store.put(("gone",), "k", {"v": 2})))
        assert found == []  # it was empty when looked at
        assert reader.store.list_namespaces() == [("gone",)]
        assert [i.value for i in reader.store.search(())] == [{"v": 2}]


def test_the_registry_holds_every_namespace_under_concurrent_writers(server_urls: Callable[[str], str]) -> None:
    """Writers fill and empty namespaces (one of them emptied and filled again and again) while
    readers list them, pruning those they find empty: at the end, exactly the namespaces with items
    are listed."""
    url = server_urls("cluster3")
    prefix = unique_prefix()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        rng = random.Random(w)
        try:
            with AgentCache.from_url(url, prefix=prefix) as cache:
                for i in range(60):
                    ns = ("w", str(rng.randint(0, 5)))
                    if rng.random() < 0.5:
                        cache.store.put(ns, f"k{w}", {"i": i})
                    else:
                        cache.store.delete(ns, f"k{w}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def lister() -> None:
        try:
            with AgentCache.from_url(url, prefix=prefix) as cache:
                while not stop.is_set():
                    cache.store.list_namespaces()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    listers = [threading.Thread(target=lister) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in listers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in listers:
        t.join()
    assert not errors
    with AgentCache.from_url(url, prefix=prefix) as cache:
        held = sorted({i.namespace for i in cache.store.search(("w",), limit=1000)})
        assert cache.store.list_namespaces() == held
        assert held, "the writers left some items"
