"""What a model is offered beside the messages, as plain shapes with no I/O: the tools it may call
(:class:`ToolSpec`, made from a function by :func:`tool_spec`) and the JSON schema a structured
reply must follow (:class:`OutputSchema`). Each API's JSON for them is in ``requests.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, create_model

from agentcache.encoding.keys import encode_name
from agentcache.errors import InvalidArgumentError


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
