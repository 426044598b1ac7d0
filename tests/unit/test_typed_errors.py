"""Typed errors that need no server: invalid messages and parts, the SQLite store's paths, a
conversation config refused when the cache is made (refused calls on servers:
tests/integration/test_typed_errors.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest

from agentcache import (
    AgentCache,
    ConversationConfig,
    DataPart,
    ImagePart,
    InvalidArgumentError,
    InvalidMessageError,
    InvalidTimeoutConfig,
    Message,
    SQLiteStore,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from tests.helpers import new, refused

HUGE = 10**400


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


def test_a_config_whose_max_duration_is_below_its_minimum_timeout_is_refused() -> None:
    with pytest.raises(InvalidTimeoutConfig, match="max_duration >= min_timeout"):
        AgentCache.in_memory(conversation_config=ConversationConfig(min_timeout=60, max_duration=30))


@pytest.mark.parametrize("setting", ["timeout", "max_duration", "warning_threshold"])
@pytest.mark.parametrize("value", [HUGE, 1e308, timedelta.max])
def test_durations_beyond_any_float_are_invalid_timeout_configs(memory_cache: Any, setting: str, value: Any) -> None:
    caught = refused(memory_cache, InvalidTimeoutConfig, lambda: new(memory_cache, **{setting: value}))
    assert "too long" in str(caught.value)


def test_a_ttl_too_long_for_str_is_a_typed_error(memory_cache: Any) -> None:
    refused(memory_cache, InvalidArgumentError, lambda: memory_cache.session.set("t", "f", 1, ttl=10**5000))


@pytest.mark.parametrize("ttl", [1e306, 1.7e308, 10**300])
def test_a_ttl_whose_milliseconds_overflow_is_an_invalid_argument(memory_cache: Any, ttl: Any) -> None:
    """A finite TTL whose milliseconds overflow a float (1e306 s * 1000 = inf) found by the fuzz test."""
    refused(memory_cache, InvalidArgumentError, lambda: memory_cache.session.set("t", "f", 1, ttl=ttl))
    refused(memory_cache, InvalidArgumentError, lambda: memory_cache.tool.store("t", {"a": 1}, "v", ttl=ttl))
    refused(
        memory_cache,
        InvalidArgumentError,
        lambda: memory_cache.tool.get_or_compute("t", {"a": 1}, lambda: "v", ttl=ttl),
    )


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_method_called_with_arguments_it_does_not_take_says_which_and_sends_nothing(asynchronous: bool) -> None:
    import asyncio

    from agentcache import AsyncAgentCache, InvalidCallError

    cache: Any = AsyncAgentCache.in_memory() if asynchronous else AgentCache.in_memory()
    calls: list[tuple[Callable[[], Any], str]] = [
        (
            lambda: cache.session.set("t", "k", 1, tll=5),
            "SessionTier.set(): unknown keyword(s) 'tll' (did you mean 'ttl'?)",
        ),
        (lambda: cache.session.set("t"), "SessionTier.set(): missing a required argument: 'field'"),
        (lambda: cache.session.get("t", "k", None, "extra"), "SessionTier.get(): too many positional arguments"),
        (lambda: cache.tool.check("search", {}, nonsense=1), "ToolTier.check(): unknown keyword(s) 'nonsense';"),
    ]
    for call, said in calls:
        with pytest.raises(InvalidCallError) as raised:
            result = call()
            if asynchronous:
                asyncio.run(result)
        assert str(raised.value).startswith(said), raised.value
        assert "call it as SessionTier" in str(raised.value) or "call it as ToolTier.check(tool, args" in str(
            raised.value
        )
        assert isinstance(raised.value, TypeError) and isinstance(raised.value, InvalidArgumentError)
        assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert cache.round_trips == 0


def test_a_type_error_that_is_not_the_call_stays_as_it_was() -> None:
    import inspect

    from agentcache.core.binding import miscalled

    def op(settings: Any, thread_id: str, *, ttl: float | None = None) -> Any:
        raise AssertionError("not run")

    signature = inspect.signature(op).replace(parameters=list(inspect.signature(op).parameters.values())[1:])
    inner = TypeError("raised by the operation's own work")
    assert miscalled("Tier.op", signature, ("t",), {"ttl": 1.0}, inner) is inner  # the arguments fit
    assert "Tier.op(): unknown keyword(s) 'tl'" in str(miscalled("Tier.op", signature, ("t",), {"tl": 1}, inner))
