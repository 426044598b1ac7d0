"""Thread session values over HTTP, the same on both route families (the seed document's
``/api/v1/threads/{thread_id}/session`` in :mod:`.threads`, Distri's ``/api/v1/sessions/{thread_id}``
in :mod:`.distri`): deadlines, user parts in every shape the clients send, and reading back what
was written.

A key starting with ``__user_part_`` holds a user part (it attaches to the thread's next user
message); the JSON the client sent is kept with it, so a read shows that JSON exactly. A missing or
expired key reads as ``None`` (JSON ``null``), as Distri's server answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, Strict

from agentcache.errors import InvalidMessageError, SerializationError, UnreadableFieldsError
from agentcache.facade import AsyncAgentCache
from agentcache.http.context import json_value
from agentcache.http.errors import ApiError
from agentcache.tiers.content.messages import DataPart, ImagePart, TextPart
from agentcache.tiers.content.parts import USER_PART_PREFIX, UserPart, as_written


def _a_string(value: object) -> object:
    if value is not None and not isinstance(value, str):
        raise ValueError("give an RFC 3339 timestamp with an offset or Z, such as 2030-01-01T00:00:00Z")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_a_string)]
"""An RFC 3339 timestamp string with a UTC offset or ``Z`` (what JS ``toISOString()`` and chrono's
``to_rfc3339()`` send; fractions of any length)."""


Seconds = Annotated[float, Strict(), Field(gt=0)]
"""A number of seconds above 0 (``ttl``): as in the Python API, not ``true`` and not a numeric string."""


def deadline(expiry: datetime | None, expires_at: datetime | None) -> datetime | None:
    """The deadline a body gives as ``expiry`` (Distri's clients) or ``expires_at`` (the seed document)."""
    if expiry is not None and expires_at is not None and expiry != expires_at:
        raise ApiError(422, "ValidationError", "give expiry or expires_at, not both")
    return expiry if expiry is not None else expires_at


def _invalid(message: str) -> ApiError:
    return ApiError(
        422,
        "ValidationError",
        f"{message}; a user part is a string, or Distri's Part ({{'part_type': 'text'|'image'|'data', 'data': ...}}, "
        "image data {'type': 'bytes', 'bytes': '<base64>', 'mime_type'} or {'type': 'url', 'url', 'mime_type'}), "
        "or {'part_type': 'image_url', 'image_url': {'url'}}",
    )


def _image(data: Any, save: bool) -> ImagePart:
    """Distri's image data: ``{"type": "bytes", "bytes", "mime_type", "name"}`` or ``{"type": "url", ...}``."""
    if not isinstance(data, dict) or data.get("type") not in ("bytes", "url"):
        raise _invalid("an image part's data is an object with type 'bytes' or 'url'")
    source = "bytes" if data["type"] == "bytes" else "url"
    if not isinstance(data.get(source), str):
        raise _invalid(f"an image of type {data['type']!r} needs {source!r} (a string)")
    mime_type, name = data.get("mime_type"), data.get("name")
    if source == "bytes":
        return ImagePart(data=data["bytes"], mime_type=mime_type, name=name, save=save)
    return ImagePart(url=data["url"], mime_type=mime_type, name=name, save=save)


def user_part(value: Any) -> UserPart:
    """The part a client sent. A string is text. Distri's ``Part``: ``{"part_type": "text", "data":
    "..."}``, ``{"part_type": "image", "data": {"type": "bytes"|"url", ...}}``, ``{"part_type": "data",
    "data": ...}``. The seed document's: ``{"part_type": "image_url", "image_url": {"url"}}``, and
    ``{"part_type": "text", "text"}``, ``{"part_type": "image", "bytes", "mime_type", "name"}``.
    ``"__metadata": {"save": false}`` makes any of them transient (never stored with a message)."""
    if isinstance(value, str):
        return TextPart(text=value)
    if not isinstance(value, dict):
        raise _invalid(f"not {type(value).__name__}")
    metadata = value.get("__metadata")
    save = not (isinstance(metadata, dict) and metadata.get("save") is False)
    kind, data = value.get("part_type"), value.get("data")
    try:
        if kind == "text" and isinstance(data, str):
            return TextPart(text=data, save=save)
        if kind == "text" and isinstance(value.get("text"), str):
            return TextPart(text=value["text"], save=save)
        if kind == "image" and "data" in value:
            return _image(data, save)
        if kind == "image" and isinstance(value.get("bytes"), str):
            return ImagePart(data=value["bytes"], mime_type=value.get("mime_type"), name=value.get("name"), save=save)
        if kind == "image_url" and isinstance(value.get("image_url"), dict):
            url = value["image_url"].get("url")
            if isinstance(url, str):
                return ImagePart(url=url, mime_type=value.get("mime_type"), save=save)
        if kind == "data" and "data" in value:
            return DataPart(data=data, save=save)
    except InvalidMessageError as exc:  # a field of the wrong type, base64 that is not
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()[:3])
        raise _invalid(f"a {kind} part with an invalid field ({problems})") from None
    raise _invalid(f"part_type {kind!r} with these fields is not one")


