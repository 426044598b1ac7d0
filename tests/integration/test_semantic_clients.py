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
from tests.semantic_fakes import AsyncWordsEmbedder, WordsEmbedder

FIRST = "how do I reset my password please"
AGAIN = "how can I reset my password please"


def chat(text: str) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}], "temperature": 0}


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
        stream = acme.chat.completions.create(**chat(AGAIN), stream=True)  # streams: exact tier only
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == f"heard: {AGAIN}"
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
