"""Encryption at rest (``encryption=``, docs/encryption.md) on real servers, every topology and both
facades: nothing readable is left on the server, values are bound to where they are stored, wrong
keys and tampering raise DecryptionError, keys rotate and ``rekey`` re-encrypts in place."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentcache import AgentCache, AsyncAgentCache, Message, StoredWrite, ValkeySnapshotStore
from agentcache.encoding.encryption import Encryption
from agentcache.encoding.keys import checkpoint_keys, store_namespace_keys
from agentcache.errors import DecryptionError
from agentcache.testing import unique_prefix
from tests.conftest import FACADES, TOPOLOGIES
from tests.fake_models import FakeModelServer
from tests.helpers import Synced, command, make_cache
from tests.semantic_fakes import WordsEmbedder

OLD = Encryption({"old": bytes(range(32))})
NEW_KEY = bytes(range(100, 132))
MARK = "PLAINTEXT-MARKER"
SEM_REQUEST = {"model": "m", "messages": [{"role": "user", "content": MARK + " where is my parcel"}], "temperature": 0}
SEM_COMPUTED = {"model": "m", "messages": [{"role": "user", "content": MARK + " cancel my booking"}], "temperature": 0}


@pytest.fixture(params=[(t, f) for t in TOPOLOGIES for f in FACADES], ids=lambda p: f"{p[0]}-{p[1]}")
def opened(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> Iterator[Callable[..., Any]]:
    """Open caches on one topology and facade, all with one prefix: ``opened(encryption=...)``."""
    topology, facade = request.param
    prefix = unique_prefix()
    closers: list[Callable[[], None]] = []

    def open_cache(**options: Any) -> Any:
        if topology == "memory" and closers:  # the in-memory backend is one per cache: share the first's
            raise pytest.skip.Exception("two caches over one in-memory server")
        made, close = make_cache(topology, facade, server_urls, prefix=prefix, **options)
        made.topology, made.prefix = topology, prefix
        made.url = None if topology == "memory" else server_urls(topology)
        closers.append(close)
        return made

    yield open_cache
    for close in reversed(closers):
        close()


def _keys(cache: Any) -> list[bytes]:
    """Every key of the cache's prefix, on every primary (a cluster client's KEYS asks one node)."""
    pattern = cache.prefix + ":*"
    if cache.topology.startswith("cluster"):
        import valkey

        with valkey.ValkeyCluster.from_url(cache.url) as client:
            return sorted(set(client.scan_iter(match=pattern, count=1000)))
    return sorted(set(command(cache, "KEYS", pattern)))


def _stored(cache: Any, key: bytes) -> list[bytes]:
    """Every byte string the server holds at ``key``, read raw (whatever its type)."""
    kind = command(cache, "TYPE", key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        return [command(cache, "GET", key)]
    if kind == "list":
        return list(command(cache, "LRANGE", key, 0, -1))
    if kind == "hash":
        found = command(cache, "HGETALL", key)
        return [x for pair in (found.items() if isinstance(found, dict) else [found]) for x in pair]
    if kind == "set":
        return list(command(cache, "SMEMBERS", key))
    if kind == "zset":
        return list(command(cache, "ZRANGE", key, 0, -1))
    return []


def _semantic(cache: Any) -> Any:
    """``cache.semantic`` with a deterministic embedder (the same name in every cache)."""
    cache.semantic.configure(embedder=WordsEmbedder(), threshold=0.8)
    return cache.semantic


def _write_everything(cache: Any, thread: str) -> None:
    cache.session.set(thread, "profile", {"name": MARK, "raw": MARK.encode()})
    cache.session.set(thread, "fixed", MARK, expires_at="2099-01-01T00:00:00+00:00")
    cache.session.set_many(thread, {"a": MARK, "b": [MARK]})
    cache.session.set_user_part(thread, "note", MARK + " part")
    cache.tool.store("search", {"q": 1}, {"hit": MARK})
    assert cache.tool.get_or_compute("search", {"q": 2}, lambda: MARK + " computed") == MARK + " computed"
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    cache.llm.store(request, {"choices": [{"message": {"content": MARK}}]})
    conv = cache.conversations.create(
        session_id=thread,
        agent_id="agent",
        user_id="user",
        system=MARK + " system",
        metadata={"m": MARK},
        messages=[Message.user(MARK)],
    )
    conv.add_message(Message.user(MARK + " with the part"))  # takes the pending user part (the attach script)
    conv.add_message(Message.assistant(MARK + " reply"))
    log = cache.conversations.log(thread + "-log", agent_id="agent", user_id="user")  # an adapter's history
    log.append([Message.user(MARK + " kept"), Message.user(MARK + " replaced")])
    assert log.replace_tail(log.read_tail(1), 0, [Message.assistant(MARK + " compacted")])  # the SDK's compaction
    checkpoint, metadata = ("json", (MARK + " checkpoint").encode()), ("json", (MARK + " meta").encode())
    cache.checkpoints.put(thread, "", "1", checkpoint, metadata, run_id="run")
    cache.checkpoints.put(thread, "", "2", checkpoint, metadata, parent_id="1")
    cache.checkpoints.put_writes(thread, "", "2", [StoredWrite("task", 0, "ch", ("json", MARK.encode()))])
    cache.store.put(("memories", thread), "fact", {"text": MARK, "n": 1})
    cache.store.put(("memories", thread), "other", {"text": "x", "n": 2}, ttl=600)
    semantic = _semantic(cache)  # entries (response and prompt) and cached embeddings
    assert semantic.store(SEM_REQUEST, {"answer": MARK + " semantic"}, scope={"tenant": "acme"}) is True
    assert semantic.get_or_compute(SEM_COMPUTED, lambda: {"answer": MARK + " computed"}) == {
        "answer": MARK + " computed"
    }


def _check_everything(cache: Any, thread: str) -> None:
    """What :func:`_write_everything` wrote, read back through the tiers."""
    conv = cache.conversations.get(thread)
    assert conv.system == MARK + " system"
    assert conv.info().metadata == {"m": MARK}
    log = cache.conversations.log(thread + "-log", agent_id="agent", user_id="user")
    assert [m.text for m in log.read()] == [MARK + " kept", MARK + " compacted"]
    stored = cache.checkpoints.get(thread, "")
    assert stored.checkpoint_id == "2" and stored.checkpoint == ("json", (MARK + " checkpoint").encode())
    assert stored.writes == [StoredWrite("task", 0, "ch", ("json", MARK.encode()))]
    assert [c.checkpoint_id for c in cache.checkpoints.list(thread)] == ["2", "1"]
    assert cache.store.get(("memories", thread), "fact").value == {"text": MARK, "n": 1}
    found = cache.store.search(("memories",), filter={"text": MARK})  # judged in this process
    assert [(item.key, item.value["n"]) for item in found] == [("fact", 1)]
    assert [i.key for i in cache.store.search(("memories",), filter={"n": {"$gte": 1}}, limit=1, offset=1)] == ["other"]
    semantic = _semantic(cache)
    semantic._semantic._vectors.clear()  # read the embeddings back from the server (sealed there)
    paraphrase = {**SEM_REQUEST, "messages": [{"role": "user", "content": MARK + " where is my parcel now"}]}
    found = semantic.check(paraphrase, scope={"tenant": "acme"})
    assert found.hit and found.response == {"answer": MARK + " semantic"}
    assert found.prompt == MARK + " where is my parcel" and 0.8 <= found.similarity < 1
    assert not semantic.check(paraphrase, scope={"tenant": "other"}).hit
    again = semantic.fetch_or_compute(SEM_COMPUTED, lambda: {"answer": "not again"})  # the exact tier's entry
    assert again.exact and again.response == {"answer": MARK + " computed"}
    alike = {**SEM_COMPUTED, "messages": [{"role": "user", "content": MARK + " cancel my booking please"}]}
    assert semantic.check(alike).response == {"answer": MARK + " computed"}


def _compact(cache: Any, models: FakeModelServer, thread: str) -> None:
    """Fold the conversation's first messages into a summary (which holds the marker: the fake
    model's reply repeats what it was sent)."""
    from agentcache.providers.openai import OpenAIChatModel

    models.reset()
    model = OpenAIChatModel("gpt-test", base_url=models.openai_url, api_key="t", max_retries=0)
    done = cache.conversations.get(thread).compact(model=model, keep_last=1)
    assert done.summarized == 2 and MARK in done.summary


