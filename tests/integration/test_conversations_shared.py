"""Conversations shared by many processes, snapshot stores, and what each operation costs in round trips."""

from __future__ import annotations

import inspect
import json
import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentcache import (
    AgentCache,
    Conversation,
    ImagePart,
    InvalidNameError,
    MemoryStore,
    Message,
    SerializationError,
    SnapshotStore,
    SQLiteStore,
    ValkeySnapshotStore,
)
from agentcache.testing import unique_prefix
from tests.helpers import Synced, cost


def writer(url: str, prefix: str, session_id: str, index: int, count: int) -> None:
    with AgentCache.from_url(url, prefix=prefix) as cache:
        conv = cache.conversations.get(session_id)
        i = 0
        while i < count:
            if i % 3 == 0 and i + 2 < count:  # some appends carry several messages at once
                batch = [Message.user(f"{index}:{j}", metadata={"w": index, "i": j}) for j in range(i, i + 3)]
                conv.add_messages(batch)
                i += 3
            else:
                conv.add_message(Message.user(f"{index}:{i}", metadata={"w": index, "i": i}))
                i += 1


@pytest.mark.parametrize("topology", ["standalone", "cluster3"])
def test_concurrent_appends_from_processes_lose_nothing_and_keep_each_writers_order(
    topology: str, server_urls: Any
) -> None:
    url, prefix, writers, count = server_urls(topology), unique_prefix(), 5, 60
    with AgentCache.from_url(url, prefix=prefix) as cache:
        conv = cache.conversations.create(agent_id="a", user_id="u")
        context = multiprocessing.get_context("spawn")
        processes = [context.Process(target=writer, args=(url, prefix, conv.id, w, count)) for w in range(writers)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(120)
            assert process.exitcode == 0
        history = conv.messages()
        assert len(history) == conv.length() == writers * count
        for w in range(writers):
            mine = [m.metadata["i"] for m in history if m.metadata["w"] == w]
            assert mine == list(range(count))
        assert conv.info().renewal_count >= 1
        conv.delete()


def test_concurrent_appends_from_threads(server_urls: Any) -> None:
    with AgentCache.from_url(server_urls("cluster"), prefix=unique_prefix()) as cache:
        conv = cache.conversations.create(agent_id="a", user_id="u")

        def write(index: int) -> None:
            for i in range(40):
                conv.add_message(Message.user(f"{index}:{i}"))

        threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        texts = [m.text for m in conv.messages()]
        assert len(texts) == 160
        for t in range(4):
            assert [x for x in texts if x.startswith(f"{t}:")] == [f"{t}:{i}" for i in range(40)]


# --- snapshot stores ----------------------------------------------------------------------------


def valkey_store(cache: Any) -> Any:
    if type(cache).__name__ == "Synced":  # the async facade, driven from this sync test
        return Synced(ValkeySnapshotStore(cache._target), cache._loop)
    return ValkeySnapshotStore(cache)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "valkey"])
def test_snapshot_round_trip_through_each_store(cache: Any, kind: str, tmp_path: Path) -> None:
    makers: dict[str, Callable[[], Any]] = {"memory": MemoryStore, "sqlite": lambda: SQLiteStore(tmp_path / "s.db")}
    store: Any = makers.get(kind, lambda: None)()
    if kind == "valkey":
        store = valkey_store(cache)
    else:
        assert isinstance(store, SnapshotStore)
    conv = cache.conversations.create(agent_id="a", user_id="u", system="sys", metadata={"m": 1})
    conv.add_messages([Message.user("hi", ImagePart(data=b"\x00\xff", mime_type="image/png")), Message.assistant("ok")])
    data = conv.to_dict()
    store.save(conv.id, data)
    store.save("other", {"x": 1})
    assert store.list_sessions() == sorted([conv.id, "other"])
    loaded = store.load(conv.id)
    assert loaded == json.loads(json.dumps(data))
    conv.end()
    restored = Conversation.from_dict(loaded, cache)
    assert restored.id == conv.id and restored.system == "sys" and restored.metadata == {"m": 1}
    assert list(restored.messages()) == [
        Message.user("hi", ImagePart(data=b"\x00\xff", mime_type="image/png")),
        Message.assistant("ok"),
    ]
    assert store.delete(conv.id) is True
    assert store.delete(conv.id) is False
    assert store.load(conv.id) is None
    assert store.list_sessions() == ["other"]
    with pytest.raises(InvalidNameError):
        store.save("", data)
    with pytest.raises(SerializationError):
        store.save("bad", {"bytes": b"\x00"})  # snapshots are JSON data: bytes must be base64 first
    if kind == "sqlite":
        store.close()


# --- round trips --------------------------------------------------------------------------------


def test_round_trips_per_operation(cache: Any) -> None:
    from agentcache.tiers.conversations.scripts import CONV_CREATE, CONV_INDEX, CONV_INDEX_READ, CONV_READ, CONV_WRITE
    from agentcache.tiers.session.tier import SESSION_SCAN

    cache.ping()
    for script in (CONV_CREATE, CONV_INDEX, CONV_INDEX_READ, CONV_READ, CONV_WRITE, SESSION_SCAN):
        loaded = cache.client.script_load(script.source)  # on every primary: a first call on a node costs 2
        if inspect.isawaitable(loaded):
            cache._loop.run_until_complete(loaded)
    conv = cache.conversations.create(agent_id="a", user_id="u", timeout=600, auto_renew=True)
    conv.add_message(Message.user("warm up"))  # the first call of each script may teach it to the server
    conv.messages(limit=20)
    conv.info()
    conv.renew()
    cache.session.destroy_thread("warm-up")
    fixed = {"timeout": 600, "auto_renew": False, "max_duration": 3600, "warning_threshold": 60}
    assert cost(cache, lambda: cache.conversations.create(agent_id="a", user_id="u", **fixed)) == 1
    assert cost(cache, lambda: cache.conversations.create(agent_id="a", user_id="u")) == 2  # + agent defaults
    assert cost(cache, lambda: conv.add_message(Message.user("x"))) == 1  # with its auto-renewal and index
    assert cost(cache, lambda: conv.add_messages([Message.user("y")] * 5)) == 1
    assert cost(cache, lambda: conv.messages(limit=20)) == 1
    assert cost(cache, lambda: cache.conversations.get(conv.id)) == 1
    for call in (conv.length, conv.info, conv.heartbeat, conv.renew, conv.pop_last, conv.to_dict, conv.clear):
        assert cost(cache, call) == 1, call
    assert cost(cache, lambda: conv.update_timeout(900)) == 1
    assert cost(cache, lambda: cache.conversations.configure_agent("a", timeout=600)) == 1
    assert cost(cache, conv.fork) == 2
    assert cost(cache, cache.conversations.list_active) == 2
    assert cost(cache, lambda: cache.conversations.expiring(within=3600)) == 2
    if cache.topology != "standalone":  # a cluster-mode server confines the state's SCAN to one slot
        assert cost(cache, conv.end) == 2


def test_conversation_benchmark_smoke(tmp_path: Path) -> None:
    """The benchmark runs end to end (a few samples) and writes its JSON; its timings are not asserted."""
    from agentcache.cli import main

    out = tmp_path / "conversations.json"
    assert main(["bench", "conversations", "--ops", "10", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert {row["labels"]["op"] for row in rows} == {"turn", "append", "read20"}
