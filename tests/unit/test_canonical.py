"""Canonical tool arguments: equal calls share a digest, different calls never do (property tests)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import struct
import uuid
from collections import OrderedDict
from typing import Any, NamedTuple

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcache import CanonicalArgsError, SerializationError
from agentcache.tiers.tool.canonical import canonical, digest

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
)
KEYS = st.one_of(st.text(max_size=6), st.integers(), st.booleans(), st.none())
ARGS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(KEYS, inner, max_size=4),
    ),
    max_leaves=20,
)


def shuffled(value: Any, seed: int) -> Any:
    """The same value with every dict's insertion order reversed or rotated, and lists as tuples."""
    if isinstance(value, dict):
        items = [(k, shuffled(v, seed)) for k, v in value.items()]
        if items:
            cut = seed % len(items)
            items = items[cut:] + items[:cut]
        return dict(reversed(items)) if seed % 2 else dict(items)
    if isinstance(value, list):
        return tuple(shuffled(v, seed) for v in value)
    return value


def same(a: Any, b: Any) -> bool:
    """Equality that keeps apart what canonical form keeps apart (1, 1.0, True; -0.0 and 0.0)."""
    if type(a) is not type(b) and not (isinstance(a, list | tuple) and isinstance(b, list | tuple)):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(any(same(k, k2) and same(v, b[k2]) for k2 in b) for k, v in a.items())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return bool(a.hex() == b.hex())
    return bool(a == b)


@given(ARGS, st.integers(min_value=0, max_value=50))
def test_key_order_and_list_or_tuple_do_not_matter(args: Any, seed: int) -> None:
    assert canonical(shuffled(args, seed)) == canonical(args)


@settings(max_examples=300)
@given(ARGS, ARGS)
def test_different_arguments_never_share_a_canonical_form(a: Any, b: Any) -> None:
    if not same(a, b):
        assert canonical(a) != canonical(b)


@pytest.mark.parametrize(
    "values",
    [
        [1, 1.0, "1", True, b"1", [1], {"1": 1}],
        [0, 0.0, -0.0, False, None, "", b"", [], {}],
        [{"a": 1}, {"a": 1.0}, {"a": True}, {"a": "1"}],
        [[1, 2], [2, 1], [[1, 2]], [1, [2]]],
        ["a", "a ", "A", "\x00a"],
    ],
)
def test_what_json_would_merge_stays_apart(values: list[Any]) -> None:
    assert len({digest(v) for v in values}) == len(values)


class Query(pydantic.BaseModel):
    city: str
    days: int = 3


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Pair(NamedTuple):
    a: int
    b: int


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    ONE = 1


def test_models_dataclasses_and_subclasses_count_by_their_data() -> None:
    assert digest(Query(city="Paris")) == digest({"days": 3, "city": "Paris"})
    assert digest({"q": Query(city="Paris", days=1)}) != digest({"q": Query(city="Paris", days=2)})
    assert digest(Point(1, 2)) == digest({"y": 2, "x": 1})
    assert digest(Pair(1, 2)) == digest([1, 2])
    assert digest(OrderedDict([("b", 1), ("a", 2)])) == digest({"a": 2, "b": 1})
    assert digest({1, 2, 3}) == digest(frozenset({3, 2, 1}))
    assert digest({1, 2}) != digest([1, 2])


def test_standard_types_count_by_exact_value() -> None:
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert digest(moment) == digest(datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC))
    assert digest(moment) != digest(moment.isoformat())
    assert digest(datetime.date(2026, 1, 2)) != digest(moment)
    assert digest(uuid.UUID(int=1)) != digest(str(uuid.UUID(int=1)))
    assert digest(decimal.Decimal("1.10")) != digest(decimal.Decimal("1.1"))
    assert digest(Color.RED) != digest(1)
    assert digest(Level.ONE) != digest(1)
    assert digest(Level.ONE) != digest(Color.RED)


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (object(), "args is a builtins.object"),
        ({"opts": [1, lambda: 0]}, "args['opts'][1] is a builtins.function"),
        ({("k",): {1: {2: 3j}}}, "args[('k',)][1][2] is a builtins.complex"),
    ],
)
def test_arguments_without_canonical_form_name_the_culprit(args: Any, where: str) -> None:
    with pytest.raises(CanonicalArgsError, match=__import__("re").escape(where)) as info:
        digest(args)
    assert isinstance(info.value, SerializationError)
    assert isinstance(info.value, TypeError)


def test_cycles_and_deep_nesting_are_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(CanonicalArgsError, match="deeper"):
        digest(loop)
    deep: Any = 0
    for _ in range(100):
        deep = [deep]
    with pytest.raises(CanonicalArgsError, match="deeper"):
        digest(deep)


def test_digest_is_32_hex_characters() -> None:
    value = digest({"city": "Paris"})
    assert len(value) == 32
    assert int(value, 16) >= 0


class Liar(str):
    """A str subclass whose __str__ lies: it must not make two values one call."""

    def __str__(self) -> str:
        return "same"


class LyingInt(int):
    def __int__(self) -> int:
        return 7


class Text(str):
    pass


def test_subclasses_count_by_their_real_value_not_their_dunders() -> None:
    assert digest(Liar("alice")) != digest(Liar("bob"))
    assert digest(Liar("alice")) == digest("alice")
    assert digest(LyingInt(5)) == digest(5) != digest(7)
    assert digest({Liar("k"): Liar("v")}) == digest({"k": "v"})


def test_a_value_counts_the_same_at_the_top_in_a_list_and_in_a_dict() -> None:
    nan_bits = struct.unpack("d", struct.pack("Q", 0x7FF8000000000001))[0]
    for plain, other in [("x", Text("x")), (1, LyingInt(1)), (b"x", bytearray(b"x")), (float("nan"), nan_bits)]:
        assert digest(plain) == digest(other)
        assert digest([plain]) == digest([other])
        assert digest({"k": plain}) == digest({"k": other})
        assert digest({"k": plain, "n": [1]}) == digest({"k": other, "n": [1]})
    assert digest({"k": Level.ONE}) != digest({"k": 1})
    assert digest({"k": 2**70}) != digest({"k": 2**70 + 1})
    assert digest({"k": 2**70}) == digest({"k": 2**70})
