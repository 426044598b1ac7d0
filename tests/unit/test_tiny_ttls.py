"""A positive TTL is never 0 ms: under 1 ms it is 1 ms (the stored values expiring:
tests/integration/test_tiny_ttls.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from agentcache.encoding.expiry import ttl_ms


@pytest.mark.parametrize("ttl", [1e-10, 0.0004, 0.0009999, timedelta(microseconds=1)])
def test_a_positive_ttl_is_at_least_one_millisecond(ttl: Any) -> None:
    assert ttl_ms(ttl) == 1
    assert ttl_ms(0.0010001) == 2  # and rounds up above it, never down to "forever"
