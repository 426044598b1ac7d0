"""Conversation messages: a role, content parts and metadata, as pydantic models.

A message is stored as msgpack of its Python-mode data (image bytes stay bytes) and shipped as
JSON-mode data (image bytes become base64 text), so :meth:`Message.to_json_data` is safe to
``json.dumps`` anywhere and :meth:`Message.model_validate` reads both forms back. Parts marked
``save=False`` (transient: a large screenshot, a scratch note) are sent to whoever holds the message
but never persisted.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

Role = Literal["system", "user", "assistant", "tool"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    save: bool = True
    """False: a transient part, never persisted (stripped before the message is stored)."""


class TextPart(_Part):
    """Plain text."""

    type: Literal["text"] = "text"
    text: str


class ImagePart(_Part):
    """An image, either inline (``data``: bytes) or by ``url``, with its MIME type and an optional name."""

    type: Literal["image"] = "image"
    data: bytes | None = None
    url: str | None = None
    mime_type: str | None = None
    name: str | None = None

    @field_validator("data", mode="before")
    @classmethod
    def _from_base64(cls, value: Any) -> Any:
        return base64.b64decode(value, validate=True) if isinstance(value, str) else value

    @field_serializer("data", when_used="json-unless-none")
    def _to_base64(self, value: bytes) -> str:
        return base64.b64encode(value).decode("ascii")

    @model_validator(mode="after")
    def _one_source(self) -> ImagePart:
        if (self.data is None) == (self.url is None):
            raise ValueError("an image part needs exactly one of data (bytes) or url")
        return self


class DataPart(_Part):
    """Structured data (JSON-like: dicts, lists, str, numbers, bools, None)."""

    type: Literal["data"] = "data"
    data: Any


class ToolCallPart(_Part):
    """A model's request to call a tool."""

    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolResultPart(_Part):
    """What a tool returned for the call ``tool_call_id``."""

    type: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    content: Any
    is_error: bool = False


Part = Annotated[TextPart | ImagePart | DataPart | ToolCallPart | ToolResultPart, Field(discriminator="type")]
PartLike = str | TextPart | ImagePart | DataPart | ToolCallPart | ToolResultPart


def _parts(content: tuple[PartLike, ...]) -> list[Part]:
    return [TextPart(text=item) if isinstance(item, str) else item for item in content]


class Message(BaseModel):
    """One message of a conversation: ``role``, content ``parts`` and ``metadata``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    parts: list[Part] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def text(self) -> str:
        """The text parts joined by newlines ("" when there are none)."""
        return "\n".join(part.text for part in self.parts if isinstance(part, TextPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        """The tool calls this message makes."""
        return [part for part in self.parts if isinstance(part, ToolCallPart)]

    @classmethod
    def system(cls, *content: PartLike, metadata: dict[str, Any] | None = None) -> Message:
        """A system message; ``str`` items become text parts."""
        return cls(role="system", parts=_parts(content), metadata=metadata or {})

    @classmethod
    def user(cls, *content: PartLike, metadata: dict[str, Any] | None = None) -> Message:
        """A user message: ``Message.user("look", ImagePart(url=..., mime_type="image/png"))``."""
        return cls(role="user", parts=_parts(content), metadata=metadata or {})

    @classmethod
    def assistant(
        cls, *content: PartLike, tool_calls: list[ToolCallPart] | None = None, metadata: dict[str, Any] | None = None
    ) -> Message:
        """An assistant message, optionally with tool calls after its content."""
        return cls(role="assistant", parts=[*_parts(content), *(tool_calls or [])], metadata=metadata or {})

    @classmethod
    def tool(
        cls, tool_call_id: str, content: Any, *, is_error: bool = False, metadata: dict[str, Any] | None = None
    ) -> Message:
        """A tool message carrying the result of the call ``tool_call_id``."""
        part = ToolResultPart(tool_call_id=tool_call_id, content=content, is_error=is_error)
        return cls(role="tool", parts=[part], metadata=metadata or {})

    def persisted(self) -> Message:
        """This message without its transient (``save=False``) parts."""
        if all(part.save for part in self.parts):
            return self
        return self.model_copy(update={"parts": [part for part in self.parts if part.save]})

    def to_json_data(self) -> dict[str, Any]:
        """JSON-serializable data (image bytes as base64); ``Message.model_validate`` reads it back."""
        return self.model_dump(mode="json", exclude_defaults=False)
