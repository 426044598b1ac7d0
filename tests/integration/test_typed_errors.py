"""Every error is an ``AgentCacheError``: regressions for the raw exceptions fuzzing found (issue 8).

Each refused call is checked to send nothing (the executor's ``round_trips`` is unchanged), on every
topology and both facades where a server is involved.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest

from agentcache import (
    AgentCache,
    AgentCacheError,
    CanonicalArgsError,
    Conversation,
    ConversationConfig,
    DataPart,
    ImagePart,
    InvalidArgumentError,
    InvalidMessageError,
    InvalidTimeoutConfig,
    Message,
    SerializationError,
    SQLiteStore,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from agentcache.tiers.content.messages import MAX_DEPTH
from agentcache.tiers.conversations.lifecycle import to_ms
from tests.helpers import Unset, nested_list, new

HUGE = 10**400


def refused(cache: Any, error: type[BaseException], call: Callable[..., Any]) -> pytest.ExceptionInfo[Any]:
    """``call()`` raises ``error`` (an AgentCacheError) and sends nothing."""
    before = cache.round_trips
    with pytest.raises(error) as caught:
        call()
    assert isinstance(caught.value, AgentCacheError)
    assert cache.round_trips == before, "a refused call must send nothing"
    return caught


# --- OverflowError ------------------------------------------------------------------------------


@pytest.mark.parametrize("cost", [HUGE, -HUGE, 1e309, float("nan"), -1])
def test_a_cost_beyond_any_float_is_an_invalid_argument(cache: Any, cost: Any) -> None:
    refused(cache, InvalidArgumentError, lambda: cache.tool.store("t", {"a": 1}, "v", cost=cost))
    refused(cache, InvalidArgumentError, lambda: cache.tool.get_or_compute("t", {"a": 1}, lambda: "v", cost=cost))
    cache.tool.store("t", {"a": 1}, "v", cost=10**20)  # a big int that is a float is fine
    assert cache.tool.check("t", {"a": 1}).cost == 1e20


@pytest.mark.parametrize("setting", ["timeout", "max_duration", "warning_threshold"])
@pytest.mark.parametrize("value", [HUGE, 1e308, timedelta.max])
def test_durations_beyond_any_float_are_invalid_timeout_configs(cache: Any, setting: str, value: Any) -> None:
    caught = refused(cache, InvalidTimeoutConfig, lambda: new(cache, **{setting: value}))
    assert "too long" in str(caught.value)


def test_a_positive_duration_is_never_zero_milliseconds(cache: Any) -> None:
    assert to_ms(1e-9, "x") == 1 and to_ms(timedelta(microseconds=1), "x") == 1 and to_ms(4.03, "x") == 4030
    with pytest.raises(InvalidTimeoutConfig):
        to_ms(0.0, "x")
    conv = new(cache, warning_threshold=1e-9)
    assert conv.info().warning_threshold == timedelta(milliseconds=1)


@pytest.mark.parametrize("giant", [10**5000, -(10**5000)], ids=["positive", "negative"])
def test_ints_too_long_for_str_are_typed_errors(cache: Any, giant: int) -> None:
    """Python refuses str() of an int over 4300 digits; no error message or canonical form may need it."""
    refused(cache, InvalidArgumentError, lambda: cache.tool.store("t", {}, 1, cost=giant))
    refused(cache, InvalidTimeoutConfig, lambda: new(cache, timeout=giant))
    refused(cache, SerializationError, lambda: cache.session.set("t", "f", giant))
    conv = new(cache)
    refused(cache, InvalidArgumentError, lambda: conv.messages(limit=giant))
    refused(cache, SerializationError, lambda: conv.add_message(Message.user(DataPart(data={giant: 1}))))
    cache.tool.store("t", {"n": giant}, "as an argument it is fine")
    assert cache.tool.check("t", {"n": giant}).hit and not cache.tool.check("t", {"n": giant + 1}).hit
    refused(cache, CanonicalArgsError, lambda: cache.tool.store("t", {giant: Unset()}, 1))


def test_a_ttl_too_long_for_str_is_a_typed_error(cache: Any) -> None:
    refused(cache, InvalidArgumentError, lambda: cache.session.set("t", "f", 1, ttl=10**5000))


# --- max_duration below the minimum timeout -------------------------------------------------------


def test_a_max_duration_below_the_minimum_timeout_is_refused(cache: Any) -> None:
    minimum = cache.conversations.lifecycle.min_timeout_ms / 1000
    for too_short in (1e-4, minimum / 2, timedelta(seconds=minimum - 1)):
        caught = refused(cache, InvalidTimeoutConfig, lambda d=too_short: new(cache, max_duration=d))
        assert caught.value.status_code == 400 and "minimum timeout" in str(caught.value)
        refused(
            cache, InvalidTimeoutConfig, lambda d=too_short: cache.conversations.configure_agent("a", max_duration=d)
        )
    assert new(cache, max_duration=minimum).info().max_duration == timedelta(seconds=minimum)
    snapshot = new(cache).to_dict()
    snapshot["settings"]["max_duration"] = 1e-4
    refused(cache, InvalidArgumentError, lambda: Conversation.from_dict(snapshot, cache))


def test_a_config_whose_max_duration_is_below_its_minimum_timeout_is_refused() -> None:
    with pytest.raises(InvalidTimeoutConfig, match="max_duration >= min_timeout"):
        AgentCache.in_memory(conversation_config=ConversationConfig(min_timeout=60, max_duration=30))


# --- AttributeError: a dataclass with an unset field(init=False) ----------------------------------


def test_a_dataclass_with_an_unset_field_in_tool_arguments(cache: Any) -> None:
    caught = refused(cache, CanonicalArgsError, lambda: cache.tool.store("t", {"x": Unset()}, 1))
    assert "'later' is not set" in str(caught.value) and "args['x']" in str(caught.value)
    refused(cache, CanonicalArgsError, lambda: cache.tool.check("t", [Unset()]))
    done = Unset()
    done.later = 2
    cache.tool.store("t", {"x": done}, 1)
    assert cache.tool.check("t", {"x": {"a": 1, "later": 2}}).value == 1  # by its fields, as before


def test_a_dataclass_with_an_unset_field_in_a_message(cache: Any) -> None:
    message = Message.user(DataPart(data=Unset()))
    conv = new(cache)
    caught = refused(cache, SerializationError, lambda: conv.add_message(message))
    assert "later" in str(caught.value)
    refused(cache, SerializationError, lambda: new(cache, messages=[message]))
    with pytest.raises(SerializationError):
        message.to_json_data()
    assert conv.length() == 0


# --- RecursionError: deep nesting and self-reference ----------------------------------------------


def test_deep_data_in_a_message_is_refused_at_a_documented_depth(cache: Any) -> None:
    conv = new(cache)
    for deep in (nested_list(600), nested_list(MAX_DEPTH - 2)):
        caught = refused(cache, SerializationError, lambda d=deep: conv.add_message(Message.user(DataPart(data=d))))
        assert f"deeper than {MAX_DEPTH} levels" in str(caught.value)
        refused(cache, SerializationError, lambda d=deep: new(cache, messages=[Message.user(DataPart(data=d))]))
    refused(cache, SerializationError, lambda: new(cache, metadata={"m": nested_list(600)}))
    # the deepest a message takes is stored, snapshotted, restored, and survives any JSON library
    deepest = Message.user(DataPart(data=nested_list(MAX_DEPTH - 3)), metadata={"m": nested_list(MAX_DEPTH - 2)})
    assert conv.add_message(deepest) == 1
    snapshot = json.loads(json.dumps(conv.to_dict()))
    assert list(Conversation.from_dict(snapshot, cache, "copy").messages()) == [deepest]


def test_the_session_tier_takes_what_msgpack_takes(cache: Any) -> None:
    """The session tier stores msgpack (not JSON snapshots): up to msgpack's 1024 levels, beyond typed."""
    cache.session.set("t", "deep", nested_list(600))
    assert cache.session.get("t", "deep") == nested_list(600)
    refused(cache, SerializationError, lambda: cache.session.set("t", "deeper", nested_list(2000)))


