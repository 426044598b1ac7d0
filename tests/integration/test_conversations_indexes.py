"""Review regressions of the conversation tier, on every topology and both facades: the indexes stay
true to the conversations whatever handles, retries and failures do; a reused id inherits no state;
snapshots are JSON-safe and exact; bad snapshots are refused before anything is sent."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from agentcache import (
    Conversation,
    DataPart,
    ImagePart,
    InvalidArgumentError,
    MemoryStore,
    Message,
    SerializationError,
    SessionEnded,
    SessionExists,
    SQLiteStore,
    ToolCallPart,
    ToolResultPart,
)
from agentcache.encoding.keys import conversation_keys, index_agent, index_all, index_bucket, index_user
from agentcache.tiers.conversations import ops as conv_ops
from tests.helpers import command, cost, every_page, new
from tests.integration.test_conversations_shared import valkey_store

FIXED: dict[str, Any] = {"timeout": 3600, "auto_renew": True, "max_duration": 7200, "warning_threshold": 60}


def index(cache: Any, session_id: str, kind: str = "all", name: str = "") -> str:
    """The index key of ``kind`` (all, agent, user) that holds ``session_id``'s entry."""
    prefix, bucket = cache.settings.prefix, index_bucket(session_id)
    if kind == "all":
        return index_all(prefix, bucket)
    return index_agent(prefix, name, bucket) if kind == "agent" else index_user(prefix, name, bucket)


def score(cache: Any, key: str, session_id: str) -> float | None:
    found = command(cache, "ZSCORE", key, session_id)
    return None if found is None else float(found)


def assert_indexed_at_deadline(cache: Any, conv: Any) -> None:
    """Every index entry of ``conv`` is its deadline (within the ms between the two scripts)."""
    deadline = conv.info().expires_at.timestamp() * 1000
    for key in (
        index(cache, conv.id),
        index(cache, conv.id, "agent", conv.agent_id),
        index(cache, conv.id, "user", conv.user_id),
    ):
        found = score(cache, key, conv.id)
        assert found is not None and abs(found - deadline) < 1000, (key, found, deadline)


def run(cache: Any, op: Any) -> Any:
    """Run a raw operation on the cache's executor (either facade)."""
    if type(cache).__name__ == "Synced":
        return cache._loop.run_until_complete(cache._target._executor.run(op))
    return cache._executor.run(op)


def tier(cache: Any) -> Any:
    target = cache._target if type(cache).__name__ == "Synced" else cache
    return target.conversations._tier


# --- finding 1: a create that fails with SessionExists leaves the live conversation's entries ------


def refused(cache: Any, **kwargs: Any) -> None:
    with pytest.raises(SessionExists):
        new(cache, **kwargs)


def test_create_over_an_active_id_changes_no_index(cache: Any) -> None:
    live = new(cache, session_id="s1", **FIXED)
    before = score(cache, index(cache, "s1"), "s1")
    # a retry with a shorter timeout: one round trip, as before, and the entry is not lowered
    retry = {**FIXED, "timeout": 300}
    assert cost(cache, lambda: refused(cache, session_id="s1", **retry)) == 1
    assert score(cache, index(cache, "s1"), "s1") == before
    assert cache.conversations.expiring(within=600) == []
    # another agent and user: their indexes get no entry (one correcting round trip)
    assert cost(cache, lambda: refused(cache, agent_id="evil", user_id="mallory", session_id="s1", **retry)) == 2
    assert score(cache, index(cache, "s1", "agent", "evil"), "s1") is None
    assert score(cache, index(cache, "s1", "user", "mallory"), "s1") is None
    assert cache.conversations.list_active(agent_id="evil") == []
    assert cache.conversations.list_active(user_id="mallory") == []
    assert [i.id for i in cache.conversations.list_active(agent_id="agent")] == ["s1"]
    assert_indexed_at_deadline(cache, live)


def test_create_over_an_active_id_repairs_a_missing_own_entry(cache: Any) -> None:
    live = new(cache, session_id="s2", **FIXED)
    command(cache, "ZREM", index(cache, "s2"), "s2")  # as if an index update had been lost
    with pytest.raises(SessionExists):
        new(cache, session_id="s2", **{**FIXED, "timeout": 300})
    assert_indexed_at_deadline(cache, live)  # the create's entry was set to the live deadline


# --- finding 2: stale handle settings never leave the index wrong -------------------------------


