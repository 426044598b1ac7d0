"""The model APIs' request shapes (``agentcache/tiers/content/requests.py``), offline: each part kind,
the system prompt, tools and structured replies, for Chat Completions, Responses and Anthropic
Messages; and ``Context`` and the model wrappers rendering through them."""

from __future__ import annotations

from typing import Any

import pytest

from agentcache import Context, DataPart, ImagePart, Message, SerializationError, ToolCallPart
from agentcache.tiers.content.requests import (
    anthropic_messages,
    anthropic_request,
    chat_messages,
    chat_request,
    responses_input,
    sdk_arguments,
)
from agentcache.tiers.content.specs import OutputSchema, ToolSpec

PNG = b"\x89PNG\r\n\x1a\n\x00\x01"
PNG_B64 = "iVBORw0KGgoAAQ=="
TOOL = ToolSpec("lookup", "Find a place.", {"type": "object", "properties": {"q": {"type": "string"}}})
OUTPUT = OutputSchema("Place", {"type": "object", "properties": {"name": {"type": "string"}}})


def user(*content: Any) -> Context:
    return Context(None, [Message.user(*content)])


def tool_exchange() -> Context:
    return Context(
        None,
        [
            Message.user("where?"),
            Message.assistant(
                "Looking.", tool_calls=[ToolCallPart(id="c1", name="lookup", arguments={"q": "é", "a": 1})]
            ),
            Message.tool("c1", {"place": "Kyoto"}),
            Message.tool("c2", "failed", is_error=True),
        ],
    )


# --- user content: text, images, data ------------------------------------------------------------------


def test_text() -> None:
    ctx = user("hi")
    assert chat_messages(ctx) == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert responses_input(ctx) == [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    assert anthropic_messages(ctx) == {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}


def test_image_bytes() -> None:
    ctx = user(ImagePart(data=PNG, mime_type="image/png"), ImagePart(data=PNG))
    url = f"data:image/png;base64,{PNG_B64}"
    assert chat_messages(ctx)[0]["content"] == [
        {"type": "image_url", "image_url": {"url": url}},
        {"type": "image_url", "image_url": {"url": f"data:application/octet-stream;base64,{PNG_B64}"}},
    ]
    assert responses_input(ctx)[0]["content"][0] == {"type": "input_image", "image_url": url, "detail": "auto"}
    assert anthropic_messages(ctx)["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},  # assumed PNG
    ]


def test_image_url() -> None:
    ctx = user(ImagePart(url="https://example.com/m.png"))
    assert chat_messages(ctx)[0]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://example.com/m.png"}}
    ]
    assert responses_input(ctx)[0]["content"] == [
        {"type": "input_image", "image_url": "https://example.com/m.png", "detail": "auto"}
    ]
    assert anthropic_messages(ctx)["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/m.png"}}
    ]


def test_data_part_is_sorted_json_text() -> None:
    ctx = user(DataPart(data={"zoom": 3, "city": "Kyōto"}))
    text = '{"city": "Kyōto", "zoom": 3}'  # keys sorted, non-ASCII kept
    assert chat_messages(ctx)[0]["content"] == [{"type": "text", "text": text}]
    assert responses_input(ctx)[0]["content"] == [{"type": "input_text", "text": text}]
    assert anthropic_messages(ctx)["messages"][0]["content"] == [{"type": "text", "text": text}]


# --- tool calls and results ------------------------------------------------------------------------------


def test_tool_call_and_results_chat() -> None:
    out = chat_messages(tool_exchange())
    assert out[1] == {
        "role": "assistant",
        "content": "Looking.",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"a": 1, "q": "é"}'}}
        ],
    }
    assert out[2:] == [
        {"role": "tool", "tool_call_id": "c1", "content": '{"place": "Kyoto"}'},
        {"role": "tool", "tool_call_id": "c2", "content": "failed"},
    ]
    only_call = Context(None, [Message.assistant(tool_calls=[ToolCallPart(id="c", name="n")])])
    assert chat_messages(only_call)[0]["content"] is None  # no text: null content, not ""


def test_tool_call_and_results_responses() -> None:
    out = responses_input(tool_exchange())
    assert out[1:] == [
        {"role": "assistant", "content": "Looking."},
        {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"a": 1, "q": "é"}'},
        {"type": "function_call_output", "call_id": "c1", "output": '{"place": "Kyoto"}'},
        {"type": "function_call_output", "call_id": "c2", "output": "failed"},
    ]


def test_tool_call_and_results_anthropic() -> None:
    turns = anthropic_messages(tool_exchange())["messages"]
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]  # the two results merge in one turn
    assert turns[1]["content"] == [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "c1", "name": "lookup", "input": {"q": "é", "a": 1}},  # a dict, not JSON text
    ]
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": '{"place": "Kyoto"}', "is_error": False},
        {"type": "tool_result", "tool_use_id": "c2", "content": "failed", "is_error": True},
    ]


