"""Faults: dropped connections and a server killed and restarted on the same port.

Every topology and both facades, each on servers of its own (these tests kill them). The same cache
object must work again by itself: with no lost call after a dropped connection (the sync client's
behaviour, which the async facade matches), and within a bounded time after a restart. While the
server is down, a call fails with a typed BackendError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import valkey

from agentcache import BackendError
from agentcache.server import BundledValkey
from agentcache.testing import valkey_server
from tests.conftest import FACADES
from tests.helpers import make_cache

TOPOLOGIES = ["standalone", "cluster", "cluster3"]
RECOVERY_DEADLINE = 30.0  # seconds: a bound on "works again by itself", far above what it takes


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, BundledValkey]]:
    started: dict[str, BundledValkey] = {}
    managers = []
    try:
        for topology in TOPOLOGIES:
            manager = valkey_server(topology)  # type: ignore[arg-type]
            started[topology] = manager.__enter__()
            managers.append(manager)
        yield started
    finally:
        for manager in reversed(managers):
            manager.__exit__(None, None, None)


@pytest.fixture(params=[(t, f) for t in TOPOLOGIES for f in FACADES], ids=lambda p: f"{p[0]}-{p[1]}")
def setup(request: pytest.FixtureRequest, servers: dict[str, BundledValkey]) -> Iterator[tuple[Any, BundledValkey]]:
    topology, facade = request.param
    server = servers[topology]
    cache, close = make_cache(topology, facade, lambda _: server.url)
    yield cache, server
    close()


def kill_connections(server: BundledValkey) -> int:
    """CLIENT KILL every normal connection on every node; how many were killed."""
    killed = 0
    for port in server.ports:
        admin = valkey.Valkey(host="127.0.0.1", port=port)
        killed += admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        admin.close()
    return killed


def until_it_works(call: Callable[[], Any]) -> tuple[float, int]:
    """Call until it succeeds: (seconds it took, BackendErrors seen on the way)."""
    start, errors = time.monotonic(), 0
    while True:
        try:
            call()
            return time.monotonic() - start, errors
        except BackendError:
            errors += 1
            if time.monotonic() - start > RECOVERY_DEADLINE:
                raise
            time.sleep(0.02)


def test_a_dropped_connection_costs_no_call(setup: tuple[Any, BundledValkey]) -> None:
    cache, server = setup
    cache.session.set("t", "f", 0)
    cache.tool.store("search", {"q": 1}, "r")
    for round_ in range(3):
        assert kill_connections(server) >= 1
        for i in range(5):  # every call succeeds, on the same cache object: none is lost to the dropped connection
            cache.session.set("t", "f", i)
            assert cache.session.get("t", "f") == i
            assert cache.tool.check("search", {"q": 1}).value == "r"
        assert cache.session.get_all("t") == {"f": 4}, round_


def test_a_killed_and_restarted_server_is_found_again(setup: tuple[Any, BundledValkey]) -> None:
    cache, server = setup
    thread = "thread-0"  # slot 1445: on the first node, also of the 3-primary cluster
    cache.session.set(thread, "f", 1)
    node = server.nodes[0]  # the node named in the URL
    port = node.port
    node.kill()  # SIGKILL
    with pytest.raises(BackendError):
        cache.session.get(thread, "f")
    node.start()
    assert node.port == port
    until_it_works(lambda: cache.session.set(thread, "f", 2))  # measured: 0.001 s standalone, 2.1 s clusters
    assert cache.session.get(thread, "f") == 2
    assert kill_connections(server) >= 1  # and it still takes a dropped connection in its stride
    assert cache.session.get(thread, "f") == 2


def test_the_async_embedded_cache_takes_a_dropped_connection_in_its_stride() -> None:
    """The README's recommended set-up, as reported: AsyncAgentCache.embedded() never recovered."""
    import asyncio

    from agentcache import AsyncAgentCache

    async def main() -> None:
        async with AsyncAgentCache.embedded() as cache:
            await cache.session.set("t", "f", 1)
            assert cache.server is not None
            for _ in range(3):
                assert kill_connections(cache.server) >= 1
                for _ in range(5):
                    assert await cache.session.get("t", "f") == 1

    asyncio.run(main())