def test_nothing_readable_is_stored_and_everything_reads_back(
    opened: Callable[..., Any], fake_models: FakeModelServer
) -> None:
    cache = opened(encryption=OLD)
    _write_everything(cache, "t1")
    _compact(cache, fake_models, "t1")
    stored = [(key, value) for key in _keys(cache) for value in _stored(cache, key)]
    assert stored, "nothing was written"
    leaks = [key for key, value in stored if isinstance(value, bytes) and MARK.encode() in value]
    assert leaks == []
    # and every tier reads it back
    assert cache.session.get("t1", "profile") == {"name": MARK, "raw": MARK.encode()}
    assert cache.session.get_all("t1")["a"] == MARK
    assert cache.session.get_many("t1", ["b", "fixed"]) == {"b": [MARK], "fixed": MARK}
    assert cache.tool.check("search", {"q": 1}).value == {"hit": MARK}
    assert cache.tool.get_or_compute("search", {"q": 2}, lambda: "not again") == MARK + " computed"
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    assert cache.llm.check(request).response == {"choices": [{"message": {"content": MARK}}]}
    conv = cache.conversations.get("t1")
    history = list(conv.messages())
    assert [m.parts[0].text for m in history] == [MARK, MARK + " with the part", MARK + " reply"]
    assert [p.text for p in history[1].parts] == [MARK + " with the part", MARK + " part"]
    assert conv.info().metadata == {"m": MARK}
    context = conv.context()
    assert context.messages[-1].parts[0].text == MARK + " reply"
    assert context.system == MARK + " system" and MARK in context.messages[0].parts[0].text  # the summary
    _check_everything(cache, "t1")


