"""agentcache: a Valkey-native cache layer for AI agents.

Start with :class:`AgentCache` (sync) or :class:`AsyncAgentCache` (asyncio)::

    from agentcache import AgentCache

    with AgentCache.embedded() as cache:
        cache.session.set("thread-1", "intent", "book_flight")
        cache.session.get("thread-1", "intent")
"""

from agentcache.core.near import NearCache, NearStats
from agentcache.encoding.encryption import Encryption
from agentcache.encoding.expiry import NO_EXPIRY
from agentcache.errors import (
    AgentCacheError,
    BackendError,
    CacheClosedError,
    CanonicalArgsError,
    CheckpointsLost,
    CompactionConflict,
    ConversationError,
    DataLostError,
    DecryptionError,
    EventLoopError,
    FieldNotFoundError,
    HistoryLost,
    InvalidArgumentError,
    InvalidMessageError,
    InvalidNameError,
    InvalidTimeoutConfig,
    MissingExtraError,
    ModelError,
    RenewalRefused,
    SemanticSearchUnavailable,
    SerializationError,
    ServerStartError,
    SessionEnded,
    SessionExists,
    SessionExpired,
    SessionNotFound,
    UnreadableFieldsError,
    ValueTooLargeError,
)
from agentcache.facade import AgentCache, AsyncAgentCache
from agentcache.server import BundledValkey
from agentcache.stats import CacheStats, ModelStats, Recommendation, TierStats, ToolStats
from agentcache.tiers.checkpoints.tier import CheckpointTier, StoredCheckpoint, StoredWrite
from agentcache.tiers.content.messages import DataPart, ImagePart, Message, TextPart, ToolCallPart, ToolResultPart
from agentcache.tiers.conversations.compaction import CompactAt, Compacted
from agentcache.tiers.conversations.context import Context
from agentcache.tiers.conversations.handles import Conversation, ConversationLog, ConversationTier
from agentcache.tiers.conversations.lifecycle import ConversationConfig
from agentcache.tiers.conversations.models import MessagePage, SessionInfo, SessionPage
from agentcache.tiers.conversations.snapshots import MemoryStore, SnapshotStore, SQLiteStore, ValkeySnapshotStore
from agentcache.tiers.conversations.state import ConversationState
from agentcache.tiers.conversations.turns import Done, TextDelta, ToolCallEvent, TurnResult
from agentcache.tiers.limits.tier import Quota
from agentcache.tiers.llm.request import IGNORED_PARAMETERS
from agentcache.tiers.llm.tier import LlmResult, LlmTier
from agentcache.tiers.monitor.history import Timings
from agentcache.tiers.monitor.tier import MonitorTier
from agentcache.tiers.semantic.tier import SemanticOptions, SemanticResult, SemanticTier
from agentcache.tiers.session.tier import SessionTier
from agentcache.tiers.settings import ModelPrice
from agentcache.tiers.shelf.policies import ToolPolicy
from agentcache.tiers.store.models import GetItem, ListNamespaces, PutItem, SearchItems, StoredItem
from agentcache.tiers.store.tier import StoreTier
from agentcache.tiers.tool.tier import ToolResult, ToolTier

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
    "CheckpointsLost",
    "DataLostError",
    "DecryptionError",
    "Encryption",
    "EventLoopError",
    "FieldNotFoundError",
    "InvalidArgumentError",
    "InvalidMessageError",
    "InvalidNameError",
    "Quota",
    "Recommendation",
    "SerializationError",
    "ServerStartError",
    "SessionTier",
    "TierStats",
    "ToolPolicy",
    "ToolResult",
    "ToolStats",
    "ToolTier",
    "UnreadableFieldsError",
    "ValueTooLargeError",
    # llm
    "IGNORED_PARAMETERS",
    "LlmResult",
    "LlmTier",
    # semantic
    "SemanticOptions",
    "SemanticResult",
    "SemanticTier",
    "CheckpointTier",
    "NearCache",
    "NearStats",
    "StoredCheckpoint",
    "StoredWrite",
    # store
    "GetItem",
    "ListNamespaces",
    "PutItem",
    "SearchItems",
    "MissingExtraError",
    "SemanticSearchUnavailable",
    "StoredItem",
    "StoreTier",
    "ModelPrice",
    "ModelError",
    "ModelStats",
    # monitor
    "MonitorTier",
    "Timings",
    "TextDelta",
    "ToolCallEvent",
    "Done",
    "TurnResult",
    # conversations
    "CompactAt",
    "Compacted",
    "CompactionConflict",
    "Context",
    "Conversation",
    "ConversationConfig",
    "ConversationError",
    "ConversationState",
    "ConversationTier",
    "ConversationLog",
    "HistoryLost",
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
