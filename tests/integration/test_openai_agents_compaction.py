"""The OpenAI Agents SDK's ``OpenAIResponsesCompactionSession`` wrapped around ``AgentCacheSession``:
the SDK's own client calls ``responses.compact`` on the loopback model server (``tests/fake_models.py``
answers it as OpenAI documents it), and the agentcache session ends up holding exactly what the SDK's
own ``SQLiteSession`` holds after the same flow, on the in-memory backend and real servers, both
facades: automatic compaction inside ``Runner.run`` (both request modes, and in place with a retrieval
limit), manual ``run_compaction`` (twice, with a retrieval limit), and a failed compaction that leaves
the history as it was; and the snapshot hook refusing to write over a history that changed."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from agents import Agent, OpenAIResponsesModel, Runner, SQLiteSession, set_tracing_disabled
from agents.memory import OpenAIResponsesCompactionSession, Session, SessionSettings
from openai import AsyncOpenAI

from agentcache.integrations.openai_agents import AgentCacheSession
from tests.fake_models import FakeModelServer
from tests.integration import test_openai_agents_contract as contract

set_tracing_disabled(True)  # nothing leaves the machine

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the same loop as the cache fixture's

MODEL = "gpt-4.1"
cache = contract.cache  # the same fixture: memory and each topology, both facades


@pytest.fixture
def client(fake_models: FakeModelServer) -> AsyncOpenAI:
    """The SDK's own client, pointed at the loopback model server (no retries: a 500 is final)."""
    fake_models.reset()
    fake_models.delay = 0
    return AsyncOpenAI(base_url=fake_models.openai_url, api_key="test-key", max_retries=0)


def _compacting(under: Session, client: AsyncOpenAI, **options: Any) -> OpenAIResponsesCompactionSession:
    """The SDK's compaction session around ``under``, compacting once two model items are stored."""
    return OpenAIResponsesCompactionSession(
        "compacted",
        under,
        client=client,
        model=MODEL,
        should_trigger_compaction=lambda context: len(context["compaction_candidate_items"]) >= 2,
        **options,
    )


def _text(item: Any) -> str:
    """A message item's text: its string content, or its first content block's text."""
    content = item["content"]
    return content if isinstance(content, str) else str(content[0]["text"])


def _user_texts(items: list[Any]) -> list[str]:
    """The texts of the compacted user messages (``input_text`` blocks, as ``responses.compact`` gives them)."""
    return [_text(item) for item in items if item.get("type") == "message" and item["role"] == "user"]


async def _three_turns(
    under: Session, client: AsyncOpenAI, fake: FakeModelServer, mode: str
) -> tuple[list[str], list[Any], list[tuple[str, dict[str, Any]]]]:
    """Three ``Runner.run`` turns through the compaction session: replies, stored items, requests sent."""
    fake.reset()
    fake.delay = 0
    agent = Agent(name="helper", instructions="Be brief.", model=OpenAIResponsesModel(MODEL, client))
    session = _compacting(under, client, compaction_mode=mode)
    replies = [str((await Runner.run(agent, text, session=session)).final_output) for text in ("one", "two", "three")]
    with fake.lock:
        sent = list(fake.requests)
    return replies, await under.get_items(), sent


@pytest.mark.parametrize("mode", ["auto", "input"])
async def test_runner_compacts_as_over_the_sdks_own_session(
    cache: Any, client: AsyncOpenAI, fake_models: FakeModelServer, mode: str
) -> None:
    theirs = await _three_turns(SQLiteSession(f"reference-{mode}"), client, fake_models, mode)
    ours = await _three_turns(AgentCacheSession("compacted", cache), client, fake_models, mode)
    assert ours == theirs, "same replies, same stored items, same requests as over the SDK's SQLiteSession"

    replies, _, sent = ours
    assert replies == ["heard: one", "heard: one | two", "heard: one | two | three"]
    assert [api for api, _ in sent] == ["responses", "responses", "compact", "responses"], "compacted after turn two"
    compact = sent[2][1]
    if mode == "auto":  # the turn's response id: OpenAI compacts the chain it already holds
        assert compact == {"model": MODEL, "previous_response_id": "resp_fake"}
    else:  # the stored history itself
        assert [item.get("role") for item in compact["input"]] == ["user", "assistant", "user", "assistant"]
        assert [_text(item) for item in compact["input"]] == ["one", "heard: one", "two", "heard: one | two"]

    stored: list[Any] = await AgentCacheSession("compacted", cache).get_items()  # another worker reads it
    assert [item.get("type") for item in stored] == ["message", "message", "compaction", None, "message"]
    assert _user_texts(stored[:2]) == ["one", "two"]
    assert stored[2]["encrypted_content"] == "summary: heard: one | heard: one | two", "the fake's summary of turns 1-2"
    assert stored[3:] == [
        {"role": "user", "content": "three"},
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "heard: one | two | three", "annotations": []}],
        },
    ]
    third_input = sent[3][1]["input"]
    assert [item.get("type") for item in third_input[:3]] == ["message", "message", "compaction"], (
        "turn three sent the compacted history, not the original items"
    )
    assert third_input[2]["encrypted_content"] == stored[2]["encrypted_content"]


