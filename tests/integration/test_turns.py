"""Model-driven turns (conv.run / json / stream) against the loopback model server, both facades."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from agentcache import (
    AgentCache,
    AsyncAgentCache,
    Context,
    DataPart,
    ImagePart,
    InvalidArgumentError,
    Message,
    ModelError,
    ToolCallPart,
)
from agentcache.providers.anthropic import AnthropicModel
from agentcache.providers.openai import OpenAIChatModel
from agentcache.testing import unique_prefix
from agentcache.tiers.content.specs import ToolSpec
from tests.fake_models import FakeModelServer
from tests.helpers import cost, make_cache, new


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture
def models(fake_models: FakeModelServer) -> Iterator[FakeModelServer]:
    fake_models.reset()
    yield fake_models


def providers(models: FakeModelServer) -> list[Any]:
    return [
        OpenAIChatModel("gpt-test", base_url=models.openai_url, api_key="t", max_retries=0),
        AnthropicModel("claude-test", base_url=models.root, api_key="t", max_retries=0),
    ]


@pytest.fixture(params=["openai", "anthropic"])
def model(request: pytest.FixtureRequest, models: FakeModelServer) -> Any:
    return providers(models)[0 if request.param == "openai" else 1]


@pytest.fixture(params=[("cluster", "sync"), ("cluster", "async"), ("cluster3", "sync"), ("standalone", "async")])
def cache(request: pytest.FixtureRequest, server_urls: Any) -> Iterator[Any]:
    topology, facade = request.param
    made, close = make_cache(topology, facade, server_urls)
    yield made
    close()


def test_history_carries_from_turn_to_turn(cache: Any, model: Any) -> None:
    conv = new(cache, system="Be brief.")
    first = conv.run("My name is Alice", model=model)
    assert first.text == "heard: My name is Alice" and first.length == 2
    assert [m.role for m in first.messages] == ["user", "assistant"]
    second = conv.run("What do you know about me?", model=model, max_tokens=200)
    assert second.text == "heard: My name is Alice | What do you know about me?"
    assert [m.text for m in conv.messages()] == [
        "My name is Alice",
        "heard: My name is Alice",
        "What do you know about me?",
        "heard: My name is Alice | What do you know about me?",
    ]
    assert second.input_tokens > 0 and second.output_tokens > 0


def test_the_system_prompt_and_sections_reach_the_model(cache: Any, models: FakeModelServer, model: Any) -> None:
    conv = new(cache, system="Stored prompt.")
    conv.run("hi", model=model, dynamic_sections={"user": {"plan": "pro"}})
    api, body = models.requests[-1]
    sent = body["system"] if api == "anthropic" else body["messages"][0]["content"]
    assert sent.startswith("Stored prompt.") and '## user\n{"plan": "pro"}' in sent
    conv.run("again", model=model, system="Override.")
    api, body = models.requests[-1]
    assert (body["system"] if api == "anthropic" else body["messages"][0]["content"]) == "Override."


def test_a_failed_turn_adds_nothing(cache: Any, model: Any) -> None:
    conv = new(cache)
    conv.run("hello", model=model)
    with pytest.raises(ModelError, match="nothing was added") as failed:
        conv.run("FAIL now", model=model)
    assert failed.value.__cause__ is not None  # the SDK's own error, chained
    assert conv.length() == 2


def test_tools_are_called_through_the_tool_tier(cache: Any, models: FakeModelServer, model: Any) -> None:
    conv = new(cache)
    calls: list[str] = []

    def weather(city: str, units: str = "metric") -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    if cache._executor.__class__.__name__ == "AsyncExecutor":
        sync_weather = weather

        async def weather(city: str, units: str = "metric") -> str:  # type: ignore[misc]
            """The weather in a city."""
            return sync_weather(city, units)

    result = conv.run('CALL weather {"city": "Paris"}', model=model, tools=[weather])
    assert result.text == "tool said: sunny in Paris"
    assert [m.role for m in result.messages] == ["user", "assistant", "tool", "assistant"]
    assert result.messages[1].tool_calls[0].arguments == {"city": "Paris"}
    api, body = models.requests[-2]
    offered = body["tools"][0]
    schema = offered["input_schema"] if api == "anthropic" else offered["function"]["parameters"]
    assert schema["required"] == ["city"] and "units" in schema["properties"]
    assert cache.tool.check("weather", {"city": "Paris"}).value == "sunny in Paris"  # cached by the tool tier
    other = new(cache)
    other.run('CALL weather {"city": "Paris"}', model=model, tools=[weather])
    assert calls == ["Paris"]  # the second conversation's call was a tool-tier hit


def test_tool_errors_go_back_to_the_model_and_the_step_limit_fails(cache: Any, model: Any) -> None:
    conv = new(cache)

    def broken(city: str) -> str:
        raise RuntimeError("no network")

    result = conv.run('CALL broken {"city": "Oslo"}', model=model, tools=[broken], llm_cache=False)
    assert result.text == "tool said: RuntimeError: no network"
    assert result.messages[2].parts[0].is_error
    unknown = conv.run('CALL missing {"x": 1}', model=model, tools=[broken], llm_cache=False)
    assert "no tool named 'missing'" in unknown.text
    before = conv.length()
    with pytest.raises(ModelError, match="max_steps=1"):
        conv.run('CALL broken {"city": "Oslo"}', model=model, tools=[broken], max_steps=1, llm_cache=False)
    assert conv.length() == before


def test_json_returns_a_validated_output(cache: Any, model: Any) -> None:
    conv = new(cache)
    result = conv.json('REPLY {"name": "Alice", "age": 30}', schema=Person, model=model)
    assert result.output == Person(name="Alice", age=30)
    with pytest.raises(ModelError, match="not a valid Person"):
        conv.json('REPLY {"name": "Bob"}', schema=Person, model=model)
    assert conv.length() == 2


def test_fork_then_run_on_both_branches(cache: Any, model: Any) -> None:
    conv = new(cache)
    conv.run("We plan a trip to Japan", model=model)
    branch = conv.fork()
    assert branch.run("Osaka instead", model=model).text.endswith("Japan | Osaka instead")
    assert conv.run("Tokyo and Kyoto", model=model).text.endswith("Japan | Tokyo and Kyoto")
    # the same prompt on the same history: the second branch is served by the LLM tier
    again = conv.fork()
    assert again.run("Tokyo and Kyoto?", model=model).cached_calls == 0
    twin = conv.fork()
    assert twin.run("Tokyo and Kyoto?", model=model).cached_calls == 1


def test_round_trips_of_a_turn(server_urls: Any, models: FakeModelServer) -> None:
    cache, close = make_cache("cluster", "sync", server_urls)
    model = providers(models)[0]
    try:
        conv = new(cache)
        conv.run("warm up the scripts", model=model)
        cache.llm.set_policy("gpt-test", ttl=600)
        assert cost(cache, lambda: conv.run("a new question", model=model)) == 4  # context, claim, store, append
        twin = conv.fork()
        conv.run("same", model=model)
        assert cost(cache, lambda: twin.run("same", model=model)) == 3  # context, hit, append
        assert cost(cache, lambda: conv.run("no cache", model=model, llm_cache=False)) == 2  # context, append

        def weather(city: str) -> str:
            """The weather in a city."""
            return f"sunny in {city}"

        conv.run('CALL weather {"city": "Oslo"}', model=model, tools=[weather], llm_cache=False)  # warm its scripts
        ask = 'CALL weather {"city": "Lima"}'
        # context, then per model call nothing (llm_cache off), the tool's claim and store, one append
        assert cost(cache, lambda: conv.run(ask, model=model, tools=[weather], llm_cache=False)) == 4
        assert cost(cache, lambda: conv.run(ask, model=model, tools=[weather], llm_cache=False)) == 3  # a tool hit
    finally:
        close()


async def _async_bodies(model: Any, request: dict[str, Any], models: FakeModelServer) -> list[str]:
    """The bodies the server gets from ``model.call_async`` and ``model.stream_async``."""
    await model.call_async(request)
    bodies = [json.dumps(models.requests[-1][1])]
    async for _ in model.stream_async(request):
        pass
    return [*bodies, json.dumps(models.requests[-1][1])]


def test_a_model_sends_the_body_its_sdk_would(models: FakeModelServer) -> None:
    """The models pass the messages to the SDK through ``extra_body`` (past its slow per-message
    walk): the server gets the very body a plain ``create(**request)`` sends, plain and streamed."""
    context = Context(
        "Be brief.",
        [
            Message.system("rules"),
            Message.user("look", ImagePart(data=b"\x89PNG", mime_type="image/png"), DataPart(data={"b": [1, None]})),
            Message.assistant("Looking.", tool_calls=[ToolCallPart(id="c1", name="lookup", arguments={"q": "é"})]),
            Message.tool("c1", {"place": "Kyoto", "n": 1.0}),
            Message.user("REPLY done"),
        ],
    )
    tools = [ToolSpec("lookup", "Find a place.", {"type": "object", "properties": {"q": {"type": "string"}}})]
    for model in providers(models):
        request = model.request(context, tools, None, {"max_tokens": 50, "extra_body": {"seed": 3}})
        if model.api == "chat":
            create, streamed = model.client.chat.completions.create, {"stream_options": {"include_usage": True}}
        else:
            create, streamed = model.client.messages.create, {}
        bodies = []
        create(**request)
        bodies.append(json.dumps(models.requests[-1][1]))
        model.call(request)
        bodies.append(json.dumps(models.requests[-1][1]))
        list(create(**request, stream=True, **streamed))
        bodies.append(json.dumps(models.requests[-1][1]))
        list(model.stream(request))
        bodies.append(json.dumps(models.requests[-1][1]))
        bodies += asyncio.run(_async_bodies(model, request, models))
        assert bodies[0] == bodies[1] == bodies[4] and bodies[2] == bodies[3] == bodies[5], model.api
        assert '"seed": 3' in bodies[1] and "Kyoto" in bodies[1]


def test_bad_arguments_fail_before_anything_is_sent(cache: Any, model: Any, models: FakeModelServer) -> None:
    conv = new(cache)
    calls: list[Callable[[], Any]] = [
        lambda: conv.run(3, model=model),
        lambda: conv.run(Message.assistant("x"), model=model),
        lambda: conv.run("hi", model="gpt-4o"),
        lambda: conv.run("hi", model=model, max_steps=0),
        lambda: conv.run("hi", model=model, tools="weather"),
        lambda: conv.run("hi", model=model, messages=[]),
        lambda: conv.json("hi", model=model, schema=dict),
        lambda: conv.stream("hi", model=model, llm_cache="yes"),
    ]
    for call in calls:
        before = cache.round_trips
        with pytest.raises(InvalidArgumentError):
            call()
        assert cache.round_trips == before
    assert sum(models.calls.values()) == 0


def test_stream_sync(server_urls: Any, models: FakeModelServer) -> None:
    for model in providers(models):
        with AgentCache.from_url(server_urls("cluster3"), prefix=unique_prefix()) as cache:
            conv = cache.conversations.create(agent_id="a", user_id="u")
            events = list(conv.stream("Write a story", model=model))
            assert "".join(e.text for e in events if e.type == "text_delta") == "heard: Write a story"
            done = events[-1]
            assert done.type == "done" and done.result.length == 2 and conv.length() == 2
            twin = conv.fork()
            conv.stream("same", model=model).__iter__().__next__()  # left after one event: nothing added
            assert conv.length() == 2
            first = list(conv.stream("same", model=model))
            replay = list(twin.stream("same", model=model))
            assert [e.text for e in replay[:-1]] == [e.text for e in first[:-1]]
            assert replay[-1].result.cached_calls == 1
            with pytest.raises(ModelError, match="before its last event"):
                list(conv.stream("BREAK the stream in two please", model=model))
            with pytest.raises(ModelError):
                list(conv.stream("FAIL", model=model))
            assert conv.length() == 4

            def lookup(q: str) -> str:
                return q.upper()

            events = list(conv.stream('CALL lookup {"q": "abc"}', model=model, tools=[lookup]))
            assert [e.type for e in events if e.type != "text_delta"] == ["tool_call", "done"]
            assert events[-1].result.text == "tool said: ABC"


async def test_run_json_and_stream_async(server_urls: Any, models: FakeModelServer) -> None:
    for model in providers(models):
        async with AsyncAgentCache.from_url(server_urls("cluster"), prefix=unique_prefix()) as cache:
            conv = await cache.conversations.create(agent_id="a", user_id="u", system="Be brief.")
            assert (await conv.run("I am Alice", model=model)).text == "heard: I am Alice"
            person = await conv.json('REPLY {"name": "Alice", "age": 30}', schema=Person, model=model)
            assert person.output.age == 30
            deltas = [e.text async for e in conv.stream("poem", model=model) if e.type == "text_delta"]
            assert "".join(deltas).endswith("| poem") and await conv.length() == 6

            async def slow_turn(conv: Any = conv, model: Any = model) -> None:
                async for _ in conv.stream("SLOW one", model=model):
                    pass

            models.delay = 5.0
            task = asyncio.create_task(slow_turn())
            await asyncio.sleep(0.3)
            task.cancel()  # a cancelled turn adds nothing
            with pytest.raises(asyncio.CancelledError):
                await task
            models.delay = 0.3
            assert await conv.length() == 6
