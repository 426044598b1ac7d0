"""Google ADK's events compaction through the agentcache session service: a compaction event (an
``EventActions.compaction`` carrying ADK's summary) is stored and returned as ADK's own services
do, and ADK's own context builder then sends the summary instead of the events it covers."""

from __future__ import annotations

from typing import Any

import pytest
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions, EventCompaction
from google.adk.flows.llm_flows.context._contents import _get_contents
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from google.genai import types

from agentcache.integrations.adk import AgentCacheSessionService

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _event(author: str, text: str, ts: float, invocation: str) -> Event:
    role = "user" if author == "user" else "model"
    event = Event(
        author=author, invocation_id=invocation, content=types.Content(role=role, parts=[types.Part(text=text)])
    )
    event.timestamp = ts
    return event


def _compaction(start: float, end: float, summary: str) -> Event:
    content = types.Content(role="model", parts=[types.Part(text=summary)])
    compaction = EventCompaction(start_timestamp=start, end_timestamp=end, compacted_content=content)
    event = Event(author="user", invocation_id="compaction", actions=EventActions(compaction=compaction))
    event.timestamp = end + 0.5
    return event


async def _stored(service: Any) -> list[Event]:
    session = await service.create_session(app_name="app", user_id="u", session_id="s")
    for i in range(3):
        await service.append_event(session, _event("user", f"q{i}", 10.0 * i + 1, f"inv{i}"))
        await service.append_event(session, _event("helper", f"a{i}", 10.0 * i + 2, f"inv{i}"))
    await service.append_event(session, _compaction(1.0, 12.0, "the user asked q0 and q1"))
    got = await service.get_session(app_name="app", user_id="u", session_id="s")
    assert got is not None
    return list(got.events)


async def test_a_compaction_event_is_stored_and_returned_as_adk_stores_it(framework_cache: Any) -> None:
    ours, theirs = await _stored(AgentCacheSessionService(framework_cache)), await _stored(InMemorySessionService())
    assert [e.model_dump(exclude={"id"}) for e in ours] == [e.model_dump(exclude={"id"}) for e in theirs]
    compaction = ours[-1].actions.compaction
    assert compaction is not None and compaction.compacted_content.parts
    assert compaction.compacted_content.parts[0].text == "the user asked q0 and q1"
    sent = [c.parts[0].text for c in _get_contents(None, ours, "helper") if c.parts]
    assert sent == [c.parts[0].text for c in _get_contents(None, theirs, "helper") if c.parts]
    assert "q0" not in sent and "q2" in sent and any("the user asked q0 and q1" in (t or "") for t in sent)
