"""``cached_openai`` / ``cached_anthropic`` with ``semantic=``: exact hit first, then semantic, then
the model, against the loopback model server (tests/fake_models.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from agentcache import AgentCache, AsyncAgentCache, InvalidArgumentError
from agentcache.providers.anthropic import cached_anthropic
from agentcache.providers.openai import cached_openai
from agentcache.testing import unique_prefix
from agentcache.tiers.semantic.tier import SemanticOptions
from tests.fake_models import FakeModelServer
from tests.helpers import cost
from tests.semantic_fakes import AsyncWordsEmbedder, TableEmbedder, WordsEmbedder, at_similarity

FIRST = "how do I reset my password please"
AGAIN = "how can I reset my password please"


def chat(text: str) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}], "temperature": 0}


def chat_text(chunks: Any) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def event_text(events: Any) -> str:
    """The text of Anthropic Messages or OpenAI Responses stream events."""
    texts = []
    for event in events:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            texts.append(event.delta.text)
        elif event.type == "response.output_text.delta":
            texts.append(event.delta)
    return "".join(texts)


def dumped(chunks: list[Any]) -> list[Any]:
    return [chunk.model_dump(mode="json", exclude_unset=True) for chunk in chunks]


@pytest.fixture
def models(fake_models: FakeModelServer) -> Iterator[FakeModelServer]:
    fake_models.reset()
    yield fake_models


@pytest.fixture(params=["standalone", "cluster3"])
def url(request: pytest.FixtureRequest, server_urls: Any) -> str:
    return str(server_urls(request.param))


def test_openai_exact_then_semantic_then_model_per_tenant(models: FakeModelServer, url: str) -> None:
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        cache.semantic.configure(embedder=WordsEmbedder(), threshold=0.8)
        base = openai.OpenAI(base_url=models.openai_url, api_key="test", max_retries=0)
        acme: Any = cached_openai(base, cache, semantic=SemanticOptions(scope={"tenant": "acme"}))
        globex: Any = cached_openai(base, cache, semantic=SemanticOptions(scope={"tenant": "globex"}))
        first = acme.chat.completions.create(**chat(FIRST))
        assert models.calls["chat"] == 1
        assert (
            acme.chat.completions.create(**chat(FIRST)).choices[0].message.content == first.choices[0].message.content
        )
        similar = acme.chat.completions.create(**chat(AGAIN))  # served by meaning: the first prompt's answer
        assert similar.choices[0].message.content == f"heard: {FIRST}"
        assert models.calls["chat"] == 1
        other = globex.chat.completions.create(**chat(AGAIN))  # another tenant: its own call
        assert other.choices[0].message.content == f"heard: {AGAIN}"
        assert models.calls["chat"] == 2
        plain: Any = cached_openai(base, cache)  # without semantic=: the exact tier alone
        plain.chat.completions.create(**chat("how could I reset my password please"))
        assert models.calls["chat"] == 3
        # a streamed call is not served from an entry a plain call stored (a response, no stream)
        stream = acme.chat.completions.create(**chat(AGAIN), stream=True)
        assert chat_text(stream) == f"heard: {AGAIN}"
        assert models.calls["chat"] == 4


def test_anthropic_async_with_semantic(models: FakeModelServer, url: str) -> None:
    async def main() -> None:
        async with AsyncAgentCache.from_url(url, prefix=unique_prefix()) as cache:
            embedder = AsyncWordsEmbedder()
            cache.semantic.configure(embedder=embedder, threshold=0.8)
            client: Any = cached_anthropic(
                anthropic.AsyncAnthropic(base_url=models.root, api_key="test", max_retries=0), cache, semantic=True
            )
            ask = {"model": "claude-test", "max_tokens": 50}
            first = await client.messages.create(**ask, messages=[{"role": "user", "content": FIRST}])
            again = await client.messages.create(**ask, messages=[{"role": "user", "content": AGAIN}])
            assert again.content[0].text == first.content[0].text == f"heard: {FIRST}"
            assert models.calls["anthropic"] == 1 and embedder.async_calls >= 1

    asyncio.run(main())


def test_a_bad_semantic_option_is_refused(models: FakeModelServer, url: str) -> None:
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        base = openai.OpenAI(base_url=models.openai_url, api_key="test", max_retries=0)
        with pytest.raises(InvalidArgumentError):
            cached_openai(base, cache, semantic="yes")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            SemanticOptions(scope={"tenant": 3})  # type: ignore[dict-item]


@pytest.fixture(params=["standalone", "memory"])
def where(request: pytest.FixtureRequest, server_urls: Any) -> str:
    """A real server's URL, or "memory" (the in-memory backend)."""
    return "memory" if request.param == "memory" else str(server_urls(request.param))


def sync_cache(where: str, **options: Any) -> AgentCache:
    options["prefix"] = unique_prefix()
    return AgentCache.in_memory(**options) if where == "memory" else AgentCache.from_url(where, **options)