def test_a_result_that_is_not_json_fails_before_anything_is_sent() -> None:
    ctx = Context(None, [Message.tool("c", {"x": float("nan")})])
    for render in (chat_messages, responses_input, anthropic_messages):
        with pytest.raises(SerializationError, match="tool result"):
            render(ctx)


# --- the system prompt ---------------------------------------------------------------------------------


def test_system() -> None:
    ctx = Context("You help.", [Message.system("Be brief."), Message.user("hi")])
    assert chat_messages(ctx)[:2] == [
        {"role": "system", "content": "You help."},
        {"role": "system", "content": "Be brief."},
    ]
    assert responses_input(ctx)[:2] == [
        {"role": "system", "content": "You help."},
        {"role": "system", "content": "Be brief."},
    ]
    out = anthropic_messages(ctx)
    assert out["system"] == "You help.\n\nBe brief."  # history system messages join the prompt
    assert [turn["role"] for turn in out["messages"]] == ["user"]
    assert "system" not in anthropic_messages(Context("", [Message.user("hi")]))
    assert chat_messages(Context("", []))[0] == {"role": "system", "content": ""}  # kept as given


# --- tools, structured replies, the whole request ---------------------------------------------------------


def test_chat_request() -> None:
    request = chat_request("gpt-x", user("hi"), [TOOL], OUTPUT, {"temperature": 0})
    assert list(request) == ["model", "messages", "temperature", "tools", "response_format"]
    assert request["tools"] == [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "Find a place.", "parameters": TOOL.parameters},
        }
    ]
    assert request["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Place", "schema": OUTPUT.schema},
    }
    assert list(chat_request("gpt-x", user("hi"), [], None, {})) == ["model", "messages"]


def test_anthropic_request() -> None:
    request = anthropic_request("claude-x", 99, Context("You help.", [Message.user("hi")]), [TOOL], OUTPUT, {})
    assert list(request) == ["model", "max_tokens", "messages", "system", "tools"]
    assert request["max_tokens"] == 99
    assert request["tools"] == [{"name": "lookup", "description": "Find a place.", "input_schema": TOOL.parameters}]
    ask = (
        "Reply with only a JSON object, no prose and no code fence, that follows this JSON schema:\n"
        '{"properties": {"name": {"type": "string"}}, "type": "object"}'
    )
    assert request["system"] == f"You help.\n\n{ask}"
    assert anthropic_request("claude-x", 5, user("hi"), [], OUTPUT, {})["system"] == ask  # no prompt: the ask alone
    assert "system" not in anthropic_request("claude-x", 5, user("hi"), [], None, {})


# --- one renderer behind Context and the wrappers -----------------------------------------------------------


def test_context_methods_render_the_same() -> None:
    ctx = Context("S", tool_exchange().messages)
    assert ctx.to_openai_chat() == chat_messages(ctx) and ctx.to_openai_chat()[0] == {"role": "system", "content": "S"}
    assert ctx.to_openai_responses() == responses_input(ctx)
    assert ctx.to_anthropic() == anthropic_messages(ctx) and ctx.to_anthropic()["system"] == "S"


def test_the_wrappers_send_the_rendered_request() -> None:
    pytest.importorskip("openai")
    pytest.importorskip("anthropic")
    from agentcache.providers.anthropic import AnthropicModel
    from agentcache.providers.openai import OpenAIChatModel

    ctx = tool_exchange()
    chat = OpenAIChatModel("gpt-x", api_key="unused").request(ctx, [TOOL], OUTPUT, {"seed": 1})
    assert chat == chat_request("gpt-x", ctx, [TOOL], OUTPUT, {"seed": 1})
    assert chat["messages"][2]["role"] == "tool"
    anthropic = AnthropicModel("claude-x", max_tokens=7, api_key="unused").request(ctx, [TOOL], None, {})
    assert anthropic == anthropic_request("claude-x", 7, ctx, [TOOL], None, {})
    assert anthropic["max_tokens"] == 7 and anthropic["tools"][0]["input_schema"] == TOOL.parameters


def test_sdk_arguments_send_the_messages_through_extra_body() -> None:
    messages = [{"role": "user", "content": "hi"}]
    request = {"model": "m", "messages": messages, "temperature": 0}
    assert sdk_arguments(request) == {
        "model": "m",
        "messages": [],
        "temperature": 0,
        "extra_body": {"messages": messages},
    }
    assert request["messages"] is messages  # the request itself is left as it was
    own = sdk_arguments({**request, "extra_body": {"seed": 1, "messages": "theirs"}})
    assert own["extra_body"] == {"messages": "theirs", "seed": 1}  # the caller's extra_body still wins
    assert sdk_arguments({**request, "extra_body": None})["extra_body"] == {"messages": messages}
    for untouched in ({"model": "m", "messages": []}, {"model": "m"}, {**request, "extra_body": "odd"}):
        assert sdk_arguments(untouched) == untouched
