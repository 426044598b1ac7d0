"""Pydantic AI: the message history with Pydantic AI's own message types, a real ``Agent`` run twice
(and through a tool call) against the loopback model server, on every server topology."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import (
    BinaryContent,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agentcache import AgentCache, InvalidArgumentError, InvalidNameError, Message
from agentcache.integrations.pydantic_ai import AgentCacheMessageHistory
from agentcache.testing import unique_prefix
from tests.fake_models import FakeModelServer

on_session_loop = pytest.mark.asyncio(loop_scope="session")  # the same loop as the cache fixture's

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _agent(fake_models: FakeModelServer) -> Agent[None, str]:
    provider = OpenAIProvider(base_url=fake_models.openai_url, api_key="test-key")
    return Agent(OpenAIChatModel("gpt-fake", provider=provider), instructions="Be brief.")


def _history() -> list[ModelMessage]:
    return [
        ModelRequest(
            parts=[
                SystemPromptPart(content="be brief", timestamp=WHEN),
                UserPromptPart(content=["look", BinaryContent(data=b"\x89PNG\x00\xff", media_type="image/png")]),
            ]
        ),
        ModelResponse(
            parts=[TextPart(content="calling"), ToolCallPart(tool_name="lookup", args={"q": 1}, tool_call_id="c1")],
            timestamp=WHEN,
        ),
        ModelRequest(parts=[ToolReturnPart(tool_name="lookup", content={"answer": 42}, tool_call_id="c1")]),
        ModelRequest(parts=[ToolReturnPart(tool_name="lookup", content="again", tool_call_id="c2", outcome="retried")]),
        ModelResponse(parts=[TextPart(content="42")]),
    ]


async def _maybe(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


@on_session_loop
async def test_every_message_kind_round_trips_as_pydantic_ai_types(framework_cache: Any) -> None:
    history = AgentCacheMessageHistory("h1", framework_cache, user_id="ada")
    assert await history.amessages() == []
    sent = _history()
    await history.aadd(sent[:2])
    await history.aadd(sent[2:])
    got = await AgentCacheMessageHistory("h1", framework_cache).amessages()
    own_round_trip = ModelMessagesTypeAdapter.validate_json(ModelMessagesTypeAdapter.dump_json(sent))
    assert got == own_round_trip, "another worker reads what Pydantic AI's own JSON round trip gives"
    first_request = got[0]
    assert isinstance(first_request, ModelRequest) and isinstance(first_request.parts[1], UserPromptPart)
    image = first_request.parts[1].content[1]
    assert isinstance(image, BinaryContent) and image.data == b"\x89PNG\x00\xff" and image.media_type == "image/png"
    assert isinstance(first_request.parts[0], SystemPromptPart) and first_request.parts[0].timestamp == WHEN
    assert await history.amessages(limit=2) == own_round_trip[3:]

    conv = await _maybe(framework_cache.conversations.get("h1"))
    stored: list[Message] = await _maybe(conv.messages())
    assert [m.role for m in stored] == ["user", "assistant", "tool", "tool", "assistant"]
    assert conv.user_id == "ada" and conv.agent_id == "pydantic-ai"

    await history.aclear()
    assert await history.amessages() == []


@on_session_loop
async def test_agent_runs_twice_and_the_second_run_sees_the_first(
    framework_cache: Any, fake_models: FakeModelServer
) -> None:
    fake_models.reset()
    fake_models.delay = 0
    history = AgentCacheMessageHistory("chat-1", framework_cache, agent_id="helper", user_id="ada", timeout=600)
    first = await history.run(_agent(fake_models), "my name is Ada")
    assert first.output == "heard: my name is Ada"
    other_worker = AgentCacheMessageHistory("chat-1", framework_cache)
    second = await other_worker.run(_agent(fake_models), "what is my name?")
    assert second.output == "heard: my name is Ada | what is my name?", "the model was sent the first run"
    assert fake_models.calls["chat"] == 2
    sent = fake_models.requests[-1][1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert len(await history.amessages()) == 4
    active = await _maybe(framework_cache.conversations.list_active(agent_id="helper", user_id="ada"))
    assert [info.id for info in active] == ["chat-1"], "the history is a conversation"


@on_session_loop
async def test_a_tool_call_is_kept_and_the_next_run_continues_after_it(
    framework_cache: Any, fake_models: FakeModelServer
) -> None:
    fake_models.reset()
    fake_models.delay = 0
    agent = _agent(fake_models)
    calls: list[int] = []

    @agent.tool_plain
    def lookup(q: int) -> str:
        calls.append(q)
        return f"found {q}"

    history = AgentCacheMessageHistory("tools-1", framework_cache)
    result = await history.run(agent, 'CALL lookup {"q": 7}')
    assert result.output == "tool said: found 7" and calls == [7]
    kinds = [
        [part.part_kind for part in m.parts]
        for m in await AgentCacheMessageHistory("tools-1", framework_cache).amessages()
    ]
    assert kinds == [["user-prompt"], ["tool-call"], ["tool-return"], ["text"]]
    again = await history.run(agent, "and now?")
    assert again.output == 'heard: CALL lookup {"q": 7} | and now?'


@pytest.fixture(params=["standalone", "cluster", "cluster3"])
def sync_cache(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> Iterator[AgentCache]:
    with AgentCache.from_url(server_urls(request.param), prefix=unique_prefix()) as made:
        yield made


def test_run_sync_on_a_sync_cache(sync_cache: AgentCache, fake_models: FakeModelServer) -> None:
    fake_models.reset()
    fake_models.delay = 0
    history = AgentCacheMessageHistory("sync-1", sync_cache)
    assert history.run_sync(_agent(fake_models), "one").output == "heard: one"
    assert history.run_sync(_agent(fake_models), "two").output == "heard: one | two"
    assert len(history.messages()) == 4 and len(history.messages(limit=1)) == 1
    history.add([ModelResponse(parts=[TextPart(content="extra")])])
    assert history.messages(limit=1) == [ModelResponse(parts=[TextPart(content="extra")], timestamp=ANY_TIME)]
    history.clear()
    assert history.messages() == []


class _AnyTime(datetime):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, datetime)

    __hash__ = datetime.__hash__


ANY_TIME = _AnyTime(2000, 1, 1, tzinfo=UTC)


@on_session_loop
async def test_round_trips_once_open(framework_cache: Any) -> None:
    history = AgentCacheMessageHistory("rt", framework_cache)
    for _ in range(2):  # the first starts the conversation; each script is loaded on its node once
        await history.aadd(_history()[:1])
    await history.amessages()
    for method, args in (("aadd", (_history()[1:3],)), ("amessages", ()), ("aclear", ())):
        before = framework_cache.round_trips
        await getattr(history, method)(*args)
        assert framework_cache.round_trips - before == 1, method


@on_session_loop
async def test_bad_input_is_refused_before_anything_is_sent(framework_cache: Any) -> None:
    with pytest.raises(InvalidNameError):
        AgentCacheMessageHistory("", framework_cache)
    with pytest.raises(InvalidArgumentError, match="AgentCache"):
        AgentCacheMessageHistory("h", {"not": "a cache"})  # type: ignore[arg-type]
    history = AgentCacheMessageHistory("h", framework_cache)
    before = framework_cache.round_trips
    with pytest.raises(InvalidArgumentError, match="Pydantic AI messages"):
        await history.aadd([{"kind": "request", "parts": []}])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="list of Pydantic AI messages"):
        await history.aadd(ModelResponse(parts=[TextPart(content="x")]))  # type: ignore[arg-type]
    assert framework_cache.round_trips == before
    if isinstance(framework_cache, AgentCache):
        return
    with pytest.raises(InvalidArgumentError, match="amessages"):
        history.messages()


@on_session_loop
async def test_a_conversation_of_other_messages_is_not_read_as_pydantic_ai(framework_cache: Any) -> None:
    conv = framework_cache.conversations.log("plain", agent_id="a", user_id="u")
    await _maybe(conv.append([Message.user("hello")]))
    with pytest.raises(InvalidArgumentError, match="not Pydantic AI messages"):
        await AgentCacheMessageHistory("plain", framework_cache).amessages()