def test_self_referencing_data_is_refused(cache: Any) -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    conv = new(cache)
    refused(cache, SerializationError, lambda: conv.add_message(Message.user(DataPart(data=loop))))
    with pytest.raises(SerializationError, match="contains itself"):
        Message.from_json_data({"role": "user", "parts": [{"type": "data", "data": loop}]})
    with pytest.raises(SerializationError):
        Message.from_json_data({"role": "user", "parts": [{"type": "data", "data": nested_list(600)}]})
    snapshot = new(cache).to_dict()
    snapshot["messages"] = [{"role": "user", "parts": [{"type": "data", "data": loop}]}]
    refused(cache, InvalidArgumentError, lambda: Conversation.from_dict(snapshot, cache))


# --- pydantic's ValidationError -------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: Message(),  # type: ignore[call-arg]
        lambda: Message.user(123),  # type: ignore[arg-type]
        lambda: Message(role="bogus"),  # type: ignore[arg-type]
        lambda: Message.user("hi", metadata="not a dict"),  # type: ignore[arg-type]
        lambda: Message.assistant("x", tool_calls=1.5),  # type: ignore[arg-type]
        lambda: Message.tool(None, "result"),  # type: ignore[arg-type]
        lambda: Message(role="user", parts=[{"type": "text", "text": 1}]),  # type: ignore[list-item]
        lambda: TextPart(),  # type: ignore[call-arg]
        lambda: ImagePart(),
        lambda: ImagePart(data="not base64!"),  # type: ignore[arg-type]
        lambda: DataPart(),  # type: ignore[call-arg]
        lambda: ToolCallPart(id=1, name="n"),  # type: ignore[arg-type]
        lambda: ToolResultPart(tool_call_id="c"),  # type: ignore[call-arg]
        lambda: Message.from_json_data(1),
        lambda: Message.from_json_data({"role": "user", "parts": "text"}),
        lambda: Message.model_validate({"role": "nobody"}),
        lambda: Message.model_validate_json("{"),
    ],
)
def test_invalid_messages_raise_invalid_message_error(make: Callable[[], Any]) -> None:
    with pytest.raises(InvalidMessageError) as caught:
        make()
    error = caught.value
    assert isinstance(error, InvalidArgumentError) and isinstance(error, ValueError)
    assert not isinstance(error, pydantic.ValidationError)
    if isinstance(error.__cause__, pydantic.ValidationError):  # pydantic's detail is carried, and chained
        assert error.errors() == error.__cause__.errors(include_url=False)
        assert all({"loc", "msg", "type"} <= set(detail) for detail in error.errors())


