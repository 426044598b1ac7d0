"""The suite's servers and caches: every cache test runs on each topology and both facades.

Topologies: the bundled Valkey standalone, as one node in cluster mode, and as a 3-primary cluster,
plus the in-memory backend. ``AGENTCACHE_TEST_URL`` runs the suite against that server instead of
the bundled ones; ``AGENTCACHE_TEST_DOCKER=1`` adds a Valkey container (testcontainers) where Docker
exists.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentcache import AgentCache, AsyncAgentCache
from agentcache.core.binding import Bound
from agentcache.testing import unique_prefix, valkey_server

EXTERNAL_URL = os.environ.get("AGENTCACHE_TEST_URL")
SERVER_TOPOLOGIES = ["external"] if EXTERNAL_URL else ["standalone", "cluster", "cluster3"]
if os.environ.get("AGENTCACHE_TEST_DOCKER") == "1":
    SERVER_TOPOLOGIES.append("docker")
TOPOLOGIES = [*SERVER_TOPOLOGIES, "memory"]
FACADES = ["sync", "async"]


@pytest.fixture(scope="session")
def server_urls() -> Iterator[Callable[[str], str]]:
    """Starts each topology's server the first time a test asks for it; stops them all at the end."""
    started: dict[str, str] = {}
    stack: list[Any] = []

    def url(topology: str) -> str:
        if topology not in started:
            if topology == "external":
                assert EXTERNAL_URL
                started[topology] = EXTERNAL_URL
            elif topology == "docker":
                from testcontainers.core.container import DockerContainer

                container = DockerContainer("valkey/valkey:9").with_exposed_ports(6379)
                container.start()
                stack.append(container.stop)
                port = container.get_exposed_port(6379)
                started[topology] = f"valkey://{container.get_container_host_ip()}:{port}"
            else:
                manager = valkey_server(topology)  # type: ignore[arg-type]
                started[topology] = manager.__enter__().url
                stack.append(lambda m=manager: m.__exit__(None, None, None))
        return started[topology]

    yield url
    for stop in reversed(stack):
        stop()


class Synced:
    """Drives an async facade (or one of its tiers) from sync test code, so each test body covers
    both facades. It only awaits what the async facade returns; the client is real."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if isinstance(attr, Bound):
            return Synced(attr, self._loop)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            result = self._loop.run_until_complete(result) if inspect.isawaitable(result) else result
            return Synced(result, self._loop) if isinstance(result, Bound) else result  # e.g. a Conversation

        return call


def make_cache(
    topology: str, facade: str, url_of: Callable[[str], str], **options: Any
) -> tuple[Any, Callable[[], None]]:
    """A cache (sync, or async behind :class:`Synced`) and the function that closes it."""
    options.setdefault("prefix", unique_prefix())
    if facade == "sync":
        cache: Any = (
            AgentCache.in_memory(**options)
            if topology == "memory"
            else AgentCache.from_url(url_of(topology), **options)
        )
        return cache, cache.close
    loop = asyncio.new_event_loop()
    acache = (
        AsyncAgentCache.in_memory(**options)
        if topology == "memory"
        else AsyncAgentCache.from_url(url_of(topology), **options)
    )

    def close() -> None:
        loop.run_until_complete(acache.close())
        loop.close()

    return Synced(acache, loop), close


def command(cache: Any, *args: Any) -> Any:
    """Run one raw command on the cache's own client (sync or async), to look behind the cache."""
    cache.ping()  # settles the client (cluster or not) of a cache made from a URL
    result = cache.client.execute_command(*args)
    return cache._loop.run_until_complete(result) if inspect.isawaitable(result) else result


@pytest.fixture(params=[(t, f) for t in TOPOLOGIES for f in FACADES], ids=lambda p: f"{p[0]}-{p[1]}")
def cache(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> Iterator[Any]:
    """A fresh cache (own prefix) on every topology and both facades."""
    topology, facade = request.param
    made, close = make_cache(topology, facade, server_urls)
    made.topology = topology
    yield made
    close()


@pytest.fixture(params=SERVER_TOPOLOGIES)
def raw(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> Iterator[Any]:
    """A plain valkey-py client on each server topology, for looking behind the cache."""
    import valkey

    url = server_urls(request.param)
    client = valkey.ValkeyCluster.from_url(url) if request.param.startswith("cluster") else valkey.Valkey.from_url(url)
    client.topology = request.param
    yield client
    client.close()
