"""The OpenAI Agents SDK session contract, on every topology and both facades: what the SDK's own
session tests check of its backends (``tests/memory/test_session.py``, ``test_session_limit.py``,
``tests/extensions/memory/test_redis_session.py``; the SDK does not package them), written for
``AgentCacheSession``: ordering, limits, pop, clear, settings, isolation, error types, concurrency
(tasks, and threads that each run their own event loop), and real ``Runner`` runs (a scripted model,
no network) with ``RunConfig(session_settings=...)``."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from agents import Agent, RunConfig, Runner, set_tracing_disabled
from agents.memory import Session, SessionSettings
from agents.testing import ScriptedModel, assistant_message

from agentcache import AgentCache, AsyncAgentCache, InvalidArgumentError
from agentcache.integrations.openai_agents import AgentCacheSession
from agentcache.testing import unique_prefix

set_tracing_disabled(True)

pytestmark = pytest.mark.asyncio(loop_scope="session")

CASES = [("standalone", "async"), ("cluster", "sync"), ("cluster3", "async"), ("memory", "sync"), ("memory", "async")]


@pytest.fixture(params=CASES, ids=lambda p: f"{p[0]}-{p[1]}")
async def cache(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> AsyncIterator[Any]:
    """A fresh cache (own prefix) on each topology; async or sync facade."""
    topology, facade = request.param
    kind: Any = AsyncAgentCache if facade == "async" else AgentCache
    prefix = unique_prefix()
    made = (
        kind.in_memory(prefix=prefix) if topology == "memory" else kind.from_url(server_urls(topology), prefix=prefix)
    )
    try:
        yield made
    finally:
        closing = made.close()
        if asyncio.iscoroutine(closing):
            await closing


def _say(text: str, role: str = "user") -> Any:
    return {"role": role, "content": text}


def _texts(items: list[Any]) -> list[Any]:
    return [item.get("content") for item in items]


# --- ordering, limits, pop, clear


async def test_items_come_back_in_order_exactly_as_given(cache: Any) -> None:
    session = AgentCacheSession("order", cache)
    assert isinstance(session, Session)
    items: list[Any] = [
        _say("Hello"),
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi", "annotations": []}]},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        _say('Ünïcødé 🐍 and "quotes" and \'); DROP TABLE x;--'),
        _say("line\nbreaks\tand\\escapes"),
    ]
    await session.add_items(items[:2])
    await session.add_items(items[2:5])
    await session.add_items(items[5:])
    assert await session.get_items() == items
    assert await AgentCacheSession("order", cache).get_items() == items, "another worker reads the same history"


async def test_limit_gives_the_newest_items_oldest_first(cache: Any) -> None:
    session = AgentCacheSession("limits", cache)
    await session.add_items([_say(f"Message {i}") for i in range(10)])
    assert _texts(await session.get_items(limit=3)) == ["Message 7", "Message 8", "Message 9"]
    assert _texts(await session.get_items(limit=1)) == ["Message 9"]
    assert len(await session.get_items(limit=10)) == 10
    assert len(await session.get_items(limit=50)) == 10, "more than the history gives all of it"
    assert await session.get_items(limit=0) == []
    assert len(await session.get_items()) == 10
    assert await AgentCacheSession("never-written", cache).get_items(limit=5) == []


async def test_pop_takes_the_newest_until_none_is_left(cache: Any) -> None:
    session = AgentCacheSession("pop", cache)
    assert await session.pop_item() is None, "an empty session pops None"
    await session.add_items([_say("a"), _say("b"), _say("c")])
    assert await session.pop_item() == _say("c")
    assert _texts(await session.get_items()) == ["a", "b"]
    assert await session.pop_item() == _say("b")
    assert await session.pop_item() == _say("a")
    assert await session.pop_item() is None
    assert await session.get_items() == []
    await session.add_items([_say("d")])
    assert await session.get_items() == [_say("d")]


async def test_clear_empties_only_this_session(cache: Any) -> None:
    session, other = AgentCacheSession("clear", cache), AgentCacheSession("clear-other", cache)
    await session.add_items([_say("a"), _say("b")])
    await other.add_items([_say("kept")])
    await session.clear_session()
    assert await session.get_items() == []
    assert await session.pop_item() is None
    await session.clear_session()  # clearing an empty session is no error
    assert await other.get_items() == [_say("kept")]
    await session.add_items([_say("after")])
    assert await session.get_items() == [_say("after")]


async def test_adding_nothing_changes_nothing_and_sends_nothing(cache: Any) -> None:
    session = AgentCacheSession("empty-add", cache)
    before = cache.round_trips
    await session.add_items([])
    assert cache.round_trips == before
    assert await session.get_items() == []


# --- settings


async def test_settings_default_to_the_sdks_default(cache: Any) -> None:
    session = AgentCacheSession("settings-default", cache)
    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit is None
    assert session.session_settings.resolve(SessionSettings(limit=2)).limit == 2


@pytest.mark.parametrize("given", [SessionSettings(limit=3), {"limit": 3}], ids=["class", "dictionary"])
async def test_settings_limit_is_the_default_limit(cache: Any, given: Any) -> None:
    session = AgentCacheSession("settings-limit", cache, session_settings=given)
    assert isinstance(session.session_settings, SessionSettings), "a dict is turned into SessionSettings"
    assert session.session_settings.limit == 3
    assert session.session_settings.resolve({"limit": 4}).limit == 4
    await session.add_items([_say(f"Message {i}") for i in range(5)])
    assert _texts(await session.get_items()) == ["Message 2", "Message 3", "Message 4"]
    assert _texts(await session.get_items(limit=1)) == ["Message 4"], "an explicit limit wins"
    assert len(await session.get_items(limit=5)) == 5


async def test_settings_of_the_wrong_shape_are_refused_as_the_sdk_refuses_them(cache: Any) -> None:
    with pytest.raises(TypeError, match="limitt"):
        AgentCacheSession("bad-settings", cache, session_settings={"limitt": 1})
    with pytest.raises(TypeError):
        AgentCacheSession("bad-settings", cache, session_settings=5)  # type: ignore[arg-type]


# --- isolation and errors


async def test_sessions_are_isolated_by_id(cache: Any) -> None:
    for name in ("a", "a:b", "a*", "{a}", "a/b"):
        await AgentCacheSession(name, cache).add_items([_say(f"for {name}")])
    for name in ("a", "a:b", "a*", "{a}", "a/b"):
        assert await AgentCacheSession(name, cache).get_items() == [_say(f"for {name}")]
    await AgentCacheSession("a", cache).clear_session()
    assert await AgentCacheSession("a:b", cache).get_items() == [_say("for a:b")]


async def test_bad_items_are_refused_before_anything_is_stored(cache: Any) -> None:
    session = AgentCacheSession("bad-items", cache)
    await session.add_items([_say("kept")])
    before = cache.round_trips
    with pytest.raises(InvalidArgumentError, match="dicts") as caught:
        await session.add_items([_say("would be first"), "not an item"])  # type: ignore[list-item]
    assert isinstance(caught.value, ValueError)
    assert cache.round_trips == before, "refused before a round trip"
    assert await session.get_items() == [_say("kept")], "nothing of the batch was stored"


# --- concurrency


async def test_concurrent_batches_are_all_stored_each_in_one_piece(cache: Any) -> None:
    sessions = [AgentCacheSession("concurrent", cache) for _ in range(6)]
    await asyncio.gather(*(s.add_items([_say(f"{i}-{j}") for j in range(5)]) for i, s in enumerate(sessions)))
    got = _texts(await AgentCacheSession("concurrent", cache).get_items())
    assert sorted(got) == sorted(f"{i}-{j}" for i in range(6) for j in range(5))
    for i in range(6):
        start = got.index(f"{i}-0")
        assert got[start : start + 5] == [f"{i}-{j}" for j in range(5)], "a batch is appended atomically"


async def test_threads_with_their_own_event_loops_share_one_session(cache: Any) -> None:
    """The SDK's concurrency test: a ThreadPoolExecutor whose workers each make an event loop and
    add an item, while this test's loop waits for them. Nothing hangs (bounded by the timeouts)."""
    session = AgentCacheSession("threads", cache)
    await session.add_items([_say("from the test's loop")])

    def add(i: int) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(asyncio.wait_for(session.add_items([_say(f"Message {i}")]), 20))
        finally:
            loop.close()

    def run_each(i: int) -> None:
        asyncio.run(asyncio.wait_for(session.add_items([_say(f"Run {i}")]), 20))

    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
        for future in [pool.submit(add, i) for i in range(10)] + [pool.submit(run_each, i) for i in range(5)]:
            future.result(timeout=30)  # raises what the worker raised
    got = set(_texts(await session.get_items()))
    assert got == {"from the test's loop"} | {f"Message {i}" for i in range(10)} | {f"Run {i}" for i in range(5)}


