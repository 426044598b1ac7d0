"""LangChain's published standard tests (the ``langchain-tests`` package) for ``BaseCache``, unchanged,
run on ``AgentCacheLLMCache``: ``SyncCacheTestSuite`` on the sync facade and ``AsyncCacheTestSuite``
on both, on a standalone server and on clusters. (LangGraph's published conformance suite for the
checkpointer runs in ``tests/integration/test_langgraph.py``.) Each test gets an empty cache: a fresh prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar

import pytest
from langchain_core.caches import BaseCache
from langchain_tests.integration_tests.cache import AsyncCacheTestSuite, SyncCacheTestSuite

from agentcache import AgentCache, AsyncAgentCache
from agentcache.integrations.langchain import AgentCacheLLMCache
from agentcache.testing import unique_prefix


class TestSyncCacheSuite(SyncCacheTestSuite):
    """The sync methods (``lookup``, ``update``, ``clear``) need the sync facade."""

    @pytest.fixture
    def cache(self, url: str) -> Iterator[BaseCache]:
        with AgentCache.from_url(url, prefix=unique_prefix()) as made:
            yield AgentCacheLLMCache(made)


ASYNC_CASES = [("standalone", "async"), ("cluster", "sync"), ("cluster3", "async")]


class TestAsyncCacheSuite(AsyncCacheTestSuite):
    """The async methods (``alookup``, ``aupdate``, ``aclear``) on either facade."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [
        pytest.mark.asyncio(loop_scope="session"),  # the loop of the cache fixture
        pytest.mark.filterwarnings("ignore:The test <Function test_no_overrides:pytest.PytestWarning"),  # not async
    ]

    @pytest.fixture(params=ASYNC_CASES, ids=lambda p: f"{p[0]}-{p[1]}")
    async def cache(
        self, request: pytest.FixtureRequest, server_urls: Callable[[str], str]
    ) -> AsyncIterator[BaseCache]:
        topology, facade = request.param
        made: Any
        if facade == "async":
            async with AsyncAgentCache.from_url(server_urls(topology), prefix=unique_prefix()) as made:
                yield AgentCacheLLMCache(made)
        else:
            with AgentCache.from_url(server_urls(topology), prefix=unique_prefix()) as made:
                yield AgentCacheLLMCache(made)