def async_cache(where: str) -> AsyncAgentCache:
    prefix = unique_prefix()
    return (
        AsyncAgentCache.in_memory(prefix=prefix)
        if where == "memory"
        else AsyncAgentCache.from_url(where, prefix=prefix)
    )


CLOSE = "how could I reset my password please"


def test_openai_streamed_calls_are_served_by_meaning(models: FakeModelServer, where: str) -> None:
    with sync_cache(where) as cache:
        cache.semantic.configure(embedder=WordsEmbedder(), threshold=0.8)
        client: Any = cached_openai(
            openai.OpenAI(base_url=models.openai_url, api_key="test", max_retries=0), cache, semantic=True
        )
        first = list(client.chat.completions.create(**chat(FIRST), stream=True))
        assert chat_text(first) == f"heard: {FIRST}" and models.calls["chat"] == 1
        # a streamed prompt that means the same: the recorded stream, replayed chunk for chunk
        again = list(client.chat.completions.create(**chat(AGAIN), stream=True))
        assert dumped(again) == dumped(first) and models.calls["chat"] == 1
        # a plain call is served from the streamed entry: the response the stream added up to
        plain = client.chat.completions.create(**chat(CLOSE))
        assert plain.choices[0].message.content == f"heard: {FIRST}" and models.calls["chat"] == 1
        stats = cache.stats()
        assert (stats.semantic.hits, stats.semantic.misses, stats.semantic.writes) == (2, 1, 1)
        assert (stats.llm.misses, stats.llm.writes) == (1, 1)
        # the same request again: the exact tier's recorded stream, one round trip (a GET); a similar
        # prompt embedded lately: two (the GET, then the lookup script)
        assert cost(cache, lambda: list(client.chat.completions.create(**chat(FIRST), stream=True))) == 1
        assert cost(cache, lambda: list(client.chat.completions.create(**chat(AGAIN), stream=True))) == 2
        assert cache.stats().llm.hits == 1 and models.calls["chat"] == 1
        # a stream cut halfway stores nothing, in either tier: the same prompt goes to the model again
        cut = "BREAK my password reset stream halfway please"
        assert len(list(client.chat.completions.create(**chat(cut), stream=True))) > 0
        assert models.calls["chat"] == 2
        assert not cache.semantic.check({**chat(cut), "agentcache_api": "chat"}).hit
        assert not cache.llm.check({**chat(cut), "agentcache_api": "chat"}).hit
    # a sampled request (temperature unset) follows the exact tier's rule: with llm_cache_sampled=False
    # neither tier keeps it, so the same streamed request goes to the model again
    with sync_cache(where, llm_cache_sampled=False) as cache:
        cache.semantic.configure(embedder=WordsEmbedder(), threshold=0.8)
        client = cached_openai(
            openai.OpenAI(base_url=models.openai_url, api_key="test", max_retries=0), cache, semantic=True
        )
        sampled = {"model": "gpt-test", "messages": [{"role": "user", "content": FIRST}]}
        for _ in range(2):
            assert chat_text(client.chat.completions.create(**sampled, stream=True)) == f"heard: {FIRST}"
        assert models.calls["chat"] == 4 and cache.stats().semantic.writes == 0


def test_async_streamed_calls_by_meaning_anthropic_and_responses(models: FakeModelServer, where: str) -> None:
    async def main() -> None:
        async with async_cache(where) as cache:
            cache.semantic.configure(embedder=AsyncWordsEmbedder(), threshold=0.8)
            claude: Any = cached_anthropic(
                anthropic.AsyncAnthropic(base_url=models.root, api_key="test", max_retries=0), cache, semantic=True
            )
            ask = {"model": "claude-test", "max_tokens": 50}

            async def messages(text: str) -> list[Any]:
                stream = await claude.messages.create(**ask, messages=[{"role": "user", "content": text}], stream=True)
                return [event async for event in stream]

            first = await messages(FIRST)
            again = await messages(AGAIN)
            assert event_text(again) == event_text(first) == f"heard: {FIRST}"
            assert dumped(again) == dumped(first) and models.calls["anthropic"] == 1
            plain = await claude.messages.create(**ask, messages=[{"role": "user", "content": CLOSE}])
            assert plain.content[0].text == f"heard: {FIRST}" and models.calls["anthropic"] == 1

            gpt: Any = cached_openai(
                openai.AsyncOpenAI(base_url=models.openai_url, api_key="test", max_retries=0), cache, semantic=True
            )

            async def responses(text: str) -> list[Any]:
                stream = await gpt.responses.create(model="gpt-test", input=text, temperature=0, stream=True)
                return [event async for event in stream]

            streamed = await responses(FIRST)
            assert event_text(await responses(AGAIN)) == event_text(streamed) == f"heard: {FIRST}"
            done = await gpt.responses.create(model="gpt-test", input=CLOSE, temperature=0)
            assert done.output_text == f"heard: {FIRST}" and models.calls["responses"] == 1
            # a stream the caller leaves early stores nothing: the same prompt streams from the model again
            leaving = "how do I change my email address please"
            stream = await gpt.responses.create(model="gpt-test", input=leaving, temperature=0, stream=True)
            await stream.__anext__()
            await stream.close()
            await responses(leaving)
            assert models.calls["responses"] == 3
            stats = await cache.stats()
            assert (stats.semantic.hits, stats.semantic.writes) == (4, 3)

    asyncio.run(main())


