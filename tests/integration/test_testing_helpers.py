"""agentcache.testing works for users: its fixtures in a pytest run of their own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentcache import AsyncAgentCache, BundledValkey

pytest_plugins = ["pytester"]


def test_fixtures_in_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["agentcache.testing"]\n')
    pytester.makepyfile(
        """
        def test_remembers(agentcache_cache):
            agentcache_cache.session.set("t", "f", 1)
            assert agentcache_cache.session.get("t", "f") == 1

        def test_own_prefix(agentcache_cache, agentcache_server):
            assert agentcache_cache.session.get("t", "f") is None
            assert agentcache_server.mode == "cluster"
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_async_embedded() -> None:
    async def main() -> tuple[dict[str, Any], BundledValkey | None]:
        async with AsyncAgentCache.embedded(prefix="async-demo") as cache:
            await cache.session.set("t", "f", {"ok": True})
            server = cache.server
            return await cache.session.get_all("t"), server

    found, server = asyncio.run(main())
    assert found == {"f": {"ok": True}}
    assert server is not None and not server.ports  # stopped on close
