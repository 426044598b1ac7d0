"""The value envelope: a 7-byte header, then msgpack.

The header carries the field's own sliding TTL so the server can refresh expiry on a read without
a second round trip (see ``tiers/session/session_get.lua``)::

    byte 0      format version (1)
    bytes 1-6   sliding TTL in milliseconds, big-endian; 0 = do not slide (no expiry or a fixed deadline)

msgpack keeps bytes as bytes and ints as ints; nothing is ever pickled (the store is shared).
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any, TypeVar

import msgpack

from agentcache.errors import InvalidArgumentError, SerializationError, ValueTooLargeError, shown

VERSION = 1
HEADER_SIZE = 7

M = TypeVar("M")


def _default(obj: object) -> object:
    pydantic = sys.modules.get("pydantic")  # a model can only exist if pydantic was imported
    if pydantic is not None and isinstance(obj, pydantic.BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, int):
        raise SerializationError(f"cannot store the int {shown(obj)}: msgpack carries 64-bit integers only")
    raise SerializationError(
        f"cannot store a value of type {type(obj).__module__}.{type(obj).__qualname__}: "
        "values are msgpack (None, bool, int, float, str, bytes, list, dict) or pydantic models"
    )


_local = threading.local()  # one Packer per thread: reusing its buffer halves the cost of packb


def thread_packer() -> msgpack.Packer:
    """This thread's msgpack Packer (bin type for bytes; pydantic models as their JSON data)."""
    packer: msgpack.Packer | None = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(use_bin_type=True, default=_default)
    return packer


@functools.lru_cache(maxsize=256)
def _header(slide_ms: int) -> bytes:
    return bytes((VERSION,)) + slide_ms.to_bytes(6, "big")


def encode(value: object, slide_ms: int, max_bytes: int) -> bytes:
    """Envelope ``value`` with its sliding TTL; raise before anything is sent if it cannot be stored."""
    packer = thread_packer()
    try:
        payload: bytes = packer.pack(value)
    except SerializationError:
        packer.reset()
        raise
    except (OverflowError, ValueError, TypeError, UnicodeEncodeError) as exc:
        packer.reset()  # a failed pack may leave a partial value in the buffer
        raise SerializationError(f"cannot encode value as msgpack: {exc}") from exc
    size = HEADER_SIZE + len(payload)
    if size > max_bytes:
        raise ValueTooLargeError(size, max_bytes)
    return _header(slide_ms) + payload


def _frozen(key: Any) -> Any:
    """A map key as it was written: every list in it a tuple again. Without recursion, so a key
    nested as deep as the packer takes (about 1000 levels) reads back like any other."""
    if not isinstance(key, list):
        return key
    stack: list[tuple[list[Any], list[Any]]] = [(key, [])]  # each list, and its items made so far
    while True:
        items, made = stack[-1]
        if len(made) < len(items):
            item = items[len(made)]
            if isinstance(item, list):
                stack.append((item, []))
            else:
                made.append(item)
            continue
        stack.pop()
        if not stack:
            return tuple(made)
        stack[-1][1].append(tuple(made))


def _pairs(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    return {_frozen(key): value for key, value in pairs}


def slide_ms(raw: bytes) -> int:
    """The sliding TTL (ms) in a value's header; 0 for none (no TTL, or a fixed deadline)."""
    return int.from_bytes(raw[1:HEADER_SIZE], "big") if len(raw) >= HEADER_SIZE and raw[0] == VERSION else 0


def decode(raw: bytes) -> Any:
    """The value inside an envelope (callers add which key it came from to the error)."""
    if len(raw) < HEADER_SIZE or raw[0] != VERSION:
        raise SerializationError("it does not hold an agentcache value (foreign or corrupt data)")
    payload = raw[HEADER_SIZE:]
    try:
        try:
            return msgpack.unpackb(payload, strict_map_key=False)
        except TypeError:  # a dict keyed by tuples: rebuild those keys as tuples (slow path)
            return msgpack.unpackb(payload, strict_map_key=False, object_pairs_hook=_pairs)
    except Exception as exc:  # msgpack raises several unrelated types for bad data
        raise SerializationError(f"its value cannot be decoded: {exc}") from exc


def list_item(raw: bytes, index: int) -> Any:
    """Item ``index`` of the list inside an envelope, without decoding the items after it; None if
    the value is not a list that long (or cannot be read)."""
    if len(raw) < HEADER_SIZE or raw[0] != VERSION:
        return None
    unpacker = msgpack.Unpacker(strict_map_key=False)
    unpacker.feed(raw[HEADER_SIZE:])
    try:
        if unpacker.read_array_header() <= index:
            return None
        for _ in range(index):
            unpacker.skip()
        return unpacker.unpack()
    except Exception:  # msgpack raises several unrelated types for data it cannot read
        return None


def check_model(model: object) -> None:
    """Reject a ``model=`` argument that is not a pydantic model class, before anything is sent."""
    if model is None:
        return
    import pydantic

    if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
        raise InvalidArgumentError(f"model must be a pydantic BaseModel subclass, not {model!r}")


def as_model(data: Any, model: type[M]) -> M:
    """Validate decoded data into ``model`` (a pydantic model class)."""
    import pydantic

    try:
        return model.model_validate(data)  # type: ignore[attr-defined,no-any-return]
    except pydantic.ValidationError as exc:
        raise SerializationError(f"it does not match {model.__name__}: {exc}") from exc
