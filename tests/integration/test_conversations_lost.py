"""A conversation knows its own length, and a checkpoint thread which of its parts belong together
(issue 29): when part of what was stored is gone (evicted under an evicting ``maxmemory-policy``,
or deleted by hand, as here), reading raises ``HistoryLost`` / ``CheckpointsLost``, never returns
less than was stored. On every topology and both facades; test_memory_eviction.py makes the same
losses by real eviction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcache import CheckpointsLost, DataLostError, HistoryLost, Message, StoredWrite
from agentcache.encoding.keys import checkpoint_keys, conversation_keys
from tests.helpers import command, new

CHECKPOINT = ("msgpack", b"\x81\xa1v\x01")


def _texts(page: Any) -> list[str]:
    return [m.text for m in page]


def test_a_conversation_whose_history_is_gone_says_so(cache: Any) -> None:
    conv = new(cache, messages=[Message.user("one"), Message.assistant("two")])
    conv.add_message(Message.user("three"))
    keys = conversation_keys(cache.settings.prefix, conv.id)
    command(cache, "DEL", keys.msgs)  # as an eviction of the list would, the record staying

    for read in (conv.messages, conv.length, conv.to_dict, conv.fork, conv.context, lambda: conv.messages(limit=2)):
        with pytest.raises(HistoryLost) as caught:
            read()
        assert (caught.value.expected, caught.value.found, caught.value.status_code) == (3, 0, 500)
        assert isinstance(caught.value, DataLostError) and "clear()" in str(caught.value)
    info = cache.conversations.get(conv.id).info()  # what it is still reads: the caller can decide
    assert (info.message_count, info.lost_messages) == (0, 3)

    assert conv.add_message(Message.user("four")) == 1  # writes go on; the loss stays reported
    with pytest.raises(HistoryLost) as caught:
        conv.messages()
    assert (caught.value.expected, caught.value.found) == (4, 1)

    assert conv.clear() == 1  # starting the history over ends it
    assert conv.messages() == [] and conv.info().lost_messages == 0
    conv.add_messages([Message.user("a"), Message.assistant("b")])
    assert _texts(conv.messages()) == ["a", "b"] and conv.length() == 2


def test_a_replacement_checked_against_a_lost_history_is_refused(cache: Any) -> None:
    """The SDK compaction hook's replacement: the history was lost after it was read and as many
    messages appended since, so its length matches the one read; the count says what happened."""
    conv = new(cache, messages=[Message.user("one"), Message.assistant("two"), Message.user("three")])
    log = cache.conversations.log(conv.id, agent_id="agent", user_id="user")
    read = log.read_tail(2)
    command(cache, "DEL", conversation_keys(cache.settings.prefix, conv.id).msgs)
    conv.add_messages([Message.user("x"), Message.user("y"), Message.user("z")])
    with pytest.raises(HistoryLost) as caught:
        log.replace_tail(read, 0, [Message.assistant("compacted")])
    assert (caught.value.expected, caught.value.found) == (6, 3)
    assert log.replace_all([Message.user("again")])  # replacing everything starts over, as clear() does
    assert _texts(conv.messages()) == ["again"] and conv.info().lost_messages == 0


def test_the_count_follows_every_write(cache: Any) -> None:
    conv = new(cache, messages=[Message.user("one")])
    meta = conversation_keys(cache.settings.prefix, conv.id).meta
    conv.add_messages([Message.user("two"), Message.assistant("three")])
    assert conv.pop_last().text == "three"
    assert int(command(cache, "HGET", meta, "count")) == 2 == conv.length()
    cache.session.set_user_part(conv.id, "note", "look")
    conv.add_message(Message.user("with a part"))
    assert int(command(cache, "HGET", meta, "count")) == 3 == len(conv.messages())
    conv.clear()
    assert conv.pop_last() is None and int(command(cache, "HGET", meta, "count")) == 0
    fork = conv.fork()
    assert int(command(cache, "HGET", conversation_keys(cache.settings.prefix, fork.id).meta, "count")) == 0


def test_a_conversation_stored_before_the_count_reads_and_starts_counting(cache: Any) -> None:
    conv = new(cache, messages=[Message.user("one"), Message.assistant("two")])
    keys = conversation_keys(cache.settings.prefix, conv.id)
    command(cache, "HDEL", keys.meta, "count")  # as written by a version without it
    assert _texts(conv.messages()) == ["one", "two"] and conv.info().lost_messages == 0
    conv.add_message(Message.user("three"))  # its first append starts the count at what is stored
    assert int(command(cache, "HGET", keys.meta, "count")) == 3
    command(cache, "DEL", keys.msgs)
    with pytest.raises(HistoryLost):
        conv.messages()


def test_an_ended_or_deleted_conversation_is_not_lost(cache: Any) -> None:
    conv = new(cache, messages=[Message.user("one")])
    conv.end()  # its history goes with it, by design
    assert cache.conversations.delete(conv.id)
    other = new(cache, messages=[Message.user("one")])
    assert other.info().lost_messages == 0 and len(cache.conversations.list_active()) >= 1


# --- checkpoints ----------------------------------------------------------------------------------------


def _thread(cache: Any, thread: str = "t") -> Any:
    cp = cache.checkpoints
    for i in ("1", "2"):
        cp.put(thread, "", i, CHECKPOINT, CHECKPOINT, run_id=f"run-{i}")
        cp.put_writes(thread, "", i, [StoredWrite("task", 0, "messages", CHECKPOINT)])
    return checkpoint_keys(cache.settings.prefix, thread)


@pytest.mark.parametrize(
    "gone",
    [("idx",), ("cp",), ("w",), ("widx",), ("w", "widx"), ("idx", "cp"), ("idx", "cp", "runs")],
)
def test_a_checkpoint_thread_missing_a_part_says_so(cache: Any, gone: tuple[str, ...]) -> None:
    keys = _thread(cache)
    assert len(cache.checkpoints.list("t")) == 2
    command(cache, "DEL", *[getattr(keys, part) for part in gone])  # one slot: one command
    reads: list[Callable[[], Any]] = [
        lambda: cache.checkpoints.list("t"),
        lambda: cache.checkpoints.get("t", ""),
        lambda: cache.checkpoints.get("t", "", "1"),
    ]
    for read in reads:
        with pytest.raises(CheckpointsLost) as caught:
            read()
        assert caught.value.thread_id == "t" and isinstance(caught.value, DataLostError)
    assert cache.checkpoints.delete_thread("t") >= 1  # clears it: the thread starts afresh
    assert cache.checkpoints.list("t") == []


def test_one_missing_write_or_entry_is_reported(cache: Any) -> None:
    keys = _thread(cache)
    field = command(cache, "ZRANGE", keys.widx, 0, 0)[0]
    command(cache, "HDEL", keys.w, field)
    with pytest.raises(CheckpointsLost, match="pending write"):
        cache.checkpoints.get("t", "", "1")
    keys = _thread(cache, "u")
    command(cache, "HDEL", keys.cp, "\x002")
    with pytest.raises(CheckpointsLost, match="no entry"):
        cache.checkpoints.list("u")


def test_a_whole_thread_never_reads_as_lost(cache: Any) -> None:
    """Every legitimate state: none yet, writes removed with their checkpoints (prune, delete_runs),
    a copy, a TTL given to some writes only (the thread's keys then expire together)."""
    cp = cache.checkpoints
    assert cp.get("t", "") is None and cp.list("t") == []
    _thread(cache)
    assert cp.delete_runs(["run-1"]) == 1 and [c.checkpoint_id for c in cp.list("t")] == ["2"]
    assert cp.copy_thread("t", "copy") == 1 and len(cp.list("copy")[0].writes) == 1
    assert cp.delete_runs(["run-2"]) == 2  # the copy keeps the run ids: both go
    assert cp.list("t") == [] == cp.list("copy") and cp.get("t", "") is None
    cp.put("t", "", "3", CHECKPOINT, CHECKPOINT)
    assert cp.prune(["t", "copy"]) == 0 and len(cp.list("t")) == 1 and cp.list("t")[0].writes == []
    cp.put("ttl", "", "1", CHECKPOINT, CHECKPOINT, ttl=600)
    cp.put_writes("ttl", "", "1", [StoredWrite("task", 0, "messages", CHECKPOINT)])  # no ttl given
    keys = checkpoint_keys(cache.settings.prefix, "ttl")
    assert all(command(cache, "PTTL", key) > 0 for key in (keys.idx, keys.cp, keys.w, keys.widx))
    assert len(cp.get("ttl", "").writes) == 1