def test_a_value_moved_to_another_key_or_thread_does_not_decrypt(opened: Callable[..., Any]) -> None:
    cache = opened(encryption=OLD)
    cache.session.set("t1", "a", MARK)
    cache.session.set("t1", "b", "other")
    cache.session.set("t2", "a", "other")
    source, same_thread = cache.session.key("t1", "a"), cache.session.key("t1", "b")
    if cache.topology != "memory":  # COPY and RENAME on the server (same slot: same thread)
        command(cache, "COPY", source, same_thread, "REPLACE")
        with pytest.raises(DecryptionError) as caught:
            cache.session.get("t1", "b")
        assert caught.value.key == same_thread and caught.value.key_name == "old"
        command(cache, "RENAME", source, cache.session.key("t1", "c"))
        with pytest.raises(DecryptionError):
            cache.session.get("t1", "c")
    cache.session.set("t1", "a", MARK)
    other_thread = cache.session.key("t2", "a")
    command(cache, "SET", other_thread, command(cache, "GET", source))  # copied across threads (slots)
    with pytest.raises(DecryptionError):
        cache.session.get("t2", "a")
    with pytest.raises(DecryptionError):
        cache.session.get_all("t2")


def test_a_semantic_entry_or_embedding_moved_elsewhere_does_not_decrypt(opened: Callable[..., Any]) -> None:
    cache = opened(encryption=OLD)
    semantic = _semantic(cache)
    for tenant in ("a", "b"):
        semantic.store(SEM_REQUEST, {"answer": f"{MARK} for {tenant}"}, scope={"tenant": tenant})
    entries_a, entries_b = (semantic.key(SEM_REQUEST, scope={"tenant": t})[:-1] + "r" for t in ("a", "b"))
    (entry_id,) = command(cache, "HKEYS", entries_a)
    assert command(cache, "HKEYS", entries_b) == [entry_id]
    # tenant a's entry copied over tenant b's (another scope, another slot)
    command(cache, "HSET", entries_b, entry_id, command(cache, "HGET", entries_a, entry_id))
    assert semantic.check(SEM_REQUEST, scope={"tenant": "a"}).response == {"answer": f"{MARK} for a"}
    with pytest.raises(DecryptionError) as caught:
        semantic.check(SEM_REQUEST, scope={"tenant": "b"})
    assert caught.value.key == entries_b and caught.value.key_name == "old"
    # a cached embedding copied to another text's key
    semantic.store(SEM_COMPUTED, {"answer": "x"})
    stored = [k for k in _keys(cache) if b":sem-emb:" in k]
    assert len(stored) == 2
    command(cache, "SET", stored[1], command(cache, "GET", stored[0]))
    semantic._semantic._vectors.clear()
    with pytest.raises(DecryptionError):
        for request in (SEM_REQUEST, SEM_COMPUTED):
            semantic.check(request, scope={"tenant": "a"})


