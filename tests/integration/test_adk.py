"""Google ADK: the session service with ADK's own types (sessions, events, state scoping) and a
real ADK ``Runner`` run twice over a model of plain Python (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

import pytest
from google.adk.agents import LlmAgent
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.genai import types

from agentcache import AsyncAgentCache, ConversationConfig, InvalidArgumentError
from agentcache.integrations.adk import AgentCacheSessionService
from agentcache.testing import unique_prefix

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _event(author: str, text: str, delta: dict[str, Any] | None = None, ts: float | None = None) -> Event:
    event = Event(
        author=author,
        invocation_id="inv-1",
        content=types.Content(role="user" if author == "user" else "model", parts=[types.Part(text=text)]),
        actions=EventActions(state_delta=delta or {}),
    )
    if ts is not None:
        event.timestamp = ts
    return event


async def test_create_get_and_state_scoping(framework_cache: Any) -> None:
    service = AgentCacheSessionService(framework_cache)
    assert isinstance(service, BaseSessionService)
    state = {"topic": "tea", "app:greeting": "hello", "user:name": "Ada", "temp:scratch": 1}
    made = await service.create_session(app_name="app", user_id="u1", state=state, session_id="s1")
    assert made.id == "s1" and made.state == {"topic": "tea", "app:greeting": "hello", "user:name": "Ada"}
    with pytest.raises(AlreadyExistsError):
        await service.create_session(app_name="app", user_id="u1", session_id="s1")

    other = await service.create_session(app_name="app", user_id="u2")
    assert other.state == {"app:greeting": "hello"}, "app: state is shared, user: and session state are not"
    assert await service.get_user_state(app_name="app", user_id="u1") == {"name": "Ada"}
    assert await service.get_session(app_name="app", user_id="u1", session_id="missing") is None
    assert await service.get_session(app_name="app", user_id="u2", session_id="s1") is None, "another user's id"


async def test_events_and_state_deltas_persist(framework_cache: Any) -> None:
    service = AgentCacheSessionService(framework_cache)
    session = await service.create_session(app_name="app", user_id="u", session_id="s")
    await service.append_event(session, _event("user", "hi", ts=100.0))
    delta = {"mood": "good", "user:lang": "en", "app:version": 2, "temp:step": "x"}
    await service.append_event(session, _event("helper", "hello", delta, ts=101.0))
    await service.append_event(session, _event("helper", "partial...").model_copy(update={"partial": True}))
    assert session.state["temp:step"] == "x", "temp: state lives in memory for the invocation"

    got = await service.get_session(app_name="app", user_id="u", session_id="s")
    assert got is not None
    assert [e.content.parts[0].text for e in got.events if e.content and e.content.parts] == ["hi", "hello"]
    assert got.events[1].actions.state_delta == {"mood": "good", "user:lang": "en", "app:version": 2}
    assert got.state == {"mood": "good", "user:lang": "en", "app:version": 2}, "temp: is never stored"
    assert got.last_update_time == 101.0
    recent = await service.get_session(
        app_name="app", user_id="u", session_id="s", config=GetSessionConfig(num_recent_events=1)
    )
    assert recent is not None and [e.author for e in recent.events] == ["helper"]
    after = await service.get_session(
        app_name="app", user_id="u", session_id="s", config=GetSessionConfig(after_timestamp=100.5)
    )
    assert after is not None and len(after.events) == 1
    none = await service.get_session(
        app_name="app", user_id="u", session_id="s", config=GetSessionConfig(num_recent_events=0)
    )
    assert none is not None and none.events == []


async def test_list_and_delete(framework_cache: Any) -> None:
    service = AgentCacheSessionService(framework_cache)
    for user, sid in (("u1", "a"), ("u1", "b/c"), ("u2", "d")):
        await service.create_session(app_name="app", user_id=user, session_id=sid, state={"k": sid})
    await service.create_session(app_name="other/app", user_id="u1", session_id="e")
    listed = await service.list_sessions(app_name="app", user_id="u1")
    assert sorted(s.id for s in listed.sessions) == ["a", "b/c"]
    everyone = await service.list_sessions(app_name="app")
    assert sorted((s.user_id, s.id) for s in everyone.sessions) == [("u1", "a"), ("u1", "b/c"), ("u2", "d")]
    await service.delete_session(app_name="app", user_id="u1", session_id="b/c")
    assert await service.get_session(app_name="app", user_id="u1", session_id="b/c") is None
    again = await service.create_session(app_name="app", user_id="u1", session_id="b/c")
    assert again.state == {}, "a deleted session's state went with it"


async def test_a_timed_out_session_is_gone(server_urls: Callable[[str], str]) -> None:
    config = ConversationConfig(default_timeout=0.4, min_timeout=0.1, grace=30)
    async with AsyncAgentCache.from_url(
        server_urls("cluster3"), prefix=unique_prefix(), conversation_config=config
    ) as cache:
        service = AgentCacheSessionService(cache, timeout=0.4)
        await service.create_session(app_name="app", user_id="u", session_id="s", state={"k": 1})
        await asyncio.sleep(0.7)
        assert await service.get_session(app_name="app", user_id="u", session_id="s") is None
        assert (await service.list_sessions(app_name="app")).sessions == []
        fresh = await service.create_session(app_name="app", user_id="u", session_id="s")
        assert fresh.state == {}, "the expired session's state does not come back"


class EchoModel(BaseLlm):
    """A model of plain Python: answers with how many user turns it was sent, and the last one."""

    model: str = "echo"

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        users = [c.parts[0].text for c in llm_request.contents if c.role == "user" and c.parts and c.parts[0].text]
        text = f"{len(users)} user turns, last: {users[-1] if users else ''}"
        yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text=text)]))


async def test_runner_twice_second_run_sees_the_first(framework_cache: Any) -> None:
    service = AgentCacheSessionService(framework_cache)
    agent = LlmAgent(name="helper", model=EchoModel(), instruction="Be brief.", output_key="last_answer")
    runner = Runner(agent=agent, app_name="app", session_service=service)
    await service.create_session(app_name="app", user_id="u", session_id="run")

    async def ask(text: str) -> str:
        answers = []
        message = types.Content(role="user", parts=[types.Part(text=text)])
        async for event in runner.run_async(user_id="u", session_id="run", new_message=message):
            if event.content and event.content.parts and event.content.parts[0].text:
                answers.append(event.content.parts[0].text)
        return answers[-1]

    assert await ask("first") == "1 user turns, last: first"
    assert await ask("second") == "2 user turns, last: second", "the second run was sent the first"
    stored = await service.get_session(app_name="app", user_id="u", session_id="run")
    assert stored is not None and len(stored.events) == 4
    assert stored.state["last_answer"] == "2 user turns, last: second"


async def test_sync_runner_runs_each_turn_on_a_loop_of_its_own(framework_cache: Any) -> None:
    """ADK's sync ``Runner.run`` runs every turn in a new thread with ``asyncio.run``: an
    AsyncAgentCache serves each of those loops with a client of its own."""
    service = AgentCacheSessionService(framework_cache)
    agent = LlmAgent(name="helper", model=EchoModel(), instruction="Be brief.")
    runner = Runner(agent=agent, app_name="app", session_service=service)
    await service.create_session(app_name="app", user_id="u", session_id="sync")

    def ask(text: str) -> str:
        message = types.Content(role="user", parts=[types.Part(text=text)])
        events = runner.run(user_id="u", session_id="sync", new_message=message)
        texts = [e.content.parts[0].text for e in events if e.content and e.content.parts]
        return [text for text in texts if text][-1]

    answers = await asyncio.wait_for(asyncio.to_thread(lambda: [ask("first"), ask("second")]), 60)
    assert answers == ["1 user turns, last: first", "2 user turns, last: second"]
    stored = await service.get_session(app_name="app", user_id="u", session_id="sync")
    assert stored is not None and len(stored.events) == 4


async def test_bad_names_are_refused(framework_cache: Any) -> None:
    service = AgentCacheSessionService(framework_cache)
    with pytest.raises(InvalidArgumentError, match="app_name"):
        await service.create_session(app_name="", user_id="u")
    with pytest.raises(InvalidArgumentError, match="AgentCache"):
        AgentCacheSessionService("valkey://x")  # type: ignore[arg-type]
