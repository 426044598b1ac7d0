"""User parts: content the application (not the model) attaches to a thread's next user message,
such as a screenshot, an observation or a file.

A user part is a session field named ``__user_part_<name>`` (so ``get_all`` shows it and
``destroy_thread`` removes it, with the session tier's TTL rules). Its value is msgpack
``[save, part]``: ``save`` first, so the attach script can tell a persistent part from a transient
one by one byte, then the part's data (the conversation's own part models: text, image, data).
Image bytes over :data:`COMPRESS_OVER` are kept gzip-compressed when that makes them smaller
(``"compression": "gzip"`` in the stored part); reads decompress them. The stored, compressed size
is what counts against ``max_value_bytes``.

A part set from JSON (the HTTP API) also keeps the JSON as the client wrote it (``"written"`` in the
stored part: ``[path, the JSON with the part's content at path left out]``, so the content, such as
an image's bytes, is stored once), and :func:`as_written` gives that JSON back exactly.

A message that got user parts attached is stored as msgpack ``[message, part, ...]`` (the script
joins the stored parts to the message without decoding them); :func:`message_data` turns that back
into one message's data.
"""

from __future__ import annotations

import base64
import gzip
from typing import Any

from pydantic import TypeAdapter, ValidationError

from agentcache.encoding.keys import check_name
from agentcache.errors import InvalidArgumentError, SerializationError
from agentcache.tiers.content.messages import DataPart, ImagePart, Part, TextPart

USER_PART_PREFIX = "__user_part_"
"""Session fields with this prefix are user parts (the convention of the product the API follows)."""
COMPRESS_OVER = 1024
"""Image bytes longer than this are stored gzip-compressed (when that is smaller)."""
UserPart = TextPart | ImagePart | DataPart
_PART: TypeAdapter[Part] = TypeAdapter(Part)


def user_part_field(name: object) -> str:
    """The session field that holds the user part ``name``."""
    return USER_PART_PREFIX + check_name(name, "user part name")


def to_stored(part: object, written: Any = None) -> list[Any]:
    """``part`` (a TextPart, ImagePart, DataPart, or a str for text) in its stored form ``[save, data]``;
    ``written``: the JSON a client sent for it, kept for :func:`as_written`."""
    if isinstance(part, str):
        part = TextPart(text=part)
    if not isinstance(part, TextPart | ImagePart | DataPart):
        raise InvalidArgumentError(
            f"a user part is a TextPart, ImagePart or DataPart (or a str), not {type(part).__name__}"
        )
    data = part.model_dump()
    if written is not None:
        content = _content(data)
        path = _path_to(written, content)
        data["written"] = [None, written] if path is None else [path, _replaced(written, path, None)]
    raw = data.get("data")
    if isinstance(part, ImagePart) and isinstance(raw, bytes) and len(raw) > COMPRESS_OVER:
        packed = gzip.compress(raw, compresslevel=6, mtime=0)
        if len(packed) < len(raw):
            data["data"], data["compression"] = packed, "gzip"
    return [part.save, data]


def _unpacked(stored: object) -> tuple[dict[str, Any], Any]:
    data = stored[1] if isinstance(stored, list) and len(stored) == 2 else stored
    if not isinstance(data, dict):
        raise SerializationError(f"a stored user part is a dict, not {type(data).__name__}")
    data = dict(data)
    written = data.pop("written", None)
    if data.pop("compression", None) == "gzip":
        try:
            data["data"] = gzip.decompress(data["data"])
        except (OSError, EOFError, TypeError, KeyError) as exc:
            raise SerializationError(f"a stored user part's compressed data cannot be read: {exc}") from exc
    return data, written


def part_data(stored: object) -> dict[str, Any]:
    """The part data inside a stored user part (``[save, data]`` or ``data``), decompressed."""
    return _unpacked(stored)[0]


def as_written(stored: object) -> Any:
    """A stored user part as the JSON its client wrote (exactly), or its part data if it was set
    without JSON (from Python)."""
    data, written = _unpacked(stored)
    if written is None:
        return data
    if not (isinstance(written, list) and len(written) == 2 and isinstance(written[0], list | None)):
        raise SerializationError("a stored user part's written JSON cannot be read")
    path, rest = written
    return rest if path is None else _replaced(rest, path, _content(data))


def _content(data: dict[str, Any]) -> Any:
    """A part's content as JSON carries it: the text, an image's bytes as base64 (or its url), the data."""
    kind = data.get("type")
    if kind == "text":
        return data.get("text")
    if kind == "image":
        raw = data.get("data")
        return base64.b64encode(raw).decode("ascii") if isinstance(raw, bytes) else data.get("url")
    return data.get("data")


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (``True`` is not ``1``, dict keys in the same order)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _path_to(tree: Any, content: Any, depth: int = 0) -> list[Any] | None:
    """Where in ``tree`` (a few levels down at most) ``content`` is, or None."""
    if _same(tree, content):
        return []
    if depth == 4:
        return None
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, item in items:
        found = _path_to(item, content, depth + 1)
        if found is not None:
            return [key, *found]
    return None


def _replaced(tree: Any, path: list[Any], value: Any) -> Any:
    """``tree`` with the item at ``path`` replaced by ``value`` (copies along the path only)."""
    if not path:
        return value
    head, *rest = path
    try:
        copy = dict(tree) if isinstance(tree, dict) else list(tree)
        copy[head] = _replaced(tree[head], rest, value)
    except (TypeError, KeyError, IndexError) as exc:
        raise SerializationError(f"a stored user part's written JSON cannot be read: {exc}") from exc
    return copy


def from_stored(stored: object) -> Part:
    """The part a stored user part holds."""
    try:
        part: Part = _PART.validate_python(part_data(stored))
    except ValidationError as exc:
        raise SerializationError(f"a stored user part is not a valid part: {exc}") from exc
    return part


def message_data(value: Any) -> Any:
    """A stored history element's message data, with its attached user parts appended."""
    if not (isinstance(value, list) and value and isinstance(value[0], dict)):
        return value
    message = dict(value[0])
    message["parts"] = [*message.get("parts", []), *(part_data(part) for part in value[1:])]
    return message