def test_a_checkpoint_or_store_item_moved_elsewhere_does_not_decrypt(opened: Callable[..., Any]) -> None:
    cache = opened(encryption=OLD)
    entry = ("json", MARK.encode())
    cache.checkpoints.put("t1", "", "1", entry, entry)
    cache.checkpoints.put("t1", "", "2", ("json", b"2"), entry)
    cache.checkpoints.put_writes(
        "t1", "", "1", [StoredWrite("task", 0, "ch", entry), StoredWrite("task", 1, "ch", ("json", b"1"))]
    )
    keys = checkpoint_keys(cache.prefix, "t1")
    # within the thread's hash: checkpoint 1's entry copied over checkpoint 2's
    command(cache, "HSET", keys.cp, "\x002", command(cache, "HGET", keys.cp, "\x001"))
    with pytest.raises(DecryptionError):
        cache.checkpoints.get("t1", "", "2")
    with pytest.raises(DecryptionError):
        cache.checkpoints.list("t1")
    cache.checkpoints.put("t1", "", "2", ("json", b"2"), entry)
    assert cache.checkpoints.get("t1", "", "2").checkpoint == ("json", b"2")
    # one pending write copied over another of the same checkpoint (bound to it, but then there twice)
    command(cache, "HSET", keys.w, "\x001\x00task\x001", command(cache, "HGET", keys.w, "\x001\x00task\x000"))
    with pytest.raises(DecryptionError, match="twice"):
        cache.checkpoints.get("t1", "", "1")
    command(cache, "HDEL", keys.w, "\x001\x00task\x001")
    command(cache, "ZREM", keys.widx, "\x001\x00task\x001")
    assert [w.idx for w in cache.checkpoints.get("t1", "", "1").writes] == [0]
    # the whole thread copied to another thread (another slot on a cluster): field by field
    other = checkpoint_keys(cache.prefix, "t2")
    for source, target in zip(keys.all, other.all, strict=True):
        kind = command(cache, "TYPE", source)
        if kind in (b"hash", "hash"):
            found = command(cache, "HGETALL", source)
            command(cache, "HSET", target, *(x for pair in found.items() for x in pair))
        elif kind in (b"zset", "zset"):
            members = command(cache, "ZRANGE", source, 0, -1)
            command(cache, "ZADD", target, *(x for m in members for x in (0, m)))
    with pytest.raises(DecryptionError):
        cache.checkpoints.get("t2", "")
    assert cache.checkpoints.copy_thread("t1", "t3") == 2  # the tier's copy seals again for the target
    assert cache.checkpoints.get("t3", "", "1").checkpoint == entry
    # a store item COPY'd and RENAME'd to another key of its namespace (one slot)
    cache.store.put(("ns",), "a", {"text": MARK})
    item = store_namespace_keys(cache.prefix, ("ns",)).item
    if cache.topology != "memory":
        command(cache, "COPY", item("a"), item("b"))
        with pytest.raises(DecryptionError):
            cache.store.get(("ns",), "b")
        command(cache, "RENAME", item("a"), item("c"))
        with pytest.raises(DecryptionError):
            cache.store.get(("ns",), "c")
        cache.store.put(("ns",), "a", {"text": MARK})
    value = command(cache, "HGET", item("a"), "v")
    command(cache, "HSET", store_namespace_keys(cache.prefix, ("other",)).item("a"), "v", value, "c", 1, "u", 1)
    with pytest.raises(DecryptionError):
        cache.store.get(("other",), "a")
    plain = opened() if cache.topology != "memory" else None
    if plain is not None:  # no encryption: sealed checkpoints and items are never handed out as data
        with pytest.raises(DecryptionError, match="encrypted"):
            plain.checkpoints.get("t1", "")
        with pytest.raises(DecryptionError, match="encrypted"):
            plain.store.get(("ns",), "a")


