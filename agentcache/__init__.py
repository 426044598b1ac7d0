"""agentcache: a Valkey-native cache layer for AI agents.

Start with :class:`AgentCache` (sync) or :class:`AsyncAgentCache` (asyncio)::

    from agentcache import AgentCache

    with AgentCache.embedded() as cache:
        cache.session.set("thread-1", "intent", "book_flight")
        cache.session.get("thread-1", "intent")
"""

from .errors import (
    AgentCacheError,
    BackendError,
    CanonicalArgsError,
    FieldNotFoundError,
    InvalidArgumentError,
    InvalidNameError,
    SerializationError,
    ServerStartError,
    ValueTooLargeError,
)
from .expiry import NO_EXPIRY
from .facade import AgentCache, AsyncAgentCache
from .policies import ToolPolicy
from .server import BundledValkey
from .session import SessionTier
from .stats import CacheStats, Recommendation, TierStats, ToolStats
from .tool import ToolResult, ToolTier

__version__ = "0.1.0"

__all__ = [
    "NO_EXPIRY",
    "AgentCache",
    "AgentCacheError",
    "AsyncAgentCache",
    "BackendError",
    "BundledValkey",
    "CacheStats",
    "CanonicalArgsError",
    "FieldNotFoundError",
    "InvalidArgumentError",
    "InvalidNameError",
    "Recommendation",
    "SerializationError",
    "ServerStartError",
    "SessionTier",
    "TierStats",
    "ToolPolicy",
    "ToolResult",
    "ToolStats",
    "ToolTier",
    "ValueTooLargeError",
    "__version__",
]
