"""The main operations' round trips, offline (``drive``): what each sends, command by command, and
how many batches it yields. A change of round trips fails here, without a server.

Each operation is driven with hand-written replies; ``drive`` fails if an operation yields more
batches than it was given replies for, or fewer. Conversation writes (``add_message``, create, the
index) and the session tier's thread-wide walks are in test_batches.py; the live suite counts the
same round trips on real servers (tests/integration/test_round_trips.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from agentcache import AgentCacheError
from agentcache.encoding import codec
from agentcache.options import make_settings
from agentcache.tiers.llm import tier as llm
from agentcache.tiers.session import tier as session
from agentcache.tiers.settings import Settings
from agentcache.tiers.store import tier as store
from agentcache.tiers.tool import tier as tool
from tests.helpers import drive, names

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def settings() -> Settings:
    made, _ = make_settings({"prefix": "p"})
    made.stats.flush_seconds = float("inf")  # statistics never ride along here: batches stay exact
    return made


def sent(batches: list[Any]) -> list[list[tuple[Any, ...]]]:
    """Each round trip's commands as their arguments, a script call's SHA left out (it is the
    script's name in ``names()``)."""
    return [[c.args[:1] + c.args[2:] if c.args[0] == "EVALSHA" else c.args for c in batch] for batch in batches]


# --- the session tier -----------------------------------------------------------------------------


def test_session_set_is_one_set_with_the_ttl_in_milliseconds() -> None:
    batches, result = drive(session.set_(settings(), "t", "f", {"a": 1}, ttl=60), [[b"OK"]])
    assert names(batches) == [["SET"]] and result is None
    verb, key, data, px, ms = batches[0][0].args
    assert (verb, key, px, ms) == ("SET", "p:session:{t}:f", "PX", 60_000)
    assert codec.decode(data) == {"a": 1} and codec.slide_ms(data) == 60_000  # the TTL travels with the value


def test_session_get_is_one_script_call_that_slides_the_ttl() -> None:
    data = codec.encode({"a": 1}, 60_000, 1 << 20)
    batches, value = drive(session.get(settings(), "t", "f"), [[data]])
    assert names(batches) == [["EVALSHA session_get"]] and value == {"a": 1}
    assert sent(batches) == [[("EVALSHA", 1, "p:session:{t}:f")]]
    batches, missing = drive(session.get(settings(), "t", "f", default="d"), [[None]])
    assert len(batches) == 1 and missing == "d"


def test_session_get_many_is_one_script_call_for_every_field() -> None:
    one, two = (codec.encode(v, 0, 1 << 20) for v in (1, 2))
    batches, found = drive(session.get_many(settings(), "t", ["a", "b", "a", "c"]), [[[one, two, None]]])
    assert names(batches) == [["EVALSHA session_get_many"]]
    assert sent(batches) == [[("EVALSHA", 3, "p:session:{t}:a", "p:session:{t}:b", "p:session:{t}:c")]]  # each once
    assert found == {"a": 1, "b": 2}
    assert drive(session.get_many(settings(), "t", []), []) == ([], {}), "no field: nothing sent"


def test_session_set_many_is_one_script_call_for_every_field() -> None:
    batches, _ = drive(session.set_many(settings(), "t", {"a": 1, "b": "two"}, ttl=60), [[b"OK"]])
    assert names(batches) == [["EVALSHA session_set_many"]]
    (call,) = batches[0]
    assert call.args[2:5] == (2, "p:session:{t}:a", "p:session:{t}:b")
    a, px_a, ms_a, b, px_b, ms_b = call.args[5:]
    assert (codec.decode(a), codec.decode(b)) == (1, "two") and (px_a, ms_a, px_b, ms_b) == ("px", 60_000, "px", 60_000)
    assert drive(session.set_many(settings(), "t", {}), []) == ([], None), "no field: nothing sent"


def test_session_delete_is_one_unlink() -> None:
    batches, removed = drive(session.delete(settings(), "t", "f"), [[1]])
    assert sent(batches) == [[("UNLINK", "p:session:{t}:f")]] and removed is True
    assert drive(session.delete(settings(), "t", "f"), [[0]])[1] is False
    batches, count = drive(session.delete_many(settings(), "t", ["a", "b"]), [[2]])
    assert sent(batches) == [[("UNLINK", "p:session:{t}:a", "p:session:{t}:b")]] and count == 2


def test_session_bad_input_sends_nothing() -> None:
    for op in (
        session.set_(settings(), "t", "f", object()),
        session.set_(settings(), "t", "f", 1, ttl=-1),
        session.set_(settings(), "t", "f", 1, ttl=60, expires_at="2030-01-01T00:00:00+00:00"),
        session.set_many(settings(), "t", [("a", 1)]),  # type: ignore[arg-type]
        session.get_many(settings(), "t", "ab"),
        session.get(settings(), "t", 1),  # type: ignore[arg-type]
    ):
        batches: list[Any] = []
        with pytest.raises(AgentCacheError):  # a typed error, raised before the first yield
            drive(op, [], batches)
        assert batches == []


# --- the tool and LLM tiers -----------------------------------------------------------------------


def test_tool_store_is_one_set_and_check_one_get() -> None:
    batches, _ = drive(tool.store(settings(), "search", {"q": 1}, ["a"], ttl=60, cost=0.5), [[b"OK"]])
    assert names(batches) == [["SET"]]
    verb, key, data, px, ms = batches[0][0].args
    assert key.startswith("p:tool:search:") and (verb, px, ms) == ("SET", "PX", 60_000)

    batches, hit = drive(tool.check(settings(), "search", {"q": 1}), [[data]])
    assert sent(batches) == [[("GET", key)]]
    assert hit.hit and hit.value == ["a"] and hit.cost == 0.5
    batches, miss = drive(tool.check(settings(), "search", {"q": 1}), [[None]])
    assert len(batches) == 1 and not miss.hit
    batches, _ = drive(tool.check(settings(), "search", {"q": 2}), [[None]])
    assert batches[0][0].args[1] != key, "other arguments, another key"


def test_llm_store_is_one_set_and_check_one_get() -> None:
    batches, stored = drive(llm.store(settings(), REQUEST, {"answer": 42}, ttl=60), [[b"OK"]])
    assert names(batches) == [["SET"]] and stored is True
    verb, key, data, px, ms = batches[0][0].args
    assert key.startswith("p:llm:m:") and (verb, px, ms) == ("SET", "PX", 60_000)

    batches, hit = drive(llm.check(settings(), REQUEST), [[data]])
    assert sent(batches) == [[("GET", key)]]
    assert hit.hit and hit.response == {"answer": 42}
    reordered = {"temperature": 0, "messages": REQUEST["messages"], "model": "m"}
    assert drive(llm.check(settings(), reordered), [[None]])[0][0][0].args == ("GET", key), "canonical request"
    batches, miss = drive(llm.check(settings(), REQUEST), [[None]])
    assert len(batches) == 1 and not miss.hit


# --- the store tier -------------------------------------------------------------------------------


ITEM_KEYS = ("p:store:{mem.ada}:idx", "p:store:{mem.ada}:meta", "p:store:{mem.ada}:forever", "p:store:{mem.ada}:i:k")


def test_store_put_is_one_script_call_in_a_known_namespace() -> None:
    batches, _ = drive(store.put(settings(), ("mem", "ada"), "k", {"a": 1}), [[1]])
    assert names(batches) == [["EVALSHA store_put"]]
    (call,) = sent(batches)[0]
    assert call[:6] == ("EVALSHA", 4, *ITEM_KEYS) and call[6] == "k" and call[8] == 0
    assert codec.decode(call[7]) == {"a": 1}


def test_store_put_enters_a_new_namespace_in_the_registry_in_two_more_round_trips() -> None:
    """The script's 0: the namespace was not noted as registered; the registry, then the roots and
    the note, in that order (a namespace noted as registered always is)."""
    batches, _ = drive(store.put(settings(), ("mem", "ada"), "k", {"a": 1}, ttl=60), [[0], [1], [1, 1]])
    assert names(batches) == [["EVALSHA store_put"], ["ZADD"], ["ZADD", "EVALSHA store_mark"]]
    assert sent(batches)[0][0][-1] == 60_000
    assert sent(batches)[1:] == [
        [("ZADD", "p:store-ns:{mem}", 0, "mem\x00ada")],
        [("ZADD", "p:store-roots", 0, "mem"), ("EVALSHA", 1, "p:store:{mem.ada}:meta")],
    ]


def test_store_get_is_one_round_trip() -> None:
    value = codec.encode({"a": 1}, 0, 1 << 20)
    batches, item = drive(store.get(settings(), ("mem", "ada"), "k"), [[[value, 1, 2]]])
    assert names(batches) == [["EVALSHA store_get"]] and sent(batches) == [[("EVALSHA", 4, *ITEM_KEYS)]]
    assert item is not None and (item.namespace, item.key, item.value) == (("mem", "ada"), "k", {"a": 1})
    assert drive(store.get(settings(), ("mem", "ada"), "k"), [[None]])[1] is None
    batches, _ = drive(store.get(settings(), ("mem", "ada"), "k", refresh=False), [[None]])
    assert sent(batches) == [[("HMGET", ITEM_KEYS[-1], "v", "c", "u")]], "without refresh, a plain read"


def test_store_bad_input_sends_nothing() -> None:
    for op in (
        store.put(settings(), ("mem",), "k", None),  # type: ignore[arg-type]
        store.put(settings(), ("mem",), "k", ["not a dict"]),  # type: ignore[arg-type]
        store.put(settings(), (), "k", {"a": 1}),
        store.get(settings(), ("mem",), 5),  # type: ignore[arg-type]
    ):
        batches: list[Any] = []
        with pytest.raises(AgentCacheError):
            drive(op, [], batches)
        assert batches == []
