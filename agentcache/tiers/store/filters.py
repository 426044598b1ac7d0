"""Search filters: checked before anything is sent, split into what the server judges and what only
this process can, and judged here by the same rules.

A filter maps top-level fields of an item's value to a condition, all of which must hold:

- a scalar (``None``, ``bool``, ``int``, ``float``, ``str``): equal, as Python's ``==`` says
  (``True == 1``, ``1 == 1.0``; ``None`` also matches a missing field);
- ``{"$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte": operand, ...}``: each operator holds; the
  order operators compare numbers (and bools) as floats and strings by code point, and any other
  pair does not match (LangGraph's ``InMemoryStore`` raises there, or turns numeric strings into
  floats);
- a dict without operators: the field is a dict whose fields match it, recursively;
- a list or tuple: the field is a list of the same length whose elements match, in order.

The server judges scalars and operators with scalar operands (``store/search.lua`` reads the fields
straight from the msgpack bytes); nested dicts, lists, integers too large for a double to hold
exactly and non-``str`` field names are judged here, after the server sent every candidate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentcache.errors import InvalidArgumentError, shown

OPERATORS = {"$eq": "eq", "$ne": "ne", "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
EXACT = 2**53  # integers below this in size are doubles exactly: the server compares them exactly


@dataclass(frozen=True, slots=True)
class Filter:
    """A checked filter: the whole of it (judged here) and the conditions the server can judge."""

    whole: dict[Any, Any]
    server: list[str]
    """Flat script arguments: per condition field, op, kind, operand (see ``search.lua``)."""
    server_only: bool
    """True when the server judges every condition, so it can page and refresh by itself."""

    def matches(self, value: Any) -> bool:
        """Whether an item's value passes the whole filter."""
        return isinstance(value, Mapping) and all(_compare(value.get(k), f) for k, f in self.whole.items())


NO_FILTER = Filter({}, [], True)


def check_filter(filter: object) -> Filter:
    """The filter checked and split, or :class:`InvalidArgumentError` before anything is sent."""
    if filter is None:
        return NO_FILTER
    if not isinstance(filter, Mapping):
        raise InvalidArgumentError(f"filter must be a dict of field -> condition, not {type(filter).__name__}")
    whole = dict(filter)
    server: list[str] = []
    server_only = True
    for field, condition in whole.items():
        _check(condition, f"filter[{field!r}]")
        args = _server_args(field, condition)
        if args is None:
            server_only = False
        else:
            server += args
    return Filter(whole, server, server_only)


def _is_operators(condition: object) -> bool:
    return isinstance(condition, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in condition)


def _check(condition: object, where: str) -> None:
    """Refuse operators we do not know and order operands that can never compare."""
    if _is_operators(condition):
        assert isinstance(condition, Mapping)
        for op, operand in condition.items():
            if op not in OPERATORS:
                raise InvalidArgumentError(
                    f"{where}: unknown operator {shown(op)}; use {', '.join(OPERATORS)} "
                    "(a dict with an operator holds only operators)"
                )
            if op not in ("$eq", "$ne") and not (_number(operand) is not None or isinstance(operand, str)):
                raise InvalidArgumentError(f"{where}: {op} compares numbers or strings, not {shown(operand)}")
    elif isinstance(condition, Mapping):
        for k, v in condition.items():
            _check(v, f"{where}[{k!r}]")
    elif isinstance(condition, list | tuple):
        for i, v in enumerate(condition):
            _check(v, f"{where}[{i}]")


def _number(value: object) -> float | None:
    """A number (or bool) as the float the order operators compare, else None."""
    if isinstance(value, bool | int | float):
        try:
            return float(value)
        except OverflowError:
            return math.copysign(math.inf, value)
    return None


def _operand(value: object, *, for_order: bool) -> tuple[str, str] | None:
    """``(kind, text)`` of an operand the server compares exactly, else None."""
    if value is None and not for_order:
        return "z", ""
    if isinstance(value, str):
        return "s", value
    if isinstance(value, bool | int | float):
        number = _number(value)
        assert number is not None
        if not math.isfinite(number) or (not for_order and abs(value) >= EXACT):
            return None
        return "n", repr(number)
    return None


def _server_args(field: object, condition: object) -> list[str] | None:
    """The script arguments of one field's condition, or None when only this process can judge it."""
    if not isinstance(field, str):
        return None
    if _is_operators(condition):
        assert isinstance(condition, Mapping)
        args: list[str] = []
        for op, operand in condition.items():
            found = _operand(operand, for_order=op not in ("$eq", "$ne"))
            if found is None:
                return None
            args += [field, OPERATORS[op], *found]
        return args
    found = _operand(condition, for_order=False)
    return None if found is None else [field, "eq", *found]


def _compare(value: Any, condition: Any) -> bool:
    if _is_operators(condition):
        return all(_apply(value, op, operand) for op, operand in condition.items())
    if isinstance(condition, Mapping):
        return isinstance(value, Mapping) and all(_compare(value.get(k), v) for k, v in condition.items())
    if isinstance(condition, list | tuple):
        return (
            isinstance(value, list | tuple)
            and len(value) == len(condition)
            and all(_compare(v, c) for v, c in zip(value, condition, strict=True))
        )
    return bool(value == condition)


def _apply(value: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(value == operand)
    if op == "$ne":
        return bool(value != operand)
    a, b = _number(value), _number(operand)
    if a is not None and b is not None:
        left, right = a, b
    elif isinstance(value, str) and isinstance(operand, str):
        left, right = value, operand  # type: ignore[assignment]
    else:
        return False
    if op == "$gt":
        return left > right
    if op == "$gte":
        return left >= right
    if op == "$lt":
        return left < right
    return left <= right
