"""The suite's servers and caches: every cache test runs on each topology and both facades.

Topologies: the bundled Valkey standalone, as one node in cluster mode, and as a 3-primary cluster,
plus the in-memory backend. ``AGENTCACHE_TEST_URL`` runs the suite against that server instead of
the bundled ones; ``AGENTCACHE_TEST_DOCKER=1`` adds a Valkey container (testcontainers) where Docker
exists.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from agentcache.testing import valkey_server
from tests.fake_models import FakeModelServer
from tests.helpers import make_cache

EXTERNAL_URL = os.environ.get("AGENTCACHE_TEST_URL")
SERVER_TOPOLOGIES = ["external"] if EXTERNAL_URL else ["standalone", "cluster", "cluster3"]
if os.environ.get("AGENTCACHE_TEST_DOCKER") == "1":
    SERVER_TOPOLOGIES.append("docker")
TOPOLOGIES = [*SERVER_TOPOLOGIES, "memory"]
FACADES = ["sync", "async"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked by its folder: ``unit`` (no server) or ``integration`` (real servers)."""
    for item in items:
        folder = item.path.parent.name
        if folder in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, folder))


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
    client: Any = (
        valkey.ValkeyCluster.from_url(url) if request.param.startswith("cluster") else valkey.Valkey.from_url(url)
    )
    client.topology = request.param
    yield client
    client.close()


FRAMEWORK_CASES = [("standalone", "async"), ("cluster", "sync"), ("cluster3", "async")]


@pytest.fixture(params=["standalone", "cluster3"])
def url(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> str:
    """The URL of a standalone server and of a 3-primary cluster (the framework adapters' tests)."""
    return server_urls(request.param)


@pytest.fixture(params=FRAMEWORK_CASES, ids=lambda p: f"{p[0]}-{p[1]}")
async def framework_cache(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> AsyncIterator[Any]:
    """A fresh AsyncAgentCache or AgentCache (own prefix) for the framework adapters, whose methods
    are async either way: use with ``pytest.mark.asyncio(loop_scope="session")``."""
    from agentcache import AgentCache, AsyncAgentCache
    from agentcache.testing import unique_prefix

    topology, facade = request.param
    if facade == "async":
        async with AsyncAgentCache.from_url(server_urls(topology), prefix=unique_prefix()) as made:
            yield made
    else:
        with AgentCache.from_url(server_urls(topology), prefix=unique_prefix()) as made:
            yield made


@pytest.fixture(scope="session")
def fake_models() -> Iterator[FakeModelServer]:
    """The loopback model provider (``tests/fake_models.py``) for the whole run; reset per use."""
    server = FakeModelServer().start()
    yield server
    server.stop()
