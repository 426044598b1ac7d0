"""The LLM tier (``cache.llm``) on every topology and both facades, without any model SDK."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from agentcache import (
    IGNORED_PARAMETERS,
    AgentCache,
    InvalidArgumentError,
    InvalidNameError,
    ModelPrice,
    ValueTooLargeError,
)
from tests.helpers import command, cost, make_cache

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
REQUEST = {"model": "gpt-test", "messages": MESSAGES, "temperature": 0, "max_tokens": 50}
RESPONSE = {
    "id": "r1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 2, "total_tokens": 22},
}


def test_a_stored_response_is_a_hit_with_tokens(cache: Any) -> None:
    llm = cache.llm
    assert llm.check(REQUEST).hit is False
    assert llm.store(REQUEST, RESPONSE, ttl=60) is True
    found = llm.check(REQUEST)
    assert found.hit and found.response == RESPONSE and found.chunks is None
    assert (found.input_tokens, found.output_tokens, found.cost) == (20, 2, None)  # no price table
    assert 59 < found.ttl <= 60
    key = llm.key(REQUEST)
    assert key.startswith(f"{cache.settings.prefix}:llm:gpt-test:") and len(key.rsplit(":", 1)[1]) == 32
    assert 0 < command(cache, "PTTL", key) <= 60_000


def test_canonical_request_ignores_order_noise_and_the_documented_parameters(cache: Any) -> None:
    cache.llm.store(REQUEST, RESPONSE)
    reordered = {
        "max_tokens": 50,
        "temperature": 0.0,  # 0 and 0.0 are one value on the wire
        "messages": [dict(reversed(list(m.items()))) for m in MESSAGES],
        "model": "gpt-test",
        "user": "end-user-17",  # ignored: who asks does not change the answer
        "metadata": {"trace": "x"},
        "timeout": 30,
        "stream": True,
        "top_p": None,  # None: as if not passed
    }
    assert cache.llm.check(reordered).hit
    assert {"user", "metadata", "timeout", "stream", "extra_headers"} <= IGNORED_PARAMETERS
    for changed in (
        {"temperature": 0.5},
        {"max_tokens": 51},
        {"seed": 7},
        {"stop": ["\n"]},
        {"top_p": 0.9},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        {"response_format": {"type": "json_object"}},
        {"model": "gpt-other"},
        {"messages": [*MESSAGES, {"role": "user", "content": "and Spain?"}]},
    ):
        assert not cache.llm.check({**REQUEST, **changed}).hit, changed
    # ignore= overrides the list: with nothing ignored, the user id counts
    assert not cache.llm.check({**REQUEST, "user": "u1"}, ignore=()).hit
    assert cache.llm.check({**REQUEST, "seed": 7}, ignore={"seed"}).hit


def test_bad_input_sends_nothing(cache: Any) -> None:
    llm = cache.llm
    calls: list[Callable[[], Any]] = [
        lambda: llm.check({"messages": MESSAGES}),
        lambda: llm.store(REQUEST, RESPONSE, tokens=(1,)),
        lambda: llm.store(REQUEST, RESPONSE, chunks="abc"),
        lambda: llm.store(REQUEST, RESPONSE, ttl=-1),
        lambda: llm.get_or_compute(REQUEST, "not callable"),
        lambda: llm.get_or_compute(REQUEST, lambda: 1, lock_timeout=0),
        lambda: llm.check(REQUEST, ignore="user"),
        lambda: llm.check(REQUEST, ignore={"model"}),
        lambda: llm.set_policy("", ttl=5),
        lambda: llm.store(REQUEST, {"bad": object()}),
    ]
    for call in calls:
        before = cache.round_trips
        with pytest.raises((InvalidArgumentError, InvalidNameError, TypeError)):
            call()
        assert cache.round_trips == before


def test_round_trips(cache: Any) -> None:
    cache.llm.set_policy("gpt-test", ttl=120)  # known: a store is then one round trip
    for seed in range(100, 164):  # every node learns the scripts (a key per slot range, surely)
        cache.llm.get_or_compute({**REQUEST, "seed": seed}, lambda: RESPONSE)
        cache.llm.invalidate({**REQUEST, "seed": seed})
    assert cost(cache, lambda: cache.llm.check(REQUEST)) == 1
    assert cost(cache, lambda: cache.llm.store(REQUEST, RESPONSE)) == 1
    assert cost(cache, lambda: cache.llm.get_or_compute(REQUEST, lambda: RESPONSE)) == 1  # a hit
    fresh = {**REQUEST, "seed": 1}
    assert cost(cache, lambda: cache.llm.get_or_compute(fresh, lambda: RESPONSE)) == 2  # claim, store
    assert cost(cache, lambda: cache.llm.invalidate(fresh)) == 1


def test_get_or_compute_computes_once_and_not_after_a_failure(cache: Any) -> None:
    calls = []

    def model() -> dict[str, Any]:
        calls.append(1)
        return RESPONSE

    def failing() -> dict[str, Any]:
        raise RuntimeError("provider down")

    request = {**REQUEST, "seed": 3}
    with pytest.raises(RuntimeError):
        cache.llm.get_or_compute(request, failing)
    assert not cache.llm.check(request).hit  # nothing cached, and the claim is gone
    assert cache.llm.get_or_compute(request, model) == RESPONSE
    assert cache.llm.get_or_compute(request, model) == RESPONSE
    assert len(calls) == 1


def test_threads_asking_at_once_call_the_model_once(server_urls: Any) -> None:
    cache, close = make_cache("cluster", "sync", server_urls)
    calls = []

    def slow_model() -> dict[str, Any]:
        calls.append(1)
        time.sleep(0.2)
        return RESPONSE

    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.llm.get_or_compute(REQUEST, slow_model))) for _ in range(8)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(calls) == 1 and results == [RESPONSE] * 8
        model = cache.stats().models["gpt-test"]
        assert (model.misses, model.hits, model.writes) == (1, 7, 1)
    finally:
        close()


def test_stats_count_tokens_and_cost_saved_by_the_price_table(server_urls: Any) -> None:
    prices = {"gpt-test": ModelPrice(input_per_million=2.5, output_per_million=10.0)}
    cache, close = make_cache("standalone", "sync", server_urls, llm_prices=prices)
    try:
        cache.llm.store(REQUEST, RESPONSE)
        found = cache.llm.check(REQUEST)
        assert found.cost == pytest.approx((20 * 2.5 + 2 * 10.0) / 1e6)
        cache.llm.check(REQUEST)
        cache.llm.check({**REQUEST, "seed": 9})
        stats = cache.stats()
        model = stats.models["gpt-test"]
        assert (model.hits, model.misses, model.writes) == (2, 1, 1)
        assert (model.input_tokens_saved, model.output_tokens_saved) == (40, 4)
        assert model.cost_saved == pytest.approx(2 * found.cost)
        assert (stats.llm.hits, stats.llm.misses) == (2, 1)
        assert stats.tools == {}  # LLM counts stay apart from the tools'
    finally:
        close()


def test_sampled_requests_are_cached_unless_the_option_says_not(server_urls: Any) -> None:
    sampled = {**REQUEST, "temperature": 0.7}
    unset = {k: v for k, v in REQUEST.items() if k != "temperature"}
    cache, close = make_cache("standalone", "sync", server_urls)
    try:
        assert cache.llm.takes(sampled) and cache.llm.takes(unset)
        cache.llm.store(sampled, RESPONSE)
        assert cache.llm.check(sampled).hit
    finally:
        close()
    cache, close = make_cache("standalone", "sync", server_urls, llm_cache_sampled=False)
    try:
        for request in (sampled, unset):
            assert not cache.llm.takes(request)
            assert cost(cache, lambda r=request: cache.llm.store(r, RESPONSE)) == 0
            assert cost(cache, lambda r=request: cache.llm.check(r)) == 0
            calls: list[int] = []
            for _ in range(2):
                cache.llm.get_or_compute(request, lambda c=calls: c.append(1) or RESPONSE)
            assert len(calls) == 2  # every call reaches the model
        assert cache.llm.takes(REQUEST)  # temperature 0 is still cached
    finally:
        close()
    with pytest.raises(InvalidArgumentError):
        AgentCache.in_memory(llm_cache_sampled="no")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        AgentCache.in_memory(llm_prices={"m": (1, 2)})  # type: ignore[dict-item]


def test_policies_are_shared_and_apply_per_model(server_urls: Any) -> None:
    first, close_first = make_cache("cluster", "sync", server_urls)
    second, close_second = make_cache("cluster", "sync", server_urls, prefix=first.settings.prefix)
    try:
        first.llm.set_policy("gpt-test", ttl=30)
        assert second.llm.get_policy("gpt-test").ttl == 30
        assert second.llm.get_policy("other") is None
        second.llm.store(REQUEST, RESPONSE)
        assert 0 < command(second, "PTTL", second.llm.key(REQUEST)) <= 30_000
        assert first.llm.clear_policy("gpt-test") is True
    finally:
        close_first()
        close_second()


def test_llm_ttl_option_and_values_too_large(server_urls: Any) -> None:
    cache, close = make_cache("standalone", "sync", server_urls, llm_ttl=5, max_value_bytes=1000)
    try:
        cache.llm.store(REQUEST, RESPONSE)
        assert 0 < command(cache, "PTTL", cache.llm.key(REQUEST)) <= 5000
        with pytest.raises(ValueTooLargeError):
            cache.llm.store(REQUEST, {"text": "x" * 2000})
    finally:
        close()


def test_invalidate_one_and_a_whole_model(cache: Any) -> None:
    for seed in range(5):
        cache.llm.store({**REQUEST, "seed": seed}, RESPONSE)
    cache.llm.store({**REQUEST, "model": "gpt-test:mini"}, RESPONSE)  # a name that extends another
    assert cache.llm.invalidate({**REQUEST, "seed": 0}) is True
    assert cache.llm.invalidate({**REQUEST, "seed": 0}) is False
    assert cache.llm.invalidate_model("gpt-test") == 4
    assert cache.llm.check({**REQUEST, "model": "gpt-test:mini"}).hit
