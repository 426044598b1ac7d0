"""``agentcache stats``'s memory table and its warnings, rendered from given numbers (the live
table: tests/integration/test_stats_memory.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("rich")

from rich.console import Console

from agentcache.stats import CacheStats, NodeMemory, TierStats, memory_warning
from agentcache.stats_view import render

EMPTY = CacheStats(session=TierStats(), tool=TierStats())


def text(nodes: list[NodeMemory] | None) -> str:
    console = Console(record=True, width=200)
    console.print(render(EMPTY, "title", nodes))
    return console.export_text()


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-ttl"])
def test_a_policy_that_can_evict_conversations_is_warned_of(policy: str) -> None:
    shown = text([NodeMemory("127.0.0.1:6379", 1 << 20, 2 << 20, policy)])
    assert policy in shown and "1.00 MB" in shown and "2.00 MB" in shown
    assert "can evict conversations" in shown and "noeviction" in shown


def test_noeviction_is_quiet_until_memory_is_nearly_full() -> None:
    assert memory_warning([NodeMemory("a", 1 << 20, 2 << 20, "noeviction")]) is None
    assert memory_warning([NodeMemory("a", 1 << 20, 0, "allkeys-lru")]) is None  # no maxmemory: never evicts
    full = text([NodeMemory("a", 19 << 20, 20 << 20, "noeviction")])
    assert "95% of maxmemory" in full and "refuses writes" in full
    assert "not readable" in text(None)
