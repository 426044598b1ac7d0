"""The store tier offline: which filters only the server can judge, and what its operations send,
round trip by round trip (``drive``); the tier on real servers: tests/integration/test_langgraph_store.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcache import (
    AgentCache,
    InvalidArgumentError,
    InvalidNameError,
    SemanticSearchUnavailable,
    SerializationError,
)
from agentcache.encoding.keys import store_namespace_keys
from agentcache.tiers.store.filters import check_filter
from tests.helpers import cost, drive, names


def test_server_filters_are_server_only() -> None:
    assert check_filter({"a": 1, "b": {"$gt": 2**70, "$ne": "x"}, "c": None}).server_only
    assert not check_filter({"a": 2**53}).server_only, "an integer a double cannot hold: judged here"
    assert not check_filter({"a": [1]}).server_only
    assert not check_filter({"a": {"b": 1}}).server_only
    assert not check_filter({1: 1}).server_only


def test_what_a_search_sends_offline() -> None:
    """Driven without a server: a search under a prefix reads one registry range and the prefix's
    own namespace in its first round trip; an empty page of both ends it."""
    from agentcache.tiers.store.tier import search

    with AgentCache.in_memory() as cache:
        settings = cache.settings
    nothing = [1, 0, 0, b""]  # exact, alive (not dead), no match, done
    batches, found = drive(search(settings, ("memories", "ada"), filter={"kind": "fact"}), [[[], nothing]])
    assert found == []
    assert names(batches) == [["ZRANGEBYLEX", "EVALSHA store_search"]]
    registry, script = batches[0]
    assert registry.args[1] == f"{settings.prefix}:store-ns:{{memories}}"
    assert script.args[3:6] == tuple(store_namespace_keys(settings.prefix, ("memories", "ada")).all)
    assert list(script.args[-4:]) == ["kind", "eq", "s", "fact"], "the filter travels to the server"
    with pytest.raises(SemanticSearchUnavailable):
        drive(search(settings, ("memories",), query="tea?"), [])


def test_bad_input_is_refused_before_anything_is_sent(memory_cache: Any) -> None:
    s = memory_cache.store
    s.put(("ok",), "k", {"v": 1})
    bad: list[tuple[type[Exception], Callable[[], Any]]] = [
        (InvalidNameError, lambda: s.put((), "k", {})),
        (InvalidNameError, lambda: s.put(("a.b",), "k", {})),
        (InvalidNameError, lambda: s.put(("a", ""), "k", {})),
        (InvalidNameError, lambda: s.put(("a\x00",), "k", {})),
        (InvalidNameError, lambda: s.put("users", "k", {})),
        (InvalidArgumentError, lambda: s.put(("a",), 3, {})),
        (InvalidArgumentError, lambda: s.put(("a",), "k", ["not", "a", "dict"])),
        (InvalidArgumentError, lambda: s.put(("a",), "k", None)),
        (InvalidArgumentError, lambda: s.put(("a",), "k", {}, ttl=-1)),
        (SerializationError, lambda: s.put(("a",), "k", {"when": object()})),
        (SemanticSearchUnavailable, lambda: s.search(("a",), query="what does Ada like?")),
        (InvalidArgumentError, lambda: s.search(("a",), filter={"n": {"$near": 1}})),
        (InvalidArgumentError, lambda: s.search(("a",), filter={"n": {"$gt": None}})),
        (InvalidArgumentError, lambda: s.search(("a",), filter=["n"])),
        (InvalidArgumentError, lambda: s.search(("a",), limit=-1)),
        (InvalidArgumentError, lambda: s.list_namespaces(max_depth=0)),
        (InvalidArgumentError, lambda: s.batch([("get", "k")])),
    ]
    for error, call in bad:

        def refused(call: Callable[[], Any] = call, error: type[Exception] = error) -> None:
            with pytest.raises(error):
                call()

        assert cost(memory_cache, refused) == 0
    assert issubclass(SemanticSearchUnavailable, NotImplementedError)
    assert s.get(("ok",), "k").value == {"v": 1}
