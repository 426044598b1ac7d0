"""Strands Agents: the session repository against what Strands' own tests check of its file,
Valkey and mocked repositories, the ``RepositorySessionManager`` over it, and a real Strands
``Agent`` run twice against the loopback model server, on every server topology."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from strands import Agent
from strands.agent.conversation_manager.null_conversation_manager import NullConversationManager
from strands.agent.conversation_manager.sliding_window_conversation_manager import SlidingWindowConversationManager
from strands.models.openai import OpenAIModel
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.content import ContentBlock
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from agentcache import AgentCache, AsyncAgentCache, ConversationConfig, InvalidArgumentError
from agentcache.integrations.strands import AgentCacheSessionManager, AgentCacheSessionRepository
from agentcache.testing import unique_prefix
from tests.fake_models import FakeModelServer


@pytest.fixture(params=["standalone", "cluster", "cluster3"])
def cache(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> Iterator[AgentCache]:
    with AgentCache.from_url(server_urls(request.param), prefix=unique_prefix()) as made:
        yield made


@pytest.fixture
def repo(cache: AgentCache) -> AgentCacheSessionRepository:
    return AgentCacheSessionRepository(cache, user_id="ada")


def _message(text: str, index: int, role: str = "user") -> SessionMessage:
    return SessionMessage.from_message({"role": role, "content": [ContentBlock(text=text)]}, index)  # type: ignore[typeddict-item]


def _agent_record(agent_id: str = "test-agent") -> SessionAgent:
    return SessionAgent(
        agent_id=agent_id, state={"key": "value"}, conversation_manager_state=NullConversationManager().get_state()
    )


def test_sessions(repo: AgentCacheSessionRepository, cache: AgentCache) -> None:
    session = Session(session_id="test-session", session_type=SessionType.AGENT)
    assert repo.read_session("test-session") is None
    assert repo.create_session(session) is session
    got = repo.read_session("test-session")
    assert got is not None and (got.session_id, got.session_type) == ("test-session", SessionType.AGENT)
    assert got.created_at == session.created_at
    with pytest.raises(SessionException, match="already exists"):
        repo.create_session(session)
    assert [c.id for c in cache.conversations.list_active(agent_id="strands", user_id="ada")] == ["test-session"]

    repo.create_agent("test-session", _agent_record())
    repo.create_message("test-session", "test-agent", _message("hi", 0))
    repo.delete_session("test-session")
    assert repo.read_session("test-session") is None
    assert repo.read_agent("test-session", "test-agent") is None, "the agents go with the session"
    assert repo.list_messages("test-session", "test-agent") == []
    with pytest.raises(SessionException, match="does not exist"):
        repo.delete_session("test-session")


def test_agents(repo: AgentCacheSessionRepository) -> None:
    repo.create_session(Session(session_id="s", session_type=SessionType.AGENT))
    assert repo.read_agent("s", "nonexistent_agent") is None
    record = _agent_record()
    repo.create_agent("s", record)
    got = repo.read_agent("s", "test-agent")
    assert got is not None and got.agent_id == "test-agent" and got.state == {"key": "value"}

    updated = _agent_record()
    updated.state = {"updated": "value"}
    repo.update_agent("s", updated)
    got = repo.read_agent("s", "test-agent")
    assert got is not None and got.state == {"updated": "value"}
    assert got.created_at == record.created_at, "the update keeps when it was created"
    assert repo.read_agent("other-session", "test-agent") is None
    gone = _agent_record("expired-agent")  # a record can expire: its update stores it again
    repo.update_agent("s", gone)
    got = repo.read_agent("s", "expired-agent")
    assert got is not None and got.state == {"key": "value"}


def test_messages(repo: AgentCacheSessionRepository) -> None:
    repo.create_session(Session(session_id="s", session_type=SessionType.AGENT))
    repo.create_agent("s", _agent_record())
    assert repo.list_messages("s", "test-agent") == []
    assert repo.read_message("s", "test-agent", 999) is None
    for i in range(10):
        repo.create_message("s", "test-agent", _message(f"Message {i}", i))
    assert len(repo.list_messages("s", "test-agent")) == 10
    assert [m.message_id for m in repo.list_messages("s", "test-agent", limit=3)] == [0, 1, 2]
    assert [m.message_id for m in repo.list_messages("s", "test-agent", offset=5)] == [5, 6, 7, 8, 9]
    assert [m.message_id for m in repo.list_messages("s", "test-agent", limit=2, offset=8)] == [8, 9]
    got = repo.read_message("s", "test-agent", 4)
    assert got is not None and got.message["content"][0]["text"] == "Message 4"

    update = _message("Updated content", 4)
    repo.update_message("s", "test-agent", update)
    got = repo.read_message("s", "test-agent", 4)
    assert got is not None and got.message["content"][0]["text"] == "Updated content"
    listed = repo.list_messages("s", "test-agent")
    assert [m.message["content"][0]["text"] for m in listed[3:6]] == ["Message 3", "Updated content", "Message 5"]
    assert len(listed) == 10, "an update replaces the message where it was"
    with pytest.raises(SessionException, match="does not exist"):
        repo.update_message("s", "test-agent", _message("nope", 99))


def test_an_update_keeps_created_at_and_redacts(repo: AgentCacheSessionRepository) -> None:
    repo.create_session(Session(session_id="s", session_type=SessionType.AGENT))
    original = _message("my card is 4111", 0)
    original.created_at = "2026-01-01T00:00:00+00:00"
    repo.create_message("s", "a", original)
    redacted = _message("my card is 4111", 0)
    redacted.redact_message = {"role": "user", "content": [ContentBlock(text="[redacted]")]}
    repo.update_message("s", "a", redacted)
    got = repo.read_message("s", "a", 0)
    assert got is not None and got.created_at == "2026-01-01T00:00:00+00:00"
    assert got.to_message()["content"][0]["text"] == "[redacted]"


def test_agents_of_one_session_and_sessions_are_isolated(repo: AgentCacheSessionRepository) -> None:
    for session_id in ("a", "a:b", "a*"):
        repo.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))
        for agent_id in ("x", "y"):
            repo.create_agent(session_id, _agent_record(agent_id))
            repo.create_message(session_id, agent_id, _message(f"{session_id}/{agent_id}", 0))
    for session_id in ("a", "a:b", "a*"):
        for agent_id in ("x", "y"):
            texts = [m.message["content"][0]["text"] for m in repo.list_messages(session_id, agent_id)]
            assert texts == [f"{session_id}/{agent_id}"]
            record = repo.read_agent(session_id, agent_id)
            assert record is not None and record.agent_id == agent_id


def test_bad_ids_are_refused(repo: AgentCacheSessionRepository, cache: AgentCache) -> None:
    bad_ids: list[Any] = ["not_an_int", None, [], 1.5, True]
    for bad in bad_ids:
        with pytest.raises(ValueError, match=r"message_id=<.*> \| message id must be an integer"):
            repo.read_message("s", "a", bad)
    before = cache.round_trips
    with pytest.raises(ValueError, match="agent_id must be a non-empty str"):
        repo.create_agent("s", _agent_record(""))
    assert cache.round_trips == before


def test_multi_agent_state(repo: AgentCacheSessionRepository) -> None:
    class Swarm:  # what the repository reads of a MultiAgentBase
        id = "test-multi-agent"

        def __init__(self, state: dict[str, Any]) -> None:
            self.state = state

        def serialize_state(self) -> dict[str, Any]:
            return {"id": self.id, "state": self.state}

    repo.create_session(Session(session_id="m", session_type=SessionType.AGENT))
    assert repo.read_multi_agent("m", "test-multi-agent") is None
    repo.create_multi_agent("m", Swarm({"key": "value"}))  # type: ignore[arg-type]
    assert repo.read_multi_agent("m", "test-multi-agent") == {"id": "test-multi-agent", "state": {"key": "value"}}
    repo.update_multi_agent("m", Swarm({"restored": "data"}))  # type: ignore[arg-type]
    assert repo.read_multi_agent("m", "test-multi-agent") == {"id": "test-multi-agent", "state": {"restored": "data"}}


# --- the session manager (what Strands' tests check of RepositorySessionManager)


def test_manager_creates_or_uses_the_session_and_restores_an_agent(cache: AgentCache) -> None:
    repo = AgentCacheSessionRepository(cache)
    manager = RepositorySessionManager(session_id="test-session", session_repository=repo)
    assert repo.read_session("test-session") is not None
    assert RepositorySessionManager(session_id="test-session", session_repository=repo).session == manager.session

    record = SessionAgent(
        agent_id="existing-agent",
        state={"key": "value"},
        conversation_manager_state=SlidingWindowConversationManager().get_state(),
        _internal_state={"interrupt_state": {"interrupts": {}, "context": {"test": "init"}, "activated": False}},
    )
    repo.create_agent("test-session", record)
    repo.create_message("test-session", "existing-agent", _message("Hello", 0))
    agent = Agent(agent_id="existing-agent", session_manager=AgentCacheSessionManager("test-session", cache))
    assert agent.state.get("key") == "value"
    assert [(m["role"], m["content"][0]["text"]) for m in agent.messages] == [("user", "Hello")]

    manager = AgentCacheSessionManager("test-session", cache)
    fresh = Agent(agent_id="new-agent", session_manager=manager)
    manager.append_message({"role": "user", "content": [{"text": "Hi"}]}, fresh)
    assert [m.message["content"][0]["text"] for m in repo.list_messages("test-session", "new-agent")] == ["Hi"]


def test_two_workers_starting_one_new_session_both_get_it(cache: AgentCache, monkeypatch: pytest.MonkeyPatch) -> None:
    real = AgentCacheSessionRepository.read_session
    seen: list[str] = []

    def late(self: AgentCacheSessionRepository, session_id: str, **kwargs: Any) -> Session | None:
        if not seen:  # the first read misses: another worker creates the session right after it
            seen.append(session_id)
            AgentCacheSessionRepository(cache).create_session(Session(session_id, SessionType.AGENT))
            return None
        return real(self, session_id, **kwargs)

    monkeypatch.setattr(AgentCacheSessionRepository, "read_session", late)
    manager = AgentCacheSessionManager("race", cache)
    assert seen == ["race"] and manager.session.session_id == "race"


def test_an_agent_runs_twice_and_the_second_run_sees_the_first(cache: AgentCache, fake_models: FakeModelServer) -> None:
    fake_models.reset()
    fake_models.delay = 0

    def agent() -> Agent:
        model = OpenAIModel(client_args={"base_url": fake_models.openai_url, "api_key": "test"}, model_id="gpt-fake")
        manager = AgentCacheSessionManager("chat-1", cache, user_id="ada", timeout=600)
        return Agent(model=model, agent_id="helper", callback_handler=None, session_manager=manager)

    first = agent()
    assert str(first("my name is Ada")).strip() == "heard: my name is Ada"
    first.state.set("visits", 1)
    first("and I like tea")

    other_worker = agent()
    assert other_worker.state.get("visits") == 1
    assert len(other_worker.messages) == 4
    reply = other_worker("what is my name?")
    assert str(reply).strip() == "heard: my name is Ada | and I like tea | what is my name?"
    stored = AgentCacheSessionRepository(cache).list_messages("chat-1", "helper")
    assert [m.message["role"] for m in stored] == ["user", "assistant"] * 3
    assert [m.message_id for m in stored] == list(range(6))
    assert [c.id for c in cache.conversations.list_active(user_id="ada")] == ["chat-1"]


def test_an_agent_whose_record_expired_gets_its_history_back(cache: AgentCache) -> None:
    manager = AgentCacheSessionManager("s", cache)
    first = Agent(agent_id="helper", session_manager=manager)
    first.state.set("mood", "good")
    for text in ["hello", "hi there"]:
        manager.append_message({"role": "user", "content": [{"text": text}]}, first)
    manager.sync_agent(first)
    record = manager.session_repository.read_agent("s", "helper")
    assert record is not None and record.state == {"mood": "good"}
    assert cache.session.delete("s", "strands/agent/helper"), "as its TTL would"
    again = Agent(agent_id="helper", session_manager=AgentCacheSessionManager("s", cache))
    assert [m["content"][0]["text"] for m in again.messages] == ["hello", "hi there"]
    assert again.state.get("mood") is None, "the state went with the record"


def test_a_session_that_timed_out_under_a_running_agent_starts_again(
    server_urls: Callable[[str], str], fake_models: FakeModelServer
) -> None:
    fake_models.reset()
    fake_models.delay = 0
    config = ConversationConfig(default_timeout=0.4, min_timeout=0.1, grace=30)
    with AgentCache.from_url(server_urls("cluster3"), prefix=unique_prefix(), conversation_config=config) as short:
        model = OpenAIModel(client_args={"base_url": fake_models.openai_url, "api_key": "test"}, model_id="gpt-fake")
        agent = Agent(model=model, callback_handler=None, session_manager=AgentCacheSessionManager("s", short))
        agent("one")
        time.sleep(0.6)
        assert str(agent("two")).strip() == "heard: one | two", "the agent carries on with what it holds"
        later = Agent(model=model, callback_handler=None, session_manager=AgentCacheSessionManager("s", short))
        assert [m["content"][0]["text"] for m in later.messages] == ["two", "heard: one | two"]


def test_round_trips(cache: AgentCache) -> None:
    repo = AgentCacheSessionRepository(cache)
    repo.create_session(Session(session_id="rt", session_type=SessionType.AGENT))
    for i in range(2):  # the first opens the session's conversation; each script is loaded on its node once
        repo.create_message("rt", "a", _message("warm", i))
    repo.list_messages("rt", "a")
    for call in (
        lambda: repo.create_message("rt", "a", _message("x", 2)),
        lambda: repo.list_messages("rt", "a"),
        lambda: repo.read_session("rt"),
    ):
        before = cache.round_trips
        call()
        assert cache.round_trips - before == 1


@pytest.mark.asyncio(loop_scope="session")
async def test_an_async_cache_is_refused(server_urls: Callable[[str], str]) -> None:
    async with AsyncAgentCache.from_url(server_urls("standalone"), prefix=unique_prefix()) as acache:
        with pytest.raises(InvalidArgumentError, match="synchronously"):
            AgentCacheSessionManager("s", acache)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="AgentCache"):
        AgentCacheSessionRepository("valkey://localhost")  # type: ignore[arg-type]
