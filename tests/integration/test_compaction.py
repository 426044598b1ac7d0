"""History compaction (conv.compact, run(compact_at=...)) with the loopback model server as the
summariser, on both facades and every server topology; a concurrent appender in another process."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agentcache import (
    AgentCache,
    CompactAt,
    Conversation,
    InvalidArgumentError,
    Message,
    ModelError,
    ToolCallPart,
    ValkeySnapshotStore,
)
from agentcache.testing import unique_prefix
from tests.fake_models import FakeModelServer, _text_of
from tests.helpers import Synced, command, cost, make_cache, new, refused


@pytest.fixture
def models(fake_models: FakeModelServer) -> Iterator[FakeModelServer]:
    fake_models.reset()
    fake_models.delay = 0.0
    yield fake_models


@pytest.fixture
def model(models: FakeModelServer) -> Any:
    from agentcache.providers.openai import OpenAIChatModel  # here: the appender process does not need it

    return OpenAIChatModel("gpt-test", base_url=models.openai_url, api_key="t", max_retries=0)


CASES = [("cluster", "sync"), ("cluster3", "async"), ("standalone", "async"), ("memory", "sync")]


@pytest.fixture(params=CASES, ids=lambda p: f"{p[0]}-{p[1]}")
def cache(request: pytest.FixtureRequest, server_urls: Any) -> Iterator[Any]:
    topology, facade = request.param
    made, close = make_cache(topology, facade, server_urls)
    yield made
    close()


def talk(conv: Any, turns: int, start: int = 0) -> None:
    for i in range(start, start + turns):
        conv.add_messages([Message.user(f"q{i}"), Message.assistant(f"a{i}")])


def summary_requests(models: FakeModelServer) -> list[str]:
    """The transcripts the summariser was sent (the user message of each summary request)."""
    return [_text_of(body["messages"][-1]["content"]) for _, body in models.requests if "Conversation:" in str(body)]


def test_compact_keeps_the_newest_and_the_context_starts_with_the_summary(
    cache: Any, model: Any, models: FakeModelServer
) -> None:
    conv = new(cache, system="Be brief.")
    talk(conv, 6)
    done = conv.compact(model=model, keep_last=4)
    assert (done.summarized, done.kept, done.dropped, done.model_calls) == (8, 4, 0, 1)
    (sent,) = summary_requests(models)
    assert "user: q0\nassistant: a0" in sent and "q3" in sent and "q4" not in sent
    context = conv.context()
    assert context.system == "Be brief."
    assert context.messages[0].role == "system" and done.summary and done.summary in context.messages[0].text
    assert [m.text for m in context.messages[1:]] == ["q4", "a4", "q5", "a5"]
    assert len(conv.messages()) == 12 and conv.length() == 12  # the originals stay readable
    assert [m.text for m in conv.messages(limit=2, before=2)] == ["q0", "a0"]
    again = conv.compact(model=model, keep_last=4)  # nothing older than the newest four: no model call
    assert (again.summarized, again.model_calls, again.summary) == (0, 0, done.summary)
    assert cost(cache, lambda: conv.compact(model=model, keep_last=4)) == 1


def test_a_second_compaction_folds_the_summary_in(cache: Any, model: Any, models: FakeModelServer) -> None:
    conv = new(cache)
    talk(conv, 4)
    first = conv.compact(model=model, keep_last=2)
    talk(conv, 2, start=4)
    second = conv.compact(model=model, keep_last=2)
    assert second.summarized == 4 and second.kept == 2
    sent = summary_requests(models)[-1]
    assert sent.startswith(f"Summary so far:\n{first.summary}") and "q3" in sent and "q2" not in sent.split("\n\n")[-1]
    assert [m.text for m in conv.context().messages[1:]] == ["q5", "a5"]
    assert conv.info().message_count == 12


def test_max_chars_keeps_a_tool_result_with_its_call(cache: Any, model: Any) -> None:
    conv = new(cache)
    talk(conv, 3)
    call = ToolCallPart(id="c1", name="lookup", arguments={"q": "x"})
    conv.add_messages([Message.user("look"), Message.assistant(tool_calls=[call]), Message.tool("c1", "found")])
    done = conv.compact(model=model, max_chars=5)  # "found" fits, its call does not: both stay
    assert [m.role for m in conv.context().messages] == ["system", "assistant", "tool"]
    assert done.summarized == 7 and done.kept == 2


def test_drop_removes_the_summarised_messages(cache: Any, model: Any) -> None:
    conv = new(cache)
    talk(conv, 5)
    done = conv.compact(model=model, keep_last=2, drop=True)
    assert (done.summarized, done.dropped, done.kept) == (8, 8, 2)
    assert [m.text for m in conv.messages()] == ["q4", "a4"]
    assert conv.length() == 2 and conv.info().message_count == 2 and conv.info().lost_messages == 0
    conv.add_message(Message.user("more"))
    assert [m.text for m in conv.context().messages[1:]] == ["q4", "a4", "more"]
    assert conv.context(max_chars=0).messages[0].role == "system"  # the summary always leads


def test_the_summary_call_goes_through_the_llm_tier(cache: Any, model: Any, models: FakeModelServer) -> None:
    conv = new(cache)
    talk(conv, 3)
    twin = conv.fork()
    assert conv.compact(model=model, keep_last=2).model_calls == 1
    done = twin.compact(model=model, keep_last=2)  # the same request: served by the LLM tier
    assert (done.model_calls, done.cached_calls) == (0, 1) and models.calls["chat"] == 1
    assert twin.context().messages[0].text == conv.context().messages[0].text


def test_a_failed_summary_changes_nothing(cache: Any, model: Any) -> None:
    conv = new(cache)
    conv.add_messages([Message.user("FAIL here"), Message.assistant("ok")])
    talk(conv, 2)
    before = conv.context()
    with pytest.raises(ModelError, match="nothing was changed"):
        conv.compact(model=model, keep_last=1)
    assert conv.context() == before


def test_clear_forgets_the_summary(cache: Any, model: Any) -> None:
    conv = new(cache)
    talk(conv, 3)
    conv.compact(model=model, keep_last=2)
    conv.clear()
    conv.add_message(Message.user("fresh"))
    assert [m.text for m in conv.context().messages] == ["fresh"]


def test_a_replaced_history_keeps_its_summary_only_where_it_still_holds(cache: Any, model: Any) -> None:
    """A framework's own compaction replaces the newest messages (``log.replace_tail``, the OpenAI
    Agents SDK hook): the summary stays while it covers only kept messages, and goes, as on clear(),
    once a message it covered is replaced."""
    conv = new(cache)
    talk(conv, 4)  # q0 a0 q1 a1 q2 a2 q3 a3
    conv.compact(model=model, keep_last=4)  # the summary covers q0..a1
    log = cache.conversations.log(conv.id, agent_id="agent", user_id="user")
    assert log.replace_tail(log.read_tail(2), 0, [Message.assistant("theirs")])
    context = conv.context().messages
    assert context[0].role == "system" and [m.text for m in context[1:]] == ["q2", "a2", "theirs"]
    assert log.replace_tail(log.read_tail(5), 0, [Message.assistant("again")])  # from a1: inside the summary
    assert [m.text for m in conv.context().messages] == ["q0", "a0", "again"]
    conv.compact(model=model, keep_last=1)
    assert log.replace_all([Message.user("whole")])
    assert [m.text for m in conv.context().messages] == ["whole"]


def test_a_replace_prunes_the_oldest_messages_in_the_same_write(cache: Any, model: Any) -> None:
    """``replace_tail(..., prune)`` (the OpenAI Agents SDK's ``prune_prefix``) also removes the oldest
    messages the test is true for, up to the first it is false for, reading them 100 a round trip;
    a summary over removed messages stays, over what is left of what it covered."""
    conv = new(cache)
    old = [Message.user(f"x{i}") for i in range(230)]
    conv.add_messages([*old, Message.user("live"), Message.user("x-late"), *(Message.user(f"t{i}") for i in range(3))])
    log = cache.conversations.log(conv.id, agent_id="agent", user_id="user")
    read = log.read_tail(3)
    expired = lambda message: message.text.startswith("x")  # noqa: E731
    assert cost(cache, lambda: log.replace_tail(read, 1, [Message.assistant("s")], expired)) == 4  # 3 pages, 1 write
    assert [m.text for m in conv.messages()] == ["live", "x-late", "t0", "s"]
    assert conv.length() == 4

    conv = new(cache)
    talk(conv, 4)  # q0 a0 q1 a1 q2 a2 q3 a3
    conv.compact(model=model, keep_last=4)  # the summary covers q0..a1
    log = cache.conversations.log(conv.id, agent_id="agent", user_id="user")
    first_two = lambda message: message.text in {"q0", "a0"}  # noqa: E731
    assert log.replace_tail(log.read_tail(2), 0, [Message.assistant("theirs")], first_two)
    assert [m.text for m in conv.messages()] == ["q1", "a1", "q2", "a2", "theirs"]
    context = conv.context().messages
    assert context[0].role == "system" and [m.text for m in context[1:]] == ["q2", "a2", "theirs"]

    conv = new(cache)
    talk(conv, 4)
    conv.compact(model=model, keep_last=6)  # the summary covers q0, a0: fewer than are pruned
    log = cache.conversations.log(conv.id, agent_id="agent", user_id="user")
    first_four = lambda message: message.text in {"q0", "a0", "q1", "a1"}  # noqa: E731
    assert log.replace_tail(log.read_tail(2), 0, [Message.assistant("theirs")], first_four)
    context = conv.context().messages  # the summary, then every message left: none read twice
    assert context[0].role == "system" and [m.text for m in context[1:]] == ["q2", "a2", "theirs"]

    def failing(message: Message) -> bool:
        raise RuntimeError("the test failed")

    with pytest.raises(RuntimeError):
        log.replace_tail(log.read_tail(1), 0, [Message.assistant("never")], failing)
    assert [m.text for m in conv.messages()] == ["q2", "a2", "theirs"], "nothing written"


# --- fork and snapshots carry the summary ---------------------------------------------------------


def test_a_fork_carries_the_summary(cache: Any, model: Any, models: FakeModelServer) -> None:
    conv = new(cache, system="Be brief.")
    talk(conv, 5)
    done = conv.compact(model=model, keep_last=4)
    before = conv.context()
    fork = conv.fork()
    assert fork.context() == before and before.messages[0].role == "system"
    assert [m.text for m in fork.context().messages[1:]] == ["q3", "a3", "q4", "a4"]
    assert list(fork.messages()) == list(conv.messages()) and fork.length() == 10  # the originals too
    talk(fork, 1, start=5)
    again = fork.compact(model=model, keep_last=2)  # goes on from where the parent's summary ends
    assert (again.summarized, again.kept) == (4, 2)
    assert summary_requests(models)[-1].startswith(f"Summary so far:\n{done.summary}\n\nConversation:\nuser: q3")
    assert [m.text for m in fork.context().messages[1:]] == ["q5", "a5"]
    assert conv.context() == before  # the parent is not changed


def test_a_fork_of_a_compaction_that_dropped_its_messages(cache: Any, model: Any) -> None:
    conv = new(cache)
    talk(conv, 5)
    conv.compact(model=model, keep_last=2, drop=True)
    fork = conv.fork()
    assert fork.context() == conv.context() and [m.text for m in fork.context().messages[1:]] == ["q4", "a4"]
    assert [m.text for m in fork.messages()] == ["q4", "a4"]
    assert fork.info().message_count == 2 and fork.info().lost_messages == 0


def test_a_snapshot_carries_the_summary_and_restores_it(cache: Any, model: Any) -> None:
    conv = new(cache, system="Be brief.")
    assert (conv.to_dict()["summary"], conv.to_dict()["sumto"]) == (None, 0)
    talk(conv, 5)
    done = conv.compact(model=model, keep_last=4)
    data = json.loads(json.dumps(conv.to_dict()))
    assert (data["summary"], data["sumto"]) == (done.summary, 6)
    restored = Conversation.from_dict(data, cache, session_id=f"{conv.id}-copy")
    assert restored.context() == conv.context()
    again = restored.to_dict()
    assert {**again, "id": conv.id, "created_at": data["created_at"]} == data
    old = {key: value for key, value in data.items() if key not in ("summary", "sumto")}  # an older snapshot
    plain = cache.conversations.restore(old, session_id=f"{conv.id}-old")
    assert [m.text for m in plain.context().messages] == [m.text for m in conv.messages()]
    assert (plain.to_dict()["summary"], plain.to_dict()["sumto"]) == (None, 0)
    everything = cache.conversations.restore({**data, "sumto": 10}, session_id=f"{conv.id}-all")
    assert everything.context().messages == conv.context().messages[:1]  # the summary covers them all
    for bad in ({"summary": 1}, {"sumto": -1}, {"sumto": 11}, {"sumto": True}, {"sumto": "6"}, {"summary": None}):
        caught = refused(cache, InvalidArgumentError, lambda b=bad: cache.conversations.restore({**data, **b}, "x"))
        assert "'summary'" in str(caught.value) or "'sumto'" in str(caught.value)


ENCRYPTED = [("cluster3", "sync"), ("standalone", "async"), ("memory", "sync")]


@pytest.mark.parametrize(("topology", "facade"), ENCRYPTED, ids=lambda p: str(p))
def test_with_encryption_a_fork_and_a_restored_snapshot_seal_the_summary_for_their_own_keys(
    topology: str, facade: str, server_urls: Any, model: Any
) -> None:
    from agentcache.encoding.encryption import Encryption

    made, close = make_cache(topology, facade, server_urls, encryption=Encryption({"k": bytes(range(32))}))
    try:
        conv = new(made)
        conv.add_messages([Message.user("MARKER-7f3 is my code"), Message.assistant("noted")])
        talk(conv, 2)
        assert "MARKER-7f3" in (conv.compact(model=model, keep_last=2).summary or "")
        store = ValkeySnapshotStore(made) if facade == "sync" else Synced(ValkeySnapshotStore(made._target), made._loop)
        store.save(conv.id, conv.to_dict())
        restored = made.conversations.restore(store.load(conv.id), session_id=f"{conv.id}-restored")
        fork = conv.fork()
        for other in (restored, fork):
            assert other.context() == conv.context()  # opened under its own meta key: sealed for it
            sealed = command(made, "HGET", other._ref.keys.meta, "summary")
            assert b"MARKER-7f3" not in sealed and sealed != command(made, "HGET", conv._ref.keys.meta, "summary")
    finally:
        close()


def test_bad_arguments_are_refused_before_anything_is_sent(cache: Any, model: Any) -> None:
    conv = new(cache)
    refused(cache, InvalidArgumentError, lambda: conv.compact(model=model))
    refused(cache, InvalidArgumentError, lambda: conv.compact(model=model, keep_last=2, max_chars=9))
    refused(cache, InvalidArgumentError, lambda: conv.compact(model=model, keep_last=-1))
    refused(cache, InvalidArgumentError, lambda: conv.compact(model="gpt", keep_last=2))
    refused(cache, InvalidArgumentError, lambda: conv.compact(model=model, keep_last=2, drop="yes"))
    refused(cache, InvalidArgumentError, lambda: conv.compact(model=model, keep_last=2, messages=[]))
    refused(cache, InvalidArgumentError, lambda: conv.run("hi", model=model, compact_at="big"))
    refused(cache, InvalidArgumentError, lambda: conv.run("hi", model=model, compact_at=CompactAt(chars=-1)))


def test_run_compacts_when_the_context_passes_a_character_budget(
    cache: Any, model: Any, models: FakeModelServer
) -> None:
    conv = new(cache)
    talk(conv, 20)  # 40 messages of 2 or 3 characters
    small = conv.run("REPLY fine", model=model, compact_at=1000)
    assert small.compacted == 0 and len(summary_requests(models)) == 0
    result = conv.run("REPLY sure", model=model, compact_at=CompactAt(chars=60, keep_last=4))
    assert result.compacted == 38  # all but the newest four of 42
    _, body = models.requests[-1]
    sent = [_text_of(m["content"]) for m in body["messages"]]
    assert sent[0].startswith("Summary of the earlier conversation:")
    assert sent[1:] == ["q19", "a19", "REPLY fine", "fine", "REPLY sure"]
    context = conv.context()
    assert context.messages[0].role == "system" and context.messages[-1].text == "sure"
    assert conv.length() == 44


def test_run_and_stream_compact_after_a_reply_with_many_input_tokens(
    cache: Any, model: Any, models: FakeModelServer
) -> None:
    conv = new(cache)
    talk(conv, 5)
    result = conv.run("REPLY ok", model=model, compact_at=CompactAt(tokens=1, keep_last=2))
    assert result.compacted == 10 and result.input_tokens > 1
    assert [m.text for m in conv.context().messages[1:]] == ["REPLY ok", "ok"]
    if not hasattr(cache, "_target"):  # the sync facade's stream (the async one is covered by run)
        events = list(conv.stream("REPLY again", model=model, compact_at=CompactAt(tokens=1, keep_last=2)))
        assert events[-1].result.compacted == 2
        assert [m.text for m in conv.context().messages[1:]] == ["REPLY again", "again"]


# --- concurrency ----------------------------------------------------------------------------------


def appender(url: str, prefix: str, session_id: str, ready: Any, go: Any, out: Any, seconds: float) -> None:
    """Append user messages ``w<i>`` for ``seconds`` after ``go``; report how many and when it stopped."""
    with AgentCache.from_url(url, prefix=prefix) as cache:
        conv = cache.conversations.get(session_id)
        ready.set()
        go.wait(60)
        count, until = 0, time.time() + seconds
        while time.time() < until:
            conv.add_message(Message.user(f"w{count}"))
            count += 1
            time.sleep(0.01)
        out.put((count, time.time()))


@pytest.mark.parametrize("topology", ["cluster3"])  # the script is the same on every topology; spawning is slow
def test_messages_appended_by_another_process_during_a_compaction_are_kept_and_not_summarised(
    topology: str, server_urls: Any, models: FakeModelServer, model: Any
) -> None:
    url, prefix = server_urls(topology), unique_prefix()
    models.delay = 1.0  # the summary takes a second ("SLOW" is in the history)
    context = multiprocessing.get_context("spawn")
    ready, go, out = context.Event(), context.Event(), context.Queue()
    with AgentCache.from_url(url, prefix=prefix) as cache:
        conv = new(cache)
        conv.add_messages([Message.user("SLOW start"), Message.assistant("ok")])
        talk(conv, 5)
        child = context.Process(target=appender, args=(url, prefix, conv.id, ready, go, out, 0.5))
        child.start()
        assert ready.wait(60)
        go.set()
        done = conv.compact(model=model, keep_last=2)
        ended = time.time()
        count, stopped = out.get(timeout=60)
        child.join(60)
        assert child.exitcode == 0 and stopped < ended and count > 0
        appended = [f"w{i}" for i in range(count)]
        stored = [m.text for m in conv.messages()]
        assert [t for t in stored if t.startswith("w")] == appended  # none lost, in order
        assert conv.length() == 12 + count
        after = [m.text for m in conv.context().messages[1:]]
        summarised = summary_requests(models)[-1]
        for text in appended:  # each is either summarised or after the summary, never both
            assert (f"user: {text}\n" in summarised + "\n") != (text in after)
        assert any(text in after for text in appended)  # some came while the summary was being made
        assert done.kept + done.summarized <= 12 + count


def test_a_pop_during_a_compaction_makes_it_read_again(server_urls: Any, models: FakeModelServer, model: Any) -> None:
    models.delay = 0.5
    with AgentCache.from_url(server_urls("standalone"), prefix=unique_prefix()) as cache:
        conv = new(cache)
        conv.add_messages([Message.user("SLOW start"), Message.assistant("ok")])
        talk(conv, 4)
        results: list[Any] = []
        worker = threading.Thread(target=lambda: results.append(conv.compact(model=model, keep_last=2)))
        worker.start()
        time.sleep(0.2)
        popped = cache.conversations.get(conv.id).pop_last()
        worker.join(30)
        (done,) = results
        assert popped is not None and popped.text == "a3"
        assert done.model_calls == 2  # the first summary was refused: the history had changed
        assert [m.text for m in conv.context().messages[1:]] == ["a2", "q3"]
        assert "q3" not in summary_requests(models)[-1]
