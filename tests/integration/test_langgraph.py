"""The LangGraph checkpointer: LangGraph's own conformance suite, a real graph interrupted and
resumed (sync and async), TTLs, thread destruction, round trips and bad input."""

from __future__ import annotations

import asyncio
import operator
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from agentcache import AgentCache, AsyncAgentCache, InvalidArgumentError
from agentcache.encoding.keys import checkpoint_keys
from agentcache.integrations.langgraph import AgentCacheSaver
from agentcache.testing import unique_prefix

CONFORMANCE = [("standalone", "async"), ("cluster", "sync"), ("cluster3", "async")]


@pytest.mark.parametrize(("topology", "facade"), CONFORMANCE, ids=lambda p: str(p))
async def test_conformance_suite_passes_every_capability(
    topology: str, facade: str, server_urls: Callable[[str], str]
) -> None:
    """langgraph-checkpoint-conformance, base and extended capabilities, on each server kind."""
    url = server_urls(topology)

    @checkpointer_test(name=f"agentcache-{topology}-{facade}")
    async def factory() -> AsyncIterator[AgentCacheSaver]:
        cache: Any = (AsyncAgentCache if facade == "async" else AgentCache).from_url(url, prefix=unique_prefix())
        yield AgentCacheSaver(cache)
        if facade == "async":
            await cache.close()
        else:
            cache.close()

    report = await validate(factory)
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert not failures
    assert report.passed_all()
    assert all(r.detected for r in report.results.values()), "every capability, extended ones too, was run"
    assert sum(r.tests_passed for r in report.results.values()) >= 80


# --- a real graph: plain Python nodes, one human-in-the-loop interrupt ---------------------------


class Steps(TypedDict, total=False):
    steps: Annotated[list[str], operator.add]
    approved: bool


def _plan(state: Steps) -> Steps:
    return {"steps": ["plan"]}


def _ask(state: Steps) -> Steps:
    answer = interrupt({"question": "approve the plan?"})
    return {"approved": answer == "yes", "steps": ["asked"]}


def _act(state: Steps) -> Steps:
    return {"steps": ["acted" if state.get("approved") else "skipped"]}


def _graph(saver: AgentCacheSaver) -> Any:
    builder = StateGraph(Steps)
    builder.add_node("plan", _plan)
    builder.add_node("ask", _ask)
    builder.add_node("act", _act)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "ask")
    builder.add_edge("ask", "act")
    builder.add_edge("act", END)
    return builder.compile(checkpointer=saver)


@pytest.fixture
def sync_cache(url: str) -> Iterator[AgentCache]:
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        yield cache


def test_graph_interrupts_and_resumes_through_another_connection(url: str, sync_cache: AgentCache) -> None:
    config: Any = {"configurable": {"thread_id": f"t-{uuid.uuid4()}"}}
    first = _graph(AgentCacheSaver(sync_cache)).invoke({"steps": []}, config)
    assert first["steps"] == ["plan"]
    assert first["__interrupt__"][0].value == {"question": "approve the plan?"}

    # A second cache and saver (as another worker process would have) sees the paused graph and resumes it.
    with AgentCache.from_url(url, prefix=sync_cache.settings.prefix) as other:
        graph = _graph(AgentCacheSaver(other))
        assert graph.get_state(config).next == ("ask",)
        done = graph.invoke(Command(resume="yes"), config)
        assert done["steps"] == ["plan", "asked", "acted"]
        assert done["approved"] is True
        history = list(graph.get_state_history(config))
    assert len(history) >= 4
    assert [h.config["configurable"]["checkpoint_id"] for h in history] == sorted(
        (h.config["configurable"]["checkpoint_id"] for h in history), reverse=True
    )


async def test_graph_interrupts_and_resumes_async(url: str) -> None:
    async with AsyncAgentCache.from_url(url, prefix=unique_prefix()) as cache:
        graph = _graph(AgentCacheSaver(cache))
        config: Any = {"configurable": {"thread_id": "async-thread"}}
        first = await graph.ainvoke({"steps": []}, config)
        assert "__interrupt__" in first
        assert (await graph.aget_state(config)).next == ("ask",)
        done = await graph.ainvoke(Command(resume="no"), config)
        assert done["steps"] == ["plan", "asked", "skipped"]
        snapshots = [s async for s in graph.aget_state_history(config)]
        assert len(snapshots) >= 4