def test_a_stale_handle_corrects_the_index_once(cache: Any) -> None:
    stale = new(cache, auto_renew=False, timeout=600, max_duration=7200, warning_threshold=60)
    cache.conversations.get(stale.id).update_timeout(auto_renew=True)
    # (a) it thinks auto-renew is off, the script renews: one more round trip puts the index right
    assert cost(cache, lambda: stale.add_message(Message.user("x"))) == 2
    assert_indexed_at_deadline(cache, stale)
    assert cost(cache, lambda: stale.add_message(Message.user("y"))) == 1  # the handle learned
    # (b) it thinks the timeout is 600 s, another worker made it 300 s: expiring() still finds it
    cache.conversations.get(stale.id).update_timeout(300)
    assert cost(cache, lambda: stale.add_message(Message.user("z"))) == 2
    assert_indexed_at_deadline(cache, stale)
    assert [i.id for i in cache.conversations.expiring(within=400)] == [stale.id]
    assert cost(cache, stale.heartbeat) == 1
    # auto-renew switched off elsewhere: the handle's heartbeat may not move the entry out
    cache.conversations.get(stale.id).update_timeout(auto_renew=False)
    cache.conversations.get(stale.id).update_timeout(300)
    assert cost(cache, stale.heartbeat) == 2
    assert_indexed_at_deadline(cache, stale)
    assert cost(cache, stale.renew) == 1  # renew always extends, whatever auto-renew says
    assert_indexed_at_deadline(cache, stale)


def test_a_write_on_an_ended_conversation_leaves_no_entry(cache: Any) -> None:
    conv = new(cache, **FIXED)
    cache.conversations.get(conv.id).end()
    for call in (
        conv.renew,
        conv.heartbeat,
        lambda: conv.add_message(Message.user("x")),
        lambda: conv.update_timeout(600),
    ):
        with pytest.raises(SessionEnded):
            call()
    for key in (index(cache, conv.id), index(cache, conv.id, "agent", "agent"), index(cache, conv.id, "user", "user")):
        assert score(cache, key, conv.id) is None
    page = cache.conversations.list_active(limit=1)
    assert list(page) == [] and page.cursor is None


# --- finding 3: a reused id inherits no state ---------------------------------------------------


def test_a_new_conversation_under_a_reused_id_starts_without_state(cache: Any) -> None:
    old = new(cache, session_id="reused")
    old.state.set("card", "4242")
    old.end()
    old.state.set("note", "written through a stale handle after end()")
    replaced = cost(cache, lambda: new(cache, session_id="reused", user_id="bob", **FIXED))
    assert replaced >= 2  # + the SCAN steps that remove the old state
    if cache.topology != "standalone":  # a cluster-mode server confines the SCAN to one slot
        assert replaced == 2
    fresh = cache.conversations.get("reused")
    assert fresh.user_id == "bob" and fresh.state.get_all() == {}
    spent = [cost(cache, lambda: new(cache, **FIXED)) for _ in range(10)]
    assert min(spent) == 1 and max(spent) <= 2  # a new id costs nothing more (+1 where a node first meets a script)


# --- finding 4: the index never fails a write ---------------------------------------------------


def test_an_index_error_does_not_fail_writes(cache: Any) -> None:
    conv = new(cache, **FIXED)
    conv.add_message(Message.user("first"))
    broken = index(cache, conv.id, "user", "user")
    command(cache, "DEL", broken)
    command(cache, "SET", broken, "not a sorted set")  # stands for an index node that errors
    try:
        for i in range(3):
            conv.add_message(Message.user(f"m{i}"))
        conv.heartbeat()
        conv.renew()
        conv.update_timeout(900)
        other = new(cache, **FIXED)
        other.add_message(Message.user("x"))
        assert [m.text for m in conv.messages()] == ["first", "m0", "m1", "m2"]  # each stored once
        assert other.end() is True
        assert cache.conversations.delete(conv.id) is True
    finally:
        command(cache, "DEL", broken)


# --- finding 7: delete by id spares a conversation created in between ---------------------------


def test_delete_by_id_spares_a_conversation_created_between_its_round_trips(cache: Any) -> None:
    new(cache, session_id="d", **{**FIXED, "timeout": 600})
    t = tier(cache)

    def interleaved() -> Generator[Any, Any, Any]:
        op = conv_ops.delete(t, "d")
        replies = yield next(op)  # the delete's first round trip: the old conversation is gone
        fresh = yield from conv_ops.create(t, agent_id="agent", user_id="bob", session_id="d", **FIXED)
        try:
            while True:
                replies = yield op.send(replies)
        except StopIteration as stop:
            return stop.value, fresh

    removed, fresh = run(cache, interleaved())
    assert removed is True
    assert [i.id for i in cache.conversations.list_active(user_id="bob")] == ["d"]
    assert [i.id for i in cache.conversations.list_active()] == ["d"]
    assert score(cache, index(cache, "d", "user", "user"), "d") is None
    assert fresh.ref.id == "d"  # operations return data (Opened); the tier builds the handle


# --- finding 5: snapshots are JSON-safe and exact -----------------------------------------------


TRICKY = {
    "raw": b"\xff\x00",
    "utf8": b"abc",
    "looks like a tag": {"$bytes": "not base64!"},
    "nested": [{"$dict": 1}, (1, b"\x01")],
    "big": 2**60,
}


