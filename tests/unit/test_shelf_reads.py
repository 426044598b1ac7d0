"""A single flight on a key its cache lately saw holding an entry reads it with a plain GET (a hit
needs no claim script); if the entry has gone since, the caller claims the key as any miss does, so
the single flight is the same. Driven offline: the batches sent are the assertion."""

from __future__ import annotations

from typing import Any

from agentcache.core.commands import Call
from agentcache.options import make_settings
from agentcache.tiers.llm import tier as llm
from agentcache.tiers.settings import Settings
from agentcache.tiers.shelf.entries import SEEN_MAX, likely_stored, seen_stored
from agentcache.tiers.tool import tier as tool
from tests.helpers import drive, names

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
RESPONSE = {"choices": [{"message": {"content": "hello"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def settings() -> Settings:
    made, _ = make_settings({"prefix": "p"})
    made.stats.flush_seconds = float("inf")  # statistics never ride along: batches stay exact
    return made


def _computed(s: Settings, value: Any = "v", ttl: float = 60) -> bytes:
    """Compute and store ``value`` for the tool call on ``s`` (claim, store); the entry stored."""
    batches, got = drive(tool.get_or_compute(s, "search", {"q": 1}, lambda: value, ttl=ttl), [[None], [b"OK"]])
    assert names(batches) == [["EVALSHA tool_claim"], ["SET"]] and got == value
    data: bytes = batches[1][0].args[2]
    return data


def test_a_hit_on_a_key_seen_here_is_one_plain_get() -> None:
    s = settings()
    data = _computed(s)
    batches, value = drive(tool.get_or_compute(s, "search", {"q": 1}, lambda: "other", ttl=60), [[data]])
    assert names(batches) == [["GET"]] and value == "v"


def test_an_unseen_key_is_claimed_as_before() -> None:
    data = _computed(settings())
    batches, value = drive(tool.get_or_compute(settings(), "search", {"q": 1}, lambda: "other", ttl=60), [[data]])
    assert names(batches) == [["EVALSHA tool_claim"]] and value == "v"


def test_an_entry_gone_since_is_claimed_and_computed_once_more() -> None:
    s = settings()
    _computed(s)
    batches, value = drive(tool.get_or_compute(s, "search", {"q": 1}, lambda: "new", ttl=60), [[None], [None], [b"OK"]])
    assert names(batches) == [["GET"], ["EVALSHA tool_claim"], ["SET"]] and value == "new"


def test_a_claim_met_by_the_get_is_waited_for_through_the_claim_script() -> None:
    s = settings()
    data = _computed(s)
    claim = b"\x00" + b"someone-else-token"
    batches, value = drive(tool.get_or_compute(s, "search", {"q": 1}, lambda: "mine", ttl=60), [[claim], [250], [data]])
    assert names(batches) == [["GET"], ["EVALSHA tool_claim"], ["EVALSHA tool_claim"]] and value == "v"


def test_invalidating_here_forgets_the_key() -> None:
    s = settings()
    _computed(s)
    drive(tool.invalidate(s, "search", {"q": 1}), [[1]])
    batches, _ = drive(tool.get_or_compute(s, "search", {"q": 1}, lambda: "again", ttl=60), [[None], [b"OK"]])
    assert names(batches) == [["EVALSHA tool_claim"], ["SET"]]


def test_an_entry_about_to_expire_is_claimed_not_read() -> None:
    s = settings()
    data = _computed(s, ttl=0.5)  # expires within the margin: not counted on
    batches, _ = drive(tool.get_or_compute(s, "search", {"q": 1}, lambda: "x", ttl=0.5), [[data]])
    assert names(batches) == [["EVALSHA tool_claim"]]


def test_llm_store_then_get_or_compute_is_a_get_and_counts_a_hit() -> None:
    s = settings()
    batches, _ = drive(llm.store(s, REQUEST, RESPONSE, ttl=60), [[b"OK"]])
    data = batches[0][0].args[2]
    s.stats.drain()
    batches, result = drive(llm.fetch_or_compute(s, REQUEST, Call(lambda: {"no": 1})), [[data]])
    assert names(batches) == [["GET"]]
    assert result.hit and result.response == RESPONSE and (result.input_tokens, result.output_tokens) == (3, 1)
    counted = " ".join(str(command.args) for command in s.stats.drain())
    assert "llm/hits/m" in counted and "llm/writes" not in counted


def test_what_is_remembered_stays_bounded() -> None:
    s = settings()
    for i in range(SEEN_MAX + 5):
        seen_stored(s, f"k{i}", 0)
    assert likely_stored(s, f"k{SEEN_MAX + 4}")
    assert not likely_stored(s, "k0")
    assert not likely_stored(settings(), f"k{SEEN_MAX + 4}")  # one cache's memory is its own
