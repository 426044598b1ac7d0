"""Issue 29, evicting policies: under ``allkeys-lru`` and a write loop that makes the server evict,
a conversation or a checkpoint thread that lost part of its keys says so (``HistoryLost``,
``CheckpointsLost``, or not found at all); a read never returns a silently shorter history. On both
facades, on one standalone server of the module's own (2 MB). The same losses made by hand (a key
deleted) are checked exactly in test_conversations_lost.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import valkey

from agentcache import CheckpointsLost, HistoryLost, Message, SessionNotFound, StoredWrite
from agentcache.testing import valkey_server
from tests.helpers import make_cache

CONVERSATIONS = 40
THREADS = 20
CHECKPOINT = ("msgpack", b"\x81\xa1v\x01")
TEXT = "m" * 200
FILLER = b"f" * 4096


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, valkey.Valkey]]:
    with valkey_server("standalone") as running:
        admin = valkey.Valkey(host=running.host, port=running.ports[0])
        admin.config_set("maxmemory-policy", "allkeys-lru")
        admin.config_set("maxmemory", 2 * 1024 * 1024)
        yield running.url, admin
        admin.close()


@pytest.fixture(params=["sync", "async"])
def cache(request: pytest.FixtureRequest, server: tuple[str, valkey.Valkey]) -> Iterator[Any]:
    url, admin = server
    admin.flushall()  # each facade starts on an empty server
    made, close = make_cache("standalone", request.param, lambda _: url)
    yield made
    close()


def _checkpoints(cache: Any, thread: str) -> None:
    for i in range(3):
        cache.checkpoints.put(thread, "", str(i), CHECKPOINT, CHECKPOINT)
        cache.checkpoints.put_writes(thread, "", str(i), [StoredWrite("task", 0, "messages", CHECKPOINT)])


def test_evicted_history_is_never_silent(cache: Any) -> None:
    convs = [cache.conversations.create(agent_id="a", user_id="u", timeout=3600) for _ in range(CONVERSATIONS)]
    for conv in convs:
        conv.add_messages([Message.user(TEXT)] * 4)
    sent = {conv.id: 4 for conv in convs}  # what was appended, whatever the server holds now
    threads = [f"thread-{i}" for i in range(THREADS)]
    for thread in threads:
        _checkpoints(cache, thread)

    outcome = {"whole": 0, "lost": 0, "not found": 0, "silently short": 0}
    checkpoints = {"whole": 0, "lost": 0, "gone": 0, "silently short": 0}
    for step in range(150):  # the write loop: appends, and values that push memory past maxmemory
        conv = convs[step % CONVERSATIONS]
        try:
            conv.add_message(Message.assistant(TEXT))
            sent[conv.id] += 1
        except SessionNotFound:  # its record was evicted: it is gone, and says so
            pass
        cache.session.set(f"filler-{step}", "v", FILLER)

    for conv in convs:
        try:
            history = cache.conversations.get(conv.id).messages()
        except SessionNotFound:
            outcome["not found"] += 1
        except HistoryLost as lost:
            assert lost.found < lost.expected and lost.status_code == 500
            outcome["lost"] += 1
        else:
            outcome["whole" if len(history) == sent[conv.id] else "silently short"] += 1
    for thread in threads:
        try:
            found = cache.checkpoints.list(thread)
        except CheckpointsLost:
            checkpoints["lost"] += 1
            continue
        if not found:
            checkpoints["gone"] += 1  # every key of the thread evicted: it reads as never written
        elif len(found) == 3 and all(len(c.writes) == 1 for c in found):
            checkpoints["whole"] += 1
        else:
            checkpoints["silently short"] += 1

    print(f"conversations: {outcome}; checkpoint threads: {checkpoints}")
    assert outcome["silently short"] == 0 and checkpoints["silently short"] == 0
    assert outcome["lost"] + outcome["not found"] > 0, "nothing was evicted: the test proves nothing"
    assert checkpoints["lost"] + checkpoints["gone"] > 0, "no checkpoint was evicted: the test proves nothing"
