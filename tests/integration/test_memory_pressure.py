"""Under ``maxmemory-policy noeviction`` with memory full (issue 29): every writing operation of
every tier is refused whole, as a typed ``BackendError`` that says memory; the keyspace is exactly
as it was (nothing half-written); reads, and the removals that free memory, keep working; writes
work again once memory is freed. On both facades, on a standalone server and a one-node cluster.

Each topology gets one server of its own for the module. A standalone server is filled to 2 MB;
a cluster-mode node uses about 2.8 MB before any data (its slot tables), so it gets 1 MB above
what it uses at start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import valkey

from agentcache import BackendError, Message, StoredWrite
from agentcache.testing import valkey_server
from tests.helpers import make_cache

LIMIT = 2 * 1024 * 1024
FILL = b"x" * (32 * 1024)
REQUEST = {"model": "gpt-test", "messages": [{"role": "user", "content": "Capital of France?"}], "temperature": 0}
RESPONSE = {"choices": [{"message": {"role": "assistant", "content": "Paris."}}], "usage": {"prompt_tokens": 5}}
CHECKPOINT = ("msgpack", b"\x81\xa1v\x01")
METADATA = ("msgpack", b"\x80")


@dataclass
class Server:
    """A server of one topology, and an admin client to fill it, empty it and look at its keys."""

    topology: str
    url: str
    admin: Any  # a valkey.Valkey (typed Any: valkey-py's sync/async unions)
    limit: int

    def fill(self) -> None:
        """Set maxmemory and write filler until the server refuses a write for memory, then put
        1 MB more past the limit (by a script allowed to): the refusal counted the command's own
        arguments and every connection's buffers, which come and go (the script's own 1 MB argument
        is gone some 100 ms later), so without that margin used memory could dip back under the
        limit and let a write in. A 256 KB margin was once not enough in CI. From then on the
        server is out of memory."""
        self.admin.config_set("maxmemory", self.limit)
        for i in range(1000):
            try:
                self.admin.set(f"{{filler}}:{i}", FILL)
            except valkey.exceptions.OutOfMemoryError:
                over = "#!lua flags=allow-oom\nredis.call('SET', KEYS[1], ARGV[1])"
                self.admin.eval(over, 1, "{filler}:over", FILL * 32)
                assert int(self.admin.info("memory")["used_memory"]) > self.limit + len(FILL) * 16
                return
        raise AssertionError("the server never ran out of memory")

    def free(self) -> None:
        self.admin.config_set("maxmemory", 0)
        fillers = list(self.admin.scan_iter(match="{filler}:*", count=1000))
        if fillers:
            self.admin.unlink(*fillers)

    def snapshot(self, prefix: str) -> dict[bytes, bytes]:
        """Every key of ``prefix`` and its serialized value (DUMP: the data, not the TTL)."""
        return {key: self.admin.dump(key) for key in self.admin.scan_iter(match=f"{prefix}:*", count=1000)}


@pytest.fixture(scope="module", params=["standalone", "cluster"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with valkey_server(request.param) as running:
        admin: Any = valkey.Valkey(host=running.host, port=running.ports[0])
        admin.config_set("maxmemory-policy", "noeviction")
        used = int(admin.info("memory")["used_memory"])
        yield Server(request.param, running.url, admin, LIMIT if request.param == "standalone" else used + (1 << 20))
        admin.close()


@pytest.fixture(params=["sync", "async"])
def cache(request: pytest.FixtureRequest, server: Server) -> Iterator[Any]:
    made, close = make_cache(server.topology, request.param, lambda _: server.url)
    yield made
    server.free()
    close()


def refused(call: Callable[[], Any]) -> BackendError:
    with pytest.raises(BackendError) as caught:
        call()
    error = caught.value
    assert error.out_of_memory, error
    assert "memory" in str(error).lower(), error
    return error


def never(*_: Any) -> Any:
    raise AssertionError("a refused write must not compute")


# --- every writing operation: (prepare while memory is free) -> what to try when it is full ---------


def _conversation(cache: Any, **settings: Any) -> Any:
    conv = cache.conversations.create(agent_id="agent", user_id="user", timeout=600, **settings)
    conv.add_messages([Message.user("hello"), Message.assistant("hi")])
    return conv


def _with_parts(cache: Any) -> Any:
    conv = _conversation(cache)
    cache.session.set_user_part(conv.id, "shot", "look")
    return conv


def _log(cache: Any) -> Any:
    """An adapter's history (the OpenAI Agents SDK session's), holding two messages."""
    log = cache.conversations.log("log", agent_id="agent", user_id="user", timeout=600)
    if not log.read():
        log.append([Message.user("hello"), Message.assistant("hi")])
    return log


def _ended(cache: Any) -> None:
    cache.conversations.create(agent_id="agent", user_id="user", session_id="ended", timeout=600).end()


def _checkpointed(cache: Any) -> None:
    cache.checkpoints.put("t", "", "1", CHECKPOINT, METADATA, run_id="run")
    cache.checkpoints.put_writes("t", "", "1", [StoredWrite("task", 0, "messages", CHECKPOINT)])


WRITES: dict[str, tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]] = {
    "session.set": (lambda c: c.session.set("t", "a", 1), lambda c, _: c.session.set("t", "b", {"v": 2})),
    "session.set_many": (lambda c: None, lambda c, _: c.session.set_many("t", {"a": 1, "b": 2, "c": 3})),
    "session.set_user_part": (lambda c: None, lambda c, _: c.session.set_user_part("t", "shot", "look")),
    "tool.store": (lambda c: None, lambda c, _: c.tool.store("search", {"q": 1}, "result")),
    "tool.get_or_compute": (lambda c: None, lambda c, _: c.tool.get_or_compute("search", {"q": 2}, never)),
    "tool.set_policy": (lambda c: None, lambda c, _: c.tool.set_policy("search", ttl=60)),
    "llm.store": (lambda c: None, lambda c, _: c.llm.store(REQUEST, RESPONSE)),
    "llm.get_or_compute": (lambda c: None, lambda c, _: c.llm.get_or_compute(REQUEST, never)),
    "llm.set_policy": (lambda c: None, lambda c, _: c.llm.set_policy("gpt-test", ttl=60)),
    "conversations.create": (
        lambda c: None,
        lambda c, _: c.conversations.create(agent_id="agent", user_id="user", messages=[Message.user("x")]),
    ),
    "conversations.create (replacing an ended one)": (
        _ended,
        lambda c, _: c.conversations.create(agent_id="agent", user_id="user", session_id="ended"),
    ),
    "conversations.restore": (
        lambda c: _conversation(c).to_dict(),
        lambda c, snapshot: c.conversations.restore(snapshot, session_id="restored"),
    ),
    "conversations.configure_agent": (lambda c: None, lambda c, _: c.conversations.configure_agent("a", timeout=600)),
    "conversation.add_message": (_conversation, lambda c, conv: conv.add_message(Message.assistant("more"))),
    "conversation.add_message (taking user parts)": (
        _with_parts,
        lambda c, conv: conv.add_message(Message.user("with the part")),
    ),
    "conversation.add_messages": (_conversation, lambda c, conv: conv.add_messages([Message.user("a")] * 3)),
    "conversation.heartbeat": (lambda c: _conversation(c, auto_renew=True), lambda c, conv: conv.heartbeat()),
    "conversation.renew": (_conversation, lambda c, conv: conv.renew()),
    "conversation.update_timeout": (_conversation, lambda c, conv: conv.update_timeout(900)),
    "conversation.pop_last": (_conversation, lambda c, conv: conv.pop_last()),
    "conversation.clear": (_conversation, lambda c, conv: conv.clear()),
    "conversation.end": (_conversation, lambda c, conv: conv.end()),
    "conversation.fork": (_conversation, lambda c, conv: conv.fork()),
    "conversations.log replace_tail": (
        lambda c: _log(c).read_tail(1),
        lambda c, read: _log(c).replace_tail(read, 0, [Message.assistant("compacted")]),
    ),
    "checkpoints.put": (_checkpointed, lambda c, _: c.checkpoints.put("t", "", "2", CHECKPOINT, METADATA)),
    "checkpoints.put_writes": (
        _checkpointed,
        lambda c, _: c.checkpoints.put_writes("t", "", "1", [StoredWrite("task", 1, "more", CHECKPOINT)]),
    ),
    "checkpoints.copy_thread": (_checkpointed, lambda c, _: c.checkpoints.copy_thread("t", "copy")),
}


@pytest.mark.parametrize("name", list(WRITES))
def test_a_write_is_refused_whole_when_memory_is_full(server: Server, cache: Any, name: str) -> None:
    prepare, write = WRITES[name]
    made = prepare(cache)
    prefix = cache.settings.prefix
    before = server.snapshot(prefix)
    server.fill()
    refused(lambda: write(cache, made))
    assert server.snapshot(prefix) == before, f"{name} left part of its write behind"
    server.free()
    if "get_or_compute" not in name:  # (those would compute now: never() raises)
        write(cache, made)  # with memory freed, the same write works


# --- what keeps working -------------------------------------------------------------------------------


def test_reads_and_removals_work_when_memory_is_full(server: Server, cache: Any) -> None:
    conv = _conversation(cache)
    cache.session.set_many(conv.id, {"a": 1, "b": 2})
    cache.session.set_user_part(conv.id, "shot", "look")
    cache.tool.store("search", {"q": 1}, "result")
    cache.llm.store(REQUEST, RESPONSE)
    _checkpointed(cache)
    server.fill()

    assert cache.session.get(conv.id, "a") == 1
    assert cache.session.get_many(conv.id, ["a", "b"]) == {"a": 1, "b": 2}
    assert set(cache.session.get_all(conv.id)) == {"__user_part_shot", "a", "b"}
    assert cache.session.touch(conv.id) == 3
    assert list(cache.session.user_parts(conv.id)) == ["shot"]
    assert cache.tool.check("search", {"q": 1}).value == "result"
    assert cache.tool.get_or_compute("search", {"q": 1}, never) == "result"  # a hit needs no claim
    assert cache.llm.check(REQUEST).hit
    assert cache.llm.get_or_compute(REQUEST, never) == RESPONSE
    assert [m.text for m in conv.messages()] == ["hello", "hi"]
    assert conv.info().message_count == 2 and conv.length() == 2
    assert [m.role for m in conv.context().messages] == ["user", "assistant"]  # with the pending part
    assert [i.id for i in cache.conversations.list_active()] == [conv.id]
    assert cache.conversations.expiring(within=3600)[0].id == conv.id
    assert cache.conversations.get(conv.id).id == conv.id
    assert cache.checkpoints.get("t", "").checkpoint_id == "1"
    assert len(cache.checkpoints.list("t")) == 1
    cache.stats()

    # removing frees memory and is never refused
    assert cache.tool.invalidate("search", {"q": 1})
    assert cache.session.delete_user_part(conv.id, "shot")
    assert cache.session.clear_user_parts(conv.id) == 0
    assert cache.session.delete(conv.id, "a")
    assert cache.session.destroy_thread(conv.id) >= 1
    assert cache.checkpoints.prune(["t"]) == 0
    assert cache.checkpoints.delete_runs(["run"]) == 1  # its only checkpoint, with its write
    assert cache.checkpoints.delete_thread("t") == 0 and cache.checkpoints.list("t") == []
    assert conv.delete()
    with contextlib.suppress(BackendError):  # still full of filler: writes are refused
        cache.session.set("t", "f", 1)
        raise AssertionError("a write was accepted with memory full")
    server.free()
    cache.session.set("t", "f", 1)
    assert cache.session.get("t", "f") == 1
