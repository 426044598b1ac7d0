"""The model APIs' response formats, as JSON data: no SDK is imported here.

Three APIs (:data:`Api`): OpenAI Chat Completions (``chat``), OpenAI Responses (``responses``) and
Anthropic Messages (``anthropic``). For each: whether a recorded stream reached its end
(:func:`finished`: a stream cut halfway is never cached), the full response a stream adds up to
(:func:`assemble`), a chunk's text (:func:`text_delta`) and what a turn needs from a response
(:func:`reply_of`: its text, tool calls and token counts).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agentcache.errors import SerializationError

Api = Literal["chat", "responses", "anthropic"]
APIS: tuple[Api, ...] = ("chat", "responses", "anthropic")


@dataclass(frozen=True)
class ToolCall:
    """A tool the model asked for: the call's id, the tool's name, its arguments."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """What a turn takes from a response."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if raw else {}
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"the model sent tool arguments that are not JSON: {str(raw)[:200]!r}") from exc
    if not isinstance(value, dict):
        raise SerializationError(f"the model sent tool arguments that are not a JSON object: {str(raw)[:200]!r}")
    return value


def _usage(usage: Any) -> tuple[int, int]:
    if not isinstance(usage, Mapping):
        return 0, 0
    first = usage.get("prompt_tokens", usage.get("input_tokens"))
    second = usage.get("completion_tokens", usage.get("output_tokens"))
    return (first if isinstance(first, int) else 0), (second if isinstance(second, int) else 0)


def reply_of(api: Api, response: Mapping[str, Any]) -> Reply:
    """The text, tool calls and token counts of ``response``."""
    tokens = _usage(response.get("usage"))
    texts: list[str] = []
    calls: list[ToolCall] = []
    if api == "chat":
        choices = response.get("choices") or [{}]
        message = choices[0].get("message") or {}
        texts.append(message.get("content") or "")
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            calls.append(ToolCall(call.get("id", ""), function.get("name", ""), _arguments(function.get("arguments"))))
    elif api == "responses":
        for item in response.get("output") or []:
            if item.get("type") == "message":
                texts.extend(p.get("text", "") for p in item.get("content") or [] if p.get("type") == "output_text")
            elif item.get("type") == "function_call":
                calls.append(ToolCall(item.get("call_id", ""), item.get("name", ""), _arguments(item.get("arguments"))))
    else:
        for block in response.get("content") or []:
            if block.get("type") == "text":
                texts.append(block.get("text", ""))
            elif block.get("type") == "tool_use":
                calls.append(ToolCall(block.get("id", ""), block.get("name", ""), _arguments(block.get("input"))))
    return Reply("".join(texts), calls, *tokens)


def text_delta(api: Api, chunk: Mapping[str, Any]) -> str:
    """The text a stream chunk (or event) adds; "" for any other kind."""
    if api == "chat":
        choices = chunk.get("choices") or []
        return "".join((c.get("delta") or {}).get("content") or "" for c in choices if c.get("index", 0) == 0)
    if api == "responses":
        return str(chunk.get("delta") or "") if chunk.get("type") == "response.output_text.delta" else ""
    if chunk.get("type") == "content_block_delta":
        delta = chunk.get("delta") or {}
        return str(delta.get("text") or "") if delta.get("type") == "text_delta" else ""
    return ""


def finished(api: Api, chunks: Sequence[Mapping[str, Any]], wants_usage: bool = False) -> bool:
    """Whether a recorded stream reached its end (its last event), so it may be cached.

    ``wants_usage``: a Chat Completions stream asked for its usage chunk (``include_usage``), which
    comes after the finish reason."""
    if not chunks:
        return False
    if api == "chat":
        done = any(c.get("finish_reason") for chunk in chunks for c in chunk.get("choices") or [])
        return done and (not wants_usage or chunks[-1].get("usage") is not None)
    if api == "responses":
        return chunks[-1].get("type") == "response.completed"
    return chunks[-1].get("type") == "message_stop"


def assemble(api: Api, chunks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The full response a finished stream adds up to (the API's non-streamed shape)."""
    if api == "responses":
        return dict(chunks[-1]["response"])
    if api == "anthropic":
        return _anthropic(chunks)
    return _chat(chunks)


def _chat(chunks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    first = chunks[0]
    choices: dict[int, dict[str, Any]] = {}
    usage = None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            index = choice.get("index", 0)
            state = choices.setdefault(
                index,
                {"index": index, "message": {"role": "assistant", "content": None}, "finish_reason": None},
            )
            message, delta = state["message"], choice.get("delta") or {}
            for name in ("content", "refusal"):
                if delta.get(name):
                    message[name] = (message.get(name) or "") + delta[name]
            for call in delta.get("tool_calls") or []:
                calls = message.setdefault("tool_calls", [])
                while len(calls) <= call.get("index", 0):
                    calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
                target = calls[call.get("index", 0)]
                if call.get("id"):
                    target["id"] = call["id"]
                function = call.get("function") or {}
                if function.get("name"):
                    target["function"]["name"] = function["name"]
                target["function"]["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                state["finish_reason"] = choice["finish_reason"]
    out: dict[str, Any] = {
        "id": first.get("id", ""),
        "object": "chat.completion",
        "created": first.get("created", 0),
        "model": first.get("model", ""),
        "choices": [choices[i] for i in sorted(choices)],
    }
    if first.get("system_fingerprint"):
        out["system_fingerprint"] = first["system_fingerprint"]
    if usage is not None:
        out["usage"] = usage
    return out


def _anthropic(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {}
    partial: dict[int, str] = {}
    for event in events:
        kind = event.get("type")
        if kind == "message_start":
            message = copy.deepcopy(dict(event["message"]))
            message["content"] = []
        elif kind == "content_block_start":
            message["content"].append(copy.deepcopy(dict(event["content_block"])))
        elif kind == "content_block_delta":
            block, delta = message["content"][event.get("index", -1)], event.get("delta") or {}
            kind = delta.get("type")
            if kind == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif kind == "input_json_delta":
                partial[event.get("index", -1)] = partial.get(event.get("index", -1), "") + delta.get(
                    "partial_json", ""
                )
            elif kind == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif kind == "signature_delta":
                block["signature"] = delta.get("signature", "")
            elif kind == "citations_delta":
                block.setdefault("citations", []).append(delta.get("citation"))
        elif kind == "content_block_stop":
            index = event.get("index", -1)
            if index in partial:
                message["content"][index]["input"] = _arguments(partial.pop(index))
        elif kind == "message_delta":
            message.update({k: v for k, v in (event.get("delta") or {}).items()})
            usage = {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            message["usage"] = {**(message.get("usage") or {}), **usage}
    return message