@pytest.mark.parametrize("facade", ["sync", "async"])
def test_the_langgraph_checkpointer_and_store_write_ciphertext_only(
    facade: str, server_urls: Callable[[str], str]
) -> None:
    """The framework adapters over an encrypted cache: a real graph interrupted and resumed, and
    the long-term store with a filtered search (judged in this process)."""
    import asyncio

    from langgraph.types import Command

    from agentcache.integrations.langgraph import AgentCacheSaver
    from agentcache.integrations.langgraph_store import AgentCacheStore
    from tests.integration.test_langgraph import _graph

    url, prefix = server_urls("cluster3" if facade == "async" else "standalone"), unique_prefix()
    config: Any = {"configurable": {"thread_id": "graph-1"}}

    async def run_async() -> tuple[Any, Any]:
        async with AsyncAgentCache.from_url(url, prefix=prefix, encryption=OLD) as cache:
            graph = _graph(AgentCacheSaver(cache))
            await graph.ainvoke({"steps": [MARK]}, config)
            final = await graph.ainvoke(Command(resume="yes"), config)
            store = AgentCacheStore(cache)
            await store.aput(("users", "u1"), "m1", {"text": MARK, "kind": "fact"})
            await store.aput(("users", "u1"), "m2", {"text": "other", "kind": "note"})
            found = await store.asearch(("users",), filter={"kind": "fact"})
            return final, found

    if facade == "async":
        final, found = asyncio.run(run_async())
    else:
        with AgentCache.from_url(url, prefix=prefix, encryption=OLD) as cache:
            graph = _graph(AgentCacheSaver(cache))
            graph.invoke({"steps": [MARK]}, config)
            final = graph.invoke(Command(resume="yes"), config)
            store = AgentCacheStore(cache)
            store.put(("users", "u1"), "m1", {"text": MARK, "kind": "fact"})
            store.put(("users", "u1"), "m2", {"text": "other", "kind": "note"})
            found = store.search(("users",), filter={"kind": "fact"})
    assert final["steps"] == [MARK, "plan", "asked", "acted"]
    assert [(item.key, item.value["text"]) for item in found] == [("m1", MARK)]
    with AgentCache.from_url(url, prefix=prefix, encryption=OLD) as reader:
        view: Any = reader
        view.topology, view.prefix, view.url = ("cluster3" if facade == "async" else "standalone"), prefix, url
        stored = [(key, value) for key in _keys(view) for value in _stored(view, key)]
        assert any(b":langgraph:" in key for key, _ in stored) and any(b":store:" in key for key, _ in stored)
        assert [key for key, value in stored if isinstance(value, bytes) and MARK.encode() in value] == []
        back = AgentCacheSaver(reader).get_tuple(config)
        assert back is not None and back.checkpoint["channel_values"]["steps"][0] == MARK


def test_tampering_and_wrong_keys_raise_typed_errors(opened: Callable[..., Any]) -> None:
    cache = opened(encryption=OLD)
    cache.session.set("t1", "a", MARK, ttl=600)
    cache.tool.store("search", {"q": 1}, MARK)
    key = cache.session.key("t1", "a")
    good = command(cache, "GET", key)
    flipped = good[:-1] + bytes((good[-1] ^ 1,))
    command(cache, "SET", key, flipped)
    with pytest.raises(DecryptionError):
        cache.session.get("t1", "a")
    header = good[:3] + bytes((good[3] ^ 1,)) + good[4:]  # the sliding TTL in the header is bound too
    command(cache, "SET", key, header)
    with pytest.raises(DecryptionError):
        cache.session.get("t1", "a")
    command(cache, "SET", key, good)
    assert cache.session.get("t1", "a") == MARK
    if cache.topology == "memory":
        return
    stranger = opened(encryption=Encryption({"other": NEW_KEY}))
    with pytest.raises(DecryptionError, match=r"'old'.*not in this cache's keys"):
        stranger.session.get("t1", "a")
    with pytest.raises(DecryptionError):
        stranger.tool.check("search", {"q": 1})
    plain = opened()  # no encryption: an encrypted value is never handed out as data
    with pytest.raises(DecryptionError, match="encrypted"):
        plain.session.get("t1", "a")