async def test_a_sync_cache_serves_the_async_methods(sync_cache: AgentCache) -> None:
    graph = _graph(AgentCacheSaver(sync_cache))
    config: Any = {"configurable": {"thread_id": "mixed"}}
    await graph.ainvoke({"steps": []}, config)
    done = await graph.ainvoke(Command(resume="yes"), config)
    assert done["steps"] == ["plan", "asked", "acted"]
    assert graph.get_state(config).values["steps"] == ["plan", "asked", "acted"]  # and the sync ones


async def test_an_async_cache_refuses_the_sync_methods_with_a_way_out(url: str) -> None:
    async with AsyncAgentCache.from_url(url, prefix=unique_prefix()) as cache:
        with pytest.raises(InvalidArgumentError, match="ainvoke"):
            _graph(AgentCacheSaver(cache)).invoke({"steps": []}, {"configurable": {"thread_id": "t"}})


# --- TTLs, destroy_thread, round trips, bad input -------------------------------------------------


def _pttl(cache: AgentCache, thread_id: str) -> list[int]:
    """The PTTL of each of the thread's checkpoint keys that exists (the runs hash is there only
    for checkpoints with a run id)."""
    return [
        ms for k in checkpoint_keys(cache.settings.prefix, thread_id).all if (ms := int(cache.client.pttl(k))) != -2
    ]


def _checkpoint(n: int) -> Any:
    from langgraph.checkpoint.base import empty_checkpoint

    cp = empty_checkpoint()
    cp["id"] = str(uuid.UUID(int=n))
    cp["channel_values"] = {"messages": [f"m{i}" for i in range(n)]}
    return cp


def _put(saver: AgentCacheSaver, thread_id: str, n: int = 1) -> Any:
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    stored = saver.put(config, _checkpoint(n), {"source": "loop", "step": n}, {})
    saver.put_writes(stored, [("messages", "pending"), ("__error__", "boom")], "task-1")
    return stored


def test_ttl_is_set_by_writes_and_slides_on_reads(sync_cache: AgentCache) -> None:
    saver = AgentCacheSaver(sync_cache, ttl={"default_ttl": 0.05})  # 3 s
    stored = _put(saver, "ttl-thread")
    assert all(2000 < ms <= 3000 for ms in _pttl(sync_cache, "ttl-thread"))
    time.sleep(1.2)
    assert all(ms < 2000 for ms in _pttl(sync_cache, "ttl-thread"))
    assert saver.get_tuple(stored) is not None
    assert all(ms > 2000 for ms in _pttl(sync_cache, "ttl-thread")), "a read sets the TTL again"

    fixed = AgentCacheSaver(sync_cache, ttl={"default_ttl": 0.05, "refresh_on_read": False})
    time.sleep(1.2)
    assert fixed.get_tuple(stored) is not None
    assert all(ms < 2000 for ms in _pttl(sync_cache, "ttl-thread")), "no refresh on read when told so"


def test_checkpoints_expire_with_their_ttl(sync_cache: AgentCache) -> None:
    saver = AgentCacheSaver(sync_cache, ttl={"default_ttl": 0.01})  # 600 ms
    stored = _put(saver, "short")
    time.sleep(0.9)
    assert saver.get_tuple(stored) is None
    assert list(saver.list(stored)) == []


def test_without_ttl_nothing_expires(sync_cache: AgentCache) -> None:
    _put(AgentCacheSaver(sync_cache), "forever")
    assert _pttl(sync_cache, "forever") == [-1] * 4


