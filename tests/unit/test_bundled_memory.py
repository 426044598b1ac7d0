"""The bundled server's memory sizes parse, and a bad size or policy is refused before anything
starts (the limits on running servers: tests/integration/test_bundled_memory.py)."""

from __future__ import annotations

import pytest

from agentcache import BundledValkey, InvalidArgumentError
from agentcache.server import machine_memory, parse_maxmemory


def test_sizes_parse() -> None:
    assert parse_maxmemory("512mb") == 512 << 20 and parse_maxmemory("2GB") == 2 << 30
    assert parse_maxmemory(" 3 kb ") == 3072 and parse_maxmemory("100") == 100 and parse_maxmemory(0) == 0
    assert parse_maxmemory("10%") == int(machine_memory() * 0.1)
    assert parse_maxmemory(None) is None
    for bad in ("x", "-1", "5tb", -3, True, 1.5, "0%", "101%", "nan", "inf", "", "mb", "%"):
        with pytest.raises(InvalidArgumentError):
            parse_maxmemory(bad)
    with pytest.raises(InvalidArgumentError):
        BundledValkey("standalone", maxmemory="lots")
    with pytest.raises(InvalidArgumentError):
        BundledValkey("standalone", maxmemory_policy="evict everything; rm -rf")
