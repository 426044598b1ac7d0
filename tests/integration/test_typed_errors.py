"""Every error is an ``AgentCacheError``: regressions for the raw exceptions fuzzing found (issue 8).

Each refused call is checked to send nothing (the executor's ``round_trips`` is unchanged), on every
topology and both facades where a server is involved.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from agentcache import (
    CanonicalArgsError,
    Conversation,
    DataPart,
    InvalidArgumentError,
    InvalidMessageError,
    InvalidTimeoutConfig,
    Message,
    SerializationError,
)
from agentcache.tiers.content.messages import MAX_DEPTH
from agentcache.tiers.conversations.lifecycle import to_ms
from tests.helpers import Unset, nested_list, new, refused

HUGE = 10**400


# --- OverflowError ------------------------------------------------------------------------------


@pytest.mark.parametrize("cost", [HUGE, -HUGE, 1e309, float("nan"), -1])
def test_a_cost_beyond_any_float_is_an_invalid_argument(cache: Any, cost: Any) -> None:
    refused(cache, InvalidArgumentError, lambda: cache.tool.store("t", {"a": 1}, "v", cost=cost))
    refused(cache, InvalidArgumentError, lambda: cache.tool.get_or_compute("t", {"a": 1}, lambda: "v", cost=cost))
    cache.tool.store("t", {"a": 1}, "v", cost=10**20)  # a big int that is a float is fine
    assert cache.tool.check("t", {"a": 1}).cost == 1e20


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


def test_a_malformed_message_in_a_snapshot_is_refused_before_sending(cache: Any) -> None:
    snapshot = new(cache, messages=[Message.user("hi")]).to_dict()
    snapshot["messages"] = [{"role": "bogus"}]
    caught = refused(cache, InvalidArgumentError, lambda: Conversation.from_dict(snapshot, cache, "other"))
    assert "malformed" in str(caught.value) and isinstance(caught.value.__cause__, InvalidMessageError)