def test_destroy_thread_removes_session_state_and_checkpoints(sync_cache: AgentCache) -> None:
    saver = AgentCacheSaver(sync_cache)
    sync_cache.session.set("t1", "profile", {"name": "Ada"})
    sync_cache.session.set("t1:other", "profile", {"name": "Bob"})
    stored = _put(saver, "t1")
    _put(saver, "t1:other")
    assert sync_cache.session.destroy_thread("t1") == 1 + 4  # the field, idx, cp, w, widx
    assert saver.get_tuple(stored) is None
    assert sync_cache.session.get("t1", "profile", default=None) is None
    assert saver.get_tuple({"configurable": {"thread_id": "t1:other"}}) is not None, "a look-alike thread is untouched"
    assert sync_cache.session.get("t1:other", "profile") == {"name": "Bob"}


def test_round_trips_of_each_method(url: str) -> None:
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        saver = AgentCacheSaver(cache, ttl={"default_ttl": 5})
        _put(saver, "warm")  # loads the scripts (on a cluster, on the node of this slot)
        saver.get_tuple({"configurable": {"thread_id": "warm"}})
        list(saver.list({"configurable": {"thread_id": "warm"}}))
        config: Any = {"configurable": {"thread_id": "warm", "checkpoint_ns": ""}}

        def cost(fn: Callable[[], object]) -> int:
            before = cache.round_trips
            fn()
            return cache.round_trips - before

        stored: dict[str, Any] = {}
        assert cost(lambda: stored.setdefault("c", saver.put(config, _checkpoint(7), {"step": 7}, {}))) == 1
        assert cost(lambda: saver.put_writes(stored["c"], [("a", 1), ("b", 2)], "task")) == 1
        assert cost(lambda: saver.get_tuple(config)) == 1
        assert cost(lambda: list(saver.list(config))) == 1
        assert cost(lambda: list(saver.list(config, limit=1))) == 1
        assert cost(lambda: saver.delete_thread("warm")) == 1


def test_pending_writes_keep_langgraph_semantics(sync_cache: AgentCache) -> None:
    saver = AgentCacheSaver(sync_cache)
    stored = _put(saver, "w")
    saver.put_writes(stored, [("messages", "again"), ("__error__", "second")], "task-1")
    tup = saver.get_tuple(stored)
    assert tup is not None and tup.pending_writes is not None
    writes = {(t, c): v for t, c, v in tup.pending_writes}
    assert writes[("task-1", "messages")] == "pending", "a regular write is stored once"
    assert writes[("task-1", "__error__")] == "second", "a special channel's write replaces"


def test_list_across_threads_filters_and_limits(sync_cache: AgentCache) -> None:
    saver = AgentCacheSaver(sync_cache)
    for thread in ("a", "b", "c"):
        for n in (1, 2, 3):
            _put(saver, thread, n)
    assert len(list(saver.list(None))) == 9
    assert len(list(saver.list(None, limit=4))) == 4
    found = list(saver.list(None, filter={"step": 2}))
    assert sorted(t.config["configurable"]["thread_id"] for t in found) == ["a", "b", "c"]
    before: Any = {"configurable": {"checkpoint_id": str(uuid.UUID(int=3))}}
    assert len(list(saver.list({"configurable": {"thread_id": "a"}}, before=before))) == 2


def test_many_checkpoints_page_through(sync_cache: AgentCache) -> None:
    saver = AgentCacheSaver(sync_cache)
    config: Any = {"configurable": {"thread_id": "long", "checkpoint_ns": ""}}
    for n in range(1, 251):
        cp = _checkpoint(0)
        cp["id"] = str(uuid.UUID(int=n))
        saver.put(config, cp, {"step": n}, {})
    before = sync_cache.round_trips
    steps = [t.metadata["step"] for t in saver.list(config)]
    assert steps == list(range(250, 0, -1))
    assert sync_cache.round_trips - before == 3  # 100 per round trip
    assert [t.metadata["step"] for t in saver.list(config, limit=150)][-1] == 101


