"""The tool tier across worker processes: computed once, taken over when the computing one dies."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentcache import AgentCache
from agentcache.testing import unique_prefix

WORKERS = 8


def flight_worker(url: str, prefix: str, barrier: Any, results: Any) -> None:
    with AgentCache.from_url(url, prefix=prefix) as cache:
        cache.ping()

        def compute() -> dict[str, Any]:
            cache.client.execute_command("INCR", f"{prefix}:executions")  # counted in Valkey, not here
            time.sleep(0.5)
            return {"computed_by": os.getpid(), "answer": 42}

        barrier.wait(60)  # every worker asks at the same moment
        results.put(cache.tool.get_or_compute("expensive", {"q": "same"}, compute, lock_timeout=30))


@pytest.mark.parametrize("topology", ["standalone", "cluster", "cluster3"])
def test_eight_processes_asking_at_once_run_the_function_once(topology: str, server_urls: Any) -> None:
    url, prefix = server_urls(topology), unique_prefix()
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(WORKERS), context.Queue()
    processes = [context.Process(target=flight_worker, args=(url, prefix, barrier, results)) for _ in range(WORKERS)]
    for process in processes:
        process.start()
    values = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert len({repr(v) for v in values}) == 1  # all eight got the same value
    assert values[0]["answer"] == 42
    with AgentCache.from_url(url, prefix=prefix) as cache:
        cache.ping()
        assert cache.client.execute_command("GET", f"{prefix}:executions") == b"1"
        tool = cache.stats().tools["expensive"]
        assert (tool.misses, tool.hits) == (1, WORKERS - 1)


def dying_holder(url: str, prefix: str, claimed: str) -> None:
    with AgentCache.from_url(url, prefix=prefix) as cache:

        def compute() -> str:
            Path(claimed).write_text("claimed")
            time.sleep(3600)  # killed long before this ends
            return "never"

        cache.tool.get_or_compute("report", {"id": 7}, compute, lock_timeout=2)


@pytest.mark.parametrize("topology", ["standalone", "cluster3"])
def test_when_the_computing_process_is_killed_a_waiter_takes_over(
    topology: str, server_urls: Any, tmp_path: Path
) -> None:
    url, prefix, claimed = server_urls(topology), unique_prefix(), tmp_path / "claimed"
    holder = multiprocessing.get_context("spawn").Process(target=dying_holder, args=(url, prefix, str(claimed)))
    holder.start()
    deadline = time.monotonic() + 60
    while not claimed.exists():
        assert time.monotonic() < deadline, "the holder never claimed the computation"
        time.sleep(0.01)
    outcome: dict[str, Any] = {}
    with AgentCache.from_url(url, prefix=prefix) as cache:
        waiter = threading.Thread(
            target=lambda: outcome.update(value=cache.tool.get_or_compute("report", {"id": 7}, lambda: "survivor"))
        )
        waiter.start()
        time.sleep(0.2)
        assert waiter.is_alive()  # it waits for the holder's result
        holder.kill()
        killed_at = time.monotonic()
        holder.join(30)
        waiter.join(30)
        assert outcome == {"value": "survivor"}
        assert time.monotonic() - killed_at < 2 + 5  # the holder's lock_timeout, plus generous slack
        assert cache.tool.check("report", {"id": 7}).value == "survivor"


def policy_reader(url: str, prefix: str, results: Any) -> None:
    with AgentCache.from_url(url, prefix=prefix) as cache:
        cache.tool.store("search", {"q": "x"}, "result")  # no ttl of its own: the policy applies
        results.put((cache.tool.get_policy("search"), cache.tool.check("search", {"q": "x"}).ttl))


@pytest.mark.parametrize("topology", ["standalone", "cluster3"])
def test_a_policy_set_in_one_process_applies_in_another(topology: str, server_urls: Any) -> None:
    url, prefix = server_urls(topology), unique_prefix()
    with AgentCache.from_url(url, prefix=prefix) as cache:
        cache.tool.set_policy("search", ttl=77)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=policy_reader, args=(url, prefix, results))
    process.start()
    policy, ttl = results.get(timeout=120)
    process.join(60)
    assert policy.ttl == 77
    assert 70 < ttl <= 77
