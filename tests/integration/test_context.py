"""Context assembly (``conv.context``) on every topology and both facades, and its conversions
checked against the model SDKs' own request types."""

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
    TextPart,
    ToolCallPart,
)
from agentcache.tiers.conversations.context import trim
from tests.helpers import cost, new

PNG = b"\x89PNG\r\n\x1a\n\x00\x01"


def dialogue(cache: Any, **kwargs: Any) -> Any:
    conv = new(cache, system="You plan trips.", **kwargs)
    conv.add_messages(
        [
            Message.user("Japan in April?"),
            Message.assistant("Let me look.", tool_calls=[ToolCallPart(id="c1", name="search", arguments={"q": "JP"})]),
            Message.tool("c1", {"hits": 3}),
            Message.assistant("Cherry blossoms peak then."),
            Message.user("Book Kyoto", ImagePart(data=PNG, mime_type="image/png", name="map.png")),
        ]
    )
    return conv


def test_the_system_prompt_with_dynamic_sections(cache: Any) -> None:
    conv = dialogue(cache)
    ctx = conv.context(dynamic_sections={"page": "Page 3 of 7", "answers": {"q2": "b", "q1": ["a", 1]}})
    assert ctx.system == 'You plan trips.\n\n## page\nPage 3 of 7\n\n## answers\n{"q1": ["a", 1], "q2": "b"}'
    assert conv.context(system="Override.").system == "Override."
    assert conv.context().system == "You plan trips."
    assert [m.role for m in conv.context().messages] == ["user", "assistant", "tool", "assistant", "user"]


def test_trimming_by_count_and_characters_never_orphans_a_tool_result(cache: Any) -> None:
    conv = dialogue(cache)
    assert [m.role for m in conv.context(limit=3).messages] == ["assistant", "user"]  # the tool result's call fell out
    assert [m.role for m in conv.context(limit=4).messages] == ["assistant", "tool", "assistant", "user"]
    assert [m.text for m in conv.context(max_chars=len("Book Kyoto")).messages] == ["Book Kyoto"]
    assert conv.context(max_chars=0).messages == []


def test_pending_user_parts_ride_along_on_the_last_user_message(cache: Any) -> None:
    conv = dialogue(cache)
    cache.session.set_user_part(conv.id, "dom", DataPart(data={"url": "https://example.com"}))
    cache.session.set_user_part(conv.id, "shot", ImagePart(data=PNG, mime_type="image/png", save=False))
    last = conv.context().messages[-1]
    assert last.parts[-2:] == [
        DataPart(data={"url": "https://example.com"}),
        ImagePart(data=PNG, mime_type="image/png", save=False),
    ]
    assert set(cache.session.user_parts(conv.id)) == {"dom", "shot"}  # still pending: context only reads
    assert len(conv.messages()[-1].parts) == 2  # and nothing was stored


def test_parts_start_a_user_message_when_there_is_none(cache: Any) -> None:
    conv = new(cache)
    cache.session.set_user_part(conv.id, "note", "hello from the app")
    assert conv.context().messages == [Message(role="user", parts=[TextPart(text="hello from the app")])]


def test_context_costs_one_round_trip(cache: Any) -> None:
    conv = dialogue(cache)
    cache.session.set_user_part(conv.id, "note", "x")
    conv.context()  # the server learns the scripts
    assert cost(cache, lambda: conv.context(dynamic_sections={"a": 1}, limit=2)) == 1


def test_bad_arguments_are_refused_before_anything_is_sent(cache: Any) -> None:
    conv = new(cache)
    before = cache.round_trips
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
    assert cache.round_trips == before


def test_trim_offline() -> None:
    call = Message.assistant(tool_calls=[ToolCallPart(id="c", name="n")])
    history = [Message.user("a" * 10), call, Message.tool("c", "r"), Message.tool("c", "s"), Message.user("b" * 5)]
    assert trim(history, None) == history
    assert trim(history, 7) == [history[-1]]  # two results whose call did not fit: both dropped
    assert trim(history, 100) == history


# --- the model APIs' formats, checked against the SDKs' own request types ---------------------------------


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


def exact(adapter_type: Any, data: Any) -> None:
    """``data`` validates as the SDK type and loses nothing (a misspelt key would be dropped)."""
    from pydantic import TypeAdapter

    assert materialized(TypeAdapter(adapter_type).validate_python(data)) == data


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
