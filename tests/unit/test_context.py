"""The conversation context's trimming and its conversions to the model APIs' formats, checked
against the SDKs' own request types where installed (context assembly on servers:
tests/integration/test_context.py)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from agentcache import (
    Context,
    DataPart,
    ImagePart,
    InvalidArgumentError,
    Message,
    SerializationError,
    ToolCallPart,
)
from agentcache.tiers.conversations.context import trim
from tests.helpers import new

PNG = b"\x89PNG\r\n\x1a\n\x00\x01"


def materialized(value: Any) -> Any:
    """``value`` with pydantic's lazily validated iterables (the SDKs type content as Iterable[...])
    walked, which validates them, into lists."""
    if isinstance(value, dict):
        return {key: materialized(item) for key, item in value.items()}
    if isinstance(value, str | bytes):
        return value
    if hasattr(value, "__iter__"):
        return [materialized(item) for item in value]
    return value


def sample() -> Context:
    return Context(
        "You help.",
        [
            Message.system("Be brief."),
            Message.user(
                "What is on this map?",
                ImagePart(data=PNG, mime_type="image/png"),
                ImagePart(url="https://example.com/m.png", mime_type="image/png"),
                DataPart(data={"zoom": 3}),
            ),
            Message.assistant("Checking.", tool_calls=[ToolCallPart(id="c1", name="lookup", arguments={"x": 1})]),
            Message.tool("c1", {"place": "Kyoto"}),
            Message.tool("c2", "plain text", is_error=True),
            Message.assistant("Kyoto."),
        ],
    )


def exact(adapter_type: Any, data: Any) -> None:
    """``data`` validates as the SDK type and loses nothing (a misspelt key would be dropped)."""
    from pydantic import TypeAdapter

    assert materialized(TypeAdapter(adapter_type).validate_python(data)) == data


def test_trim_offline() -> None:
    call = Message.assistant(tool_calls=[ToolCallPart(id="c", name="n")])
    history = [Message.user("a" * 10), call, Message.tool("c", "r"), Message.tool("c", "s"), Message.user("b" * 5)]
    assert trim(history, None) == history
    assert trim(history, 7) == [history[-1]]  # two results whose call did not fit: both dropped
    assert trim(history, 100) == history


def test_openai_chat_messages() -> None:
    pytest.importorskip("openai")
    from openai.types.chat import ChatCompletionMessageParam

    messages = sample().to_openai_chat()
    exact(list[ChatCompletionMessageParam], messages)
    assert messages[0] == {"role": "system", "content": "You help."}
    user = messages[2]["content"]
    assert user[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAQ=="}}
    assert user[2]["image_url"]["url"] == "https://example.com/m.png"
    assert messages[3]["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"x": 1}'}
    assert messages[4] == {"role": "tool", "tool_call_id": "c1", "content": '{"place": "Kyoto"}'}


def test_openai_responses_input() -> None:
    pytest.importorskip("openai")
    from openai.types.responses import ResponseInputParam

    items = sample().to_openai_responses()
    exact(ResponseInputParam, items)
    kinds = [item.get("type", item.get("role")) for item in items]
    assert kinds == ["system", "system", "user", "assistant", "function_call", "function_call_output",
                     "function_call_output", "assistant"]  # fmt: skip
    assert items[2]["content"][1] == {
        "type": "input_image",
        "image_url": "data:image/png;base64,iVBORw0KGgoAAQ==",
        "detail": "auto",
    }


def test_anthropic_messages() -> None:
    pytest.importorskip("anthropic")
    from anthropic.types import MessageParam

    out = sample().to_anthropic()
    exact(list[MessageParam], out["messages"])
    assert out["system"] == "You help.\n\nBe brief."
    assert [turn["role"] for turn in out["messages"]] == ["user", "assistant", "user", "assistant"]  # alternating
    image = out["messages"][0]["content"][1]
    assert image == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAQ=="},
    }
    results = out["messages"][2]["content"]
    assert [block["type"] for block in results] == ["tool_result", "tool_result"]
    assert results[1]["is_error"] is True


def test_plain_dicts_round_trip() -> None:
    data = sample().to_dicts()
    assert [Message.from_json_data(m) for m in data["messages"]] == sample().messages


def test_bad_arguments_are_refused_before_anything_is_sent(memory_cache: Any) -> None:
    conv = new(memory_cache)
    before = memory_cache.round_trips
    refusals: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"limit": 0}, InvalidArgumentError),
        ({"max_chars": -1}, InvalidArgumentError),
        ({"max_chars": True}, InvalidArgumentError),
        ({"system": 3}, InvalidArgumentError),
        ({"dynamic_sections": ["a"]}, InvalidArgumentError),
        ({"dynamic_sections": {"": "x"}}, InvalidArgumentError),
        ({"dynamic_sections": {"two\nlines": "x"}}, InvalidArgumentError),
        ({"dynamic_sections": {"nan": math.nan}}, SerializationError),
        ({"dynamic_sections": {"obj": object()}}, SerializationError),
    ]
    for kwargs, error in refusals:
        with pytest.raises(error):
            conv.context(**kwargs)
    assert memory_cache.round_trips == before
