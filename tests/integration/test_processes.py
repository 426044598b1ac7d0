"""Many worker processes sharing one server: nothing lost, nothing crossed."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from agentcache import AgentCache
from agentcache.testing import unique_prefix


def worker(url: str, prefix: str, index: int, fields: int) -> None:
    with AgentCache.from_url(url, prefix=prefix) as cache:
        for i in range(fields):
            cache.session.set("shared", f"w{index}-f{i}", [index, i])
            cache.session.set(f"own-{index}", f"f{i}", i)
            cache.session.get("shared", f"w{index}-f{i}")
        cache.session.touch("shared")


@pytest.mark.parametrize("topology", ["standalone", "cluster3"])
def test_concurrent_workers_lose_nothing(topology: str, server_urls: Any) -> None:
    url, prefix, workers, fields = server_urls(topology), unique_prefix(), 6, 40
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=worker, args=(url, prefix, i, fields)) for i in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    with AgentCache.from_url(url, prefix=prefix) as cache:
        shared = cache.session.get_all("shared")
        assert shared == {f"w{w}-f{i}": [w, i] for w in range(workers) for i in range(fields)}
        for w in range(workers):
            assert cache.session.get_all(f"own-{w}") == {f"f{i}": i for i in range(fields)}
        assert cache.session.destroy_thread("shared") == workers * fields
