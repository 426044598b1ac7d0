"""The model APIs' requests, as JSON data: no SDK is imported here.

A :class:`Transcript` (a system prompt and messages; :class:`~agentcache.Context` is one) rendered
in each API's message format: OpenAI Chat Completions ``messages`` (:func:`chat_messages`), OpenAI
Responses ``input`` items (:func:`responses_input`) and Anthropic Messages ``system`` and
``messages`` (:func:`anthropic_messages`); the tools and the structured-reply schema in each API's
shape; and the whole request a turn sends (:func:`chat_request`, :func:`anthropic_request`). Data,
tool arguments and tool results travel as JSON text (:func:`json_text`). The responses' formats are
in ``formats.py``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from agentcache.errors import SerializationError
from agentcache.tiers.content.messages import (
    DataPart,
    ImagePart,
    Message,
    Part,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    to_json_value,
)
from agentcache.tiers.content.specs import OutputSchema, ToolSpec

Block = dict[str, Any]


class Transcript(Protocol):
    """What a request is rendered from: the system prompt (or None) and the messages, oldest
    first. :class:`~agentcache.Context` is one."""

    @property
    def system(self) -> str | None: ...

    @property
    def messages(self) -> Sequence[Message]: ...


def json_text(value: Any, what: str) -> str:
    """``value`` as JSON text (keys sorted, non-ASCII kept); ``what`` names it in the error."""
    try:
        return json.dumps(to_json_value(value, what), ensure_ascii=False, sort_keys=True)
    except SerializationError:
        raise
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"{what} cannot be written as JSON: {exc}") from exc


def result_text(part: ToolResultPart) -> str:
    """A tool result's content as the APIs take it: a str as is, anything else as JSON text."""
    return part.content if isinstance(part.content, str) else json_text(part.content, "tool result")


def _data_url(part: ImagePart) -> str:
    if part.url is not None:
        return part.url
    assert part.data is not None
    return f"data:{part.mime_type or 'application/octet-stream'};base64,{base64.b64encode(part.data).decode('ascii')}"


def _anthropic_source(part: ImagePart) -> Block:
    if part.url is not None:
        return {"type": "url", "url": part.url}
    assert part.data is not None
    media = part.mime_type or "image/png"
    return {"type": "base64", "media_type": media, "data": base64.b64encode(part.data).decode("ascii")}


def _user_content(message: Message, text: Callable[[str], Block], image: Callable[[ImagePart], Block]) -> list[Block]:
    """A user message's content blocks in one OpenAI API's shapes: ``text`` for text (and data, as
    JSON), ``image`` for images."""
    parts = message.parts
    if len(parts) == 1 and type(parts[0]) is TextPart:  # the common case in a long history
        return [text(parts[0].text)]
    blocks: list[Block] = []
    for part in parts:
        if isinstance(part, TextPart):
            blocks.append(text(part.text))
        elif isinstance(part, ImagePart):
            blocks.append(image(part))
        elif isinstance(part, DataPart):
            blocks.append(text(json_text(part.data, "data part")))
    return blocks


def _system_first(transcript: Transcript) -> list[Block]:
    return [] if transcript.system is None else [{"role": "system", "content": transcript.system}]


def _chat_text(text: str) -> Block:
    return {"type": "text", "text": text}


def _chat_image(image: ImagePart) -> Block:
    return {"type": "image_url", "image_url": {"url": _data_url(image)}}


def _responses_text(text: str) -> Block:
    return {"type": "input_text", "text": text}


def _responses_image(image: ImagePart) -> Block:
    return {"type": "input_image", "image_url": _data_url(image), "detail": "auto"}


def _text_and_calls(message: Message) -> tuple[str, list[ToolCallPart]]:
    """``message.text`` and ``message.tool_calls`` in one pass over its parts (the common message
    of a long history has one text part and no calls: no join, no list)."""
    parts = message.parts
    if len(parts) == 1 and type(parts[0]) is TextPart:
        return parts[0].text, []
    texts = [part.text for part in parts if isinstance(part, TextPart)]
    return "\n".join(texts), [part for part in parts if isinstance(part, ToolCallPart)]


def chat_messages(transcript: Transcript) -> list[Block]:
    """OpenAI Chat Completions ``messages`` (system first; images as data URLs)."""
    out = _system_first(transcript)
    append = out.append
    for message in transcript.messages:
        role = message.role
        if role == "assistant":
            text, calls = _text_and_calls(message)
            entry: Block = {"role": "assistant", "content": text or None}
            if calls:
                entry["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json_text(call.arguments, "tool arguments")},
                    }
                    for call in calls
                ]
            append(entry)
        elif role == "tool":
            for part in message.parts:
                if isinstance(part, ToolResultPart):
                    append({"role": "tool", "tool_call_id": part.tool_call_id, "content": result_text(part)})
        elif role == "system":
            append({"role": "system", "content": message.text})
        else:
            append({"role": "user", "content": _user_content(message, _chat_text, _chat_image)})
    return out


