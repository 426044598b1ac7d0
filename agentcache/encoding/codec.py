"""The value envelope: a 7-byte header, then msgpack.

The header carries the field's own sliding TTL so the server can refresh expiry on a read without
a second round trip (see ``tiers/session/session_get.lua``)::

    byte 0      format version: 1, or 2 for a session field with a fixed deadline
    bytes 1-6   version 1: sliding TTL in milliseconds, big-endian; 0 = do not slide (no expiry, or a
                fixed deadline written before version 2 existed). Version 2: the deadline, Unix ms.

The session tier writes a fixed deadline into the header (version 2) so that a reader that
refreshed a field by the TTL it expected (``GETEX ... PX``) and finds another writer's deadline
there can put that deadline back (``tiers/session/session_get.lua``). Scripts slide only version 1.

msgpack keeps bytes as bytes and ints as ints; nothing is ever pickled (the store is shared).

With ``encryption=`` (``encoding/encryption.py``) the payload after the header is sealed: the header
stays readable by the server's scripts (the sliding TTL) and is bound into the associated data with
the value's Valkey key. A sealed payload is a msgpack ext object, so a value stays msgpack-shaped
for the scripts that move stored bytes without decoding them::

    value       header, ext(SEALED_EXT, sealed payload)
    user part   header, 0x92, true|false, ext(PART_EXT, sealed part data)   (``save`` stays readable)
    message     header, array16 n, ext(SEALED_EXT, ...), ext(PART_EXT, ...) x n-1
                (what ``conv_write``'s attach joins: a sealed message followed by sealed parts)
    bytes       header (no TTL), ext(SEALED_EXT, sealed bytes)   (what is stored without an envelope:
                a checkpoint entry or write, a conversation's system prompt and summary)

A part's seal is bound to its thread (prefix and hash tag), not to its own key, since the attach
script moves it into the thread's conversation. :func:`seal` and friends turn a plain envelope into
a sealed one; :func:`opened` does the reverse (every read path calls it before :func:`decode`), so
everything else (decode, slide_ms, list_item, the near cache) sees plain envelopes only.
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import TYPE_CHECKING, Any, TypeVar

import msgpack

from agentcache.errors import DecryptionError, InvalidArgumentError, SerializationError, ValueTooLargeError, shown

if TYPE_CHECKING:
    from agentcache.encoding.encryption import Sealer

VERSION = 1
FIXED = 2
"""The version byte of a value whose header holds its fixed deadline (Unix ms) instead of a TTL."""
HEADER_SIZE = 7
MAX_HEADER_MS = (1 << 48) - 1
SEALED_EXT = 17
"""msgpack ext type of a sealed value (bound to its header and key)."""
PART_EXT = 18
"""msgpack ext type of a sealed user part's data (bound to its thread)."""

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


def encode(value: object, slide_ms: int, max_bytes: int, *, deadline_ms: int | None = None) -> bytes:
    """Envelope ``value`` with its sliding TTL (or, given ``deadline_ms``, its fixed deadline: a
    version-2 header); raise before anything is sent if it cannot be stored."""
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
    if deadline_ms is None:
        return _header(slide_ms) + payload
    return bytes((FIXED,)) + min(max(deadline_ms, 0), MAX_HEADER_MS).to_bytes(6, "big") + payload


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
    if len(raw) < HEADER_SIZE or (raw[0] != VERSION and raw[0] != FIXED):
        raise SerializationError("it does not hold an agentcache value (foreign or corrupt data)")
    payload = raw[HEADER_SIZE:]
    try:
        try:
            return msgpack.unpackb(payload, strict_map_key=False, ext_hook=_sealed_ext)
        except TypeError:  # a dict keyed by tuples: rebuild those keys as tuples (slow path)
            return msgpack.unpackb(payload, strict_map_key=False, object_pairs_hook=_pairs, ext_hook=_sealed_ext)
    except DecryptionError:
        raise
    except Exception as exc:  # msgpack raises several unrelated types for bad data
        raise SerializationError(f"its value cannot be decoded: {exc}") from exc