def test_bad_input_is_refused_before_anything_is_sent(sync_cache: AgentCache) -> None:
    with pytest.raises(InvalidArgumentError, match="pickle"):
        AgentCacheSaver(sync_cache, serde=JsonPlusSerializer(pickle_fallback=True))
    with pytest.raises(InvalidArgumentError, match="minutes"):
        AgentCacheSaver(sync_cache, ttl={"default_ttl": -1})
    with pytest.raises(InvalidArgumentError, match="AgentCache"):
        AgentCacheSaver("valkey://localhost")  # type: ignore[arg-type]
    saver = AgentCacheSaver(sync_cache)
    before = sync_cache.round_trips
    with pytest.raises(InvalidArgumentError, match="thread_id"):
        saver.get_tuple({"configurable": {}})
    with pytest.raises(InvalidArgumentError, match="checkpoint_id"):
        saver.put_writes({"configurable": {"thread_id": "t"}}, [("a", 1)], "task")
    with pytest.raises(InvalidArgumentError, match="strategy"):
        saver.prune(["t"], strategy="keep_some")
    with pytest.raises(InvalidArgumentError, match="list of str"):
        saver.delete_for_runs("run-1")
    assert sync_cache.round_trips == before


def test_thread_ids_cannot_reach_other_threads(sync_cache: AgentCache) -> None:
    saver = AgentCacheSaver(sync_cache)
    for thread in ("a", "a*", "a}", "{a}", "a:b", "a\x00b"):
        _put(saver, thread)
    saver.delete_thread("a*")
    remaining = {t.config["configurable"]["thread_id"] for t in saver.list(None)}
    assert remaining == {"a", "a}", "{a}", "a:b", "a\x00b"}


def test_get_next_version_increases(sync_cache: AgentCache) -> None:
    saver = AgentCacheSaver(sync_cache)
    v1 = saver.get_next_version(None)
    v2 = saver.get_next_version(v1)
    assert v1 < v2 and v2.startswith("0" * 31 + "2.")


def test_async_methods_on_a_sync_cache_leave_the_event_loop_free() -> None:
    """They run in a worker thread, so other tasks run meanwhile (here: on the in-memory backend)."""

    async def main() -> None:
        with AgentCache.in_memory() as cache:
            saver = AgentCacheSaver(cache)
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            ticker = asyncio.ensure_future(tick())
            await saver.aput({"configurable": {"thread_id": "x", "checkpoint_ns": ""}}, _checkpoint(1), {}, {})
            ticker.cancel()
            assert ticks > 0
            assert await saver.aget_tuple({"configurable": {"thread_id": "x"}}) is not None

    asyncio.run(main())


def test_only_destroy_thread_removes_a_graphs_checkpoints(sync_cache: AgentCache) -> None:
    """A conversation ended, deleted or replaced, or an agent clearing its session data, removes the
    thread's session state but leaves a graph's checkpoints of the same id alone."""
    from agentcache.agent_tools import session_data

    saver = AgentCacheSaver(sync_cache)
    config: Any = {"configurable": {"thread_id": "shared"}}
    _put(saver, "shared")
    conv = sync_cache.conversations.create(agent_id="a", user_id="u", session_id="shared")
    conv.state.set("k", 1)
    conv.end()
    sync_cache.conversations.create(agent_id="a", user_id="u", session_id="shared").delete()
    tool = session_data(sync_cache, "shared", allow_user_parts=True)
    assert tool({"action": "clear"})["status"] == "success"
    assert saver.get_tuple(config) is not None
    assert sync_cache.session.destroy_thread("shared") == 4
    assert saver.get_tuple(config) is None


def test_foreign_data_under_a_checkpoint_key_is_a_typed_error(sync_cache: AgentCache) -> None:
    from agentcache import SerializationError

    keys = checkpoint_keys(sync_cache.settings.prefix, "odd")
    sync_cache.ping()  # settles the client (cluster or not) of a cache made from a URL
    sync_cache.client.zadd(keys.idx, {"\x00" + "id1": 0})
    sync_cache.client.hset(keys.cp, "\x00id1", b"not msgpack of a checkpoint")
    with pytest.raises(SerializationError, match="odd"):
        AgentCacheSaver(sync_cache).get_tuple({"configurable": {"thread_id": "odd"}})
