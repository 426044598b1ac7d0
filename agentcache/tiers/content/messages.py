"""Conversation messages: a role, content parts and metadata, as pydantic models.

A message is stored as msgpack of its Python-mode data (bytes stay bytes) and shipped as JSON data
(:meth:`Message.to_json_data`): image bytes become base64 text, any other bytes (in ``DataPart.data``,
tool arguments or results, metadata) the tagged form ``{"$bytes": "<base64>"}``, so it is safe to
``json.dumps`` anywhere and :meth:`Message.from_json_data` reads it back exactly. What JSON cannot
carry faithfully (a dict key that is not a ``str``, a NaN or infinite float) raises
:class:`~agentcache.SerializationError` naming where it is, already when the message is stored. Parts marked
``save=False`` (transient: a large screenshot, a scratch note) are sent to whoever holds the message
but never persisted.

A message nests at most :data:`MAX_DEPTH` (100) levels, counting from the message itself (its
``parts`` list is level 1, a part level 2, a part's ``data`` level 3); metadata counts from its own
top. Deeper data (or a structure that contains itself) raises :class:`~agentcache.SerializationError`
when the message is stored or read from JSON, so every stored message snapshots and restores, and any
JSON library reads the snapshot. (The session tier stores msgpack, not JSON, and takes up to
msgpack's 1024 levels.)

An invalid message or part (a bad role, a part of the wrong type, a missing field) raises
:class:`~agentcache.InvalidMessageError`, an :class:`~agentcache.InvalidArgumentError` whose
``errors()`` is pydantic's structured detail, never pydantic's own ``ValidationError``.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator, model_validator

from agentcache.errors import InvalidMessageError, SerializationError, shown

Role = Literal["system", "user", "assistant", "tool"]

BYTES_TAG = "$bytes"
DICT_TAG = "$dict"
_TAGS = (BYTES_TAG, DICT_TAG)
MAX_DEPTH = 100
"""How deep a message (or conversation metadata) may nest, in levels of lists and dicts."""


def _too_deep(path: str) -> SerializationError:
    return SerializationError(
        f"{path[:200]} nests deeper than {MAX_DEPTH} levels (or contains itself); "
        "a conversation stores JSON-like data: flatten it, or store it in the session tier"
    )


def to_json_value(value: Any, path: str, depth: int = 0) -> Any:
    """``value`` (msgpack-like data) as JSON data that :func:`from_json_value` turns back into it exactly.

    bytes become ``{"$bytes": "<base64>"}``; a dict that would read as a tag (its only key is
    ``"$bytes"`` or ``"$dict"``) is wrapped as ``{"$dict": {...}}``; tuples become lists. A dict key
    that is not a ``str``, a float that is NaN or infinite, or nesting deeper than :data:`MAX_DEPTH`
    raises :class:`SerializationError` naming ``path``: JSON cannot carry them faithfully."""
    if depth > MAX_DEPTH:
        raise _too_deep(path)
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(f"{path} is {value!r}: JSON cannot carry NaN or infinite floats")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {BYTES_TAG: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list | tuple):
        return [to_json_value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(
                    f"{path} has the key {shown(key)} ({type(key).__name__}): "
                    "keys must be str to survive JSON snapshots"
                )
            out[key] = to_json_value(item, f"{path}[{key!r}]", depth + 1)
        return {DICT_TAG: out} if len(out) == 1 and next(iter(out)) in _TAGS else out
    raise SerializationError(f"{path} is a {type(value).__name__}, which a conversation cannot store")


def from_json_value(value: Any, path: str = "value", depth: int = 0) -> Any:
    """The data :func:`to_json_value` made ``value`` from (tags undone); nesting deeper than
    :data:`MAX_DEPTH` raises :class:`SerializationError`, as :func:`to_json_value` does."""
    if depth > MAX_DEPTH:
        raise _too_deep(path)
    if isinstance(value, list):
        return [from_json_value(item, path, depth + 1) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, item),) = value.items()
        if key == BYTES_TAG and isinstance(item, str):
            try:
                return base64.b64decode(item, validate=True)
            except binascii.Error as exc:
                raise SerializationError(f"{path}: {BYTES_TAG} holds invalid base64: {exc}") from exc
        if key == DICT_TAG and isinstance(item, dict):
            return {k: from_json_value(v, path, depth + 1) for k, v in item.items()}
    return {key: from_json_value(item, path, depth + 1) for key, item in value.items()}


def invalid_message(exc: ValidationError) -> InvalidMessageError:
    """pydantic's ValidationError as agentcache's InvalidMessageError, with its detail."""
    errors = exc.errors(include_url=False)
    problems = "; ".join(f"{'.'.join(map(str, error['loc'])) or 'value'}: {error['msg']}" for error in errors[:5])
    more = "; ..." if len(errors) > 5 else ""
    return InvalidMessageError(
        f"invalid {exc.title}: {problems}{more}. Build messages with Message.user/system/assistant/tool and "
        "parts TextPart, ImagePart, DataPart, ToolCallPart, ToolResultPart (str items become text parts)",
        errors,
    )


class _Model(BaseModel):
    """A model whose validation failures raise :class:`InvalidMessageError`, not pydantic's ValidationError."""

    if not TYPE_CHECKING:  # type checkers keep pydantic's own signatures

        def __init__(self, /, **data: Any) -> None:
            try:
                super().__init__(**data)
            except ValidationError as exc:
                raise invalid_message(exc) from exc

        # not a custom __init__ to pydantic, which would call it for nested values too
        __init__.__pydantic_base_init__ = True

        @classmethod
        def model_validate(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().model_validate(*args, **kwargs)
            except ValidationError as exc:
                raise invalid_message(exc) from exc

        @classmethod
        def model_validate_json(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().model_validate_json(*args, **kwargs)
            except ValidationError as exc:
                raise invalid_message(exc) from exc

        @classmethod
        def model_validate_strings(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().model_validate_strings(*args, **kwargs)
            except ValidationError as exc:
                raise invalid_message(exc) from exc

        def __setattr__(self, name: str, value: Any) -> None:
            try:
                super().__setattr__(name, value)
            except ValidationError as exc:  # frozen: a message does not change once made
                raise invalid_message(exc) from exc


class _Part(_Model):
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
    """Structured data (JSON-like: dicts with str keys, lists, str, numbers, bools, None; bytes too)."""

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


def _metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    return {} if metadata is None else metadata  # anything but a dict is then refused by validation


class Message(_Model):
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
        return cls(role="system", parts=_parts(content), metadata=_metadata(metadata))

    @classmethod
    def user(cls, *content: PartLike, metadata: dict[str, Any] | None = None) -> Message:
        """A user message: ``Message.user("look", ImagePart(url=..., mime_type="image/png"))``."""
        return cls(role="user", parts=_parts(content), metadata=_metadata(metadata))

    @classmethod
    def assistant(
        cls, *content: PartLike, tool_calls: list[ToolCallPart] | None = None, metadata: dict[str, Any] | None = None
    ) -> Message:
        """An assistant message, optionally with tool calls after its content."""
        calls = [] if tool_calls is None else tool_calls
        if not isinstance(calls, list | tuple):
            raise InvalidMessageError(f"tool_calls must be a list of ToolCallPart, not {type(calls).__name__}")
        return cls(role="assistant", parts=[*_parts(content), *calls], metadata=_metadata(metadata))

    @classmethod
    def tool(
        cls, tool_call_id: str, content: Any, *, is_error: bool = False, metadata: dict[str, Any] | None = None
    ) -> Message:
        """A tool message carrying the result of the call ``tool_call_id``."""
        part = ToolResultPart(tool_call_id=tool_call_id, content=content, is_error=is_error)
        return cls(role="tool", parts=[part], metadata=_metadata(metadata))

    def persisted(self) -> Message:
        """This message without its transient (``save=False``) parts."""
        if all(part.save for part in self.parts):
            return self
        return self.model_copy(update={"parts": [part for part in self.parts if part.save]})

    def stored_data(self) -> dict[str, Any]:
        """The Python-mode data that is stored (bytes stay bytes), checked to survive a JSON snapshot.

        Raises :class:`SerializationError` (naming where) for what a snapshot could not carry."""
        data = self._python_data()
        to_json_value(data, "message")
        return data

    def _python_data(self) -> dict[str, Any]:
        try:
            return self.model_dump()
        except Exception as exc:  # what a value's own serialization raises: a dataclass with an unset field...
            raise SerializationError(f"message cannot be serialized: {type(exc).__name__}: {exc}") from exc

    def to_json_data(self) -> dict[str, Any]:
        """JSON-serializable data (image bytes as base64, other bytes as ``{"$bytes": "<base64>"}``).

        :meth:`from_json_data` reads it back into an equal message."""
        data = self._python_data()
        for raw, part in zip(data["parts"], self.parts, strict=True):
            if isinstance(part, ImagePart) and part.data is not None:
                raw["data"] = base64.b64encode(part.data).decode("ascii")
        out: dict[str, Any] = to_json_value(data, "message")
        return out

    @classmethod
    def from_json_data(cls, data: Any) -> Message:
        """The message :meth:`to_json_data` made ``data`` from. Raises :class:`InvalidMessageError` if it
        is not one, :class:`SerializationError` for a malformed ``$bytes`` tag or nesting deeper than
        :data:`MAX_DEPTH`."""
        return cls.model_validate(from_json_value(data, "message"))
