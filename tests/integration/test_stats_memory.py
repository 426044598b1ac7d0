"""``agentcache stats`` shows the server's memory: used, maxmemory and the policy of each primary,
and warns when the policy can evict conversations or memory is nearly full (issue 29)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("rich")

from rich.console import Console

from agentcache import AgentCache
from agentcache.stats import CacheStats, NodeMemory, TierStats, memory_warning
from agentcache.stats_view import memory, render, show
from agentcache.testing import unique_prefix

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


def test_stats_show_the_memory_of_every_primary(server_urls: Callable[[str], str]) -> None:
    url, prefix = server_urls("standalone"), unique_prefix()
    console = Console(record=True, width=200)
    assert show(url, prefix, None, console=console) == 0
    shown = console.export_text()
    assert "memory" in shown and "noeviction" in shown and "no limit" not in shown  # the bundled server's defaults
    with AgentCache.from_url(server_urls("cluster3"), prefix=prefix) as cache:
        cache.ping()
        nodes = memory(cache.client)
    assert nodes is not None and len(nodes) == 3 and all(n.used > 0 and n.policy == "noeviction" for n in nodes)