async def _manual(under: Session, client: AsyncOpenAI, fake: FakeModelServer) -> tuple[list[Any], list[Any], Any]:
    """Six items, a forced compaction, two more items, a second one: stored items after each, and the
    second request's input."""
    fake.reset()
    fake.delay = 0
    session = _compacting(under, client)
    for i in range(3):
        pair: list[Any] = [
            {"role": "user", "content": f"q{i}"},
            {"role": "assistant", "content": [{"type": "output_text", "text": f"a{i}", "annotations": []}]},
        ]
        await session.add_items(pair)
    await session.run_compaction({"force": True})
    first = await under.get_items(limit=100)
    await session.add_items([{"role": "user", "content": "q3"}, {"role": "assistant", "content": "a3"}])
    await session.run_compaction({"force": True})
    second = await under.get_items(limit=100)
    with fake.lock:
        compacts = [body for api, body in fake.requests if api == "compact"]
    return first, second, compacts


@pytest.mark.parametrize("limit", [None, 3])
async def test_manual_compaction_replaces_the_history_as_the_sdk_does(
    cache: Any, client: AsyncOpenAI, fake_models: FakeModelServer, limit: int | None
) -> None:
    settings = SessionSettings(limit=limit)
    theirs = await _manual(SQLiteSession(f"manual-{limit}", session_settings=settings), client, fake_models)
    under = AgentCacheSession("manual", cache, session_settings=settings)
    ours = await _manual(under, client, fake_models)
    assert ours == theirs, "same history after each compaction, same requests, as over the SDK's SQLiteSession"

    first, second, compacts = ours
    assert len(compacts) == 2 and all("previous_response_id" not in body for body in compacts), "input mode"
    if limit is None:
        assert _user_texts(first) == ["q0", "q1", "q2"]
        assert first[-1]["encrypted_content"] == "summary: a0 | a1 | a2"
        assert second[-1]["encrypted_content"] == "summary: a0 | a1 | a2 | a3", "the second folds in the first"
        assert _user_texts(second) == ["q0", "q1", "q2", "q3"]
    else:  # the SDK sends only what get_items() gives (the newest 3) and replaces the whole history
        assert [_text(item) for item in compacts[0]["input"]] == ["a1", "q2", "a2"]
        assert _user_texts(first) == ["q2"] and first[-1]["encrypted_content"] == "summary: a1 | a2"
    assert [item.get("type") for item in second].count("compaction") == 1
    assert await AgentCacheSession("manual", cache).get_items() == second, "a later reader gets the compacted history"
    assert await under.get_items(limit=1) == second[-1:]


async def test_a_failed_compaction_leaves_the_history(cache: Any, client: AsyncOpenAI) -> None:
    under = AgentCacheSession("failing", cache)
    session = _compacting(under, client)
    items: list[Any] = [
        {"role": "user", "content": "q0"},
        {"role": "assistant", "content": "a0"},
        {"role": "user", "content": "FAIL now"},
        {"role": "assistant", "content": "a1"},
    ]
    await session.add_items(items)
    with pytest.raises(openai.InternalServerError):
        await session.run_compaction({"force": True})
    assert await AgentCacheSession("failing", cache).get_items() == items, "nothing was cleared"


