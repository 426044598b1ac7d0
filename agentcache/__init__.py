"""agentcache: a Valkey-native cache layer for AI agents.

Start with :class:`AgentCache` (sync) or :class:`AsyncAgentCache` (asyncio)::

    from agentcache import AgentCache

    with AgentCache.embedded() as cache:
        cache.session.set("thread-1", "intent", "book_flight")
        cache.session.get("thread-1", "intent")
"""

from .conversations import Conversation, ConversationState, ConversationTier, MessagePage, SessionInfo, SessionPage
from .errors import (
    AgentCacheError,
    BackendError,
    CacheClosedError,
    CanonicalArgsError,
    ConversationError,
    FieldNotFoundError,
    InvalidArgumentError,
    InvalidMessageError,
    InvalidNameError,
    InvalidTimeoutConfig,
    RenewalRefused,
    SerializationError,
    ServerStartError,
    SessionEnded,
    SessionExists,
    SessionExpired,
    SessionNotFound,
    ValueTooLargeError,
)
from .expiry import NO_EXPIRY
from .facade import AgentCache, AsyncAgentCache
from .lifecycle import ConversationConfig
from .messages import DataPart, ImagePart, Message, TextPart, ToolCallPart, ToolResultPart
from .policies import ToolPolicy
from .server import BundledValkey
from .session import SessionTier
from .snapshots import MemoryStore, SnapshotStore, SQLiteStore, ValkeySnapshotStore
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
    "CacheClosedError",
    "CacheStats",
    "CanonicalArgsError",
    "FieldNotFoundError",
    "InvalidArgumentError",
    "InvalidMessageError",
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
    # conversations
    "Conversation",
    "ConversationConfig",
    "ConversationError",
    "ConversationState",
    "ConversationTier",
    "DataPart",
    "ImagePart",
    "InvalidTimeoutConfig",
    "MemoryStore",
    "Message",
    "MessagePage",
    "RenewalRefused",
    "SQLiteStore",
    "SessionEnded",
    "SessionExists",
    "SessionExpired",
    "SessionInfo",
    "SessionNotFound",
    "SessionPage",
    "SnapshotStore",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "ValkeySnapshotStore",
    "__version__",
]
