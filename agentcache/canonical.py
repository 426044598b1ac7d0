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
import sys
import uuid
from typing import Any

from .errors import CanonicalArgsError

MAX_DEPTH = 64


def _text(tag: bytes, text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return tag + str(len(data)).encode() + b":" + data


class _CulpritError(Exception):
    """Raised at the value that has no canonical form; containers add where it sits on the way out."""

    def __init__(self, value: object, too_deep: bool = False) -> None:
        self.value = value
        self.too_deep = too_deep
        self.path: list[str] = []


def _at(segment: str, value: Any, depth: int) -> bytes:
    try:
        return _canon(value, depth)
    except _CulpritError as culprit:
        culprit.path.append(segment)
        raise


def _canon(value: Any, depth: int) -> bytes:
    if depth > MAX_DEPTH:
        raise _CulpritError(value, too_deep=True)
    kind = type(value)
    if value is None:
        return b"N"
    if kind is bool:
        return b"T" if value else b"F"
    if kind is int:
        return b"i" + str(value).encode() + b";"
    if kind is str:
        return _text(b"s", value)
    if kind is float:
        return b"f" + float.hex(value).encode() + b";"
    if kind is bytes or kind is bytearray or kind is memoryview:
        data = bytes(value)
        return b"y" + str(len(data)).encode() + b":" + data
    if kind is list or kind is tuple:
        return _sequence(b"l", [_at(f"[{i}]", item, depth + 1) for i, item in enumerate(value)])
    if kind is dict:
        return _mapping(value, depth)
    if kind is set or kind is frozenset:
        return _sequence(b"e", sorted(_at("{...}", item, depth + 1) for item in value))
    return _other(value, depth)


def _sequence(tag: bytes, items: list[bytes]) -> bytes:
    return tag + str(len(items)).encode() + b":" + b"".join(items)


def _mapping(value: dict[Any, Any], depth: int) -> bytes:
    pairs = []
    for k, v in value.items():
        try:
            pairs.append(_canon(k, depth + 1) + _canon(v, depth + 1))
        except _CulpritError as culprit:
            culprit.path.append(f"[{k!r}]")
            raise
    pairs.sort()
    return _sequence(b"d", pairs)


def _other(value: Any, depth: int) -> bytes:
    """Subclasses of the plain types, models, dataclasses and the text-like standard types."""
    if isinstance(value, enum.Enum):  # before int/str: an IntEnum member is not the int
        return _text(b"E", f"{type(value).__module__}.{type(value).__qualname__}") + _canon(value.value, depth)
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return _mapping(dict(value), depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _mapping({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, depth)
    base: type[Any]
    for base in (int, float, str, bytes, tuple, list, dict, frozenset, set):
        if isinstance(value, base):  # a subclass (str subclass, NamedTuple, OrderedDict...) counts as its base
            return _canon(base(value), depth)
    if isinstance(value, datetime.datetime):
        return _text(b"D", value.isoformat())
    if isinstance(value, datetime.date):
        return _text(b"d", value.isoformat())
    if isinstance(value, datetime.time):
        return _text(b"t", value.isoformat())
    if isinstance(value, uuid.UUID):
        return _text(b"u", str(value))
    if isinstance(value, decimal.Decimal):
        return _text(b"m", str(value))
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
        raise CanonicalArgsError(
            f"tool arguments: {where} is a {kind.__module__}.{kind.__qualname__}, which has no canonical form; "
            "use None, bool, int, float, str, bytes, lists, tuples, dicts, sets, enums, dates, UUIDs, Decimals, "
            "dataclasses or pydantic models (or leave it out with ignore=)"
        ) from None


def digest(args: Any) -> str:
    """32 hex characters (128 bits of BLAKE2b) identifying ``args`` by their canonical form."""
    return hashlib.blake2b(canonical(args), digest_size=16).hexdigest()