def _shown(key: str, value: Any) -> Any:
    """A stored value as JSON: a user part as its client wrote it."""
    if value is not None and key.startswith(USER_PART_PREFIX):
        value = as_written(value)
    return json_value(value)


def _readable(value: Any) -> None:
    """Refuse (422) a value that a read would not show as it was written: nested deeper than a read
    shows (``MAX_DEPTH``), or holding a dict whose only key is ``"$bytes"`` or ``"$dict"`` (how a read
    shows bytes, so such a dict reads back wrapped in ``{"$dict": ...}``)."""
    try:
        shown = json_value(value)
    except SerializationError as exc:
        raise ApiError(422, "ValidationError", f"the value cannot be read back: {exc}"[:500]) from None
    if shown != value:
        raise ApiError(
            422,
            "ValidationError",
            "the value holds a dict whose only key is '$bytes' or '$dict' (how reads show bytes), so it would "
            "not read back as written: give that dict another key",
        )


async def write(
    cache: AsyncAgentCache,
    thread_id: str,
    key: str,
    value: Any,
    *,
    ttl: float | None = None,
    expires_at: datetime | None = None,
) -> None:
    """Store ``value`` under ``key``: a user part if the key says so. A deadline in the past
    removes the key (the value is expired at once), as in Distri's store. A value that would not
    read back as written is refused (422) before anything is sent."""
    _readable(value)
    await cache.session.set_value(
        thread_id, key, value, ttl=ttl, expires_at=expires_at, as_part=user_part, written=value
    )


async def read(cache: AsyncAgentCache, thread_id: str, key: str) -> Any:
    """The value under ``key`` as JSON, ``None`` if it is missing or expired."""
    return _shown(key, await cache.session.get(thread_id, key))


async def read_all(cache: AsyncAgentCache, thread_id: str) -> dict[str, Any]:
    """Every live value of the thread as JSON: ``{"values": {key: value}}``, and, if a value stored
    by other means cannot be shown as JSON (a NaN written through the library) or cannot be decoded
    at all (data another client wrote), ``"unreadable": {key: why}`` for those keys only, so one
    such value never hides the thread's others."""
    shown: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    try:
        stored = await cache.session.get_all(thread_id)
    except UnreadableFieldsError as exc:
        stored = exc.values
        unreadable.update({key: "its data cannot be decoded (written by other means)" for key in exc.unreadable})
    for key, value in stored.items():
        try:
            shown[key] = _shown(key, value)
        except SerializationError as exc:
            unreadable[key] = str(exc)[:300]
    return {"values": shown, "unreadable": dict(sorted(unreadable.items()))} if unreadable else {"values": shown}


async def remove(cache: AsyncAgentCache, thread_id: str, key: str) -> bool:
    """Remove ``key`` (a user part from the thread's pending parts too); True if it was there."""
    return bool(await cache.session.delete_value(thread_id, key))
