"""What a model-driven turn needs of a model: :class:`ChatModel`, a small provider protocol, and the
JSON schema of a tool function.

Implementations live with their SDKs: :class:`agentcache.providers.openai.OpenAIChatModel` (any
OpenAI-compatible Chat Completions endpoint) and :class:`agentcache.providers.anthropic.AnthropicModel`.
A model builds the request from a :class:`~agentcache.Context` (pure, so the LLM tier can key it
before anything is sent) and sends it, sync or async, plain or streamed; responses and stream chunks
travel as the API's JSON data, read by ``formats.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ConfigDict, create_model

from agentcache.encoding.keys import encode_name
from agentcache.errors import InvalidArgumentError
from agentcache.tiers.content.formats import Api

if TYPE_CHECKING:
    from agentcache.tiers.conversations.context import Context


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model: its name, description and the JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class OutputSchema:
    """The JSON schema a structured reply must follow (``conv.json(schema=...)``)."""

    name: str
    schema: dict[str, Any]


class ChatModel(Protocol):
    """A model a conversation can run turns on."""

    api: Api
    """The response format it speaks: ``chat``, ``responses`` or ``anthropic``."""
    model: str
    """The model's name, as the provider knows it."""

    def request(
        self, context: Context, tools: Sequence[ToolSpec], output: OutputSchema | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The API call's keyword arguments for this turn (no I/O)."""
        ...

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send the request; the response as JSON data."""
        ...

    async def call_async(self, request: dict[str, Any]) -> dict[str, Any]:
        """:meth:`call` on asyncio."""
        ...

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Send the request streamed; its chunks (events) as JSON data."""
        ...

    def stream_async(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """:meth:`stream` on asyncio."""
        ...


def tool_spec(fn: Callable[..., Any]) -> ToolSpec:
    """The spec of a tool function: its ``__name__``, the first paragraph of its docstring, and the
    JSON schema of its parameters from their annotations (pydantic)."""
    if not callable(fn):
        raise InvalidArgumentError(f"a tool must be a function, not {fn!r}")
    name = getattr(fn, "__name__", "")
    encode_name(name, "tool name")
    fields: dict[str, Any] = {}
    try:
        parameters = inspect.signature(fn, eval_str=True).parameters.values()
    except (NameError, TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"tool {name}: cannot read its signature ({exc})") from exc
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise InvalidArgumentError(f"tool {name} takes *args or **kwargs; a model calls tools by named arguments")
        annotation = Any if parameter.annotation is parameter.empty else parameter.annotation
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    try:
        arguments = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
        schema = arguments.model_json_schema()
    except Exception as exc:  # an annotation pydantic has no schema for
        raise InvalidArgumentError(f"tool {name}: its parameters have no JSON schema ({exc})") from exc
    schema.pop("title", None)
    description = (inspect.getdoc(fn) or name).split("\n\n")[0].strip()
    return ToolSpec(name, description, schema)
