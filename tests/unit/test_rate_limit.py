"""The HTTP API's rate and quota options parse, and bad ones are refused (limits on servers:
tests/integration/test_rate_limit.py)."""

from __future__ import annotations

from typing import Any

import pytest

from agentcache import AgentCacheError

pytest.importorskip("fastapi")

from agentcache import InvalidArgumentError
from agentcache.http.rate import parse_quota, parse_rate
from agentcache.tiers.limits.tier import Quota


def test_quotas_parse() -> None:
    assert parse_quota("threads=1000,keys=200,bytes=50mb,per=1d") == Quota(1000, 200, 50 << 20, 86400.0)
    assert parse_quota(" threads = 5 ") == Quota(threads=5)
    assert parse_quota("bytes=64kb,per=90m") == Quota(bytes=64 << 10, window=5400.0)
    for bad in ("", "per=1d", "threads=x", "threads=1,threads=2", "thread=1", "bytes=5tb", "threads=1,per=0", "x"):
        with pytest.raises(InvalidArgumentError):
            parse_quota(bad)


def test_rates_parse() -> None:
    assert parse_rate("600/60") == (600, 60.0)
    assert parse_rate("10/s") == (10, 1.0)
    assert parse_rate("600/min") == (600, 60.0)
    assert parse_rate("100/5m") == (100, 300.0)
    assert parse_rate("5000/h") == (5000, 3600.0)
    for bad in ("", "600", "0/60", "x/60", "10/0", "10/-1", "10/fortnight"):
        with pytest.raises(InvalidArgumentError):
            parse_rate(bad)


@pytest.mark.parametrize(
    "args",
    [("n", 0, 60), ("n", 1.5, 60), ("n", True, 60), ("n", 5, 0), ("n", 5, -1), ("n", 5, float("nan")), ("", 5, 60)],
)
def test_bad_arguments_are_refused_before_anything_is_sent(memory_cache: Any, args: tuple[Any, ...]) -> None:
    before = memory_cache.round_trips
    with pytest.raises(AgentCacheError):  # InvalidArgumentError, or InvalidNameError for the name
        memory_cache.limits.hit(*args)
    assert memory_cache.round_trips == before


@pytest.mark.parametrize(
    "options",
    [
        {"quota": Quota(threads=-1)},
        {"quota": Quota(threads=1, window=0)},
        {"quota": Quota(bytes=True)},
        {"quota": "threads=1"},
        {"quota": Quota(threads=1), "size": -1},
        {"quota": Quota(threads=1), "key": 5},
        {"rate": (0, 60)},
    ],
)
def test_bad_quotas_are_refused_before_anything_is_sent(memory_cache: Any, options: dict[str, Any]) -> None:
    before = memory_cache.round_trips
    with pytest.raises(InvalidArgumentError):
        memory_cache.limits.admit("n", thread="t", **options)
    assert memory_cache.round_trips == before
