"""Every public operation works for a Valkey user with exactly the documented least-privilege rule.

The rule is read from docs/acl.md (so the documentation is what is tested) and given to a fresh
user on every node; the cache connects as that user. Afterwards the server's ACL LOG must hold no
denial for the user, so even a refusal the client swallows (say of CLIENT SETINFO) shows up.
A test also checks that this file exercises every public operation of every tier, so an operation
added later cannot skip the rule.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import valkey
from pydantic import BaseModel
from valkey.cluster import ValkeyCluster

from agentcache import (
    NO_EXPIRY,
    AgentCache,
    AsyncAgentCache,
    BackendError,
    CheckpointTier,
    Conversation,
    ConversationTier,
    DecryptionError,
    LlmTier,
    Message,
    SessionTier,
    StoredWrite,
    ToolTier,
    ValkeySnapshotStore,
)
from agentcache.core.binding import operation
from agentcache.core.commands import Call as CallStep
from agentcache.encoding.encryption import Encryption
from agentcache.providers.openai import OpenAIChatModel
from agentcache.testing import unique_prefix
from agentcache.tiers.semantic.tier import SemanticTier
from tests.documents import documents
from tests.fake_models import FakeModelServer
from tests.semantic_fakes import AsyncWordsEmbedder

SERVERS = ["standalone", "cluster", "cluster3"]
SEALED = Encryption({"acl": bytes(range(32))}, allow_plaintext=True)  # rekey seals what the exercise wrote


class Empty(BaseModel):
    pass


def readme_rule() -> str:
    """The ``ACL SETUSER agentcache ...`` line of the documentation (docs/acl.md)."""
    lines = [
        line
        for path in documents()
        for line in path.read_text().splitlines()
        if line.startswith("ACL SETUSER agentcache ")
    ]
    assert len(lines) == 1, "the README and docs/ should give exactly one least-privilege rule"
    return lines[0]


def rule_for(prefix: str, user: str, password: str, *, without: str | None = None) -> list[str]:
    """The documented rule for this user, password and prefix (less one word, ``without``)."""
    words = readme_rule().split()[2:]  # after ACL SETUSER
    assert words[0] == "agentcache" and "~agentcache:*" in words and ">change-me" in words
    assert without is None or without in words
    replaced = {"~agentcache:*": f"~{prefix}:*", ">change-me": f">{password}"}
    return [replaced.get(word, word) for word in words[1:] if word != without]


def admin_nodes(url: str) -> list[valkey.Valkey]:
    probe = valkey.Valkey.from_url(url)
    try:
        info: dict[str, Any] = probe.info("cluster")  # type: ignore[assignment]
        cluster = info.get("cluster_enabled") == 1
    finally:
        probe.close()
    if not cluster:
        return [valkey.Valkey.from_url(url)]
    with ValkeyCluster.from_url(url) as client:
        return [valkey.Valkey(host=node.host, port=node.port) for node in client.get_nodes()]


@pytest.fixture
def restricted(server_urls: Callable[[str], str], request: pytest.FixtureRequest) -> Iterator[tuple[str, str, str]]:
    """(url of the restricted user, prefix, topology); the user exists on every node for the test only.

    The parameter is a topology, or (topology, a word to leave out of the rule, whether the test
    expects refusals); by default the ACL LOG must show no refusal at all."""
    topology, without, refusals = request.param if isinstance(request.param, tuple) else (request.param, None, False)
    url = server_urls(topology)
    user, password, prefix = f"acl-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, unique_prefix()
    nodes = admin_nodes(url)
    for node in nodes:
        node.execute_command("ACL", "SETUSER", user, "reset", *rule_for(prefix, user, password, without=without))
        node.execute_command("ACL", "LOG", "RESET")
        node.script_flush()  # so the scripts are sent by body (EVAL) once, as on a fresh server
    try:
        yield url.replace("valkey://", f"valkey://{user}:{password}@"), prefix, topology
        log: list[dict[str, Any]] = [entry for node in nodes for entry in node.acl_log()]  # type: ignore[union-attr]
        denied = [entry for entry in log if entry.get("username") == user]
        if not refusals:
            assert denied == [], f"the documented rule lacks: {denied}"
    finally:
        for node in nodes:
            node.execute_command("ACL", "DELUSER", user)
            node.close()


async def run(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def public_operations() -> set[str]:
    """``Class.name`` of every public operation of the tiers, handles and snapshot store."""
    found = set()
    for cls in (
        SessionTier,
        ToolTier,
        LlmTier,
        ConversationTier,
        CheckpointTier,
        SemanticTier,
        Conversation,
        ValkeySnapshotStore,
        AgentCache,
    ):
        for name in dir(cls):
            if isinstance(inspect.getattr_static(cls, name), operation) and not name.startswith("_"):
                found.add(f"{cls.__name__}.{name}")
    return found


async def exercise(cache: Any, asynchronous: bool, models: FakeModelServer, sealed: Any) -> set[str]:
    """Call every public operation once (``AgentCache.rekey`` on ``sealed``, the same prefix opened
    with ``encryption=``); returns the names called."""
    called: set[str] = set()

    async def call(name: str, value: Any) -> Any:
        called.add(name)
        return await run(value)

    s = cache.session
    await call("SessionTier.set", s.set("t", "f", {"a": 1}, ttl=60))
    assert await call("SessionTier.get", s.get("t", "f")) == {"a": 1}
    assert await call("SessionTier.get_all", s.get_all("t")) == {"f": {"a": 1}}
    assert await call("SessionTier.fields", s.fields("t")) == ["f"]
    assert 0 < await call("SessionTier.ttl", s.ttl("t", "f")) <= 60
    assert await call("SessionTier.touch", s.touch("t")) == 1
    assert await call("SessionTier.delete", s.delete("t", "f")) is True
    await call("SessionTier.set_many", s.set_many("t", {"g": 1, "h": 2}))
    assert await call("SessionTier.get_many", s.get_many("t", ["g", "h", "x"])) == {"g": 1, "h": 2}
    assert await call("SessionTier.delete_many", s.delete_many("t", ["h"])) == 1
    await call("SessionTier.set_user_part", s.set_user_part("t", "note", "seen"))
    assert list(await call("SessionTier.user_parts", s.user_parts("t"))) == ["note"]
    assert await call("SessionTier.delete_user_part", s.delete_user_part("t", "note")) is True
    await run(s.set_user_part("t", "note", "seen", ttl=NO_EXPIRY))  # the set of part keys loses its expiry
    assert await call("SessionTier.clear_user_parts", s.clear_user_parts("t")) == 1
    assert await call("SessionTier.destroy_thread", s.destroy_thread("t")) == 1
    await call("SessionTier.set_value", s.set_value("t", "__user_part_p", "seen"))  # routed to the user parts
    assert await call("SessionTier.set_capped", s.set_capped("t", "f", 1, max_fields=2)) is True
    assert [v.field for v in await call("SessionTier.peek", s.peek("t"))] == ["__user_part_p", "f"]
    assert await call("SessionTier.delete_value", s.delete_value("t", "__user_part_p")) is True
    assert await call("SessionTier.clear_fields", s.clear_fields("t")) == 1

    tool = cache.tool
    await call("ToolTier.set_policy", tool.set_policy("search", ttl=60))
    assert (await call("ToolTier.get_policy", tool.get_policy("search"))) is not None
    await call("ToolTier.store", tool.store("search", {"q": 1}, ["hit"], cost=0.25))  # cost saved: a float count
    assert (await call("ToolTier.check", tool.check("search", {"q": 1}))).value == ["hit"]

    async def compute() -> list[str]:
        return ["computed"]

    def compute_sync() -> list[str]:
        return ["computed"]

    made = await call(
        "ToolTier.get_or_compute", tool.get_or_compute("search", {"q": 2}, compute if asynchronous else compute_sync)
    )
    assert made == ["computed"]

    async def lookup(q: int) -> int:
        return q * 2

    def lookup_sync(q: int) -> int:
        return q * 2

    assert await run(tool.cached("lookup", ttl=60)(lookup if asynchronous else lookup_sync)(3)) == 6
    assert await call("ToolTier.invalidate", tool.invalidate("search", {"q": 1})) is True
    assert await call("ToolTier.invalidate_tool", tool.invalidate_tool("search")) == 1
    assert await call("ToolTier.clear_policy", tool.clear_policy("search")) is True

    convs = cache.conversations
    await call("ConversationTier.configure_agent", convs.configure_agent("bot", timeout=900))
    assert (await call("ConversationTier.agent_config", convs.agent_config("bot")))["timeout"].total_seconds() == 900
    conv = await call("ConversationTier.create", convs.create(agent_id="bot", user_id="u", system="Be brief."))
    await run(cache.session.set_user_part(conv.id, "shot", "a screenshot"))
    await call("Conversation.add_message", conv.add_message(Message.user("hi")))  # takes the user part
    await call("Conversation.add_messages", conv.add_messages([Message.assistant("hello"), Message.user("bye")]))
    assert await call("Conversation.length", conv.length()) == 3
    assert [m.text for m in await call("Conversation.messages", conv.messages())] == [
        "hi\na screenshot",
        "hello",
        "bye",
    ]
    assert (await call("Conversation.context", conv.context(limit=2))).messages[-1].text == "bye"
    assert (await call("Conversation.pop_last", conv.pop_last())).text == "bye"
    assert (await call("Conversation.info", conv.info())).status == "active"
    await call("Conversation.heartbeat", conv.heartbeat())
    await call("Conversation.renew", conv.renew())
    await call("Conversation.update_timeout", conv.update_timeout(1200))
    await run(conv.state.set("k", 1))
    again = await call("ConversationTier.get", convs.get(conv.id))
    assert again.id == conv.id
    assert [i.id for i in await call("ConversationTier.list_active", convs.list_active(agent_id="bot"))] == [conv.id]
    assert [i.id for i in await call("ConversationTier.expiring", convs.expiring(within=3600))] == [conv.id]
    fork = await call("Conversation.fork", conv.fork())
    data = await call("Conversation.to_dict", conv.to_dict())
    store = ValkeySnapshotStore(cache)
    await call("ValkeySnapshotStore.save", store.save(conv.id, data))
    assert await call("ValkeySnapshotStore.load", store.load(conv.id)) == data
    assert await call("ValkeySnapshotStore.list_sessions", store.list_sessions()) == [conv.id]
    assert await call("ValkeySnapshotStore.delete", store.delete(conv.id)) is True
    restored = await call("ConversationTier.restore", convs.restore(data, session_id="restored"))
    assert len(await run(restored.messages())) == 2
    await run(Conversation.from_dict(data, cache, session_id="from-dict"))
    model = OpenAIChatModel("gpt-acl", base_url=models.openai_url, api_key="test", max_retries=0)

    def double(x: int) -> int:
        return 2 * x

    turn = await call("Conversation.run", conv.run('CALL double {"x": 2}', model=model, tools=[double]))
    assert turn.text == "tool said: 4"
    assert (await call("Conversation.json", conv.json("REPLY {}", model=model, schema=Empty))).output == Empty()
    streamed = conv.stream("stream it", model=model)
    events = [e async for e in streamed] if asynchronous else list(streamed)
    assert events[-1].type == "done"
    posted = await call("Conversation.post_message", conv.post_message(Message.user("one more")))
    assert posted.length == await run(conv.length()) and posted.info.status == "active"
    compacted = await call("Conversation.compact", conv.compact(model=model, keep_last=2))
    assert compacted.model_calls == 1 and compacted.summarized == posted.length - 2
    llm = cache.llm
    request = {"model": "gpt-acl", "messages": [{"role": "user", "content": "hi"}]}
    assert not await call("LlmTier.check", llm.check(request))
    await call("LlmTier.set_policy", llm.set_policy("gpt-acl", ttl=60))
    assert (await call("LlmTier.get_policy", llm.get_policy("gpt-acl"))).ttl == 60
    assert await call("LlmTier.store", llm.store(request, {"answer": 1})) is True

    async def answer() -> dict[str, int]:
        return {"answer": 2}

    def answer_sync() -> dict[str, int]:
        return {"answer": 2}

    fresh = {**request, "seed": 1}
    assert await call("LlmTier.get_or_compute", llm.get_or_compute(fresh, answer if asynchronous else answer_sync))
    step = CallStep(answer_sync, answer)
    assert (await call("LlmTier.fetch_or_compute", llm.fetch_or_compute({**request, "seed": 2}, step))).hit is False
    assert await call("LlmTier.invalidate", llm.invalidate(request)) is True
    assert await call("LlmTier.invalidate_model", llm.invalidate_model("gpt-acl")) >= 2
    assert await call("LlmTier.clear_policy", llm.clear_policy("gpt-acl")) is True
    await call("Conversation.clear", conv.clear())
    await call("Conversation.end", conv.end())
    await call("Conversation.delete", fork.delete())
    assert await call("ConversationTier.delete", convs.delete("restored")) is True

    cp = cache.checkpoints
    await call("CheckpointTier.put", cp.put("t", "", "1", ("json", b"{}"), ("json", b"{}"), run_id="r", ttl=60))
    write = StoredWrite("task", 0, "ch", ("json", b"1"))
    assert await call("CheckpointTier.put_writes", cp.put_writes("t", "", "1", [write], ttl=60)) == 1
    assert (await call("CheckpointTier.get", cp.get("t", "", refresh=60))).writes == [write]
    assert len(await call("CheckpointTier.list", cp.list("t", None, before="2", limit=5))) == 1
    assert await call("CheckpointTier.threads", cp.threads()) == ["t"]
    assert await call("CheckpointTier.copy_thread", cp.copy_thread("t", "u", ttl=60)) == 1
    assert await call("CheckpointTier.prune", cp.prune(["u"])) == 0
    assert await call("CheckpointTier.delete_runs", cp.delete_runs(["r"])) == 2
    assert await call("CheckpointTier.delete_thread", cp.delete_thread("u")) == 0

    sem = cache.semantic
    sem.configure(embedder=AsyncWordsEmbedder(), threshold=0.8, max_entries=2)
    scope = {"tenant": "acme"}
    asked = {"model": "gpt-acl", "messages": [{"role": "user", "content": "how do I reset my password please"}]}
    again = {"model": "gpt-acl", "messages": [{"role": "user", "content": "how can I reset my password please"}]}
    assert await call("SemanticTier.store", sem.store(asked, {"a": 1}, scope=scope, ttl=60)) is True
    assert (await call("SemanticTier.check", sem.check(again, scope=scope))).hit
    made = sem.get_or_compute({**asked, "max_tokens": 3}, answer if asynchronous else answer_sync, scope=scope)
    assert await call("SemanticTier.get_or_compute", made) == {"answer": 2}
    fetched = await call("SemanticTier.fetch_or_compute", sem.fetch_or_compute(again, step))
    assert fetched.response == {"answer": 2} and not fetched.hit
    for i in range(3):  # past max_entries: the bound evicts
        question = {**asked, "messages": [{"role": "user", "content": f"question {i}"}]}
        await run(sem.store(question, {"i": i}, ttl=0.05))
    await asyncio.sleep(0.06)
    await run(sem.store({**asked, "messages": [{"role": "user", "content": "question 9"}]}, {"i": 9}))  # purges
    assert await call("SemanticTier.invalidate", sem.invalidate(asked, scope=scope)) is True
    assert await call("SemanticTier.invalidate_model", sem.invalidate_model("gpt-acl")) >= 1
    assert await call("SemanticTier.invalidate_scope", sem.invalidate_scope(scope)) >= 0

    assert await call("AgentCache.ping", cache.ping()) is True
    assert (await call("AgentCache.stats", cache.stats())).session.writes >= 1
    await call("AgentCache.reset_stats", cache.reset_stats())

    await run(cache.session.set("plain", "f", 7))  # plaintext, for the rekey to seal
    await run(sealed.session.set("sealed", "f", {"secret": 1}))  # under the current key: left alone
    cursor, rewritten, current = None, 0, 0
    while True:  # the plaintext written above is sealed in place
        done = await call("AgentCache.rekey", sealed.rekey(cursor, count=200))
        rewritten, current, cursor = rewritten + done.rewritten, current + done.current, done.cursor
        assert done.unreadable == []
        if cursor is None:
            break
    assert rewritten >= 1 and current >= 1
    assert await run(sealed.session.get("plain", "f")) == 7
    with pytest.raises(DecryptionError, match="encrypted"):  # sealed in place: no longer plaintext
        await run(cache.session.get("plain", "f"))
    return called


def open_cache(url: str, prefix: str, facade: str) -> Any:
    return (AsyncAgentCache if facade == "async" else AgentCache).from_url(url, prefix=prefix)


async def close(cache: Any) -> None:
    await run(cache.close())


@pytest.mark.parametrize("facade", ["sync", "async"])
@pytest.mark.parametrize("restricted", SERVERS, indirect=True)
def test_every_operation_under_the_readme_rule(
    restricted: tuple[str, str, str], facade: str, fake_models: FakeModelServer
) -> None:
    url, prefix, _ = restricted

    async def main() -> set[str]:
        cache = open_cache(url, prefix, facade)
        sealed = (AsyncAgentCache if facade == "async" else AgentCache).from_url(url, prefix=prefix, encryption=SEALED)
        try:
            return await exercise(cache, facade == "async", fake_models, sealed)
        finally:
            await close(cache)
            await close(sealed)

    called = asyncio.run(main())
    assert called == public_operations()


@pytest.mark.parametrize("facade", ["sync", "async"])
@pytest.mark.parametrize("restricted", [("standalone", "+time", True), ("cluster", "+time", True)], indirect=True)
def test_without_time_conversations_fail_with_a_backend_error(restricted: tuple[str, str, str], facade: str) -> None:
    url, prefix, _ = restricted

    async def main() -> None:
        cache = open_cache(url, prefix, facade)
        try:
            with pytest.raises(BackendError, match="no permissions to run the 'time' command") as refused:
                await run(cache.conversations.create(agent_id="bot", user_id="u"))
            assert "Least privilege" in str(refused.value)
        finally:
            await close(cache)

    asyncio.run(main())


@pytest.mark.parametrize("facade", ["sync", "async"])
@pytest.mark.parametrize("restricted", [(t, "+cluster|info", True) for t in ("standalone", "cluster")], indirect=True)
def test_without_cluster_info_detection_fails_loudly(restricted: tuple[str, str, str], facade: str) -> None:
    """Taking a refused CLUSTER INFO for "standalone" would send a cluster's keys to one node."""
    url, prefix, topology = restricted

    async def main() -> None:
        cache = open_cache(url, prefix, facade)
        try:
            with pytest.raises(BackendError, match=r"grant the Valkey user \+cluster\|info") as refused:
                await run(cache.session.set("t", "f", 1))
            assert refused.value.command == "SET"
        finally:
            await close(cache)
        told = (AsyncAgentCache if facade == "async" else AgentCache).from_url(
            url, prefix=prefix, cluster=topology != "standalone"
        )
        try:
            await run(told.session.set("t", "f", 1))  # told the kind, it needs no CLUSTER INFO
            assert await run(told.session.get("t", "f")) == 1
        finally:
            await close(told)

    asyncio.run(main())


@pytest.mark.parametrize("restricted", [("standalone", None, True)], indirect=True)
def test_the_rule_grants_no_key_outside_the_prefix(restricted: tuple[str, str, str]) -> None:
    url, prefix, _ = restricted
    other = AgentCache.from_url(url, prefix=f"{prefix}x")  # another prefix: not covered by the rule
    with other, pytest.raises(BackendError, match=r"No permissions to access a key.*Least privilege"):
        other.session.set("t", "f", 1)
    with AgentCache.from_url(url, prefix=prefix) as cache:
        for command in (("FLUSHALL",), ("CONFIG", "SET", "maxmemory", "1"), ("KEYS", "*"), ("SCRIPT", "FLUSH")):
            with pytest.raises(valkey.exceptions.NoPermissionError):
                cache.client.execute_command(*command)
