"""The cached ``openai`` and ``anthropic`` clients against a loopback model server (tests/fake_models.py)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import Message as AnthropicMessage
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from agentcache import AgentCache, AsyncAgentCache, InvalidArgumentError
from agentcache.providers.anthropic import cached_anthropic
from agentcache.providers.openai import cached_openai
from agentcache.testing import unique_prefix
from tests.documents import MODEL_TAGS, runnable
from tests.fake_models import FakeModelServer

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hello there"}], "temperature": 0}
TOOLS = [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object"}}]


@pytest.fixture
def models(fake_models: FakeModelServer) -> Iterator[FakeModelServer]:
    fake_models.reset()
    yield fake_models


@pytest.fixture(params=["standalone", "cluster3"])
def url(request: pytest.FixtureRequest, server_urls: Any) -> str:
    return str(server_urls(request.param))


def openai_client(models: FakeModelServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=models.openai_url, api_key="test", max_retries=0)


def chunk_data(chunks: list[Any]) -> list[Any]:
    return [c.model_dump(mode="json", exclude_unset=True) for c in chunks]


def test_chat_hit_returns_the_sdk_type_and_skips_the_model(models: FakeModelServer, url: str) -> None:
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        client: Any = cached_openai(openai_client(models), cache)
        first = client.chat.completions.create(**CHAT)
        second = client.chat.completions.create(**{**CHAT, "user": "someone", "timeout": 20})  # ignored params
        assert isinstance(second, ChatCompletion)
        assert second.choices[0].message.content == "heard: hello there" == first.choices[0].message.content
        assert second.usage is not None and second.usage.prompt_tokens > 0
        assert models.calls["chat"] == 1
        client.chat.completions.create(**{**CHAT, "temperature": 0.3})  # changes the answer: a miss
        assert models.calls["chat"] == 2
        assert client.models is client._target.models  # everything else is the client's own
        stats = cache.stats().models["gpt-test"]
        assert (stats.hits, stats.misses) == (1, 2) and stats.output_tokens_saved > 0


def test_a_stream_is_stored_when_it_ends_and_replayed_chunk_for_chunk(models: FakeModelServer, url: str) -> None:
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        client: Any = cached_openai(openai_client(models), cache)
        request = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        live = list(client.chat.completions.create(**request))
        replayed = list(client.chat.completions.create(**request))
        assert models.calls["chat"] == 1
        assert all(isinstance(c, ChatCompletionChunk) for c in replayed)
        assert chunk_data(replayed) == chunk_data(live)
        text = "".join(c.choices[0].delta.content or "" for c in replayed if c.choices)
        assert text == "heard: hello there"
        # the stream's response also serves the same request unstreamed
        plain = client.chat.completions.create(**{k: v for k, v in request.items() if k != "stream"})
        assert plain.choices[0].message.content == "heard: hello there" and models.calls["chat"] == 1
        found = cache.llm.check({**CHAT, "agentcache_api": "chat"})
        assert found.hit and found.chunks is not None and len(found.chunks) == len(live) and found.output_tokens == 3


def test_an_unstreamed_entry_does_not_fake_a_stream(models: FakeModelServer) -> None:
    with AgentCache.in_memory() as cache:
        client: Any = cached_openai(openai_client(models), cache)
        client.chat.completions.create(**CHAT)
        chunks = list(client.chat.completions.create(**CHAT, stream=True))  # goes to the model once ...
        again = list(client.chat.completions.create(**CHAT, stream=True))  # ... and is then replayed
        assert models.calls["chat"] == 2 and chunk_data(chunks) == chunk_data(again)


def test_cut_failed_or_abandoned_streams_store_nothing(models: FakeModelServer, url: str) -> None:
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        client: Any = cached_openai(openai_client(models), cache)
        cut = {**CHAT, "messages": [{"role": "user", "content": "BREAK the stream halfway please"}]}
        got = list(client.chat.completions.create(**cut, stream=True))  # the SDK ends quietly
        assert len(got) > 0 and not cache.llm.check({**cut, "agentcache_api": "chat"}).hit
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(**{**CHAT, "messages": [{"role": "user", "content": "FAIL"}]}, stream=True)
        stream = client.chat.completions.create(**CHAT, stream=True)
        next(iter(stream))  # the caller leaves after one chunk
        stream.close()
        assert not cache.llm.check({**CHAT, "agentcache_api": "chat"}).hit
        list(client.chat.completions.create(**CHAT, stream=True))
        assert cache.llm.check({**CHAT, "agentcache_api": "chat"}).hit


def test_a_failed_call_is_not_cached(models: FakeModelServer) -> None:
    with AgentCache.in_memory() as cache:
        client: Any = cached_openai(openai_client(models), cache)
        failing = {**CHAT, "messages": [{"role": "user", "content": "FAIL"}]}
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(**failing)
        assert models.calls["chat"] == 2


def test_responses_api_plain_and_streamed(models: FakeModelServer, url: str) -> None:
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        client: Any = cached_openai(openai_client(models), cache)
        for _ in range(2):
            response = client.responses.create(model="gpt-test", input="hi you")
            assert isinstance(response, Response) and response.output_text == "heard: hi you"
        events = [list(client.responses.create(model="gpt-test", input="stream me", stream=True)) for _ in range(2)]
        assert chunk_data(events[0]) == chunk_data(events[1])
        assert events[1][-1].type == "response.completed"
        assert models.calls["responses"] == 2
        # a chat request and a responses request never share an entry
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi you"}])
        assert models.calls["chat"] == 1


def test_anthropic_messages_plain_streamed_and_tool_use(models: FakeModelServer, url: str) -> None:
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        client: Any = cached_anthropic(anthropic.Anthropic(base_url=models.root, api_key="t", max_retries=0), cache)
        request = {
            "model": "claude-test",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": 'CALL lookup {"q": "x"}'}],
            "tools": TOOLS,
        }
        for _ in range(2):
            message = client.messages.create(**request)
            assert isinstance(message, AnthropicMessage)
            assert message.content[0].type == "tool_use" and message.content[0].input == {"q": "x"}
        streams = [list(client.messages.create(**request, stream=True)) for _ in range(2)]
        assert chunk_data(streams[0]) == chunk_data(streams[1]) and streams[1][-1].type == "message_stop"
        assert models.calls["anthropic"] == 2
        cut = {**request, "messages": [{"role": "user", "content": "BREAK here and now please"}], "tools": []}
        for _ in range(2):
            list(client.messages.create(**cut, stream=True))
        assert models.calls["anthropic"] == 4  # a stream without message_stop is never cached


async def test_async_clients(models: FakeModelServer, server_urls: Any) -> None:
    async with AsyncAgentCache.from_url(server_urls("cluster"), prefix=unique_prefix()) as cache:
        client: Any = cached_openai(openai.AsyncOpenAI(base_url=models.openai_url, api_key="t", max_retries=0), cache)
        results = await asyncio.gather(*(client.chat.completions.create(**CHAT) for _ in range(5)))
        assert {r.choices[0].message.content for r in results} == {"heard: hello there"}
        assert models.calls["chat"] == 1  # five at once: one model call
        live = [c async for c in await client.chat.completions.create(**CHAT, stream=True, seed=1)]
        replayed = [c async for c in await client.chat.completions.create(**CHAT, stream=True, seed=1)]
        assert chunk_data(live) == chunk_data(replayed) and models.calls["chat"] == 2
        claude: Any = cached_anthropic(
            anthropic.AsyncAnthropic(base_url=models.root, api_key="t", max_retries=0), cache
        )
        request = {"model": "claude-test", "max_tokens": 50, "messages": [{"role": "user", "content": "yo"}]}
        first = await claude.messages.create(**request)
        second = await claude.messages.create(**request)
        assert first.content == second.content and models.calls["anthropic"] == 1
        events = [e async for e in await claude.messages.create(**request, stream=True)]
        again = await claude.messages.create(**request, stream=True)
        async with again:
            replay = [e async for e in again]
        assert chunk_data(events) == chunk_data(replay) and models.calls["anthropic"] == 2
        assert [type(e).__name__ for e in replay] == [type(e).__name__ for e in events]
        assert type(replay[0]).__name__ == "RawMessageStartEvent"


def test_mismatched_pairs_are_refused(models: FakeModelServer) -> None:
    with AgentCache.in_memory() as cache:
        with pytest.raises(InvalidArgumentError, match="AsyncAgentCache"):
            cached_openai(openai.AsyncOpenAI(base_url=models.openai_url, api_key="t"), cache)
        with pytest.raises(InvalidArgumentError, match="openai client"):
            cached_openai("client", cache)  # type: ignore[type-var]
        with pytest.raises(InvalidArgumentError, match="AgentCache"):
            cached_anthropic(anthropic.Anthropic(api_key="t"), object())
        client: Any = cached_openai(openai_client(models), cache)
        with pytest.raises(InvalidArgumentError):
            client.chat.completions.create(**CHAT, agentcache_api="x")
        assert models.calls["chat"] == 0


def flight_worker(url: str, prefix: str, base_url: str, barrier: Any, results: Any) -> None:
    with AgentCache.from_url(url, prefix=prefix) as cache:
        client: Any = cached_openai(openai.OpenAI(base_url=base_url, api_key="t", max_retries=0), cache)
        cache.ping()
        barrier.wait(60)
        request = {**CHAT, "messages": [{"role": "user", "content": "SLOW answer once"}]}
        results.put(client.chat.completions.create(**request).choices[0].message.content)


@pytest.mark.parametrize("topology", ["standalone", "cluster3"])
def test_processes_asking_at_once_reach_the_model_once(
    models: FakeModelServer, server_urls: Any, topology: str
) -> None:
    models.delay = 0.5
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(4), context.Queue()
    args = (server_urls(topology), unique_prefix(), models.openai_url, barrier, results)
    processes = [context.Process(target=flight_worker, args=args) for _ in range(4)]
    for process in processes:
        process.start()
    answers = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert answers == ["heard: SLOW answer once"] * 4
    assert models.calls["chat"] == 1


def readme_model_blocks() -> list[tuple[str, str]]:
    """The documents' python blocks that need a model SDK (fenced as ``python {openai}`` or
    ``{anthropic}``, in README.md or docs/: tests/documents.py)."""
    return [(block.tag, block.code) for block in runnable(*MODEL_TAGS)]


@pytest.mark.parametrize("index", range(len(readme_model_blocks())))
def test_readme_model_examples_run_against_the_loopback_server(index: int, models: FakeModelServer) -> None:
    """Each runs in a fresh interpreter; the SDKs find the loopback server through their own
    environment variables, as they would find the real provider."""
    sdk, code = readme_model_blocks()[index]
    env = {
        **os.environ,
        "OPENAI_BASE_URL": models.openai_url,
        "OPENAI_API_KEY": "test",
        "ANTHROPIC_BASE_URL": models.root,
        "ANTHROPIC_API_KEY": "test",
    }
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, f"{runnable(*MODEL_TAGS)[index].where} ({sdk}) failed:\n{done.stderr}"
    assert models.calls["anthropic" if sdk == "anthropic" else "chat"] >= 1