def _rekey_all(cache: Any) -> tuple[int, int, int]:
    cursor, steps, rewritten, current = None, 0, 0, 0
    while True:
        step = cache.rekey(cursor, count=50)
        steps, rewritten, current = steps + 1, rewritten + step.rewritten, current + step.current
        assert step.unreadable == [] and step.plaintext == []
        cursor = step.cursor
        if cursor is None:
            return steps, rewritten, current


def test_keys_rotate_and_rekey_reencrypts_in_place(opened: Callable[..., Any], fake_models: FakeModelServer) -> None:
    cache = opened(encryption=OLD)
    if cache.topology == "memory":
        pytest.skip("needs two caches on one server")
    _write_everything(cache, "t1")
    _compact(cache, fake_models, "t1")
    cache.session.set("t1", "short", MARK, ttl=600)
    rotated = opened(encryption=Encryption([("new", NEW_KEY), *OLD.keys]))
    assert rotated.session.get("t1", "profile")["name"] == MARK  # the old key still reads
    _, rewritten, _ = _rekey_all(rotated)
    assert rewritten >= 10
    _, again, current = _rekey_all(rotated)
    assert again == 0 and current >= rewritten  # a second walk writes nothing
    ttl = rotated.session.ttl("t1", "short")
    assert ttl is not None and 500 < ttl <= 600  # the TTL was kept
    only_new = opened(encryption=Encryption({"new": NEW_KEY}))
    assert only_new.session.get_all("t1")["a"] == MARK
    assert only_new.tool.check("search", {"q": 1}).value == {"hit": MARK}
    history = list(only_new.conversations.get("t1").messages())
    assert [p.text for p in history[1].parts] == [MARK + " with the part", MARK + " part"]
    assert only_new.conversations.get("t1").info().metadata == {"m": MARK}
    _check_everything(only_new, "t1")  # checkpoints, writes, store items, system prompt: rekeyed too
    assert MARK in only_new.conversations.get("t1").context().messages[0].parts[0].text  # the summary
    semantic = _semantic(only_new)
    semantic._semantic._vectors.clear()  # the embedding stored before the rotation, read back rekeyed
    assert semantic.check(SEM_REQUEST, scope={"tenant": "acme"}).response == {"answer": MARK + " semantic"}
    stale = _semantic(opened(encryption=OLD))
    with pytest.raises(DecryptionError):  # its embedding
        stale.check(SEM_REQUEST, scope={"tenant": "acme"})
    stale.configure(embedding_ttl=0)
    with pytest.raises(DecryptionError):  # its entry
        stale.check(SEM_REQUEST, scope={"tenant": "acme"})
    with pytest.raises(DecryptionError):
        opened(encryption=OLD).session.get("t1", "a")
    with pytest.raises(DecryptionError):
        opened(encryption=OLD).checkpoints.get("t1", "")
    with pytest.raises(DecryptionError):
        opened(encryption=OLD).store.get(("memories", "t1"), "fact")
    with pytest.raises(DecryptionError):
        opened(encryption=OLD).conversations.get("t1")  # its system prompt


