"""The Google ADK session-service contract, on every topology and both facades: what ADK's own
session-service tests check of its services (``tests/unittests/sessions/test_session_service.py``,
the tests on the shared ``session_service`` fixture; ADK does not package them), written for
``AgentCacheSessionService``, with ADK's ``InMemorySessionService`` as the reference where its
services differ: sessions and their ids, events in order with every field, ``GetSessionConfig``,
state scopes (app, user, session, temp), listing with state, deletion, ADK's error types, a call that
fails storing nothing (read back after the failure), and concurrent appends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions import InMemorySessionService
from google.adk.sessions.base_session_service import GetSessionConfig
from google.genai import types

from agentcache import AgentCache, AsyncAgentCache, InvalidNameError, SerializationError, ValueTooLargeError
from agentcache.integrations.adk import AgentCacheSessionService
from agentcache.testing import unique_prefix

pytestmark = pytest.mark.asyncio(loop_scope="session")

CASES = [("standalone", "async"), ("cluster", "sync"), ("cluster3", "async"), ("memory", "sync"), ("memory", "async")]


@pytest.fixture(params=CASES, ids=lambda p: f"{p[0]}-{p[1]}")
async def service(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> AsyncIterator[Any]:
    """A session service on a fresh cache (own prefix) of each topology; async or sync facade."""
    topology, facade = request.param
    kind: Any = AsyncAgentCache if facade == "async" else AgentCache
    options = {"prefix": unique_prefix(), "max_value_bytes": 1_000_000}
    cache = kind.in_memory(**options) if topology == "memory" else kind.from_url(server_urls(topology), **options)
    try:
        yield AgentCacheSessionService(cache)
    finally:
        closing = cache.close()
        if asyncio.iscoroutine(closing):
            await closing


def _event(author: str = "user", delta: dict[str, Any] | None = None, **fields: Any) -> Event:
    return Event(invocation_id="inv", author=author, actions=EventActions(state_delta=delta or {}), **fields)


# --- sessions


async def test_a_created_session_reads_back_equal(service: Any) -> None:
    made = await service.create_session(app_name="app", user_id="u", state={"k": "v"})
    assert made.id and made.app_name == "app" and made.user_id == "u" and made.state == {"k": "v"}
    assert made.last_update_time <= time.time()
    got = await service.get_session(app_name="app", user_id="u", session_id=made.id)
    assert got == made
    other = await service.create_session(app_name="app", user_id="u")
    assert other.id != made.id, "each session gets its own id"


async def test_ids_are_stripped_and_a_blank_id_gets_a_new_one(service: Any) -> None:
    made = await service.create_session(app_name="app", user_id="u", session_id="  padded  ")
    assert made.id == "padded"
    assert await service.get_session(app_name="app", user_id="u", session_id=" padded ") is not None
    blank = await service.create_session(app_name="app", user_id="u", session_id="   ")
    assert blank.id.strip() and blank.id != "padded"


async def test_a_live_id_cannot_be_created_twice_and_a_missing_one_is_none(service: Any) -> None:
    await service.create_session(app_name="app", user_id="u", session_id="s")
    with pytest.raises(AlreadyExistsError):
        await service.create_session(app_name="app", user_id="u", session_id="s")
    await service.create_session(app_name="app", user_id="other", session_id="s")  # another user's own "s"
    assert await service.get_session(app_name="app", user_id="u", session_id="missing") is None
    assert await service.get_session(app_name="elsewhere", user_id="u", session_id="s") is None


async def test_the_same_id_under_two_users_is_two_sessions(service: Any) -> None:
    first = await service.create_session(app_name="app", user_id="u1", session_id="s")
    await service.append_event(first, _event())
    await service.create_session(app_name="app", user_id="u2", session_id="s")
    second = await service.get_session(app_name="app", user_id="u2", session_id="s")
    assert second is not None and second.user_id == "u2" and second.events == []


# --- events


async def test_events_keep_their_order_and_every_field(service: Any) -> None:
    session = await service.create_session(app_name="app", user_id="u")
    content = types.Content(role="user", parts=[types.Part.from_bytes(data=b"\x00\xffimage", mime_type="image/png")])
    rich = _event(
        content=content,
        grounding_metadata=types.GroundingMetadata(search_entry_point=types.SearchEntryPoint(sdk_blob=b"blob")),
        usage_metadata=types.GenerateContentResponseUsageMetadata(prompt_token_count=3, total_token_count=5),
        custom_metadata={"nested": {"list": [1, 2.5, None]}},
        long_running_tool_ids={"tool-a"},
        error_code="E1",
        interrupted=True,
        turn_complete=True,
        timestamp=1_700_000_000.125,
    )
    rich.actions = EventActions(artifact_delta={"file": 2}, transfer_to_agent="other", escalate=True)
    for i in range(3):
        await service.append_event(session, _event("model", content=types.Content(parts=[types.Part(text=f"t{i}")])))
    await service.append_event(session, rich)
    got = await service.get_session(app_name="app", user_id="u", session_id=session.id)
    assert got == session, "what was appended reads back equal, the session object included"
    assert [e.content.parts[0].text for e in got.events[:3]] == ["t0", "t1", "t2"]
    assert got.events[3] == rich and got.events[3].content == content


async def test_partial_events_are_neither_stored_nor_applied(service: Any) -> None:
    session = await service.create_session(app_name="app", user_id="u")
    await service.append_event(session, _event(delta={"k": 1}, partial=True))
    assert session.events == [] and "k" not in session.state
    got = await service.get_session(app_name="app", user_id="u", session_id=session.id)
    assert got is not None and got.events == [] and got.state == {}


async def test_last_update_time_follows_the_newest_event(service: Any) -> None:
    session = await service.create_session(app_name="app", user_id="u")
    created = session.last_update_time
    await service.append_event(session, _event(timestamp=created + 10))
    assert session.last_update_time == pytest.approx(created + 10, abs=1e-6)
    for config in (None, GetSessionConfig(num_recent_events=0), GetSessionConfig(after_timestamp=created + 100)):
        got = await service.get_session(app_name="app", user_id="u", session_id=session.id, config=config)
        assert got is not None and got.last_update_time == pytest.approx(created + 10, abs=1e-6), config


async def test_get_session_config_limits_and_filters_events(service: Any) -> None:
    session = await service.create_session(app_name="app", user_id="u")
    for ts in range(1, 6):
        await service.append_event(session, _event(timestamp=float(ts)))

    async def stamps(**config: Any) -> list[float]:
        got = await service.get_session(
            app_name="app", user_id="u", session_id=session.id, config=GetSessionConfig(**config)
        )
        return [e.timestamp for e in got.events]

    assert await stamps() == [1, 2, 3, 4, 5]
    assert await stamps(num_recent_events=0) == []
    assert await stamps(num_recent_events=3) == [3, 4, 5]
    assert await stamps(num_recent_events=10) == [1, 2, 3, 4, 5]
    assert await stamps(after_timestamp=4.0) == [4, 5], "at or after"
    assert await stamps(after_timestamp=50.0) == []
    assert await stamps(after_timestamp=4.0, num_recent_events=3) == [4, 5]
    assert await stamps(after_timestamp=2.0, num_recent_events=2) == [4, 5]


# --- state scopes


async def test_state_scopes_app_user_session_and_temp(service: Any) -> None:
    s11 = await service.create_session(app_name="app", user_id="u1", session_id="s11", state={"k11": "v11"})
    await service.create_session(app_name="app", user_id="u1", session_id="s12", state={"k12": "v12"})
    await service.create_session(app_name="app", user_id="u2", session_id="s2")
    delta = {"app:shared": "all", "user:mine": "u1 only", "temp:scratch": "now", "k11": "new"}
    event = _event(delta=delta)
    await service.append_event(s11, event)
    assert s11.state == {"k11": "new", "app:shared": "all", "user:mine": "u1 only", "temp:scratch": "now"}
    assert event.actions.state_delta == {"app:shared": "all", "user:mine": "u1 only", "k11": "new"}, "temp: trimmed"

    async def state(user: str, sid: str) -> dict[str, Any]:
        got = await service.get_session(app_name="app", user_id=user, session_id=sid)
        return dict(got.state)

    assert await state("u1", "s11") == {"k11": "new", "app:shared": "all", "user:mine": "u1 only"}
    assert await state("u1", "s12") == {"k12": "v12", "app:shared": "all", "user:mine": "u1 only"}
    assert await state("u2", "s2") == {"app:shared": "all"}
    stored = await service.get_session(app_name="app", user_id="u1", session_id="s11")
    assert stored.events[0].actions.state_delta == {"app:shared": "all", "user:mine": "u1 only", "k11": "new"}
    fresh = await service.create_session(app_name="app", user_id="u1")
    assert fresh.state == {"app:shared": "all", "user:mine": "u1 only"}, "a new session sees app and user state"
    other_app = await service.create_session(app_name="other", user_id="u1")
    assert other_app.state == {}


async def test_create_state_goes_to_its_scopes(service: Any) -> None:
    made = await service.create_session(
        app_name="app", user_id="u", state={"app:a": 1, "user:b": 2, "c": 3, "temp:d": 4}
    )
    assert made.state == {"app:a": 1, "user:b": 2, "c": 3}
    assert await service.get_user_state(app_name="app", user_id="u") == {"b": 2}
    other = await service.create_session(app_name="app", user_id="someone")
    assert other.state == {"app:a": 1}


async def test_temp_state_is_visible_to_the_next_event_of_the_invocation(service: Any) -> None:
    session = await service.create_session(app_name="app", user_id="u")
    await service.append_event(session, _event("first", {"temp:out": "from first"}))
    assert session.state["temp:out"] == "from first"
    await service.append_event(session, _event("second", {"seen": session.state["temp:out"]}))
    got = await service.get_session(app_name="app", user_id="u", session_id=session.id)
    assert got.state == {"seen": "from first"}


async def test_user_state_is_per_user_and_per_app_and_latest(service: Any) -> None:
    assert await service.get_user_state(app_name="app", user_id="u") == {}
    session = await service.create_session(app_name="app", user_id="u")
    await service.append_event(session, _event(delta={"user:profile": {"name": "Ada"}, "own": 1}))
    await service.append_event(session, _event(delta={"user:count": 1}))
    await service.append_event(session, _event(delta={"user:count": 2}))
    assert await service.get_user_state(app_name="app", user_id="u") == {"profile": {"name": "Ada"}, "count": 2}
    assert await service.get_user_state(app_name="app", user_id="v") == {}
    assert await service.get_user_state(app_name="other", user_id="u") == {}


# --- listing and deletion


async def test_list_sessions_gives_each_session_its_merged_state_and_no_events(service: Any) -> None:
    for user, sid in (("u1", "a"), ("u1", "b/c"), ("u2", "d")):
        session = await service.create_session(app_name="app", user_id=user, session_id=sid, state={"key": sid})
        await service.append_event(session, _event(delta={"user:who": user}))
    await service.create_session(app_name="app", user_id="u1", session_id="x", state={"app:flag": True})
    await service.create_session(app_name="other", user_id="u1", session_id="elsewhere")

    mine = (await service.list_sessions(app_name="app", user_id="u1")).sessions
    assert {s.id: s.state for s in mine} == {
        "a": {"key": "a", "user:who": "u1", "app:flag": True},
        "b/c": {"key": "b/c", "user:who": "u1", "app:flag": True},
        "x": {"user:who": "u1", "app:flag": True},
    }
    assert all(s.events == [] and s.user_id == "u1" and s.app_name == "app" for s in mine)
    everyone = (await service.list_sessions(app_name="app", user_id=None)).sessions
    assert sorted((s.user_id, s.id) for s in everyone) == [("u1", "a"), ("u1", "b/c"), ("u1", "x"), ("u2", "d")]
    assert {s.id: s.state for s in everyone}["d"] == {"key": "d", "user:who": "u2", "app:flag": True}
    times = [s.last_update_time for s in everyone]
    assert times == sorted(times), "oldest update first"
    assert (await service.list_sessions(app_name="app", user_id="nobody")).sessions == []
    assert (await service.list_sessions(app_name="none")).sessions == []


async def test_list_sessions_agrees_with_adk_in_memory(service: Any) -> None:
    reference = InMemorySessionService()
    for svc in (service, reference):
        for sid, ts in (("late", 300.0), ("early", 100.0), ("middle", 200.0)):
            session = await svc.create_session(app_name="app", user_id="u", session_id=sid, state={"n": sid})
            await svc.append_event(session, _event(delta={"app:v": sid}, timestamp=ts))
    ours = (await service.list_sessions(app_name="app", user_id="u")).sessions
    theirs = (await reference.list_sessions(app_name="app", user_id="u")).sessions
    assert [(s.id, s.state, s.last_update_time, s.events) for s in ours] == [
        (s.id, s.state, s.last_update_time, s.events) for s in theirs
    ]


async def test_a_deleted_session_is_gone_everywhere(service: Any) -> None:
    session = await service.create_session(app_name="app", user_id="u", session_id="s", state={"k": 1, "user:u": 2})
    await service.append_event(session, _event(delta={"k": 2}))
    await service.delete_session(app_name="app", user_id="u", session_id="s")
    assert await service.get_session(app_name="app", user_id="u", session_id="s") is None
    assert (await service.list_sessions(app_name="app")).sessions == []
    with pytest.raises(SessionNotFoundError):
        await service.append_event(session, _event(delta={"k": 3}))
    assert len(session.events) == 1 and session.state["k"] == 2, "the failed append left the session object alone"
    assert await service.get_session(app_name="app", user_id="u", session_id="s") is None, "not started again"
    await service.delete_session(app_name="app", user_id="u", session_id="s")  # deleting twice is no error
    assert await service.get_user_state(app_name="app", user_id="u") == {"u": 2}, "user state outlives the session"
    again = await service.create_session(app_name="app", user_id="u", session_id="s")
    assert again.state == {"user:u": 2} and again.events == []


async def test_appending_to_a_session_never_created_raises_adks_error(service: Any) -> None:
    made = await service.create_session(app_name="app", user_id="u", session_id="real")
    ghost = made.model_copy(update={"id": "ghost"})
    with pytest.raises(SessionNotFoundError) as caught:
        await service.append_event(ghost, _event())
    assert isinstance(caught.value, ValueError), "ADK's error, a ValueError"
    assert await service.get_session(app_name="app", user_id="u", session_id="ghost") is None


# --- nothing half-written


async def _stored(service: Any, session_id: str) -> tuple[Any, Any, Any]:
    return (
        await service.get_session(app_name="app", user_id="u", session_id=session_id),
        await service.get_user_state(app_name="app", user_id="u"),
        (await service.create_session(app_name="app", user_id="probe")).state,
    )


@pytest.mark.parametrize(
    ("bad", "error"),
    [(lambda: 1, SerializationError), (object(), SerializationError), ("x" * 2_000_000, ValueTooLargeError)],
    ids=["lambda", "object", "too-large"],
)
async def test_an_append_that_fails_stores_nothing(service: Any, bad: Any, error: type[Exception]) -> None:
    session = await service.create_session(app_name="app", user_id="u", session_id="s", state={"app:a": 0, "k": 0})
    await service.append_event(session, _event(delta={"user:b": 0}))
    before = await _stored(service, "s")
    in_memory = session.model_copy(deep=True)
    event = _event(delta={"app:a": 1, "user:b": 1, "k": 1, "temp:t": 1, "bad": bad})
    with pytest.raises(error):
        await service.append_event(session, event)
    after = await _stored(service, "s")
    assert after[0] == before[0] and after[1] == before[1] and after[2] == before[2], "stored state as it was"
    assert session == in_memory, "the session object as it was"
    assert "temp:t" in event.actions.state_delta, "the event as it was"
    await service.append_event(session, _event(delta={"k": 2}))  # the session goes on
    got = await service.get_session(app_name="app", user_id="u", session_id="s")
    assert got.state["k"] == 2 and len(got.events) == 2


async def test_a_create_that_fails_stores_nothing(service: Any) -> None:
    with pytest.raises(SerializationError):
        await service.create_session(app_name="app", user_id="u", session_id="s", state={"app:a": 1, "f": print})
    assert await service.get_session(app_name="app", user_id="u", session_id="s") is None
    assert (await service.create_session(app_name="app", user_id="u", session_id="s")).state == {}
    with pytest.raises(InvalidNameError):
        await service.create_session(app_name="app", user_id="u", state={"user:": 1, "app:b": 2})
    assert (await service.create_session(app_name="app", user_id="w")).state == {}


# --- concurrency


async def test_concurrent_appends_lose_nothing(service: Any) -> None:
    session = await service.create_session(app_name="app", user_id="u", session_id="busy")
    copies = [session.model_copy(deep=True) for _ in range(8)]
    await asyncio.gather(
        *(service.append_event(c, _event(delta={f"k{i}": i, f"user:u{i}": i})) for i, c in enumerate(copies))
    )
    got = await service.get_session(app_name="app", user_id="u", session_id="busy")
    assert len(got.events) == 8
    assert {k: v for k, v in got.state.items() if k.startswith("k")} == {f"k{i}": i for i in range(8)}
    assert await service.get_user_state(app_name="app", user_id="u") == {f"u{i}": i for i in range(8)}
    services = [AgentCacheSessionService(service.cache) for _ in range(3)]  # other workers, nothing opened yet
    await asyncio.gather(*(s.append_event(copies[0], _event(delta={"w": i})) for i, s in enumerate(services)))
    assert len((await service.get_session(app_name="app", user_id="u", session_id="busy")).events) == 11
