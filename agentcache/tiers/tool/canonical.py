"""Canonical tool arguments: one byte string per distinct call, and its digest.

Two argument values are one call exactly when their canonical forms are equal:

- dict key order does not matter, at any depth; lists and tuples with the same items are one;
- what JSON would merge stays apart: ``1``, ``1.0``, ``"1"`` and ``True`` are four different calls,
  as are ``b"x"`` and ``"x"``;
- pydantic models and dataclasses count by their data (their fields, as a dict), so a model and
  the dict of its fields are one call;
- sets and frozensets count by their members; enums by their class and value; datetimes, dates,
  times, UUIDs and Decimals by their exact text.

Anything else raises :class:`CanonicalArgsError` naming where in the arguments it sits. The form is
a tagged, length-prefixed encoding, so it is injective by construction.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import hashlib
import operator
import sys
import uuid
from typing import Any

from agentcache.encoding import codec
from agentcache.errors import CanonicalArgsError, SerializationError, shown

MAX_DEPTH = 64


def _text(tag: bytes, text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return b"%b%d:%b" % (tag, len(data), data)


class _CulpritError(Exception):
    """Raised at the value that has no canonical form; containers add where it sits on the way out."""

    def __init__(self, value: object, too_deep: bool = False, reason: str = "") -> None:
        self.value = value
        self.too_deep = too_deep
        self.reason = reason
        self.path: list[str] = []


def _none(value: None, depth: int) -> bytes:
    return b"N"


def _bool(value: bool, depth: int) -> bytes:
    return b"T" if value else b"F"


_DECIMAL_BITS = 2000  # about 600 digits: below any limit sys.set_int_max_str_digits() accepts (640)


def _int(value: int, depth: int) -> bytes:
    if value.bit_length() <= _DECIMAL_BITS:
        return b"i%d;" % value
    # too long for decimal text (Python limits int-to-str conversion): its two's-complement bytes
    data = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return b"I%d:%b" % (len(data), data)


def _str(value: str, depth: int) -> bytes:
    data = value.encode("utf-8", "surrogatepass")
    return b"s%d:%b" % (len(data), data)


def _float(value: float, depth: int) -> bytes:
    return b"f%b;" % float.hex(value).encode()


def _bytes(value: bytes | bytearray | memoryview, depth: int) -> bytes:
    data = bytes(value)
    return b"y%d:%b" % (len(data), data)


def _sequence(value: list[Any] | tuple[Any, ...], depth: int) -> bytes:
    items = []
    for i, item in enumerate(value):
        try:
            items.append(_canon(item, depth + 1))
        except _CulpritError as culprit:
            culprit.path.append(f"[{i}]")
            raise
    return b"l%d:%b" % (len(items), b"".join(items))


def _set(value: set[Any] | frozenset[Any], depth: int) -> bytes:
    try:
        items = sorted(_canon(item, depth + 1) for item in value)
    except _CulpritError as culprit:
        culprit.path.append("{...}")
        raise
    return b"e%d:%b" % (len(items), b"".join(items))


def _mapping(value: dict[Any, Any], depth: int) -> bytes:
    flat = _flat(value)
    if flat is not None:
        return flat
    pairs = []
    for k, v in value.items():
        try:
            pairs.append(_canon(k, depth + 1) + _canon(v, depth + 1))
        except _CulpritError as culprit:
            culprit.path.append(f"[{shown(k)}]")
            raise
    pairs.sort()
    return b"d%d:%b" % (len(pairs), b"".join(pairs))


_FLAT_VALUES = frozenset((type(None), bool, int, float, str, bytes))
_NAN = float("nan")
_NOT_FLAT = object()
_FIRST = operator.itemgetter(0)


def _flat_scalar(value: Any) -> Any:
    """A scalar subclass instance as its exact base value (by the base type's own method, never the
    subclass's), a NaN as the one NaN, or ``_NOT_FLAT``."""
    if isinstance(value, enum.Enum):  # an IntEnum member is not its int: the general form says so
        return _NOT_FLAT
    if isinstance(value, memoryview):
        return value.tobytes()
    for base, plain in _PLAIN_SCALARS:
        if isinstance(value, base):
            value = plain(value)
            return _NAN if value != value else value
    return _NOT_FLAT


def _flat(value: dict[Any, Any]) -> bytes | None:
    """The common case, done by msgpack in C: str keys, scalar values. Tagged ``M`` so it never meets
    the general form; which form a dict takes depends only on what it holds (subclasses count as
    their base), so equal dicts agree. msgpack keeps 1, 1.0, True, "1" and b"1" apart (distinct
    types, floats always as float64)."""
    items = []
    for k, v in value.items():
        if type(k) is not str:
            if not isinstance(k, str) or isinstance(k, enum.Enum):
                return None
            k = str.__str__(k)
        if type(v) not in _FLAT_VALUES or v != v:  # v != v: a NaN, whatever its bits
            v = _flat_scalar(v)
            if v is _NOT_FLAT:
                return None
        items.append((k, v))
    items.sort(key=_FIRST)
    packer = codec.thread_packer()
    try:
        packed: bytes = packer.pack(items)
    except (OverflowError, ValueError, SerializationError):  # an int over 64 bits, a lone surrogate
        packer.reset()
        return None
    return b"M" + packed


_LEAVES: dict[type, Any] = {  # by exact type: one dict lookup for the common cases
    type(None): _none,
    bool: _bool,
    int: _int,
    str: _str,
    float: _float,
    bytes: _bytes,
    bytearray: _bytes,
    memoryview: _bytes,
}
_EXACT: dict[type, Any] = {
    **_LEAVES,
    list: _sequence,
    tuple: _sequence,
    dict: _mapping,
    set: _set,
    frozenset: _set,
}


def _canon(value: Any, depth: int) -> bytes:
    if depth > MAX_DEPTH:
        raise _CulpritError(value, too_deep=True)
    encode = _EXACT.get(type(value))
    return encode(value, depth) if encode is not None else _other(value, depth)


# A subclass instance as its exact base value, through the base type's own methods: a subclass
# cannot make two different values look alike by overriding __str__, __int__, __iter__ or items().
_PLAIN_SCALARS: tuple[tuple[type, Any], ...] = (
    (float, float.__float__),
    (int, int.__int__),
    (str, str.__str__),
    (bytes, lambda v: bytes(memoryview(v))),
    (bytearray, lambda v: bytes(memoryview(v))),
)
_PLAIN: tuple[tuple[type, Any], ...] = (
    *_PLAIN_SCALARS,
    (tuple, lambda v: list(tuple.__iter__(v))),
    (list, lambda v: list(list.__iter__(v))),
    (dict, lambda v: dict(dict.items(v))),
    (frozenset, lambda v: frozenset(frozenset.__iter__(v))),
    (set, lambda v: frozenset(set.__iter__(v))),
)


def _dataclass_fields(value: Any) -> dict[str, Any]:
    fields = {}
    for field in dataclasses.fields(value):
        try:
            fields[field.name] = getattr(value, field.name)
        except AttributeError:  # a field(init=False) never assigned
            raise _CulpritError(value, reason=f"its field {field.name!r} is not set") from None
    return fields


def _other(value: Any, depth: int) -> bytes:
    """Subclasses of the plain types, models, dataclasses and the text-like standard types."""
    if isinstance(value, enum.Enum):  # before int/str: an IntEnum member is not the int
        return _text(b"E", f"{type(value).__module__}.{type(value).__qualname__}") + _canon(value.value, depth)
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return _mapping(dict(value), depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _mapping(_dataclass_fields(value), depth)
    if isinstance(value, datetime.datetime):  # before date: a datetime is a date
        return _text(b"D", datetime.datetime.isoformat(value))
    if isinstance(value, datetime.date):
        return _text(b"A", datetime.date.isoformat(value))
    if isinstance(value, datetime.time):
        return _text(b"t", datetime.time.isoformat(value))
    if isinstance(value, uuid.UUID):
        return _text(b"u", uuid.UUID.__str__(value))
    if isinstance(value, decimal.Decimal):
        return _text(b"m", decimal.Decimal.__str__(value))
    for base, plain in _PLAIN:
        if isinstance(value, base):  # a subclass (str subclass, NamedTuple, OrderedDict...) counts as its base
            return _canon(plain(value), depth)
    raise _CulpritError(value)


def canonical(args: Any) -> bytes:
    """The canonical byte form of ``args``; raises :class:`CanonicalArgsError` before anything is sent."""
    try:
        return _canon(args, 0)
    except _CulpritError as culprit:
        where = "args" + "".join(reversed(culprit.path))
        if culprit.too_deep:
            raise CanonicalArgsError(
                f"tool arguments nest deeper than {MAX_DEPTH} levels (a cycle?) at {where[:200]}"
            ) from None
        kind = type(culprit.value)
        if culprit.reason:
            raise CanonicalArgsError(
                f"tool arguments: {where} is a {kind.__module__}.{kind.__qualname__} and {culprit.reason}, "
                "so the call has no canonical form; set it before the call (or leave the argument out with ignore=)"
            ) from None
        raise CanonicalArgsError(
            f"tool arguments: {where} is a {kind.__module__}.{kind.__qualname__}, which has no canonical form; "
            "use None, bool, int, float, str, bytes, lists, tuples, dicts, sets, enums, dates, UUIDs, Decimals, "
            "dataclasses or pydantic models (or leave it out with ignore=)"
        ) from None


def digest(args: Any) -> str:
    """32 hex characters (128 bits of BLAKE2b) identifying ``args`` by their canonical form."""
    return hashlib.blake2b(canonical(args), digest_size=16).hexdigest()