def test_plaintext_is_refused_until_migrated(opened: Callable[..., Any]) -> None:
    before = opened()
    if before.topology == "memory":
        pytest.skip("needs two caches on one server")
    before.session.set("t1", "a", MARK)
    before.session.set_user_part("t1", "note", "part")
    before.checkpoints.put("t1", "", "1", ("json", MARK.encode()), ("json", b"{}"))
    before.store.put(("memories",), "fact", {"text": MARK})
    before.conversations.create(session_id="t1", agent_id="agent", user_id="user", system=MARK)
    strict = opened(encryption=OLD)
    with pytest.raises(DecryptionError, match="not encrypted"):
        strict.session.get("t1", "a")
    with pytest.raises(DecryptionError, match="not encrypted"):
        strict.checkpoints.get("t1", "")
    with pytest.raises(DecryptionError, match="not encrypted"):
        strict.store.get(("memories",), "fact")
    with pytest.raises(DecryptionError, match="not encrypted"):
        strict.conversations.get("t1")  # its system prompt
    cursor, plaintext, rewritten = None, set[str](), 0
    while True:  # a rekey without allow_plaintext leaves plaintext alone and says so (not "unreadable")
        step = strict.rekey(cursor, count=50)
        assert step.unreadable == []
        plaintext, rewritten, cursor = plaintext | set(step.plaintext), rewritten + step.rewritten, step.cursor
        if cursor is None:
            break
    assert rewritten == 0 and strict.session.key("t1", "a") in plaintext and len(plaintext) >= 5
    migrating = opened(encryption=Encryption(OLD.keys, allow_plaintext=True))
    assert migrating.session.get("t1", "a") == MARK
    assert migrating.checkpoints.get("t1", "").checkpoint == ("json", MARK.encode())
    _rekey_all(migrating)
    assert strict.checkpoints.get("t1", "").checkpoint == ("json", MARK.encode())
    assert strict.store.get(("memories",), "fact").value == {"text": MARK}
    assert strict.conversations.get("t1").system == MARK
    leaks = [k for k in _keys(strict) for v in _stored(strict, k) if isinstance(v, bytes) and MARK.encode() in v]
    assert leaks == []
    assert strict.session.get("t1", "a") == MARK
    assert strict.session.user_parts("t1")["note"].text == "part"
    assert MARK.encode() not in command(strict, "GET", strict.session.key("t1", "a"))


def test_the_near_cache_serves_plain_values_from_memory(server_urls: Callable[[str], str]) -> None:
    from agentcache import NearCache

    with AgentCache.from_url(
        server_urls("standalone"), prefix=unique_prefix(), encryption=OLD, near_cache=NearCache()
    ) as cache:
        cache.session.set("t1", "a", MARK)
        assert cache.session.get("t1", "a") == MARK
        assert cache.session.get("t1", "a") == MARK  # from memory now
        cache.tool.store("search", {"q": 1}, MARK)
        assert cache.tool.check("search", {"q": 1}).value == MARK
        assert cache.tool.check("search", {"q": 1}).value == MARK
        assert MARK.encode() not in command(cache, "GET", cache.session.key("t1", "a"))