def tricky_messages() -> list[Message]:
    return [
        Message.user(DataPart(data=b"\xff"), DataPart(data=b"abc"), metadata={"b": b"\x89PNG"}),
        Message.user(ImagePart(data=b"\x89PNG\x00", mime_type="image/png"), DataPart(data={"$bytes": "x"})),
        Message.assistant(tool_calls=[ToolCallPart(id="1", name="n", arguments={"k": b"\x01\xfe", "l": [b""]})]),
        Message(role="tool", parts=[ToolResultPart(tool_call_id="1", content={"blob": b"\x00"})]),
    ]


@pytest.mark.parametrize("kind", ["memory", "sqlite", "valkey"])
def test_snapshots_with_bytes_round_trip_exactly_through_each_store(cache: Any, kind: str, tmp_path: Path) -> None:
    makers: dict[str, Callable[[], Any]] = {"memory": MemoryStore, "sqlite": lambda: SQLiteStore(tmp_path / "s.db")}
    store: Any = makers.get(kind, lambda: None)()
    if kind == "valkey":
        store = valkey_store(cache)
    conv = new(cache, metadata=TRICKY, messages=tricky_messages()[:2])
    conv.add_messages(tricky_messages()[2:])
    data = conv.to_dict()
    text = json.dumps(data, allow_nan=False)
    store.save(conv.id, json.loads(text))
    loaded = store.load(conv.id)
    restored = Conversation.from_dict(loaded, cache, session_id="copy")
    expected = {**TRICKY, "nested": [{"$dict": 1}, [1, b"\x01"]]}  # a tuple is stored as a list
    assert restored.metadata == expected
    assert cache.conversations.get("copy").metadata == expected
    assert list(restored.messages()) == tricky_messages() == list(conv.messages())
    assert restored.messages()[0].parts[1].data == b"abc"  # bytes, not str
    if kind == "sqlite":
        store.close()


def test_what_json_cannot_carry_is_refused_before_anything_is_sent(cache: Any) -> None:
    conv = new(cache)
    before = cache.round_trips
    with pytest.raises(SerializationError, match=r"metadata.*key 1"):
        new(cache, metadata={1: "a"})
    with pytest.raises(SerializationError, match=r"\['inner'\].*key 2"):
        new(cache, metadata={"inner": {2: "b"}})
    with pytest.raises(SerializationError, match="arguments"):
        conv.add_message(Message.assistant(tool_calls=[ToolCallPart(id="1", name="n", arguments={"k": {3: 1}})]))
    with pytest.raises(SerializationError, match="metadata"):
        conv.add_message(Message.user("x", metadata={"f": math.nan}))
    with pytest.raises(SerializationError, match="data"):
        conv.add_message(Message.user(DataPart(data={(1, 2): "tuple key"})))
    assert cache.round_trips == before
    assert conv.length() == 0


def test_a_stored_key_json_cannot_carry_fails_to_dict_with_a_typed_error(cache: Any) -> None:
    from agentcache.encoding import codec

    conv = new(cache)
    meta = conversation_keys(cache.settings.prefix, conv.id).meta
    command(cache, "HSET", meta, "meta", codec.encode({1: "written by an older version"}, 0, 1 << 20))
    with pytest.raises(SerializationError, match=r"metadata.*key 1"):
        conv.to_dict()


# --- finding 6: a bad snapshot is refused before anything is sent -------------------------------


def test_a_bad_snapshot_is_refused_before_anything_is_sent(cache: Any) -> None:
    data = new(cache, system="sys").to_dict()
    before = cache.round_trips
    bad = [
        dict(data, system=123),
        dict(data, system={"x": 1}),
        dict(data, system=["l"]),
        dict(data, metadata=[1]),
        dict(data, messages={"not": "a list"}),
        dict(data, messages=[{"role": "nobody"}]),
        dict(data, settings=dict(data["settings"], auto_renew="false")),
        dict(data, settings=dict(data["settings"], auto_renew=1)),
        dict(data, settings="fast"),
        dict(data, metadata={"b": {"$bytes": "not base64!"}}),
    ]
    for snapshot in bad:
        with pytest.raises(InvalidArgumentError):
            cache.conversations.restore(snapshot, session_id="r")
    assert cache.round_trips == before


# --- no hot slot: the indexes are spread over buckets -------------------------------------------


def test_indexes_spread_over_buckets_and_list_in_order_across_them(cache: Any) -> None:
    from agentcache.encoding.keys import INDEX_BUCKETS

    convs = [new(cache, session_id=f"spread-{i}", timeout=600 + i) for i in range(40)]
    buckets = {index_bucket(conv.id) for conv in convs}
    assert len(buckets) >= INDEX_BUCKETS // 2  # 40 ids land in many buckets, not one
    seen = every_page(cache, 7)
    assert seen == [conv.id for conv in convs]  # soonest deadline first, across every bucket, once each
    soon = [info.id for info in cache.conversations.expiring(within=605, limit=100)]
    assert len(soon) >= 5 and soon == [conv.id for conv in convs[: len(soon)]]  # merged in deadline order
