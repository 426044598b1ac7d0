"""Compaction offline (``drive``): its round trips, the retry when the history changed under it, the
choice of what to summarise, and its options; a plain-Python model stands in for the summariser
(the loopback model server runs it in tests/integration/test_compaction.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import pytest

from agentcache import CompactAt, CompactionConflict, InvalidArgumentError, Message, ModelError, ToolCallPart
from agentcache.encoding import codec
from agentcache.encoding.keys import conversation_keys
from agentcache.options import make_settings
from agentcache.tiers.content.formats import Api
from agentcache.tiers.content.requests import Transcript, chat_request
from agentcache.tiers.conversations.compaction import ATTEMPTS, compact, cut_at, transcript
from agentcache.tiers.conversations.refs import Ref, Tier
from agentcache.tiers.llm.models import OutputSchema, ToolSpec
from tests.helpers import drive, names

CREATED = b"1700000000000"


class Echo:
    """A chat model of plain Python: its summary is the transcript's last line."""

    api: Api = "chat"
    model = "echo"

    def __init__(self, text: str | None = None) -> None:
        self.text = text
        self.sent: list[dict[str, Any]] = []

    def request(
        self, context: Transcript, tools: Sequence[ToolSpec], output: OutputSchema | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return chat_request(self.model, context, tools, output, params)

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(request)
        last = "".join(block["text"] for block in request["messages"][-1]["content"])
        text = self.text if self.text is not None else last.splitlines()[-1]
        usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
        return {"choices": [{"message": {"role": "assistant", "content": text}}], "usage": usage}

    async def call_async(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.call(request)

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError  # a compaction never streams

    def stream_async(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError


def ref() -> Ref:
    made, life = make_settings({"prefix": "p"})
    made.stats.flush_seconds = float("inf")  # statistics never ride along: batches stay exact
    return Ref(Tier(made, life), "s1", "a", "u", conversation_keys("p", "s1"), 60_000, 0, True)


def stored(*texts: str) -> list[bytes]:
    return [codec.encode(Message.user(t).stored_data(), 0, 1 << 20) for t in texts]


def read_reply(texts: Sequence[str], *, sumto: int = 0, epoch: int = 0, summary: bytes | None = None) -> list[Any]:
    """conv_read context: ok, now, first, messages, system, summary, sumto, epoch, created."""
    return [[b"ok", 1, sumto, stored(*texts), None, summary, sumto, epoch, CREATED]]


def test_one_read_one_model_call_one_write() -> None:
    model = Echo()
    batches, done = drive(
        compact(ref(), model=model, keep_last=1, llm_cache=False),
        [read_reply(["q0", "a0", "q1"]), [[b"ok", 1, 1, 2, 0, 3]]],
    )
    assert names(batches) == [["EVALSHA conv_read"], ["EVALSHA conv_compact"]]
    write = batches[1][0].args
    assert list(write[-7:]) == [ref().tier.life.grace_ms, CREATED, 0, 0, 2, "user: a0", "0"]
    assert (done.summarized, done.kept, done.model_calls, done.summary) == (2, 1, 1, "user: a0")


def test_a_refused_write_reads_and_summarises_again() -> None:
    model = Echo()
    batches, done = drive(
        compact(ref(), model=model, keep_last=1, llm_cache=False),
        [
            read_reply(["q0", "a0", "q1"]),
            [[b"conflict", 1, 0, 2]],  # a pop came between
            read_reply(["q0", "a0"], epoch=1),
            [[b"ok", 2, 1, 0, 0, 2]],
        ],
    )
    assert names(batches) == [["EVALSHA conv_read"], ["EVALSHA conv_compact"]] * 2
    assert batches[3][0].args[-5:-3] == (1, 0) and done.model_calls == 2 and done.summarized == 1


def test_it_gives_up_after_a_few_refusals() -> None:
    replies: list[Any] = []
    for _ in range(ATTEMPTS):
        replies += [read_reply(["q0", "a0", "q1"]), [[b"conflict", 9, 0, 3]]]
    with pytest.raises(CompactionConflict, match="nothing was written"):
        drive(compact(ref(), model=Echo(), keep_last=1, llm_cache=False), replies)


def test_nothing_old_enough_reads_once_and_calls_no_model() -> None:
    model = Echo()
    batches, done = drive(compact(ref(), model=model, keep_last=5), [read_reply(["q0", "a0"], summary=b"before")])
    assert len(batches) == 1 and model.sent == [] and (done.summarized, done.summary, done.kept) == (0, "before", 2)


def test_an_empty_summary_writes_nothing() -> None:
    with pytest.raises(ModelError, match="empty summary"):
        drive(compact(ref(), model=Echo(" "), keep_last=0, llm_cache=False), [read_reply(["q0"])])


def test_the_summary_so_far_is_folded_in() -> None:
    model = Echo()
    drive(
        compact(ref(), model=model, keep_last=0, llm_cache=False),
        [read_reply(["q5"], sumto=5, epoch=2, summary=b"earlier"), [[b"ok", 1, 3, 6, 0, 6]]],
    )
    assert model.sent[0]["messages"][-1]["content"][0]["text"] == "Summary so far:\nearlier\n\nConversation:\nuser: q5"


def test_cut_keeps_a_tool_result_with_its_call() -> None:
    call = ToolCallPart(id="c", name="f", arguments={})
    history = [Message.user("q"), Message.assistant(tool_calls=[call]), Message.tool("c", "r"), Message.assistant("x")]
    assert cut_at(history, 2, None) == 1
    assert cut_at(history, None, 1) == 3
    assert cut_at(history, 0, None) == 4 and cut_at(history, 9, None) == 0
    assert "[calls f {}]" in transcript(None, history) and "[result: r]" in transcript(None, history)


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({}, "keep_last or max_chars"),
        ({"keep_last": 1, "max_chars": 2}, "keep_last or max_chars"),
        ({"keep_last": True}, "keep_last"),
        ({"keep_last": 1, "drop": 1}, "drop"),
        ({"keep_last": 1, "instructions": 3}, "instructions"),
        ({"keep_last": 1, "stream": True}, "'stream' is set"),
    ],
)
def test_bad_arguments_fail_before_anything_is_sent(given: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidArgumentError, match=says):
        drive(compact(ref(), model=Echo(), **given), [])


def test_compact_at() -> None:
    assert CompactAt.of(100) == CompactAt(chars=100) and CompactAt.of(None) is None
    assert CompactAt(chars=100).keeping() == (None, 50)
    assert CompactAt(tokens=100).keeping() == (10, None)
    assert CompactAt(tokens=100, keep_chars=7).keeping() == (None, 7)
    for bad in ("x", True, -1):
        with pytest.raises(InvalidArgumentError):
            CompactAt.of(bad)
    with pytest.raises(InvalidArgumentError, match="chars or tokens"):
        CompactAt(keep_last=3)
    with pytest.raises(InvalidArgumentError, match="not both"):
        CompactAt(chars=9, keep_last=1, keep_chars=2)
    with pytest.raises(InvalidArgumentError, match="ChatModel"):
        CompactAt(chars=9, model="gpt")  # type: ignore[arg-type]
