"""The semantic tier on every topology and both facades: paraphrases served with their similarity,
scopes (tenants, system prompts, tools, parameters) kept apart, the uncertain band and its judge,
exact-then-semantic-then-model, TTL, the bound per scope, invalidation, statistics, and concurrent
writers. Embeddings come from the deterministic test embedders (tests/semantic_fakes.py)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from agentcache import AgentCache, InvalidArgumentError
from agentcache.core.commands import Call
from agentcache.testing import unique_prefix
from agentcache.tiers.settings import ModelPrice
from tests.helpers import cost, make_cache
from tests.semantic_fakes import AsyncWordsEmbedder, TableEmbedder, WordsEmbedder, at_similarity

SYSTEM = {"role": "system", "content": "You are the support agent of a booking site."}


def ask(text: str, *, model: str = "gpt-test", system: dict[str, str] = SYSTEM, **params: Any) -> dict[str, Any]:
    return {"model": model, "messages": [system, {"role": "user", "content": text}], "temperature": 0, **params}


def answer(text: str) -> dict[str, Any]:
    return {
        "choices": [{"message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    }


def cosine(embedder: WordsEmbedder, a: str, b: str) -> float:
    x, y = embedder.embed([a, b])
    return sum(p * q for p, q in zip(x, y, strict=True))


def words(cache: Any, threshold: float = 0.8) -> AsyncWordsEmbedder:
    embedder = AsyncWordsEmbedder()
    cache.semantic.configure(embedder=embedder, threshold=threshold)
    return embedder


PASSWORD = "how do I reset my password please"
PASSWORD_AGAIN = "how can I reset my password please"
WEATHER = "what will the weather be in Lisbon tomorrow"


def test_a_paraphrase_is_served_with_its_similarity(cache: Any) -> None:
    embedder = words(cache)
    assert not cache.semantic.check(ask(PASSWORD))
    assert cache.semantic.store(ask(PASSWORD), answer("Use 'forgot password'.")) is True
    found = cache.semantic.check(ask(PASSWORD_AGAIN))
    assert found.hit and not found.uncertain and not found.exact
    assert found.response == answer("Use 'forgot password'.")
    assert found.prompt == PASSWORD
    assert math.isclose(found.similarity, cosine(embedder, PASSWORD, PASSWORD_AGAIN), abs_tol=1e-5)
    assert 0.8 <= found.similarity < 1
    assert cache.semantic.check(ask(PASSWORD)).similarity == pytest.approx(1.0, abs=1e-5)
    assert not cache.semantic.check(ask(WEATHER))  # shares no meaning: a miss, nothing close
    assert cache.semantic.check(ask(WEATHER)).similarity is None
    # a text this process embedded lately costs the lookup script alone
    assert cost(cache, lambda: cache.semantic.check(ask(PASSWORD_AGAIN))) == 1


def test_an_embedding_is_computed_once_and_shared_by_workers(cache: Any, server_urls: Callable[[str], str]) -> None:
    embedder = words(cache)
    cache.semantic.store(ask(PASSWORD), answer("a"))
    cache.semantic.check(ask(PASSWORD_AGAIN))
    cache.semantic.check(ask(PASSWORD_AGAIN))
    assert embedder.texts == 2  # each text once, though checked twice
    if cache.topology == "memory":
        return
    other, close = make_cache(cache.topology, "sync", server_urls, prefix=cache.settings.prefix)
    try:
        second = WordsEmbedder()
        other.semantic.configure(embedder=second, threshold=0.8)
        assert other.semantic.check(ask(PASSWORD_AGAIN)).hit
        assert second.texts == 0  # read from Valkey, where the first worker kept it
    finally:
        close()


def test_two_tenants_with_the_same_prompts_never_cross(cache: Any) -> None:
    words(cache)
    prompts = [PASSWORD, WEATHER, "cancel my booking for friday night", "which rooms have a sea view"]
    for text in prompts:
        cache.semantic.store(ask(text), answer(f"acme: {text}"), scope={"tenant": "acme"})
    for text in prompts:  # the same prompts, another tenant: nothing served
        assert not cache.semantic.check(ask(text), scope={"tenant": "globex"})
        assert not cache.semantic.check(ask(text))  # nor without a tenant
    for text in prompts:
        cache.semantic.store(ask(text), answer(f"globex: {text}"), scope={"tenant": "globex"})
    for text in prompts:
        assert cache.semantic.check(ask(text), scope={"tenant": "acme"}).response == answer(f"acme: {text}")
        assert cache.semantic.check(ask(text), scope={"tenant": "globex"}).response == answer(f"globex: {text}")
    assert cache.semantic.check(ask(PASSWORD_AGAIN), scope={"tenant": "globex"}).response == answer(
        f"globex: {PASSWORD}"
    )
    # a tenant's scope goes as a whole, the other's stays
    assert cache.semantic.invalidate_scope({"tenant": "acme"}) == len(prompts)
    assert not cache.semantic.check(ask(PASSWORD), scope={"tenant": "acme"})
    assert cache.semantic.check(ask(PASSWORD), scope={"tenant": "globex"}).hit


def test_every_part_of_the_request_but_the_prompt_is_scope(cache: Any) -> None:
    words(cache)
    cache.semantic.store(ask(PASSWORD), answer("a"))
    assert cache.semantic.check(ask(PASSWORD_AGAIN)).hit
    tools = [{"type": "function", "function": {"name": "reset", "parameters": {"type": "object"}}}]
    others = [
        ask(PASSWORD_AGAIN, model="gpt-other"),
        ask(PASSWORD_AGAIN, system={"role": "system", "content": "You are a pirate."}),
        ask(PASSWORD_AGAIN, tools=tools),
        ask(PASSWORD_AGAIN, max_tokens=5),
        {**ask(PASSWORD_AGAIN), "temperature": 0.2},
        {
            **ask(PASSWORD_AGAIN),
            "messages": [
                SYSTEM,
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": PASSWORD_AGAIN},
            ],
        },
    ]
    for request in others:
        assert not cache.semantic.check(request), request
    assert cache.semantic.check({**ask(PASSWORD_AGAIN), "timeout": 3, "user": "u1"}).hit  # ignored parameters


def test_a_request_without_a_user_text_last_is_not_taken(cache: Any) -> None:
    words(cache)
    tool_last = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": PASSWORD}, {"role": "tool", "tool_call_id": "1", "content": "ok"}],
    }
    assert cache.semantic.takes(tool_last) is False
    assert cost(cache, lambda: cache.semantic.check(tool_last)) == 0
    assert cost(cache, lambda: cache.semantic.store(tool_last, answer("x"))) == 0


def test_sampled_requests_follow_the_exact_tiers_rule(server_urls: Callable[[str], str]) -> None:
    cache, close = make_cache("standalone", "sync", server_urls, llm_cache_sampled=False)
    try:
        words(cache)
        sampled = {**ask(PASSWORD), "temperature": 0.7}
        assert cache.semantic.takes(sampled) is False and cache.llm.takes(sampled) is False
        assert cost(cache, lambda: cache.semantic.store(sampled, answer("x"))) == 0
        assert cost(cache, lambda: cache.semantic.check(sampled)) == 0
        calls = []

        def model() -> dict[str, Any]:
            calls.append(1)
            return answer("y")

        assert cache.semantic.get_or_compute(sampled, model) == answer("y")
        assert cache.semantic.get_or_compute(sampled, model) == answer("y")
        assert len(calls) == 2  # always the model
        assert cache.semantic.takes(ask(PASSWORD)) is True  # temperature 0 is kept
    finally:
        close()


def test_the_uncertain_band_and_the_judge(cache: Any) -> None:
    texts = {
        "stored": at_similarity(1.0),
        "close": at_similarity(0.87),
        "far": at_similarity(0.7),
        "sure": at_similarity(0.95),
    }
    # one-word stand-ins for prompts: the lexical guard (its own test below) would refuse them
    cache.semantic.configure(embedder=TableEmbedder(texts), threshold=0.9, uncertain=0.05, guard=False)
    cache.semantic.store(ask("stored"), answer("kept"))
    sure = cache.semantic.check(ask("sure"))
    assert sure.hit and sure.similarity == pytest.approx(0.95, abs=1e-6)
    close = cache.semantic.check(ask("close"))
    assert not close.hit and close.uncertain and close.similarity == pytest.approx(0.87, abs=1e-6)
    assert close.response == answer("kept") and close.prompt == "stored"  # there to look at, not served
    seen: list[tuple[str, str, float]] = []

    def judge(prompt: str, cached: str, similarity: float) -> bool:
        seen.append((prompt, cached, round(similarity, 4)))
        return prompt == "close"

    judged = cache.semantic.check(ask("close"), judge=judge)
    assert judged.hit and judged.uncertain and seen == [("close", "stored", 0.87)]
    assert not cache.semantic.check(ask("close"), judge=lambda *_: False).hit
    far = cache.semantic.check(ask("far"), judge=judge)
    assert not far.hit and not far.uncertain and far.similarity is None and len(seen) == 1  # below the band: no judge
    assert cache.semantic.check(ask("close"), threshold=0.85).hit  # the threshold per call
    cache.semantic.configure(thresholds={"gpt-test": 0.8})
    assert cache.semantic.check(ask("close")).hit  # per model
    cache.semantic.configure(thresholds=None, uncertain=0)
    assert not cache.semantic.check(ask("close")).uncertain


ORDER = "what is the status of order 48213"
OTHER_ORDER = "what is the status of order 48231"  # one transposition: another order
MY_ORDER = "what's the status of my order 48213"
APPROVED = "my refund was approved, what happens next"
NOT_APPROVED = "my refund was not approved, what happens next"


def guarded(cache: Any) -> None:
    """Near-misses an embedder scores close to the stored prompt (here, on purpose, very close)."""
    texts: dict[str, list[float]] = {
        ORDER: at_similarity(1.0),
        OTHER_ORDER: at_similarity(0.99),
        MY_ORDER: at_similarity(0.95),
        APPROVED: [0.0, 0.0, 1.0, 0.0],
        NOT_APPROVED: [0.0, 0.0, 0.99, math.sqrt(1 - 0.99**2)],
    }
    cache.semantic.configure(embedder=TableEmbedder(texts), threshold=0.9, uncertain=0.05)


def test_the_guard_refuses_a_near_miss_the_similarity_would_serve(cache: Any) -> None:
    guarded(cache)
    cache.semantic.store(ask(OTHER_ORDER), answer("48231 shipped"))
    cache.semantic.store(ask(APPROVED), answer("the money is on its way"))
    found = cache.semantic.check(ask(ORDER))
    assert not found.hit and found.refused == "numbers" and found.response is None
    assert found.prompt == OTHER_ORDER and found.similarity == pytest.approx(0.99, abs=1e-6)
    negated = cache.semantic.check(ask(NOT_APPROVED))
    assert not negated.hit and negated.refused == "negations"
    # the guard costs no round trip: the lookup script returns the candidates' prompts
    assert cost(cache, lambda: cache.semantic.check(ask(ORDER))) == 1
    assert cost(cache, lambda: cache.semantic.check(ask(ORDER), guard=False)) == 1
    # without the guard, the similarity alone decides: both near-misses are served
    served = cache.semantic.check(ask(ORDER), guard=False)
    assert served.hit and served.refused is None and served.response == answer("48231 shipped")
    cache.semantic.configure(guard=False)
    assert cache.semantic.check(ask(NOT_APPROVED)).hit
    cache.semantic.configure(guard=True)
    assert cache.semantic.check(ask(NOT_APPROVED)).refused == "negations"
    # an agreeing candidate below a refused one is served (the lookup returns the best few)
    cache.semantic.store(ask(MY_ORDER), answer("48213 shipped"))
    mine = cache.semantic.check(ask(ORDER))
    assert mine.hit and mine.response == answer("48213 shipped") and mine.prompt == MY_ORDER
    assert mine.similarity == pytest.approx(0.95, abs=1e-6) and mine.refused is None
    assert cache.stats().semantic.refused == 4  # ORDER twice, NOT_APPROVED twice


def test_the_guard_runs_before_the_judge_and_can_be_replaced(cache: Any) -> None:
    guarded(cache)
    cache.semantic.store(ask(OTHER_ORDER), answer("48231 shipped"))
    judged: list[str] = []

    def judge(prompt: str, cached: str, similarity: float) -> bool:
        judged.append(cached)
        return True

    # 0.99 is in the uncertain band below 0.995: the guard refuses it, the judge is not asked
    banded = cache.semantic.check(ask(ORDER), threshold=0.995, judge=judge)
    assert not banded.hit and not banded.uncertain and banded.refused == "numbers" and judged == []
    assert cache.semantic.check(ask(ORDER), threshold=0.995, judge=judge, guard=False).hit
    assert judged == [OTHER_ORDER]
    # a guard of one's own: per call, or configured
    seen: list[tuple[str, str]] = []

    def mine(prompt: str, cached: str) -> bool:
        seen.append((prompt, cached))
        return True

    assert cache.semantic.check(ask(ORDER), guard=mine).hit and seen == [(ORDER, OTHER_ORDER)]
    cache.semantic.configure(guard=lambda prompt, cached: False)
    assert cache.semantic.check(ask(ORDER)).refused == "guard"
    assert cache.semantic.check(ask(ORDER), guard=True).refused == "numbers"
    before = cache.round_trips
    for bad in ("yes", 1):
        with pytest.raises(InvalidArgumentError):
            cache.semantic.check(ask(ORDER), guard=bad)
        with pytest.raises(InvalidArgumentError):
            cache.semantic.configure(guard=bad)
    assert cache.round_trips == before


def test_get_or_compute_goes_exact_then_semantic_then_model(cache: Any) -> None:
    words(cache)
    calls: list[str] = []

    def model(text: str) -> Callable[[], Any]:
        def call() -> Any:
            calls.append(text)
            return answer(f"re: {text}")

        return call

    assert cache.semantic.get_or_compute(ask(PASSWORD), model(PASSWORD)) == answer(f"re: {PASSWORD}")
    exact = cache.semantic.fetch_or_compute(ask(PASSWORD), _call(model(PASSWORD)))
    assert exact.hit and exact.exact and exact.similarity == 1.0
    assert cost(cache, lambda: cache.semantic.get_or_compute(ask(PASSWORD), model(PASSWORD))) == 1  # a plain GET
    similar = cache.semantic.fetch_or_compute(ask(PASSWORD_AGAIN), _call(model(PASSWORD_AGAIN)))
    assert similar.hit and not similar.exact and similar.response == answer(f"re: {PASSWORD}")
    assert cache.semantic.get_or_compute(ask(WEATHER), model(WEATHER)) == answer(f"re: {WEATHER}")
    assert calls == [PASSWORD, WEATHER]
    assert cache.llm.check(ask(WEATHER)).hit  # what the model answered is in the exact tier too


def _call(fn: Callable[[], Any]) -> Call:
    return Call(fn)


def test_ttl_per_entry(cache: Any) -> None:
    words(cache)
    cache.semantic.store(ask(PASSWORD), answer("short"), ttl=0.2)
    cache.semantic.store(ask(WEATHER), answer("long"))
    assert cache.semantic.check(ask(PASSWORD_AGAIN)).hit
    time.sleep(0.3)
    assert not cache.semantic.check(ask(PASSWORD_AGAIN))
    assert cache.semantic.check(ask(WEATHER)).hit
    with pytest.raises(InvalidArgumentError):
        cache.semantic.store(ask(PASSWORD), answer("x"), ttl=-1)


def test_a_scope_keeps_at_most_max_entries_least_recently_used_first(cache: Any) -> None:
    words(cache)
    cache.semantic.configure(max_entries=3)
    texts = [PASSWORD, WEATHER, "cancel my booking for friday night", "which rooms have a sea view"]
    for text in texts[:3]:
        cache.semantic.store(ask(text), answer(text))
    assert cache.semantic.check(ask(texts[0])).hit  # now the most recently used
    cache.semantic.store(ask(texts[3]), answer(texts[3]))  # one too many: texts[1] goes
    assert [cache.semantic.check(ask(t)).hit for t in texts] == [True, False, True, True]
    cache.semantic.store(ask(texts[3]), answer("replaced"))  # the same text: replaced, nothing evicted
    assert cache.semantic.check(ask(texts[3])).response == answer("replaced")
    assert [cache.semantic.check(ask(t)).hit for t in texts] == [True, False, True, True]


def test_invalidate_a_request_a_model(cache: Any) -> None:
    words(cache)
    cache.semantic.get_or_compute(ask(PASSWORD), lambda: answer("a"))
    cache.semantic.store(ask(WEATHER), answer("w"))
    cache.semantic.store(ask(WEATHER, model="gpt-other"), answer("w2"))
    assert cache.semantic.invalidate(ask(PASSWORD)) is True
    assert not cache.semantic.check(ask(PASSWORD_AGAIN)) and not cache.llm.check(ask(PASSWORD))  # both tiers
    assert cache.semantic.invalidate(ask(PASSWORD)) is False
    assert cache.semantic.invalidate_model("gpt-test") == 1
    assert not cache.semantic.check(ask(WEATHER))
    assert cache.semantic.check(ask(WEATHER, model="gpt-other")).hit


def test_statistics(server_urls: Callable[[str], str]) -> None:
    prices = {"gpt-test": ModelPrice(input_per_million=1_000_000, output_per_million=2_000_000)}
    cache, close = make_cache("standalone", "sync", server_urls, llm_prices=prices)
    try:
        texts = {
            "stored": at_similarity(1.0),
            "close": at_similarity(0.87),
            "same": at_similarity(0.93),
            "far": at_similarity(0.2),
        }
        cache.semantic.configure(embedder=TableEmbedder(texts), threshold=0.9, guard=False)
        cache.semantic.store(ask("stored"), answer("a"))  # 10 in, 5 out: costs 20
        cache.semantic.check(ask("same"))
        cache.semantic.check(ask("close"))
        cache.semantic.check(ask("far"))
        stats = cache.stats()
        assert (stats.semantic.hits, stats.semantic.misses, stats.semantic.uncertain) == (1, 2, 1)
        assert stats.semantic.writes == 1 and stats.semantic.cost_saved == pytest.approx(20.0)
        assert stats.semantic.similarity == {0.93: 1, 0.87: 1}
        assert stats.semantic_models["gpt-test"].hits == 1
    finally:
        close()


def test_the_monitor_counts_the_semantic_keys_as_the_tiers(cache: Any) -> None:
    words(cache)
    cache.semantic.store(ask(PASSWORD), answer("a"))  # a scope's keys, and the prompt's embedding
    census = [n.census for n in cache.monitor.servers(census_keys=100_000).nodes]
    assert sum(c.tiers["semantic"] for c in census if c) >= 2
    assert sum(c.tiers["other"] for c in census if c) == 0


def test_bad_arguments_are_refused_before_anything_is_sent(cache: Any) -> None:
    words(cache)
    calls: list[Callable[[], Any]] = [
        lambda: cache.semantic.check(ask(PASSWORD), scope={"tenant": 1}),
        lambda: cache.semantic.check(ask(PASSWORD), threshold=1.5),
        lambda: cache.semantic.check({"messages": []}),
        lambda: cache.semantic.store(ask(PASSWORD), answer("x"), tokens=(1,)),
    ]
    for call in calls:
        before = cache.round_trips
        with pytest.raises(InvalidArgumentError):
            call()
        assert cache.round_trips == before
    with pytest.raises(InvalidArgumentError):
        cache.semantic.configure(embedder=object())


@pytest.mark.parametrize("topology", ["standalone", "cluster3"])
def test_concurrent_writers_keep_the_index_whole(topology: str, server_urls: Callable[[str], str]) -> None:
    prefix = unique_prefix()
    texts = [f"booking question number {i} about room {i * 7} on floor {i % 5}" for i in range(60)]
    errors: list[BaseException] = []

    def writer(part: list[str]) -> None:
        try:
            with AgentCache.from_url(server_urls(topology), prefix=prefix) as worker:
                worker.semantic.configure(embedder=WordsEmbedder(), threshold=0.99, max_entries=1000)
                for text in part:
                    worker.semantic.store(ask(text), answer(text))
                    worker.semantic.store(ask(texts[0]), answer(texts[0]))  # every writer on one entry too
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(texts[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with AgentCache.from_url(server_urls(topology), prefix=prefix) as cache:
        cache.semantic.configure(embedder=WordsEmbedder(), threshold=0.99)
        for text in texts:
            found = cache.semantic.check(ask(text))
            assert found.hit and found.response == answer(text) and found.similarity == pytest.approx(1.0, abs=1e-5)
        meta = cache.semantic.key(ask(texts[0]))
        assert meta is not None
        assert int(cache.client.hget(meta, "n")) == len(texts)  # each text once, however often stored
        assert cache.semantic.invalidate_model("gpt-test") == len(texts)
