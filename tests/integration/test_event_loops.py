"""An AsyncAgentCache called from several event loops: threads that each run their own loop, and
``asyncio.run`` one after another. A cache that made its client (``from_url``, ``embedded``,
``in_memory``) opens a client per loop and closes it when that loop shuts down; one that wraps the
user's client raises :class:`EventLoopError` at once from another loop. Nothing hangs: every wait
here is bounded, so a hang fails the test instead of stalling the run."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import valkey.asyncio

from agentcache import AsyncAgentCache, CacheClosedError, EventLoopError
from agentcache.testing import unique_prefix

TOPOLOGIES = ["standalone", "cluster", "cluster3", "memory"]
WAIT = 30.0  # seconds any one thread may take before the test fails


def _make(topology: str, url_of: Callable[[str], str], **options: Any) -> AsyncAgentCache:
    options.setdefault("prefix", unique_prefix())
    if topology == "memory":
        return AsyncAgentCache.in_memory(**options)
    return AsyncAgentCache.from_url(url_of(topology), **options)


def _in_threads(*jobs: Callable[[], Any]) -> list[Any]:
    """Run each job in a thread of its own, all at once; their results, or the first error raised."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [future.result(timeout=WAIT) for future in futures]


@pytest.fixture(params=TOPOLOGIES)
def topology(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_threads_with_their_own_loops_while_the_first_loop_waits(
    topology: str, server_urls: Callable[[str], str]
) -> None:
    """This test's loop uses the cache, then blocks on threads that use it from loops of their own
    (asyncio.run, and a bare new_event_loop closed without shutting down)."""
    cache = _make(topology, server_urls)
    try:
        await cache.session.set("t", "home", 0)
        sent = cache.round_trips

        def with_asyncio_run(i: int) -> Any:
            async def work() -> Any:
                for j in range(5):
                    await cache.session.set("t", f"run{i}-{j}", j)
                return await cache.session.get("t", f"run{i}-4")

            return asyncio.run(asyncio.wait_for(work(), WAIT))

        def with_bare_loop(i: int) -> Any:
            loop = asyncio.new_event_loop()
            try:
                return loop.run_until_complete(asyncio.wait_for(cache.session.set("t", f"bare{i}", i), WAIT))
            finally:
                loop.close()

        jobs = [lambda i=i: with_asyncio_run(i) for i in range(3)] + [lambda i=i: with_bare_loop(i) for i in range(3)]
        assert _in_threads(*jobs) == [4, 4, 4, None, None, None]
        assert cache.round_trips - sent >= 3 * 6 + 3, "round trips of every loop are counted"
        expected = (
            {"home": 0} | {f"run{i}-{j}": j for i in range(3) for j in range(5)} | {f"bare{i}": i for i in range(3)}
        )
        assert await cache.session.get_all("t") == expected, "this loop's client still works, and sees it all"
    finally:
        await cache.close()


async def test_asyncio_run_one_after_another_in_a_thread(topology: str, server_urls: Callable[[str], str]) -> None:
    """The first loop that used the cache is closed; later ones work (ADK's sync ``Runner.run`` and
    any script that calls ``asyncio.run`` twice do this)."""
    cache = _make(topology, server_urls)

    def sequence() -> list[Any]:
        got = []
        for i in range(3):
            asyncio.run(cache.session.set("seq", f"k{i}", i))
            got.append(asyncio.run(cache.session.get_all("seq")))
        asyncio.run(cache.close())
        return got

    got = _in_threads(sequence)[0]
    assert got == [{"k0": 0}, {"k0": 0, "k1": 1}, {"k0": 0, "k1": 1, "k2": 2}]
    with pytest.raises(CacheClosedError):
        await cache.session.get("seq", "k0")


def _connections(url: str, name: str) -> int:
    """How many connections the standalone server has open whose client name is ``name``."""

    async def count() -> int:
        client = valkey.asyncio.Valkey.from_url(url)
        try:
            listed = await client.client_list()
            return sum(1 for c in listed if c.get("name") == name)
        finally:
            await client.aclose()

    return asyncio.run(count())


def _eventually(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_loops_client_is_closed_when_the_loop_shuts_down(server_urls: Callable[[str], str]) -> None:
    """Counted on the server by client name: each ``asyncio.run`` closes its loop's connection."""
    url, name = server_urls("standalone"), f"loops-{unique_prefix()}"
    cache = AsyncAgentCache.from_url(url, prefix=unique_prefix(), client_name=name)
    for i in range(3):
        asyncio.run(cache.session.set("t", "k", i))
        assert _connections(url, name) == 0, f"run {i} left its connection open"
    ready, release = threading.Event(), threading.Event()
    after_close: list[BaseException] = []

    def long_running() -> None:
        async def hold() -> None:
            await cache.session.get("t", "k")
            ready.set()
            await asyncio.to_thread(release.wait, WAIT)
            try:
                await cache.session.get("t", "k")
            except BaseException as exc:  # closed from the other thread meanwhile
                after_close.append(exc)

        asyncio.run(hold())

    thread = threading.Thread(target=long_running)
    thread.start()
    try:
        assert ready.wait(WAIT)
        assert _connections(url, name) == 1
        asyncio.run(cache.close())  # from another thread than the loop whose client is open
        assert _eventually(lambda: _connections(url, name) == 0), "close() closed the other loop's client"
    finally:
        release.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    assert [type(e) for e in after_close] == [CacheClosedError], "its loop's next call is refused, not hung"


async def test_a_wrapped_client_serves_one_loop_and_says_so_at_once(server_urls: Callable[[str], str]) -> None:
    client = valkey.asyncio.Valkey.from_url(server_urls("standalone"))
    cache = AsyncAgentCache(client, prefix=unique_prefix())
    try:
        await cache.session.set("t", "k", 1)
        sent = cache.round_trips

        def elsewhere() -> Any:
            return asyncio.run(asyncio.wait_for(cache.session.get("t", "k"), WAIT))

        with pytest.raises(EventLoopError, match="from_url") as caught:
            _in_threads(elsewhere)
        assert isinstance(caught.value, RuntimeError)
        assert cache.round_trips == sent, "refused before anything was sent"
        assert await cache.session.get("t", "k") == 1, "its own loop goes on"
    finally:
        await cache.close()