def list_item(raw: bytes, index: int) -> Any:
    """Item ``index`` of the list inside an envelope, without decoding the items after it; None if
    the value is not a list that long (or cannot be read)."""
    if len(raw) < HEADER_SIZE or (raw[0] != VERSION and raw[0] != FIXED):
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


# --- encryption at rest: sealed envelopes ---------------------------------------------------------


def _sealed_ext(code: int, data: bytes) -> Any:
    """msgpack's ext hook: agentcache stores no ext types but sealed ones, which only :func:`opened`
    (with the keys) can read; never hand one out as data."""
    if code in (SEALED_EXT, PART_EXT):
        raise DecryptionError("this value is encrypted: open the cache with encryption= and its keys")
    raise SerializationError(f"it holds a msgpack extension type ({code}) agentcache never writes")


def _ext(code: int, blob: bytes) -> bytes:
    size = len(blob)
    if size < 0x100:
        return bytes((0xC7, size, code)) + blob
    if size < 0x10000:
        return b"\xc8" + size.to_bytes(2, "big") + bytes((code,)) + blob
    return b"\xc9" + size.to_bytes(4, "big") + bytes((code,)) + blob


_EXT_WIDTH = {0xC7: 1, 0xC8: 2, 0xC9: 4}
_SEALED_STARTS = frozenset((0xC7, 0xC8, 0xC9, 0x92, 0xDC))  # what a sealed payload may start with


def _ext_at(raw: bytes, at: int) -> tuple[int, int, int] | None:
    """The ext object at ``raw[at]``: its type, where its data starts and ends; None if none is there."""
    width = _EXT_WIDTH.get(raw[at]) if at < len(raw) else None
    if width is None or at + 2 + width > len(raw):
        return None
    start = at + 2 + width
    end = start + int.from_bytes(raw[at + 1 : at + 1 + width], "big")
    return (raw[start - 1], start, end) if end <= len(raw) else None


def _where(where: str) -> bytes:
    try:
        return where.encode()
    except UnicodeEncodeError:
        return where.encode("utf-8", "surrogateescape")


def thread_scope(where: str) -> bytes:
    """What a user part's seal is bound to: the prefix and the thread's hash tag of ``where``
    (``<prefix>:session:{<thread>}:<field>`` and ``<prefix>:conv:{<thread>}:msgs`` share it)."""
    open_at = where.find("{")
    close_at = where.find("}", open_at)
    if open_at < 0 or close_at < 0:
        return b"\x00" + _where(where)
    prefix = where[:open_at].rsplit(":", 2)[0]
    return _where(prefix) + b"\x00" + _where(where[open_at : close_at + 1])


def _value_context(header: bytes, where: str) -> bytes:
    return header + _where(where)


def seal(raw: bytes, sealer: Sealer | None, where: str) -> bytes:
    """The envelope ``raw`` (from :func:`encode`) as stored at ``where`` (its Valkey key; for a hash
    field, ``key`` + NUL + field): its payload sealed, bound to its header and ``where``. Unchanged
    without a sealer."""
    if sealer is None:
        return raw
    header = raw[:HEADER_SIZE]
    blob = sealer.seal(SEALED_EXT, raw[HEADER_SIZE:], _value_context(header, where))
    return header + _ext(SEALED_EXT, blob)


def seal_part(raw: bytes, sealer: Sealer | None, where: str) -> bytes:
    """A user part's envelope (msgpack ``[save, data]``) as stored at ``where``: ``data`` sealed,
    bound to the thread, ``save`` left readable for the attach script. Unchanged without a sealer."""
    if sealer is None:
        return raw
    if len(raw) < HEADER_SIZE + 3 or raw[HEADER_SIZE] != 0x92 or raw[HEADER_SIZE + 1] not in (0xC2, 0xC3):
        raise SerializationError("a user part is stored as msgpack [save, data]")
    blob = sealer.seal(PART_EXT, raw[HEADER_SIZE + 2 :], thread_scope(where))
    return raw[: HEADER_SIZE + 2] + _ext(PART_EXT, blob)


