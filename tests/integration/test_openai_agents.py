"""The OpenAI Agents SDK session: the SDK's documented session semantics, a real ``Runner`` run
twice against the loopback model server, cluster mode, the conversation lifecycle, bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
from agents.memory import Session, SessionSettings
from openai import AsyncOpenAI

from agentcache import AsyncAgentCache, ConversationConfig, InvalidArgumentError, InvalidNameError
from agentcache.integrations.openai_agents import AgentCacheSession
from agentcache.testing import unique_prefix
from tests.fake_models import FakeModelServer

set_tracing_disabled(True)  # nothing leaves the machine

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the same loop as the cache fixture's


def _user(text: str) -> Any:
    return {"role": "user", "content": text}


async def test_it_is_an_sdk_session(framework_cache: Any) -> None:
    assert isinstance(AgentCacheSession("s", framework_cache), Session)


async def test_items_keep_order_and_limit_returns_the_latest_in_order(framework_cache: Any) -> None:
    session = AgentCacheSession("s1", framework_cache)
    assert await session.get_items() == []
    items: list[Any] = [
        _user("one"),
        {"role": "assistant", "content": [{"type": "output_text", "text": "two"}]},
        {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"q": 1}'},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
    ]
    await session.add_items(items[:1])
    await session.add_items(items[1:])
    assert await session.get_items() == items
    assert await session.get_items(limit=2) == items[2:]
    assert await session.get_items(limit=10) == items
    assert await session.get_items(limit=0) == []


async def test_pop_returns_the_newest_and_clear_empties(framework_cache: Any) -> None:
    session = AgentCacheSession("s2", framework_cache)
    assert await session.pop_item() is None
    await session.add_items([_user("a"), _user("b")])
    assert await session.pop_item() == _user("b")
    assert await session.get_items() == [_user("a")]
    await session.clear_session()
    assert await session.get_items() == []
    assert await session.pop_item() is None
    await session.add_items([_user("c")])
    assert await session.get_items() == [_user("c")]


async def test_session_settings_limit_is_the_default(framework_cache: Any) -> None:
    session = AgentCacheSession("s3", framework_cache, session_settings=SessionSettings(limit=1))
    await session.add_items([_user("a"), _user("b")])
    assert await session.get_items() == [_user("b")]
    assert await session.get_items(limit=2) == [_user("a"), _user("b")]


async def test_sessions_are_isolated_and_shared_by_id(framework_cache: Any) -> None:
    await AgentCacheSession("a", framework_cache).add_items([_user("for a")])
    await AgentCacheSession("a:b", framework_cache).add_items([_user("for a:b")])
    assert await AgentCacheSession("a", framework_cache).get_items() == [_user("for a")], "a second worker sees it"
    assert await AgentCacheSession("a*", framework_cache).get_items() == []


async def test_round_trips_once_open(framework_cache: Any) -> None:
    session = AgentCacheSession("rt", framework_cache)
    await session.add_items([_user("warm")])
    await session.get_items()
    for method, args in (("add_items", ([_user("x"), _user("y")],)), ("get_items", ()), ("pop_item", ())):
        before = framework_cache.round_trips
        await getattr(session, method)(*args)
        assert framework_cache.round_trips - before == 1, method


async def test_concurrent_first_appends_lose_nothing(framework_cache: Any) -> None:
    sessions = [AgentCacheSession("race", framework_cache) for _ in range(8)]
    await asyncio.gather(*(s.add_items([_user(f"m{i}")]) for i, s in enumerate(sessions)))
    got: list[Any] = await AgentCacheSession("race", framework_cache).get_items()
    assert sorted(item["content"] for item in got) == [f"m{i}" for i in range(8)]


async def test_runner_twice_second_run_sees_the_first(framework_cache: Any, fake_models: FakeModelServer) -> None:
    fake_models.reset()
    fake_models.delay = 0
    client = AsyncOpenAI(base_url=fake_models.openai_url, api_key="test-key")
    agent = Agent(name="helper", instructions="Be brief.", model=OpenAIChatCompletionsModel("gpt-fake", client))
    session = AgentCacheSession("runner-thread", framework_cache, agent_id="helper", user_id="ada")

    first = await Runner.run(agent, "my name is Ada", session=session)
    assert first.final_output == "heard: my name is Ada"
    second = await Runner.run(agent, "what is my name?", session=session)
    assert second.final_output == "heard: my name is Ada | what is my name?", "the model was sent the first run"

    items = await AgentCacheSession("runner-thread", framework_cache).get_items()
    assert [item.get("role") for item in items] == ["user", "assistant", "user", "assistant"]
    active = await _maybe(framework_cache.conversations.list_active(agent_id="helper", user_id="ada"))
    assert [info.id for info in active] == ["runner-thread"], "the history is a conversation"


async def test_a_timed_out_session_starts_again_empty(server_urls: Callable[[str], str]) -> None:
    config = ConversationConfig(default_timeout=0.4, min_timeout=0.1, grace=30)
    async with AsyncAgentCache.from_url(
        server_urls("cluster3"), prefix=unique_prefix(), conversation_config=config
    ) as cache:
        session = AgentCacheSession("short", cache, timeout=0.4)
        await session.add_items([_user("before")])
        await asyncio.sleep(0.7)
        assert await session.get_items() == []
        await session.add_items([_user("after")])
        assert await session.get_items() == [_user("after")]
        assert await AgentCacheSession("short", cache).get_items() == [_user("after")]


async def test_bad_input_is_refused(framework_cache: Any) -> None:
    with pytest.raises(InvalidNameError):
        AgentCacheSession("", framework_cache)
    with pytest.raises(InvalidArgumentError, match="AgentCache"):
        AgentCacheSession("s", "valkey://x")  # type: ignore[arg-type]
    before = framework_cache.round_trips
    with pytest.raises(InvalidArgumentError, match="dicts"):
        await AgentCacheSession("s", framework_cache).add_items(["just a string"])  # type: ignore[list-item]
    assert framework_cache.round_trips == before


async def _maybe(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value
