"""User parts: content the application (not the model) attaches to a thread's next user message,
such as a screenshot, an observation or a file.

A user part is a session field named ``__user_part_<name>`` (so ``get_all`` shows it and
``destroy_thread`` removes it, with the session tier's TTL rules). Its value is msgpack
``[save, part]``: ``save`` first, so the attach script can tell a persistent part from a transient
one by one byte, then the part's data (the conversation's own part models: text, image, data).
Image bytes over :data:`COMPRESS_OVER` are kept gzip-compressed when that makes them smaller
(``"compression": "gzip"`` in the stored part); reads decompress them. The stored, compressed size
is what counts against ``max_value_bytes``.

A message that got user parts attached is stored as msgpack ``[message, part, ...]`` (the script
joins the stored parts to the message without decoding them); :func:`message_data` turns that back
into one message's data.
"""

from __future__ import annotations

import gzip
from typing import Any

from pydantic import TypeAdapter, ValidationError

from agentcache.encoding.keys import check_name
from agentcache.errors import InvalidArgumentError, SerializationError
from agentcache.tiers.conversations.messages import DataPart, ImagePart, Part, TextPart

USER_PART_PREFIX = "__user_part_"
"""Session fields with this prefix are user parts (the convention of the product the API follows)."""
COMPRESS_OVER = 1024
"""Image bytes longer than this are stored gzip-compressed (when that is smaller)."""
UserPart = TextPart | ImagePart | DataPart
_PART: TypeAdapter[Part] = TypeAdapter(Part)


def user_part_field(name: object) -> str:
    """The session field that holds the user part ``name``."""
    return USER_PART_PREFIX + check_name(name, "user part name")


def to_stored(part: object) -> list[Any]:
    """``part`` (a TextPart, ImagePart, DataPart, or a str for text) in its stored form ``[save, data]``."""
    if isinstance(part, str):
        part = TextPart(text=part)
    if not isinstance(part, TextPart | ImagePart | DataPart):
        raise InvalidArgumentError(
            f"a user part is a TextPart, ImagePart or DataPart (or a str), not {type(part).__name__}"
        )
    data = part.model_dump()
    raw = data.get("data")
    if isinstance(part, ImagePart) and isinstance(raw, bytes) and len(raw) > COMPRESS_OVER:
        packed = gzip.compress(raw, compresslevel=6, mtime=0)
        if len(packed) < len(raw):
            data["data"], data["compression"] = packed, "gzip"
    return [part.save, data]


def part_data(stored: object) -> dict[str, Any]:
    """The part data inside a stored user part (``[save, data]`` or ``data``), decompressed."""
    data = stored[1] if isinstance(stored, list) and len(stored) == 2 else stored
    if not isinstance(data, dict):
        raise SerializationError(f"a stored user part is a dict, not {type(data).__name__}")
    data = dict(data)
    if data.pop("compression", None) == "gzip":
        try:
            data["data"] = gzip.decompress(data["data"])
        except (OSError, EOFError, TypeError, KeyError) as exc:
            raise SerializationError(f"a stored user part's compressed data cannot be read: {exc}") from exc
    return data


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
