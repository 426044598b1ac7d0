"""``agentcache stats`` shows the server's memory: used, maxmemory and the policy of each primary,
and warns when the policy can evict conversations or memory is nearly full (issue 29)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("rich")

from rich.console import Console

from agentcache import AgentCache
from agentcache.stats_view import memory, show
from agentcache.testing import unique_prefix


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