def seal_message(raw: bytes, sealer: Sealer | None, where: str) -> bytes:
    """A conversation message's envelope as stored in the list ``where``; a message that got user
    parts attached (msgpack ``[message, part...]``, array16) keeps that shape, each item sealed as
    the attach script would have joined them. Unchanged without a sealer."""
    if sealer is None:
        return raw
    items = _items(raw) if raw[HEADER_SIZE : HEADER_SIZE + 1] == b"\xdc" else None
    if items is None:
        return seal(raw, sealer, where)
    header, scope = raw[:HEADER_SIZE], thread_scope(where)
    out = [header, raw[HEADER_SIZE : HEADER_SIZE + 3]]
    out.append(_ext(SEALED_EXT, sealer.seal(SEALED_EXT, items[0], _value_context(header, where))))
    out.extend(_ext(PART_EXT, sealer.seal(PART_EXT, item, scope)) for item in items[1:])
    return b"".join(out)


def _items(raw: bytes) -> list[bytes] | None:
    """The msgpack bytes of each item of a plain array16 envelope (None if it is not one)."""
    unpacker = msgpack.Unpacker(strict_map_key=False)
    unpacker.feed(raw[HEADER_SIZE:])
    try:
        count = unpacker.read_array_header()
        base = HEADER_SIZE + unpacker.tell()
        bounds = []
        for _ in range(count):
            unpacker.skip()
            bounds.append(HEADER_SIZE + unpacker.tell())
    except Exception:  # msgpack raises several unrelated types for data it cannot read
        return None
    if not bounds or bounds[-1] != len(raw):
        return None
    starts = [base, *bounds[:-1]]
    return [raw[a:b] for a, b in zip(starts, bounds, strict=True)]


def is_sealed(raw: bytes) -> bool:
    """Whether ``raw`` is a sealed envelope (any of the three shapes)."""
    return _shape(raw) is not None


def sealed_blobs(raw: bytes) -> list[bytes]:
    """The sealed blobs of a sealed envelope, in order (none for a plain one)."""
    return [raw[start:end] for _, start, end in _shape(raw) or ()]


def hash_where(key: str, field: str) -> str:
    """Where a value stored in a hash field is, for its seal: the hash's key and the field."""
    return key + "\x00" + field


def _shape(raw: bytes) -> list[tuple[int, int, int]] | None:
    """The sealed ext objects of ``raw`` in order, if it is a sealed envelope of one of the three
    shapes (each ext's type, start and end); else None."""
    if len(raw) <= HEADER_SIZE or (raw[0] != VERSION and raw[0] != FIXED) or raw[HEADER_SIZE] not in _SEALED_STARTS:
        return None
    first = raw[HEADER_SIZE]
    if first == 0x92:
        if len(raw) < HEADER_SIZE + 3 or raw[HEADER_SIZE + 1] not in (0xC2, 0xC3):
            return None
        ext = _ext_at(raw, HEADER_SIZE + 2)
        return [ext] if ext is not None and ext[0] == PART_EXT and ext[2] == len(raw) else None
    if first == 0xDC:
        count = int.from_bytes(raw[HEADER_SIZE + 1 : HEADER_SIZE + 3], "big")
        found, at = [], HEADER_SIZE + 3
        for index in range(count):
            ext = _ext_at(raw, at)
            if ext is None or ext[0] != (SEALED_EXT if index == 0 else PART_EXT):
                return None
            found.append(ext)
            at = ext[2]
        return found if found and at == len(raw) else None
    ext = _ext_at(raw, HEADER_SIZE)
    return [ext] if ext is not None and ext[0] == SEALED_EXT and ext[2] == len(raw) else None