def responses_input(transcript: Transcript) -> list[Block]:
    """OpenAI Responses ``input`` items (the system prompt as a system message first)."""
    out = _system_first(transcript)
    append = out.append
    for message in transcript.messages:
        role = message.role
        if role == "assistant":
            text, calls = _text_and_calls(message)
            if text:
                append({"role": "assistant", "content": text})
            for call in calls:
                arguments = json_text(call.arguments, "tool arguments")
                append({"type": "function_call", "call_id": call.id, "name": call.name, "arguments": arguments})
        elif role == "tool":
            for part in message.parts:
                if isinstance(part, ToolResultPart):
                    output = result_text(part)
                    append({"type": "function_call_output", "call_id": part.tool_call_id, "output": output})
        elif role == "system":
            append({"role": "system", "content": message.text})
        else:
            append({"role": "user", "content": _user_content(message, _responses_text, _responses_image)})
    return out


def _anthropic_block(part: Part) -> Block:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "image", "source": _anthropic_source(part)}
    if isinstance(part, DataPart):
        return {"type": "text", "text": json_text(part.data, "data part")}
    if isinstance(part, ToolCallPart):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
    return {
        "type": "tool_result",
        "tool_use_id": part.tool_call_id,
        "content": result_text(part),
        "is_error": part.is_error,
    }


def anthropic_messages(transcript: Transcript) -> dict[str, Any]:
    """Anthropic Messages ``{"system": ..., "messages": [...]}``: system messages of the history
    join the system prompt, tool results go in user turns, and consecutive turns of one role merge
    (the API wants them alternating). No ``system`` key when there is no system text."""
    system = [transcript.system] if transcript.system else []
    turns: list[Block] = []
    for message in transcript.messages:
        if message.role == "system":
            system.append(message.text)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = [_anthropic_block(part) for part in message.parts]
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = "\n\n".join(system)
    return out


# --- tools and structured replies ------------------------------------------------------------------


def chat_tools(tools: Sequence[ToolSpec]) -> list[Block]:
    """Chat Completions ``tools``: each a ``function`` with its name, description and parameters."""
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in tools
    ]


def chat_response_format(output: OutputSchema) -> Block:
    """Chat Completions ``response_format`` asking for a reply that follows ``output``'s schema."""
    return {"type": "json_schema", "json_schema": {"name": output.name, "schema": output.schema}}


def anthropic_tools(tools: Sequence[ToolSpec]) -> list[Block]:
    """Anthropic Messages ``tools``: name, description and ``input_schema``."""
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]


def anthropic_schema_ask(output: OutputSchema) -> str:
    """The system-prompt text asking Anthropic's API for a reply that follows ``output``'s schema
    (the Messages API has no response format)."""
    return "Reply with only a JSON object, no prose and no code fence, that follows this JSON schema:\n" + json.dumps(
        output.schema, sort_keys=True
    )


# --- a turn's whole request --------------------------------------------------------------------------


def sdk_arguments(request: Mapping[str, Any]) -> dict[str, Any]:
    """``request`` (a turn's, as :func:`chat_request` or :func:`anthropic_request` make it) as the
    keyword arguments of the SDK's ``create``, its ``messages`` sent through ``extra_body``.

    The ``openai`` and ``anthropic`` clients walk every argument against their typed-dict
    annotations before sending it, each message against every member of a union of message types:
    about a millisecond per message, so most of a turn on a long conversation. The messages made
    here are plain JSON data that walk leaves as it is (no aliases, no dates, no files), so they go
    in the body as they are, the same bytes on the wire; ``messages=[]`` fills the required
    argument and ``extra_body`` replaces it. An ``extra_body`` already in ``request`` keeps its own
    keys (a ``messages`` in it still wins, as it did); one that is not a dict leaves ``request``
    as it is."""
    messages = request.get("messages")
    extra = request.get("extra_body")
    if not isinstance(messages, list) or not messages or not (extra is None or isinstance(extra, Mapping)):
        return dict(request)
    return {**request, "messages": [], "extra_body": {"messages": messages, **(extra or {})}}


def chat_request(
    model: str,
    transcript: Transcript,
    tools: Sequence[ToolSpec],
    output: OutputSchema | None,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """A Chat Completions request's keyword arguments: model, messages, ``params``, then the tools
    and the response format when there are any."""
    request: dict[str, Any] = {"model": model, "messages": chat_messages(transcript), **params}
    if tools:
        request["tools"] = chat_tools(tools)
    if output is not None:
        request["response_format"] = chat_response_format(output)
    return request


def anthropic_request(
    model: str,
    max_tokens: int,
    transcript: Transcript,
    tools: Sequence[ToolSpec],
    output: OutputSchema | None,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """An Anthropic Messages request's keyword arguments: model, max_tokens, system and messages,
    ``params`` (which may replace any of them), the tools, and the schema ask after the system
    prompt when a structured reply is wanted."""
    request: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens,
        **anthropic_messages(transcript),
        **params,
    }
    if tools:
        request["tools"] = anthropic_tools(tools)
    if output is not None:
        ask = anthropic_schema_ask(output)
        request["system"] = f"{request['system']}\n\n{ask}" if request.get("system") else ask
    return request
