"""The conversation tier on every topology and both facades: history, paging, fork, state, errors, indexes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentcache import (
    AgentCache,
    Conversation,
    ConversationConfig,
    DataPart,
    ImagePart,
    InvalidArgumentError,
    Message,
    SessionEnded,
    SessionExists,
    SessionExpired,
    SessionNotFound,
    TextPart,
    ToolCallPart,
)
from tests.helpers import command, every_page, new

PNG = b"\x89PNG\r\n\x1a\n\x00\xff binary"


def test_create_get_and_history(cache: Any) -> None:
    conv = new(cache, system="You are terse.", metadata={"channel": "web", "n": 1})
    assert conv.agent_id == "agent" and conv.user_id == "user"
    assert conv.system == "You are terse." and conv.metadata == {"channel": "web", "n": 1}
    assert len(conv.id) >= 20  # generated, unguessable
    assert conv.length() == 0
    assert conv.add_message(Message.user("What's the capital of France?")) == 1
    assert conv.add_messages([Message.assistant("Paris."), Message.user("And Germany?")]) == 3
    again = cache.conversations.get(conv.id)
    assert again.id == conv.id and again.system == "You are terse." and again.metadata == conv.metadata
    history = again.messages()
    assert [m.role for m in history] == ["user", "assistant", "user"]
    assert [m.text for m in history] == ["What's the capital of France?", "Paris.", "And Germany?"]
    assert history.cursor is None


def test_created_with_messages_and_own_id(cache: Any) -> None:
    history = [Message.user("hi"), Message.assistant("hello")]
    conv = new(cache, session_id="my-session", messages=history)
    assert conv.id == "my-session"
    assert list(cache.conversations.get("my-session").messages()) == history
    with pytest.raises(SessionExists) as caught:
        new(cache, session_id="my-session")
    assert caught.value.status_code == 409


def test_every_part_type_round_trips_and_transient_parts_are_not_stored(cache: Any) -> None:
    call = ToolCallPart(id="c1", name="weather", arguments={"city": "Sofia", "days": [1, 2]})
    messages = [
        Message.system("Be kind."),
        Message.user(
            "Look at this",
            ImagePart(data=PNG, mime_type="image/png", name="shot.png"),
            ImagePart(url="https://example.com/a.jpg", mime_type="image/jpeg"),
            DataPart(data={"nested": [1, 2.5, None, True, "x"]}),
            TextPart(text="scratch, not kept", save=False),
            metadata={"client": "ios"},
        ),
        Message.assistant("Checking.", tool_calls=[call]),
        Message.tool("c1", {"temp": 21}),
        Message.tool("c2", "boom", is_error=True),
    ]
    conv = new(cache)
    conv.add_messages(messages)
    back = conv.messages()
    assert back[1].text == "Look at this"
    assert len(back[1].parts) == 4  # the transient part was stripped
    assert back[1].parts[1] == ImagePart(data=PNG, mime_type="image/png", name="shot.png")
    assert isinstance(back[1].parts[1].data, bytes)
    assert list(back) == [m.persisted() for m in messages]
    assert back[2].tool_calls == [call]
    assert back[4].parts[0].is_error is True


def test_paging_back_through_history(cache: Any) -> None:
    conv = new(cache)
    conv.add_messages([Message.user(f"m{i}") for i in range(25)])
    page = conv.messages(limit=10)
    assert [m.text for m in page] == [f"m{i}" for i in range(15, 25)]
    assert page.cursor == 15
    page = conv.messages(limit=10, before=page.cursor)
    assert [m.text for m in page] == [f"m{i}" for i in range(5, 15)] and page.cursor == 5
    page = conv.messages(limit=10, before=page.cursor)
    assert [m.text for m in page] == [f"m{i}" for i in range(5)] and page.cursor is None
    assert len(conv.messages(limit=100)) == 25
    assert list(conv.messages(before=0)) == []


def test_pop_last_and_clear(cache: Any) -> None:
    conv = new(cache)
    assert conv.pop_last() is None
    conv.add_messages([Message.user("a"), Message.assistant("b")])
    assert conv.pop_last() == Message.assistant("b")
    assert conv.length() == 1
    assert conv.clear() == 1
    assert conv.length() == 0 and list(conv.messages()) == []
    assert conv.add_message(Message.user("again")) == 1  # a cleared conversation lives on


def test_fork_copies_then_diverges(cache: Any) -> None:
    conv = new(cache, system="plan trips", metadata={"trip": "japan"})
    conv.add_messages([Message.user("We're planning a trip to Japan"), Message.user("Tokyo and Kyoto")])
    conv.state.set("cities", ["Tokyo", "Kyoto"])
    alt = conv.fork(session_id="alternative-plan")
    assert alt.id == "alternative-plan" and alt.system == "plan trips" and alt.metadata == {"trip": "japan"}
    alt.add_message(Message.user("Actually, Osaka instead"))
    conv.add_message(Message.assistant("Tokyo and Kyoto it is"))
    assert [m.text for m in conv.messages()][-1] == "Tokyo and Kyoto it is"
    assert [m.text for m in alt.messages()] == [
        "We're planning a trip to Japan",
        "Tokyo and Kyoto",
        "Actually, Osaka instead",
    ]
    assert alt.state.get("cities") is None  # state is not copied
    assert conv.fork().id not in (conv.id, alt.id)  # a generated id
    alt.clear()
    assert conv.length() == 3


def test_state_is_the_session_tier_of_the_conversation_id(cache: Any) -> None:
    conv = new(cache)
    conv.state.set("intent", "book")
    assert cache.session.get(conv.id, "intent") == "book"
    assert conv.state.get_all() == {"intent": "book"}
    conv.state.delete("intent")
    assert cache.session.get(conv.id, "intent") is None


def test_end_removes_history_and_state_and_leaves_a_tombstone(cache: Any) -> None:
    conv = new(cache)
    conv.add_message(Message.user("bye"))
    conv.state.set("f", 1)
    assert conv.end() is True
    assert cache.session.get(conv.id, "f") is None
    info = conv.info()
    assert info.status == "ended" and info.ended_at is not None and info.time_remaining.total_seconds() == 0
    with pytest.raises(SessionEnded) as caught:
        cache.conversations.get(conv.id)
    assert caught.value.status_code == 410 and isinstance(caught.value, SessionExpired)
    assert caught.value.expired_at == info.ended_at
    for call in (lambda: conv.add_message(Message.user("x")), conv.messages, conv.renew, conv.heartbeat):
        with pytest.raises(SessionEnded):
            call()
    assert conv.end() is False  # ending twice is harmless
    assert cache.conversations.list_active() == []


def test_delete_removes_everything(cache: Any) -> None:
    conv = new(cache)
    conv.add_message(Message.user("x"))
    conv.state.set("f", 1)
    assert cache.conversations.delete(conv.id) is True
    assert cache.session.get(conv.id, "f") is None
    with pytest.raises(SessionNotFound) as caught:
        cache.conversations.get(conv.id)
    assert caught.value.status_code == 404
    with pytest.raises(SessionNotFound):
        conv.info()
    assert cache.conversations.delete(conv.id) is False
    other = new(cache)
    assert other.delete() is True
    assert cache.conversations.list_active() == []


def test_unknown_session_is_not_found(cache: Any) -> None:
    with pytest.raises(SessionNotFound) as caught:
        cache.conversations.get("never-created")
    assert caught.value.status_code == 404
    assert "create a new one" in str(caught.value)


def test_list_active_filters_and_pages(cache: Any) -> None:
    made = [new(cache, agent_id=f"agent-{i % 2}", user_id=f"user-{i % 3}", timeout=600 + i) for i in range(7)]
    ids = [c.id for c in made]
    everything = cache.conversations.list_active()
    assert [i.id for i in everything] == ids  # soonest deadline first (timeouts 1 s apart)
    assert everything.cursor is None
    assert {i.id for i in cache.conversations.list_active(agent_id="agent-0")} == set(ids[0::2])
    assert {i.id for i in cache.conversations.list_active(user_id="user-1")} == {ids[1], ids[4]}
    both = cache.conversations.list_active(agent_id="agent-1", user_id="user-1")
    assert [i.id for i in both] == [ids[1]]
    seen = every_page(cache, 3)
    assert seen == ids
    made[0].end()
    made[1].delete()
    assert [i.id for i in cache.conversations.list_active()] == ids[2:]


def test_expiring_finds_conversations_near_their_deadline(cache: Any) -> None:
    soon = new(cache, timeout=400)
    later = new(cache, timeout=6000)
    found = cache.conversations.expiring(within=600)
    assert [i.id for i in found] == [soon.id]
    assert {i.id for i in cache.conversations.expiring(within=7200)} == {soon.id, later.id}


def test_configure_agent_defaults_apply_to_new_conversations(cache: Any) -> None:
    cache.conversations.configure_agent("support", timeout=720, auto_renew=False, max_duration=3600)
    assert cache.conversations.agent_config("support")["auto_renew"] is False
    info = new(cache, agent_id="support").info()
    assert info.timeout.total_seconds() == 720 and info.auto_renew is False
    assert info.max_duration.total_seconds() == 3600
    assert info.warning_threshold.total_seconds() == 300  # not set for the agent: the cache default
    explicit = new(cache, agent_id="support", timeout=600, auto_renew=True).info()
    assert explicit.timeout.total_seconds() == 600 and explicit.auto_renew is True  # per session wins
    assert new(cache, agent_id="other").info().timeout.total_seconds() == 1800  # the default


def test_to_dict_is_json_and_from_dict_restores(cache: Any) -> None:
    conv = new(cache, system="s", metadata={"k": [1, 2]}, timeout=300, max_duration=900)
    conv.add_messages([Message.user("hi", ImagePart(data=PNG, mime_type="image/png")), Message.assistant("yo")])
    data = conv.to_dict()
    text = json.dumps(data)  # JSON-serializable, image bytes as base64
    assert "binary" not in text
    conv.delete()
    restored = Conversation.from_dict(json.loads(text), cache)
    assert restored.id == conv.id and restored.system == "s" and restored.metadata == {"k": [1, 2]}
    back = restored.messages()
    assert back[0].parts[1].data == PNG and back[1].text == "yo"
    info = restored.info()
    assert info.timeout.total_seconds() == 300 and info.max_duration.total_seconds() == 900
    copy = cache.conversations.restore(data, session_id="copy")
    assert copy.id == "copy" and copy.length() == 2
    with pytest.raises(SessionExists):
        cache.conversations.restore(data)
    with pytest.raises(InvalidArgumentError):
        cache.conversations.restore({"id": "x"})


@pytest.mark.parametrize("session_id", ["a", "a:b", "a*", "{a}", "a\\", "%7Ba%7D", "ünï ✓"])
def test_conversations_with_tricky_ids_stay_apart(cache: Any, session_id: str) -> None:
    conv = new(cache, session_id=session_id)
    conv.add_message(Message.user(session_id))
    neighbour = new(cache, session_id=session_id + "x")
    neighbour.add_message(Message.user("other"))
    assert [m.text for m in cache.conversations.get(session_id).messages()] == [session_id]
    conv.state.set("f", session_id)
    assert cache.session.get(session_id, "f") == session_id
    conv.end()
    assert neighbour.length() == 1


def test_keys_share_the_session_hash_tag_and_expire(cache: Any) -> None:
    conv = new(cache, session_id="t{1}")
    conv.add_message(Message.user("x"))
    conv.state.set("f", 1)
    prefix = cache.settings.prefix
    meta, msgs = f"{prefix}:conv:{{t%7B1%7D}}:meta", f"{prefix}:conv:{{t%7B1%7D}}:msgs"
    assert cache.session.key("t{1}", "f") == f"{prefix}:session:{{t%7B1%7D}}:f"
    assert command(cache, "EXISTS", meta, msgs) == 2
    ttl = command(cache, "PTTL", meta)
    assert 1800_000 < ttl <= 1800_000 + 3600_000  # the deadline plus the grace period
    from valkey.crc import key_slot

    assert len({key_slot(key.encode()) for key in (meta, msgs, cache.session.key("t{1}", "f"))}) == 1


def test_len_on_the_sync_facade() -> None:
    with AgentCache.in_memory() as cache:
        conv = cache.conversations.create(agent_id="a", user_id="u", messages=[Message.user("x")])
        assert len(conv) == 1


async def test_async_facade_awaits_everything() -> None:
    from agentcache import AsyncAgentCache

    async with AsyncAgentCache.in_memory(conversation_config=ConversationConfig()) as cache:
        conv = await cache.conversations.create(agent_id="a", user_id="u")
        assert await conv.add_message(Message.user("x")) == 1
        assert await conv.length() == 1
        with pytest.raises(TypeError, match=r"await conv\.length"):
            len(conv)
        await conv.state.set("f", 2)
        assert await conv.state.get("f") == 2
        data = await conv.to_dict()
        copy = await Conversation.from_dict(data, cache, session_id="copy")
        assert [m.text for m in await copy.messages()] == ["x"]
