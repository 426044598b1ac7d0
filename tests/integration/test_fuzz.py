"""A bounded fuzz of the public API: hostile values must meet an ``AgentCacheError``, never a raw exception.

Every call is made with values a model, an end user or a careless caller might pass: huge ints, NaN
and infinities, negatives, wrong types, deep nesting, self-reference, dataclasses with an unset
``field(init=False)``, odd strings, bytes, None. Each call either works or raises a subclass of
:class:`agentcache.AgentCacheError`; a call refused for its input (an invalid argument, a name, a
value that cannot be stored) must send nothing: the executor's ``round_trips`` is unchanged.

Escapes are collected rather than failing at the first one, so a failure lists every kind found.
Bounded to run in seconds: sync facade, standalone server and the in-memory backend, a few hundred
examples per property, no example database.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcache import (
    NO_EXPIRY,
    AgentCacheError,
    Conversation,
    DataPart,
    ImagePart,
    InvalidArgumentError,
    InvalidNameError,
    MemoryStore,
    Message,
    SerializationError,
    SQLiteStore,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ValkeySnapshotStore,
    ValueTooLargeError,
)
from agentcache.tiers.content.messages import MAX_DEPTH
from tests.helpers import Unset, make_cache, nested_list

EXAMPLES = int(os.environ.get("AGENTCACHE_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples every run: a failure here is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
REFUSED = (InvalidArgumentError, InvalidNameError, SerializationError, ValueTooLargeError)


# --- hostile values -------------------------------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Color(enum.Enum):
    RED = 1


def nested_dict(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def self_list() -> list[Any]:
    value: list[Any] = [1]
    value.append(value)
    return value


def self_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"a": 1}
    value["me"] = value
    return value


HUGE = [10**400, -(10**400), 2**64, -(2**63) - 1, 2**63, 10**20, 0, -1, 1]
# ints longer than str() converts by default (sys.get_int_max_str_digits), made lazily: hypothesis reprs strategies
giant = st.sampled_from([1, -1]).map(lambda sign: sign * 10**5000)
FLOATS = [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 1e-12, 1e15]
ODD_STRINGS = ["", " ", "\x00", "\ud800", "{t}", "*", "a:b", "\\", "%", "é", "x" * 1025, "\n", "[a]", "$bytes"]
ODD_OBJECTS: list[Any] = [
    object(),
    Unset(),
    Point(1.0, math.nan),
    Color.RED,
    timedelta(seconds=-1),
    timedelta(days=999_999_999),
    datetime(2024, 1, 1),  # naive
    datetime.max,
    {1, 2},
    frozenset(),
    (1, 2),
    bytearray(b"\xff"),
    memoryview(b"ab"),
    NO_EXPIRY,
    int,
    dict,
    Message,
    lambda: 1,
    iter([1]),
    complex(1, 2),
    ...,
]
DEEP: list[Callable[[], Any]] = [
    lambda: nested_list(MAX_DEPTH - 3),  # a part's data at the deepest a message takes ...
    lambda: nested_dict(MAX_DEPTH - 2),  # ... and one level more
    lambda: nested_list(600),
    lambda: nested_dict(600),
    lambda: nested_list(1100),
    lambda: nested_list(3000),
    lambda: {"data": nested_list(600)},
    self_list,
    self_dict,
    lambda: [Unset()],
    lambda: {"$bytes": "not base64!"},
    lambda: {"$bytes": 1},
    lambda: {"$dict": [1]},
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE),
    giant,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(FLOATS),
    st.text(max_size=8),
    st.sampled_from(ODD_STRINGS),
    st.binary(max_size=8),
    st.sampled_from(ODD_OBJECTS),
    st.sampled_from(DEEP).map(lambda make: make()),
)
keys = st.one_of(
    st.text(max_size=6), st.integers(), st.none(), st.binary(max_size=4), st.sampled_from(["$bytes", "$dict"])
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3), st.tuples(inner, inner)
    ),
    max_leaves=6,
)
names = st.one_of(
    st.sampled_from(["t", "thread-1", "a:b", "{x}", "é", "*"]),
    st.text(min_size=1, max_size=10),
    st.sampled_from(ODD_STRINGS),
    scalars,
)
metadata = st.one_of(st.none(), st.dictionaries(st.text(max_size=5), values, max_size=3), values)
durations = st.one_of(
    st.none(),
    st.floats(min_value=0.001, max_value=3600),
    st.sampled_from([*HUGE, *FLOATS, 1e-5, 1e-9, 0.0001, 1e6, 10**6, 10**13]),
    giant,
    st.timedeltas(),
    st.sampled_from(ODD_OBJECTS),
    st.text(max_size=4),
)
models = st.one_of(st.none(), st.sampled_from([int, dict, object(), "Model", Message.user("x"), 1]))


def parts() -> st.SearchStrategy[Any]:
    def built(kind: str, a: Any, b: Any, c: Any) -> Any:
        try:
            if kind == "text":
                return TextPart(text=a)
            if kind == "image":
                return ImagePart(data=a, url=b, mime_type=c)
            if kind == "data":
                return DataPart(data=a)
            if kind == "call":
                return ToolCallPart(id=a, name=b, arguments=c)
            return ToolResultPart(tool_call_id=a, content=b, is_error=c)
        except Exception:  # refused (test_messages checks how): pass the raw value on as a "part" instead
            return a

    kinds = st.sampled_from(["text", "image", "data", "call", "result"])
    return st.one_of(
        st.builds(built, kinds, values, values, values),
        st.builds(DataPart, data=values),
        st.builds(ToolCallPart, id=st.text(), name=st.text(), arguments=st.dictionaries(st.text(), values)),
        values,
        st.text(max_size=5),
    )


# --- the harness ----------------------------------------------------------------------------------


class Tally:
    """Calls made, and every raw escape or refused call that sent something, by kind."""

    def __init__(self) -> None:
        self.calls = 0
        self.outcomes: Counter[str] = Counter()
        self.escapes: dict[tuple[str, str], str] = {}
        self.escape_count = 0
        self.sent: dict[tuple[str, str], str] = {}

    def call(self, what: str, fn: Callable[..., Any], cache: Any = None, computes: bool = False) -> Any:
        """``fn()``'s result, or None if it raised. ``cache``: check that a refused call sent nothing.
        ``computes``: the call stores what a function returns, which can only be refused once it ran."""
        self.calls += 1
        before = None if cache is None else cache.round_trips
        try:
            result = fn()
        except AgentCacheError as exc:
            self.outcomes[f"{what} -> {type(exc).__name__}"] += 1
            late = computes and type(exc) in (SerializationError, ValueTooLargeError)
            if before is not None and isinstance(exc, REFUSED) and not late and cache.round_trips != before:
                self.sent.setdefault((what, type(exc).__name__), str(exc)[:200].replace("\n", " | "))
            return None
        except Exception as exc:
            self.outcomes[f"{what} -> raw {type(exc).__name__}"] += 1
            self.escape_count += 1
            kind = f"{type(exc).__module__}.{type(exc).__name__}"
            self.escapes.setdefault((what, kind), str(exc)[:200].replace("\n", " | "))
            return None
        self.outcomes[f"{what} -> ok"] += 1
        return result

    def check(self) -> None:
        report = [f"{self.escape_count} raw escapes in {self.calls} calls:"]
        report += [f"  {what}: {kind}: {message}" for (what, kind), message in sorted(self.escapes.items())]
        report += [f"  refused after sending: {what}: {kind}: {message}" for (what, kind), message in self.sent.items()]
        if os.environ.get("AGENTCACHE_FUZZ_REPORT"):  # how each call ended, to see what the fuzz reaches
            print("\n" + "\n".join(report + [f"    {n:5} {what}" for what, n in sorted(self.outcomes.items())]))
        assert not self.escapes and not self.sent, "\n".join(report)


@pytest.fixture(scope="module", params=["standalone", "memory"])
def fuzz_cache(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> Iterator[Any]:
    """One sync cache per topology for the whole module: the fuzz only needs a live backend."""
    cache, close = make_cache(request.param, "sync", server_urls)
    yield cache
    close()


@pytest.fixture
def tally() -> Tally:
    return Tally()


# --- the properties -------------------------------------------------------------------------------


def test_session_tier(fuzz_cache: Any, tally: Tally) -> None:
    session = fuzz_cache.session

    @FUZZ
    @given(names, names, values, durations, st.one_of(st.none(), names, st.just("2999-01-01T00:00:00+00:00")), models)
    def run(thread: Any, field: Any, value: Any, ttl: Any, expires_at: Any, model: Any) -> None:
        tally.call("session.set", lambda: session.set(thread, field, value, ttl=ttl, expires_at=expires_at), fuzz_cache)
        tally.call("session.get", lambda: session.get(thread, field, value, model=model), fuzz_cache)
        tally.call("session.delete", lambda: session.delete(thread, field), fuzz_cache)

    run()
    tally.check()


def test_tool_tier(fuzz_cache: Any, tally: Tally) -> None:
    tool = fuzz_cache.tool

    @FUZZ
    @given(names, values, values, durations, st.one_of(st.none(), st.sampled_from([*HUGE, *FLOATS]), scalars))
    def run(name: Any, args: Any, value: Any, ttl: Any, cost: Any) -> None:
        tally.call("tool.store", lambda: tool.store(name, args, value, ttl=ttl, cost=cost), fuzz_cache)
        tally.call("tool.check", lambda: tool.check(name, args), fuzz_cache)
        tally.call(
            "tool.get_or_compute",
            lambda: tool.get_or_compute(name, args, lambda: value, ttl=ttl, cost=cost, lock_timeout=cost or 1),
            fuzz_cache,
            computes=True,
        )
        tally.call("tool.invalidate", lambda: tool.invalidate(name, args), fuzz_cache)

    run()
    tally.check()


def test_conversations(fuzz_cache: Any, tally: Tally) -> None:
    conversations = fuzz_cache.conversations
    conv = conversations.create(agent_id="fuzz", user_id="fuzz")

    @FUZZ
    @given(
        st.sampled_from(["user", "assistant", "tool", "bogus", 1]),
        st.lists(parts(), max_size=3),
        metadata,
        st.fixed_dictionaries(
            {},
            optional={
                "session_id": names,
                "system": names,
                "metadata": metadata,
                "timeout": durations,
                "max_duration": durations,
                "warning_threshold": durations,
                "auto_renew": scalars,
            },
        ),
        st.one_of(st.none(), scalars),
        st.sampled_from(["none", "empty", "plain", "built", "raw"]),
    )
    def run(role: Any, content: list[Any], metadata: Any, options: dict[str, Any], limit: Any, history: str) -> None:
        message = tally.call("Message(...)", lambda: Message(role=role, parts=content, metadata=metadata))
        tally.call("conv.add_message", lambda: conv.add_message(message), fuzz_cache)
        messages = {
            "none": None,
            "empty": [],
            "plain": [Message.user("hi")],
            "built": [message] if message is not None else content,
            "raw": content,
        }[history]
        created = tally.call(
            "conversations.create",
            lambda: conversations.create(agent_id="fuzz", user_id="u", messages=messages, **options),
            fuzz_cache,
        )
        tally.call("conv.messages", lambda: conv.messages(limit=limit), fuzz_cache)
        tally.call("conv.messages", lambda: conv.messages(before=limit), fuzz_cache)
        if created is not None:  # what was accepted snapshots and restores
            snapshot = tally.call("conv.to_dict", lambda: created.to_dict(), fuzz_cache)
            assert snapshot is not None, "a conversation that was created must snapshot"
            restored = tally.call(
                "Conversation.from_dict", lambda: Conversation.from_dict(snapshot, fuzz_cache, "r-" + created.id)
            )
            assert restored is not None, "a snapshot must restore"
            assert list(restored.messages()) == list(created.messages())
            restored.delete()
            created.delete()

    run()
    tally.call("conv.to_dict", lambda: conv.to_dict(), fuzz_cache)
    tally.check()


def test_messages(tally: Tally) -> None:
    @FUZZ
    @given(st.lists(parts(), max_size=3), values, values, values, st.one_of(values, st.dictionaries(st.text(), values)))
    def run(content: list[Any], a: Any, b: Any, c: Any, data: Any) -> None:
        made = [
            tally.call("Message.user", lambda: Message.user(*content, metadata=a)),
            tally.call("Message.system", lambda: Message.system(*content)),
            tally.call("Message.assistant", lambda: Message.assistant(*content, tool_calls=b)),
            tally.call("Message.tool", lambda: Message.tool(a, b, is_error=c, metadata=data)),
            tally.call("Message", lambda: Message(role=a, parts=b, metadata=c)),
        ]
        tally.call("TextPart", lambda: TextPart(text=a, save=b))
        tally.call("ImagePart", lambda: ImagePart(data=a, url=b, mime_type=c))
        tally.call("DataPart", lambda: DataPart(data=a))
        tally.call("ToolCallPart", lambda: ToolCallPart(id=a, name=b, arguments=c))
        tally.call("ToolResultPart", lambda: ToolResultPart(tool_call_id=a, content=b, is_error=c))
        tally.call("Message.from_json_data", lambda: Message.from_json_data(data))
        shaped = {"role": "user", "parts": [{"type": "data", "data": data}], "metadata": {"m": a}}
        tally.call("Message.from_json_data", lambda: Message.from_json_data(shaped))
        for message in made:
            if message is not None:
                json_data = tally.call("Message.to_json_data", message.to_json_data)
                tally.call("Message.stored_data", message.stored_data)
                if json_data is not None:  # what a message gives as JSON data, it reads back
                    assert Message.from_json_data(json_data).to_json_data() == json_data

    run()
    tally.check()


def test_snapshot_stores(fuzz_cache: Any, tally: Tally, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a path SQLiteStore wrongly accepted would otherwise land in the working tree
    memory, sqlite, valkey = MemoryStore(), SQLiteStore(":memory:"), ValkeySnapshotStore(fuzz_cache)
    paths = st.one_of(
        st.sampled_from([tmp_path / "missing" / "x.db", str(tmp_path / "no" / "such" / "dir.db"), tmp_path]),
        st.sampled_from([1, None, b"x.db", object(), 1.5]),
    )

    @FUZZ
    @given(names, values, paths)
    def run(session_id: Any, data: Any, path: Any) -> None:
        for store, where in ((memory, None), (sqlite, None), (valkey, fuzz_cache)):
            kind = type(store).__name__
            tally.call(f"{kind}.save", lambda s=store: s.save(session_id, data), where)
            tally.call(f"{kind}.save", lambda s=store: s.save(session_id, {"data": data}), where)
            tally.call(f"{kind}.load", lambda s=store: s.load(session_id), where)
            tally.call(f"{kind}.delete", lambda s=store: s.delete(session_id), where)
        opened = tally.call("SQLiteStore(path)", lambda: SQLiteStore(path))
        if opened is not None:
            opened.close()
        tally.call("Conversation.from_dict", lambda: Conversation.from_dict(data, fuzz_cache), fuzz_cache)
        snapshot = {
            "format": "agentcache.conversation/1",
            "id": session_id,
            "agent_id": "a",
            "user_id": "u",
            "messages": [data],
            "settings": {"timeout": data, "auto_renew": True, "max_duration": 60, "warning_threshold": 1},
        }
        tally.call("Conversation.from_dict", lambda: Conversation.from_dict(snapshot, fuzz_cache), fuzz_cache)

    try:
        run()
    finally:
        sqlite.close()
    tally.check()
