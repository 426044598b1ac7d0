"""The Sessions API's helpers offline: the model option, elizaOS's time paging (against its answers,
in a bounded number of reads) and the wire formats (the API itself: tests/integration/test_http_sessions.py)."""

from __future__ import annotations

import asyncio
import math
import random

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


from agentcache import InvalidArgumentError, Message
from agentcache.http.chat import chat_model, configured_model
from agentcache.http.eliza_history import WINDOW, page
from agentcache.http.eliza_shapes import STAMP, js_length, js_time, query_limit, query_time, stamped


class History:
    """A conversation's list, read as ``conv.messages`` reads it; counts the reads."""

    def __init__(self, times: list[int]) -> None:
        self.stored = [stamped(Message.user(f"m{i}"), f"id{i}", at) for i, at in enumerate(times)]

    async def read(self, limit: int, before: int | None) -> tuple[int, list[Message]]:
        stop = len(self.stored) if before is None else min(before, len(self.stored))
        start = max(0, stop - limit)
        return start, self.stored[start:stop]


async def never() -> int:
    raise AssertionError("every message here has a time")


def expected(times: list[int], limit: int, before: int | None, after: int | None) -> list[int]:
    """elizaOS's answer (sessions.ts), by brute force: positions, newest first."""
    newest_first = list(range(len(times)))[::-1]
    if after is not None and before is None:
        newer = [i for i in newest_first if times[i] > after]
        return sorted(newer)[:limit][::-1] if len(newer) > limit else newer
    return [i for i in newest_first if (before is None or times[i] < before) and (after is None or times[i] > after)][
        :limit
    ]


def test_the_model_option(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentcache.cli import main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for spec, said in (("gpt-4o", "provider:model"), ("azure:x", "provider:model"), ("openai:", "provider:model")):
        with pytest.raises(InvalidArgumentError, match=said):
            chat_model(spec)
    with pytest.raises(InvalidArgumentError, match="OPENAI_API_KEY"):
        chat_model("openai:gpt-4o-mini")
    assert main(["serve", "--model", "openai:gpt-4o-mini", "--port", "1"]) == 2  # refused before it starts
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    assert chat_model("openai:gpt-4o-mini").model == "gpt-4o-mini"
    assert chat_model("anthropic:claude-x").api == "anthropic"
    monkeypatch.setenv("AGENTCACHE_MODEL", "openai:from-env")
    assert configured_model(None).model == "from-env"
    with pytest.raises(InvalidArgumentError, match="ChatModel"):
        configured_model(3)


def test_time_paging_matches_elizas_answers_within_a_bounded_number_of_reads() -> None:
    rng = random.Random(7)
    worst = 0.0
    for n in (0, 1, 5, 99, 100, 101, 250, 1000, 5000):
        times = sorted(rng.randrange(10**6) for _ in range(n))
        history = History(times)
        for _ in range(40):
            limit = rng.choice([1, 3, 50, 100])
            before = rng.choice([None, rng.randrange(-5, 10**6 + 5), *(times[-3:] if times else [])])
            after = rng.choice([None, rng.randrange(-5, 10**6 + 5), *(times[:3] if times else [])])
            found, reads = asyncio.run(page(history.read, never, limit, before, after))
            assert [int(m.metadata[STAMP]["id"][2:]) for _, m, _ in found.entries] == expected(
                times, limit, before, after
            ), (n, limit, before, after)
            bounds = (before is not None) + (after is not None)
            assert reads <= 2 + bounds * 2 * max(1, math.ceil(math.log2(max(n, 2)))), (n, reads)
            worst = max(worst, reads)
    assert worst > 2  # deep requests did search


def test_a_recent_page_takes_one_read() -> None:
    times = list(range(1000, 1000 + 3 * WINDOW))
    history = History(times)
    for before, after in ((None, None), (times[-10], None), (None, times[-30]), (times[-5], times[-40])):
        assert asyncio.run(page(history.read, never, 20, before, after))[1] == 1


def test_the_wire_helpers() -> None:
    assert js_time(0) == "1970-01-01T00:00:00.000Z" and js_time(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert query_time("before", "1700000000123") == 1_700_000_000_123 and query_time("before", "") is None
    assert query_time("after", "2023-11-14T22:13:20.123Z") == 1_700_000_000_123
    assert query_time("after", "2023-11-14T22:13:20.123") == 1_700_000_000_123  # no zone: UTC
    assert [query_limit(v) for v in (None, "", "abc", "0", "-3", "7", "12abc", "500")] == [50, 50, 50, 1, 1, 7, 12, 100]
    assert js_length("a\U0001f600") == 3
