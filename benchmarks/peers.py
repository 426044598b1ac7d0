"""The peers the benchmarks race against, loaded only when installed and never allowed to send
telemetry: betterdb-agent-cache (session and tool tiers) and the OpenAI Agents SDK's RedisSession
(conversations)."""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any


def load_betterdb() -> ModuleType | None:
    """Import betterdb-agent-cache with its telemetry opted out, or None if it is not installed."""
    os.environ["BETTERDB_TELEMETRY"] = "false"  # must be set before the import: no telemetry, ever
    try:
        import betterdb_agent_cache
    except ImportError:
        return None
    module: ModuleType = betterdb_agent_cache
    return module


def make_betterdb(module: ModuleType, client: Any, ttl_s: int, name: str = "betterdb_ac") -> Any:
    """betterdb's cache on ``client`` with analytics, discovery and config refresh all off."""
    from betterdb_agent_cache.types import AnalyticsOptions, ConfigRefreshOptions, DiscoveryOptions

    options = module.AgentCacheOptions(
        client=client,
        name=name,
        default_ttl=ttl_s,
        analytics=AnalyticsOptions(disabled=True, stats_interval_s=0),
        discovery=DiscoveryOptions(enabled=False),
        config_refresh=ConfigRefreshOptions(enabled=False),
    )
    return module.AgentCache(options)


async def close_betterdb(peer: Any) -> None:
    """Shut betterdb's cache down and close its client (read back from its private ``_client``:
    it has no public accessor)."""
    await peer.shutdown()
    await peer._client.aclose()


def load_redis_session() -> Any:
    """The OpenAI Agents SDK's RedisSession class, or None if it (or redis-py) is not installed.

    Only its session store is used (no model, no agent run); its tracing is switched off anyway, so
    nothing is ever sent anywhere."""
    os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"  # before the import
    try:
        from agents.extensions.memory.redis_session import RedisSession
    except ImportError:
        return None
    return RedisSession