def test_the_rekey_command_resumes_from_its_state_file(
    server_urls: Callable[[str], str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from agentcache.cli import main

    url, prefix = server_urls("cluster3"), unique_prefix()
    with AgentCache.from_url(url, prefix=prefix, encryption=OLD) as cache:
        for i in range(30):
            cache.session.set(f"t{i}", "a", MARK)
    new = Encryption.generate_key()
    old = Encryption.generate_key()  # not the key the values were sealed under: listed, left alone
    monkeypatch.setenv("AGENTCACHE_ENCRYPTION_KEYS", f"new:{new},other:{old}")
    state = tmp_path / "rekey.cursor"
    assert main(["rekey", "--url", url, "--prefix", prefix, "--state", str(state), "--count", "5"]) == 0
    out, err = capsys.readouterr()
    assert "unreadable (left alone)" in err and state.read_text() == "done"
    import base64

    monkeypatch.setenv("AGENTCACHE_ENCRYPTION_KEYS", f"new:{new},old:{base64.b64encode(bytes(range(32))).decode()}")
    state.write_text("0:0")
    assert main(["rekey", "--url", url, "--prefix", prefix, "--state", str(state), "--count", "5"]) == 0
    out, _ = capsys.readouterr()
    assert "re-encrypted 30," in out and "cursor done" in out
    with AgentCache.from_url(url, prefix=prefix, encryption=Encryption({"new": new})) as cache:
        assert [cache.session.get(f"t{i}", "a") for i in range(30)] == [MARK] * 30
    plain = unique_prefix()
    with AgentCache.from_url(url, prefix=plain) as cache:  # stored before encryption was on
        cache.session.set("t", "a", MARK)
    assert main(["rekey", "--url", url, "--prefix", plain]) == 0
    out, err = capsys.readouterr()
    assert "plaintext" in err and "1 key(s)" in err and "--allow-plaintext" in err and "unreadable" not in err
    assert main(["rekey", "--url", url, "--prefix", plain, "--allow-plaintext"]) == 0
    assert "re-encrypted 1," in capsys.readouterr().out


ID = "ID-MARKER"
HASHED = Encryption({"old": bytes(range(32))}, id_key=bytes(range(200, 232)))


def test_id_key_keeps_every_id_out_of_key_names(opened: Callable[..., Any], fake_models: FakeModelServer) -> None:
    """Under ``Encryption(id_key=...)`` no key name shows a thread, conversation, agent, user,
    store-namespace or limit id, and every tier still finds what it stored."""
    from agentcache import Quota
    from agentcache.errors import InvalidArgumentError

    cache = opened(encryption=HASHED)
    thread = ID + "-thread"
    _write_everything(cache, thread)
    _compact(cache, fake_models, thread)
    cache.conversations.configure_agent(ID + "-agent", timeout=600)
    other = cache.conversations.create(session_id=ID + "-conv", agent_id=ID + "-agent", user_id=ID + "-user")
    other.add_message(Message.user("hello"))
    quota = Quota(threads=5, keys_per_thread=5, bytes=10_000)
    assert cache.limits.admit(ID + "-name", rate=(10, 60), quota=quota, thread=thread, key="k", size=10).allowed
    snapshots = (
        ValkeySnapshotStore(cache)
        if not isinstance(cache, Synced)
        else Synced(ValkeySnapshotStore(cache._target), cache._loop)
    )
    snapshots.save(other.id, other.to_dict())
    names = _keys(cache)
    assert names and [k for k in names if ID.encode() in k] == []
    assert any(k.startswith(f"{cache.prefix}:session:{{~".encode()) for k in names)  # hashed, not gone
    # every tier reads it back
    _check_everything(cache, thread)
    assert cache.session.get_all(thread)["a"] == MARK
    assert sorted(cache.session.fields(thread))[:2] == ["a", "b"]
    assert cache.conversations.get(ID + "-conv").info().timeout.total_seconds() == 600  # the agent defaults
    assert [i.id for i in cache.conversations.list_active(user_id=ID + "-user")] == [ID + "-conv"]
    assert [i.id for i in cache.conversations.list_active(agent_id=ID + "-agent")] == [ID + "-conv"]
    assert cache.store.list_namespaces(prefix=("memories",)) == [("memories", thread)]
    assert snapshots.load(other.id)["id"] == ID + "-conv"
    with pytest.raises(InvalidArgumentError, match="id_key"):
        cache.checkpoints.threads()  # a hash names no thread
    assert cache.checkpoints.delete_runs(["run"]) == 1  # walks the keyspace: uses the names as stored
    assert [c.checkpoint_id for c in cache.checkpoints.list(thread)] == ["2"]
    head = cache.session.key(thread, "a")[:-1].encode()  # <prefix>:session:{~<hash>}:
    assert cache.session.destroy_thread(thread) > 0
    assert cache.session.get_all(thread) == {} and [k for k in _keys(cache) if k.startswith(head)] == []


def test_an_id_key_is_a_keyspace_of_its_own(opened: Callable[..., Any]) -> None:
    hashed = opened(encryption=HASHED)
    plain = opened(encryption=OLD)  # same prefix, ids as they are
    hashed.session.set("t1", "a", "hashed")
    plain.session.set("t1", "a", "plain")
    assert hashed.session.get("t1", "a") == "hashed" and plain.session.get("t1", "a") == "plain"
    assert hashed.session.key("t1", "a") != plain.session.key("t1", "a")
    again = opened(encryption=Encryption({"old": bytes(range(32))}, id_key=bytes(range(200, 232))))
    assert again.session.get("t1", "a") == "hashed"  # the same id key finds it from another process
