"""What the codec takes it gives back, nested keys included (values through a server:
tests/integration/test_values_round_trip.py)."""

from __future__ import annotations

from typing import Any

import pytest

from agentcache import SerializationError
from agentcache.encoding import codec


def nested_key(depth: int) -> tuple[Any, ...]:
    key: tuple[Any, ...] = ()
    for _ in range(depth):
        key = (key, 1)
    return key


def test_what_the_codec_takes_it_gives_back() -> None:
    """NaN and the infinities round-trip in msgpack (the library keeps them; HTTP refuses them on
    write), and a dict keyed by a tuple nested 1000 deep reads back (it raised RecursionError)."""
    nan = codec.decode(codec.encode(float("nan"), 0, 1 << 20))
    assert nan != nan
    assert codec.decode(codec.encode([float("inf"), float("-inf")], 0, 1 << 20)) == [float("inf"), float("-inf")]
    for depth in (1, 5, 1000):
        back = codec.decode(codec.encode({nested_key(depth): "v"}, 0, 1 << 20))
        key = next(iter(back))
        assert isinstance(key, tuple) and hash(key) == hash(nested_key(depth)) and back[key] == "v"
    with pytest.raises(SerializationError):  # deeper than the packer goes: refused on write, not on read
        codec.encode({nested_key(1100): "v"}, 0, 1 << 20)