# --- the Runner


async def test_runner_passes_history_and_runconfig_settings_override_the_sessions(cache: Any) -> None:
    model = ScriptedModel()
    agent = Agent(name="helper", model=model)
    session = AgentCacheSession("runner", cache, session_settings={"limit": 100})
    model.enqueue([assistant_message("Paris")])
    first = await Runner.run(agent, "Capital of France?", session=session)
    assert first.final_output == "Paris"
    model.enqueue([assistant_message("Berlin")])
    await Runner.run(agent, "And Germany?", session=session)
    assert _texts(model.calls[-1].input)[0] == "Capital of France?", "the second run was sent the first"

    model.enqueue([assistant_message("Rome")])
    await Runner.run(
        agent, "And Italy?", session=session, run_config=RunConfig(session_settings=SessionSettings(limit=2))
    )
    sent = model.calls[-1].input
    assert len(sent) == 3 and sent[0].get("content") == "And Germany?" and sent[-1].get("content") == "And Italy?"

    model.enqueue([assistant_message("Madrid")])
    await Runner.run(agent, "And Spain?", session=session, run_config=RunConfig(session_settings={"limit": 0}))
    assert [item.get("content") for item in model.calls[-1].input] == ["And Spain?"]
    assert len(await session.get_items()) == 8


async def test_run_sync_in_a_thread_of_its_own(cache: Any) -> None:
    """``Runner.run_sync`` runs its own event loop; here in a worker thread, as the SDK's tests do."""
    model = ScriptedModel()
    agent = Agent(name="helper", model=model)
    session = AgentCacheSession("run-sync", cache)
    model.enqueue([assistant_message("one")])
    model.enqueue([assistant_message("two")])

    def runs() -> list[Any]:
        return [Runner.run_sync(agent, text, session=session).final_output for text in ("first", "second")]

    outputs = await asyncio.wait_for(asyncio.to_thread(runs), 60)
    assert outputs == ["one", "two"]
    assert _texts(model.calls[-1].input)[0] == "first", "the second run_sync was sent the first"
    assert len(await session.get_items()) == 4
