"""The tool tier's single-flight and decorator on the asyncio facade, with real tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from agentcache import AsyncAgentCache, InvalidArgumentError
from agentcache.testing import unique_prefix


@pytest.fixture(params=["standalone", "cluster", "cluster3", "memory"])
def make(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> Callable[[], AsyncAgentCache]:
    """Makes the cache inside the test, so it lives and closes on the test's own event loop."""
    if request.param == "memory":
        return lambda: AsyncAgentCache.in_memory(prefix=unique_prefix())
    url = server_urls(request.param)
    return lambda: AsyncAgentCache.from_url(url, prefix=unique_prefix())


async def test_tasks_asking_at_once_compute_once(make: Callable[[], AsyncAgentCache]) -> None:
    async with make() as acache:
        runs: list[int] = []

        async def slow() -> dict[str, int]:
            runs.append(1)
            await asyncio.sleep(0.2)
            return {"answer": 42}

        results = await asyncio.gather(*(acache.tool.get_or_compute("slow", {"q": 1}, slow) for _ in range(20)))
        assert results == [{"answer": 42}] * 20
        assert runs == [1]
        stats = await acache.stats()
        assert (stats.tools["slow"].misses, stats.tools["slow"].hits) == (1, 19)


async def test_the_decorator_caches_coroutine_functions(make: Callable[[], AsyncAgentCache]) -> None:
    async with make() as acache:
        runs: list[str] = []

        @acache.tool.cached("search", ttl=60, cost=0.1, ignore=("client",))
        async def search(query: str, limit: int = 10, client: object = None) -> list[str]:
            runs.append(query)
            await asyncio.sleep(0)
            return [query] * 2

        assert asyncio.iscoroutinefunction(search)
        assert await search("valkey") == ["valkey", "valkey"]
        assert await search(query="valkey", limit=10, client=object()) == ["valkey", "valkey"]
        assert runs == ["valkey"]
        found = await acache.tool.check(search.tool, {"query": "valkey", "limit": 10})
        assert found.hit and found.cost == 0.1
        assert await search.invalidate("valkey") is True
        await search("valkey")
        assert runs == ["valkey", "valkey"]


async def test_the_async_decorator_refuses_sync_functions(make: Callable[[], AsyncAgentCache]) -> None:
    async with make() as acache:

        def plain(x: int) -> int:
            return x

        with pytest.raises(InvalidArgumentError, match="not a coroutine function"):
            acache.tool.cached()(plain)


async def test_get_or_compute_accepts_a_plain_function(make: Callable[[], AsyncAgentCache]) -> None:
    async with make() as acache:
        assert await acache.tool.get_or_compute("t", 1, lambda: "sync value") == "sync value"
        assert (await acache.tool.check("t", 1)).value == "sync value"


async def test_a_cancelled_computation_releases_its_claim(make: Callable[[], AsyncAgentCache]) -> None:
    async with make() as acache:
        started = asyncio.Event()

        async def forever() -> None:
            started.set()
            await asyncio.sleep(3600)

        task = asyncio.create_task(acache.tool.get_or_compute("t", 1, forever, lock_timeout=3600))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the claim is gone, so the next caller computes at once instead of waiting an hour
        assert await asyncio.wait_for(acache.tool.get_or_compute("t", 1, lambda: "next"), 30) == "next"


async def test_an_exception_reaches_the_caller_and_a_waiter_computes(make: Callable[[], AsyncAgentCache]) -> None:
    async with make() as acache:
        started = asyncio.Event()

        async def failing() -> Any:
            started.set()
            await asyncio.sleep(0.1)
            raise LookupError("upstream down")

        async def working() -> str:
            return "recovered"

        first = asyncio.create_task(acache.tool.get_or_compute("t", 1, failing))
        await started.wait()
        second = asyncio.create_task(acache.tool.get_or_compute("t", 1, working))
        with pytest.raises(LookupError, match="upstream down"):
            await first
        assert await asyncio.wait_for(second, 30) == "recovered"


async def test_invalidate_tool_works_as_the_first_call(make: Callable[[], AsyncAgentCache]) -> None:
    """An asyncio cluster client learns its nodes lazily: listing the primaries must not find none."""
    async with make() as acache:
        assert await acache.tool.invalidate_tool("search") == 0
    async with make() as acache:
        for i in range(30):
            await acache.tool.store("search", i, i)
        assert await acache.tool.invalidate_tool("search") == 30


async def test_tasks_of_one_process_share_the_first_callers_round_trips(make: Callable[[], AsyncAgentCache]) -> None:
    async with make() as acache:
        await acache.ping()
        await acache.tool.get_or_compute("warm", 0, lambda: 0)  # the server learns the claim script
        started = asyncio.Event()

        async def slow() -> list[int]:
            started.set()
            await asyncio.sleep(0.1)
            return [1, 2]

        before = acache.round_trips
        results = await asyncio.gather(*(acache.tool.get_or_compute("t", 1, slow) for _ in range(10)))
        assert acache.round_trips - before == 2  # the leader's claim and store; the nine others waited
        assert results == [[1, 2]] * 10
        results[0].append(3)
        assert results[1] == [1, 2]  # each caller has its own copy
        assert len(acache.settings.flights) == 0


async def test_no_flight_is_left_behind(make: Callable[[], AsyncAgentCache]) -> None:
    async with make() as acache:

        async def fail() -> None:
            raise LookupError

        async def forever() -> None:
            await asyncio.sleep(3600)

        with pytest.raises(LookupError):
            await acache.tool.get_or_compute("t", 1, fail)
        task = asyncio.create_task(acache.tool.get_or_compute("t", 2, forever))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(acache.settings.flights) == 0