ORDER = "what is the status of order 48213"
OTHER_ORDER = "what is the status of order 48231"  # one transposition: another order
MY_ORDER = "what's the status of my order 48213"


def test_a_streamed_call_passes_the_guard_and_the_judge(models: FakeModelServer, where: str) -> None:
    with sync_cache(where) as cache:
        table = {ORDER: at_similarity(1.0), OTHER_ORDER: at_similarity(0.99), MY_ORDER: at_similarity(0.95)}
        cache.semantic.configure(embedder=TableEmbedder(table), threshold=0.9, uncertain=0.05)
        base = openai.OpenAI(base_url=models.openai_url, api_key="test", max_retries=0)
        client: Any = cached_openai(base, cache, semantic=True)
        list(client.chat.completions.create(**chat(OTHER_ORDER), stream=True))
        # 0.99 similar, but another order number: the guard refuses it, the model answers
        assert chat_text(client.chat.completions.create(**chat(ORDER), stream=True)) == f"heard: {ORDER}"
        assert models.calls["chat"] == 2 and cache.stats().semantic.refused == 1
        # in the uncertain band (0.95 below 0.96): not served, unless the judge says so
        asked: list[tuple[str, str, float]] = []

        def judge(prompt: str, cached: str, similarity: float) -> bool:
            asked.append((prompt, cached, round(similarity, 3)))
            return True

        strict: Any = cached_openai(base, cache, semantic=SemanticOptions(threshold=0.96))
        judged: Any = cached_openai(base, cache, semantic=SemanticOptions(threshold=0.96, judge=judge))
        assert chat_text(judged.chat.completions.create(**chat(MY_ORDER), stream=True)) == f"heard: {ORDER}"
        assert asked == [(MY_ORDER, ORDER, 0.95)] and models.calls["chat"] == 2
        assert chat_text(strict.chat.completions.create(**chat(MY_ORDER), stream=True)) == f"heard: {MY_ORDER}"
        assert models.calls["chat"] == 3 and cache.stats().semantic.uncertain == 2


class Records:
    """An observer keeping each operation's name, hits and misses."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int]] = []

    def begin(self, record: Any) -> None:
        return None

    def end(self, record: Any, token: Any) -> None:
        self.seen.append((record.operation, record.hits, record.misses))


def test_observers_count_one_lookup_per_served_call(models: FakeModelServer) -> None:
    records = Records()
    with AgentCache.in_memory(prefix=unique_prefix(), observers=[records]) as cache:
        cache.semantic.configure(embedder=WordsEmbedder(), threshold=0.8)
        base = openai.OpenAI(base_url=models.openai_url, api_key="test", max_retries=0)
        client: Any = cached_openai(base, cache, semantic=True)
        client.chat.completions.create(**chat(FIRST))
        list(client.chat.completions.create(**chat(AGAIN), stream=True))
        records.seen.clear()
        client.chat.completions.create(**chat(FIRST))  # an exact hit
        list(client.chat.completions.create(**chat(AGAIN), stream=True))  # the exact tier's recorded stream
        assert records.seen == [("get_or_compute", 1, 0), ("_stream_check", 1, 0)]


class FailingAfterFirst(WordsEmbedder):
    """Embeds once, then fails as an embeddings API would (not an agentcache error)."""

    def embed(self, texts: Any) -> list[list[float]]:
        if self.calls:
            raise RuntimeError("the embeddings API is down")
        return super().embed(texts)


def test_an_embedder_failing_after_the_stream_keeps_it_exactly(
    models: FakeModelServer, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller already has the whole stream: an embedder error while storing it is logged (as a
    backend error is), the exact tier keeps it, and the semantic tier does not."""
    with sync_cache(where) as cache:
        cache.semantic.configure(embedder=FailingAfterFirst(), threshold=0.8)
        client: Any = cached_openai(
            openai.OpenAI(base_url=models.openai_url, api_key="test", max_retries=0), cache, semantic=True
        )
        stream = client.chat.completions.create(**chat(FIRST), stream=True)
        first = next(iter(stream))
        cache.semantic._semantic._vectors.clear()  # forgotten meanwhile: the store must embed again
        rest = list(stream)
        assert chat_text([first, *rest]) == f"heard: {FIRST}"
        assert "embedding failed: the embeddings API is down" in caplog.text
        assert cache.llm.check({**chat(FIRST), "agentcache_api": "chat"}).hit
        assert cache.stats().semantic.writes == 0