async def test_with_a_limit_automatic_compaction_replaces_the_suffix_the_model_saw(
    cache: Any, client: AsyncOpenAI, fake_models: FakeModelServer
) -> None:
    """With a retrieval limit the model sees only the newest stored items: the SDK compacts them in
    place through its backends' snapshot hook, which ``AgentCacheSession`` has as SQLite's session
    does (without it, the SDK skipped every turn after the second)."""

    async def turns(under: Session) -> tuple[int, list[Any]]:
        fake_models.reset()
        fake_models.delay = 0
        agent = Agent(name="helper", instructions="Be brief.", model=OpenAIResponsesModel(MODEL, client))
        session = OpenAIResponsesCompactionSession(
            "limited", under, client=client, model=MODEL, should_trigger_compaction=lambda context: True
        )
        for text in ("one", "two", "three", "four"):
            await Runner.run(agent, text, session=session)
        return fake_models.calls["compact"], await under.get_items(limit=100)

    settings = SessionSettings(limit=2)  # the model is sent the newest 2 stored items
    theirs = await turns(SQLiteSession("limited", session_settings=settings))
    ours = await turns(AgentCacheSession("limited", cache, session_settings=settings))
    assert theirs[0] == 4, theirs
    assert ours == theirs


async def test_a_snapshot_is_not_written_over_a_history_that_changed(cache: Any) -> None:
    """The snapshot's replacement is refused, and nothing written, once an item was added, popped or
    the history replaced after it was read; an unchanged one is replaced in one call."""
    under = AgentCacheSession("changing", cache)
    items: list[Any] = [{"role": "user", "content": f"q{i}"} for i in range(4)]
    await under.add_items(items)
    summary: list[Any] = [{"type": "compaction", "encrypted_content": "s"}]
    snapshot = await under._get_compaction_snapshot(2)
    assert snapshot.items == items[2:] and not snapshot.complete
    await under.add_items([{"role": "user", "content": "late"}])
    assert not await snapshot.replace_suffix(0, summary)
    snapshot = await under._get_compaction_snapshot(2)
    await under.pop_item()
    await under.add_items([{"role": "user", "content": "late again"}])  # the same length as read
    assert not await snapshot.replace_suffix(0, summary)
    assert await under.get_items() == [*items, {"role": "user", "content": "late again"}]
    snapshot = await under._get_compaction_snapshot(10)
    assert snapshot.complete and len(snapshot.items) == 5
    assert not await snapshot.replace_suffix(5, summary), "an empty suffix is not replaced"
    assert await snapshot.replace_suffix(3, summary)
    assert await under.get_items() == [*items[:3], *summary]
    assert not await snapshot.replace_suffix(3, summary), "a snapshot replaces once"
    assert await under._atomic_replace_items(items[:1])
    assert await under.get_items() == items[:1]
    assert await AgentCacheSession("fresh", cache)._atomic_replace_items(items[:2])
    assert await AgentCacheSession("fresh", cache).get_items() == items[:2]
    assert await AgentCacheSession("never", cache)._get_compaction_snapshot(2) is None


async def test_under_an_encrypted_session_a_compaction_prunes_the_expired_head_as_sqlite_does(
    cache: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's EncryptedSession passes the snapshot a ``prune_prefix`` that is true for expired
    items: the replacement also removes the expired items at the head of the history, up to the
    first live one, in the same write, leaving what SQLiteSession leaves after the same calls."""
    import time
    import types

    from agents.extensions.memory import EncryptedSession

    async def add(session: Session, texts: str, *, age: int = 0) -> None:
        """Add one item per letter, sealed ``age`` seconds ago (the cipher reads Fernet's clock)."""
        monkeypatch.setattr("cryptography.fernet.time", types.SimpleNamespace(time=lambda: time.time() - age))
        try:
            await session.add_items([{"role": "user", "content": text} for text in texts])
        finally:
            monkeypatch.undo()

    async def compacted(under: Any) -> tuple[int, list[Any], int]:
        session = EncryptedSession("pruned", under, encryption_key="k" * 32, ttl=600)
        await add(session, "ab", age=3600)  # expired: pruned
        await add(session, "c")  # live: pruning stops here
        await add(session, "d", age=3600)  # expired, but after a live one: kept
        await add(session, "efg")
        snapshot: Any = await session._get_compaction_snapshot(3)
        assert [item["content"] for item in snapshot.items] == ["e", "f", "g"]
        assert await snapshot.replace_suffix(0, [{"type": "compaction", "encrypted_content": "s"}])
        visible = [item.get("content", item.get("type")) for item in await session.get_items()]
        return len(await under.get_items()), visible, len(await under.get_items(limit=100))

    theirs = await compacted(SQLiteSession("pruned"))
    ours = await compacted(AgentCacheSession("pruned", cache))
    assert theirs == (3, ["c", "compaction"], 3), theirs  # c, d (expired, unreadable) and the summary
    assert ours == theirs
