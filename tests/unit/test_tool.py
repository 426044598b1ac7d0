"""The tool tier refuses bad input before anything is sent (in-memory backend; the tier on servers:
tests/integration/test_tool.py)."""

from __future__ import annotations

from typing import Any

import pytest

from agentcache import (
    CanonicalArgsError,
    InvalidArgumentError,
    InvalidNameError,
    SerializationError,
)

ARGS = {"city": "Paris", "units": "metric", "days": 3}


def test_bad_input_is_refused_before_anything_is_sent(memory_cache: Any) -> None:
    memory_cache.ping()
    sent = memory_cache.round_trips
    with pytest.raises(CanonicalArgsError, match=r"args\['x'\]"):
        memory_cache.tool.check("t", {"x": object()})
    with pytest.raises(CanonicalArgsError):
        memory_cache.tool.store("t", {1j: 1}, "v")
    with pytest.raises(InvalidNameError):
        memory_cache.tool.check("", ARGS)
    with pytest.raises(InvalidNameError):
        memory_cache.tool.store(7, ARGS, "v")
    with pytest.raises(SerializationError):
        memory_cache.tool.store("t", ARGS, object())
    with pytest.raises(InvalidArgumentError, match="cost"):
        memory_cache.tool.store("t", ARGS, 1, cost=-1)
    with pytest.raises(InvalidArgumentError, match="cost"):
        memory_cache.tool.store("t", ARGS, 1, cost="free")
    with pytest.raises(InvalidArgumentError, match="ttl"):
        memory_cache.tool.store("t", ARGS, 1, ttl=0)
    with pytest.raises(InvalidArgumentError, match="lock_timeout"):
        memory_cache.tool.get_or_compute("t", ARGS, lambda: 1, lock_timeout=0)
    with pytest.raises(InvalidArgumentError, match="fn"):
        memory_cache.tool.get_or_compute("t", ARGS, "not callable")
    with pytest.raises(InvalidArgumentError, match="model"):
        memory_cache.tool.check("t", ARGS, model=dict)
    with pytest.raises(InvalidArgumentError):
        memory_cache.tool.set_policy("t", ttl=-5)
    with pytest.raises(InvalidNameError):
        memory_cache.tool.set_policy("", ttl=5)
    assert memory_cache.round_trips == sent
