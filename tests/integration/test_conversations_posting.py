"""``conv.post_message``: a message appended and the conversation's info read back in one round trip
(the Sessions API's send), on every topology and both facades; a stale handle is corrected."""

from __future__ import annotations

import time
from typing import Any

import pytest

from agentcache import Message, SessionNotFound, TextPart
from tests.helpers import cost, new


def _ids(page: Any) -> set[str]:
    return {info.id for info in page}


def test_a_post_appends_and_reads_the_info_after_it_in_one_round_trip(cache: Any) -> None:
    conv = new(cache, timeout=600)
    conv.add_message(Message.assistant("Hello."))  # the write script is loaded now, not in the count
    before = conv.info()
    time.sleep(0.005)  # the server's clock (ms) moves on: a renewal in the same millisecond moves no deadline
    posted: list[Any] = []
    assert cost(cache, lambda: posted.append(conv.post_message(Message.user("Hi there")))) == 1
    length, info = posted[0].length, posted[0].info
    assert length == 2 and info.message_count == 2 and info.status == "active"
    assert info.renewal_count == before.renewal_count + 1 and info.expires_at > before.expires_at  # auto-renewed
    assert info.last_activity >= before.last_activity
    assert info == conv.info().model_copy(update={"time_remaining": info.time_remaining})
    assert conv.messages()[-1].parts == [TextPart(text="Hi there")]
    assert conv.id in _ids(cache.conversations.list_active(agent_id="agent"))


def test_a_handle_whose_settings_changed_elsewhere_is_corrected_once(cache: Any) -> None:
    conv = new(cache, timeout=600)
    conv.add_message(Message.assistant("Hello."))
    cache.conversations.get(conv.id).update_timeout(1200)  # another worker's handle
    posted: list[Any] = []
    assert cost(cache, lambda: posted.append(conv.post_message(Message.user("a")))) == 2  # + the index fix
    assert posted[0].info.timeout.total_seconds() == 1200
    assert cost(cache, lambda: conv.post_message(Message.user("b"))) == 1
    assert conv.id in _ids(cache.conversations.list_active(user_id="user"))


def test_an_id_created_again_by_another_owner_moves_its_index_entries(cache: Any) -> None:
    conv = new(cache, timeout=600)
    conv.add_message(Message.assistant("Hello."))
    cache.conversations.delete(conv.id)
    new(cache, agent_id="other-agent", user_id="other-user", session_id=conv.id, timeout=600)
    posted = conv.post_message(Message.user("still there?"))
    assert (posted.info.agent_id, posted.info.user_id) == ("other-agent", "other-user")
    assert posted.length == 1
    assert conv.id in _ids(cache.conversations.list_active(agent_id="other-agent"))
    assert conv.id in _ids(cache.conversations.list_active(user_id="other-user"))
    assert conv.id not in _ids(cache.conversations.list_active(agent_id="agent"))
    assert conv.id not in _ids(cache.conversations.list_active(user_id="user"))
    assert cost(cache, lambda: conv.post_message(Message.user("again"))) == 1  # the handle follows


def test_a_post_to_a_deleted_conversation_raises_and_stores_nothing(cache: Any) -> None:
    conv = new(cache, timeout=600)
    cache.conversations.delete(conv.id)
    with pytest.raises(SessionNotFound):
        conv.post_message(Message.user("anyone?"))
    assert conv.id not in _ids(cache.conversations.list_active(agent_id="agent"))