def test_invalid_message_error_names_where_and_what() -> None:
    with pytest.raises(InvalidMessageError) as caught:
        Message(role="user", parts=[{"type": "text", "text": 1}])  # type: ignore[list-item]
    assert caught.value.errors()[0]["loc"] == ("parts", 0, "text", "text")
    assert "parts.0.text.text: Input should be a valid string" in str(caught.value)
    message = Message.user("hi")
    with pytest.raises(InvalidMessageError):
        message.role = "assistant"  # frozen
    # valid messages and parts are unchanged, nested parts still validate from dicts
    assert Message(role="user", parts=[{"type": "text", "text": "a"}]) == Message.user("a")  # type: ignore[list-item]
    assert Message.from_json_data(Message.user("a", ImagePart(data=b"\x89", mime_type="image/png")).to_json_data())


def test_a_malformed_message_in_a_snapshot_is_refused_before_sending(cache: Any) -> None:
    snapshot = new(cache, messages=[Message.user("hi")]).to_dict()
    snapshot["messages"] = [{"role": "bogus"}]
    caught = refused(cache, InvalidArgumentError, lambda: Conversation.from_dict(snapshot, cache, "other"))
    assert "malformed" in str(caught.value) and isinstance(caught.value.__cause__, InvalidMessageError)


# --- SQLiteStore ----------------------------------------------------------------------------------


def test_sqlite_store_in_a_missing_directory_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "snapshots.db"
    with pytest.raises(InvalidArgumentError, match="does not exist: create it first"):
        SQLiteStore(path)
    path.parent.mkdir()
    with SQLiteStore(path) as store:
        store.save("s", {"a": 1})
        assert store.load("s") == {"a": 1}


@pytest.mark.parametrize("path", [1, None, b"x.db", object()])
def test_sqlite_store_refuses_a_path_that_is_not_one(
    path: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"path must be a str or a pathlib\.Path"):
        SQLiteStore(path)
    assert list(tmp_path.iterdir()) == []  # no file named after the value's str()


@pytest.mark.parametrize("ttl", [1e306, 1.7e308, 10**300])
def test_a_ttl_whose_milliseconds_overflow_is_an_invalid_argument(cache: Any, ttl: Any) -> None:
    """A finite TTL whose milliseconds overflow a float (1e306 s * 1000 = inf) found by the fuzz test."""
    refused(cache, InvalidArgumentError, lambda: cache.session.set("t", "f", 1, ttl=ttl))
    refused(cache, InvalidArgumentError, lambda: cache.tool.store("t", {"a": 1}, "v", ttl=ttl))
    refused(cache, InvalidArgumentError, lambda: cache.tool.get_or_compute("t", {"a": 1}, lambda: "v", ttl=ttl))
