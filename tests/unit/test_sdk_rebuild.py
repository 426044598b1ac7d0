"""A cache hit rebuilds the SDK's response from stored JSON data by strict validation (fast) where
the SDK's model accepts it, else by the SDK's own ``construct``: either way the object must be the
one ``construct`` gives, field for field (types included), with the same fields set."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response
from pydantic import BaseModel

from agentcache.providers.endpoints import built

CHAT: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-test",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            "logprobs": {"content": [{"token": "a", "logprob": 0, "bytes": [97], "top_logprobs": []}]},
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    "system_fingerprint": "fp_1",
    "vendor_field": {"kept": [1, 2]},  # a field the SDK does not know (extra="allow")
}
CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "gpt-test",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}],
}
MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-test",
    "content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 20, "output_tokens": 7},
}
RESPONSE: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1741476542,  # an int in a float field: both ways make it 1741476542.0
    "model": "gpt-test",
    "status": "completed",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Hi", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "temperature": 1,
}


def _bad(data: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    """``data`` with the item at ``path`` replaced by ``value``: a reply the SDK's model rejects."""
    out = copy.deepcopy(data)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


def _shape(value: Any) -> Any:
    """Everything that tells two rebuilt objects apart: types, values, fields set, extras."""
    if isinstance(value, BaseModel):
        fields = {name: _shape(item) for name, item in value.__dict__.items()}
        extra = {name: _shape(item) for name, item in (value.__pydantic_extra__ or {}).items()}
        return (type(value), sorted(value.model_fields_set), fields, extra)
    if isinstance(value, list):
        return [_shape(item) for item in value]
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return (type(value), value)


CASES = [
    (ChatCompletion, CHAT),
    (ChatCompletionChunk, CHUNK),
    (Message, MESSAGE),
    (Response, RESPONSE),
    # what the SDK's strict model rejects comes back as construct builds it
    (ChatCompletion, _bad(CHAT, ["choices", 0, "finish_reason"], "a_reason_from_the_future")),
    (ChatCompletion, _bad(CHAT, ["created"], "1700000000")),
    (ChatCompletion, _bad(CHAT, ["usage", "total_tokens"], 15.0)),
    (Message, _bad(MESSAGE, ["content", 1], {"type": "new_block_kind", "payload": [1]})),
    (Message, _bad(MESSAGE, ["usage"], None)),
]


@pytest.mark.parametrize(("model", "data"), CASES)
def test_rebuilt_response_is_what_construct_gives(model: type[Any], data: dict[str, Any]) -> None:
    expected = model.construct(**copy.deepcopy(data))
    rebuilt = built(model)(copy.deepcopy(data))
    assert type(rebuilt) is model
    assert rebuilt == expected
    assert _shape(rebuilt) == _shape(expected)
    assert rebuilt.model_dump_json(warnings=False) == expected.model_dump_json(warnings=False)


def test_valid_data_takes_the_fast_way_and_rejected_data_the_lenient_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Well-formed data never reaches ``construct`` (else this module tests nothing new); rejected
    data (an unknown field, an unknown literal) does."""
    constructed: list[Any] = []
    original = ChatCompletion.construct

    def counting(**data: Any) -> Any:
        constructed.append(data)
        return original(**data)

    monkeypatch.setattr(ChatCompletion, "construct", counting)
    known = {key: value for key, value in CHAT.items() if key != "vendor_field"}
    build = built(ChatCompletion)
    assert build(copy.deepcopy(known)) == original(**copy.deepcopy(known))
    assert constructed == []
    assert build(copy.deepcopy(CHAT)).vendor_field == {"kept": [1, 2]}
    assert build(copy.deepcopy(CASES[4][1])).choices[0].finish_reason == "a_reason_from_the_future"
    assert len(constructed) == 2
