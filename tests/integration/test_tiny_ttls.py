"""A positive TTL never means "forever": under 1 ms it is 1 ms, on every tier and option.

Only NO_EXPIRY says "never". Each test stores with a TTL that rounds to 0 ms and checks the value is
gone a moment later (before the fix it was stored with no expiry and stayed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import FACADES, TOPOLOGIES
from tests.helpers import make_cache

TINY = [1e-10, 0.0004, timedelta(microseconds=1)]


def gone_soon(read: Callable[[], Any]) -> bool:
    time.sleep(0.05)
    return read() is None


@pytest.mark.parametrize("ttl", TINY, ids=str)
def test_session_field_with_a_tiny_ttl_expires(cache: Any, ttl: Any) -> None:
    cache.session.set("t", "f", 1, ttl=ttl)
    assert gone_soon(lambda: cache.session.get("t", "f"))
    assert cache.session.get_all("t") == {}


@pytest.mark.parametrize("ttl", TINY, ids=str)
def test_tool_result_with_a_tiny_ttl_expires(cache: Any, ttl: Any) -> None:
    cache.tool.store("search", {"q": 1}, "r", ttl=ttl)
    assert gone_soon(lambda: cache.tool.check("search", {"q": 1}).value)
    assert not cache.tool.check("search", {"q": 1}).hit


def test_tool_policy_with_a_tiny_ttl_expires(cache: Any) -> None:
    cache.tool.set_policy("search", ttl=1e-10)
    cache.tool.store("search", {"q": 1}, "r")
    assert gone_soon(lambda: cache.tool.check("search", {"q": 1}).value)


@pytest.mark.parametrize("topology,facade", [(t, f) for t in TOPOLOGIES for f in FACADES])
def test_tiny_default_ttls_expire(topology: str, facade: str, server_urls: Callable[[str], str]) -> None:
    cache, close = make_cache(topology, facade, server_urls, session_ttl=1e-10, tool_ttl=1e-10)
    try:
        cache.session.set("t", "f", 1)
        cache.tool.store("search", {"q": 1}, "r")
        assert gone_soon(lambda: cache.session.get("t", "f"))
        assert cache.tool.check("search", {"q": 1}).value is None
    finally:
        close()