def opened(raw: bytes, sealer: Sealer | None, where: str, *, plaintext: bool | None = None) -> bytes:
    """The plain envelope of what is stored at ``where`` (the inverse of :func:`seal`,
    :func:`seal_part` and :func:`seal_message`, and of the attach script's join of them).

    :class:`DecryptionError` when it cannot be opened: a key not in the list, a changed or moved
    value, a sealed value without a sealer, or plaintext where ``plaintext`` (default: the sealer's
    ``allow_plaintext``) does not accept it. Without a sealer a plain envelope is returned as it is."""
    if len(raw) <= HEADER_SIZE or (raw[0] != VERSION and raw[0] != FIXED) or raw[HEADER_SIZE] not in _SEALED_STARTS:
        shape = None  # the common case without encryption: nothing to parse
    else:
        shape = _shape(raw)
    if shape is None:
        if sealer is not None and not (sealer.allow_plaintext if plaintext is None else plaintext):
            raise DecryptionError(
                f"the value at {where!r} is not encrypted, and this cache reads encrypted values only "
                "(Encryption(allow_plaintext=True) while migrating; agentcache rekey encrypts them)",
                where,
            )
        return raw
    if sealer is None:
        from agentcache.encoding.encryption import key_name

        name = key_name(raw[shape[0][1] : shape[0][2]])
        shown = None if name is None else name.decode("ascii", "replace")
        raise DecryptionError(
            f"the value at {where!r} is encrypted (key {shown!r}): open the cache with encryption= and its keys",
            where,
            shown,
        )
    header = raw[:HEADER_SIZE]
    if raw[HEADER_SIZE] == 0x92:
        code, start, end = shape[0]
        return raw[: HEADER_SIZE + 2] + sealer.open(PART_EXT, raw[start:end], thread_scope(where), where)
    out = [header] if raw[HEADER_SIZE] != 0xDC else [header, raw[HEADER_SIZE : HEADER_SIZE + 3]]
    scope = b""
    for code, start, end in shape:
        if code == SEALED_EXT:
            out.append(sealer.open(SEALED_EXT, raw[start:end], _value_context(header, where), where))
        else:
            scope = scope or thread_scope(where)
            out.append(sealer.open(PART_EXT, raw[start:end], scope, where))
    return b"".join(out)


def seal_bytes(data: bytes, sealer: Sealer | None, where: str) -> bytes:
    """Bytes stored without an envelope (a checkpoint entry, a conversation's system prompt or
    summary) as stored at ``where``: with a sealer, a sealed envelope (header without TTL, then
    ``ext(SEALED_EXT)``) whose plaintext is ``data``; unchanged without one."""
    if sealer is None:
        return data
    return seal(_header(0) + data, sealer, where)


def opened_bytes(raw: bytes, sealer: Sealer | None, where: str) -> bytes:
    """The inverse of :func:`seal_bytes`: ``raw`` as it was given to it. Plaintext (what was stored
    before encryption was on) comes back as it is where :func:`opened` would accept it, and raises
    :class:`DecryptionError` where it would not."""
    if _shape(raw) is None:
        opened(raw, sealer, where)  # plaintext: refused unless allowed (never a sealed shape here)
        return raw
    return opened(raw, sealer, where)[HEADER_SIZE:]


def seal_text(text: str, sealer: Sealer | None, where: str) -> str | bytes:
    """A text field (a conversation's system prompt, its summary) as stored at ``where``: sealed
    with a sealer (:func:`seal_bytes`), the text itself without one."""
    return text if sealer is None else seal_bytes(text.encode(), sealer, where)


def opened_text(raw: bytes, sealer: Sealer | None, where: str) -> str:
    """The text :func:`seal_text` stored at ``where``."""
    return opened_bytes(raw, sealer, where).decode()


def resealed(
    raw: bytes, sealer: Sealer, where: str, *, part: bool = False, message: bool = False, bare: bool = False
) -> bytes:
    """``raw`` (sealed under any of the sealer's keys, or plaintext) sealed again under its current
    key, in the same shape (what ``agentcache rekey`` writes). ``part``: ``where`` is a user part's
    key; ``message``: ``where`` is a conversation's message list; ``bare``: bytes without an
    envelope (:func:`seal_bytes`). Plaintext is taken only if the sealer's ``allow_plaintext`` is
    on (a migration); else it raises :class:`DecryptionError`."""
    if bare:
        return seal_bytes(opened_bytes(raw, sealer, where), sealer, where)
    plain = opened(raw, sealer, where)
    if part:
        return seal_part(plain, sealer, where)
    if message:
        return seal_message(plain, sealer, where)
    return seal(plain, sealer, where)
