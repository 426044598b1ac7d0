"""agentcache: a Valkey-native cache layer for AI agents.

Start with :class:`AgentCache` (sync) or :class:`AsyncAgentCache` (asyncio)::

    from agentcache import AgentCache

    with AgentCache.embedded() as cache:
        cache.session.set("thread-1", "intent", "book_flight")
        cache.session.get("thread-1", "intent")

The names below load their modules on first use (PEP 562), so ``import agentcache`` itself is quick
(the ``agentcache`` command starts, and answers Ctrl-C, without loading every tier first). The block
under ``TYPE_CHECKING`` is the one list of where each name lives: type checkers and the API docs read
it as plain imports, and :func:`__getattr__` reads it from this file's source.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (30 ms): mypy reads it as True
if TYPE_CHECKING:
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
        InvalidCallError,
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

if TYPE_CHECKING:  # not a public name: apart from the list above, which homes() reads
    from typing import Any

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
    "InvalidCallError",
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

_homes: dict[str, str] | None = None


def homes() -> dict[str, str]:
    """Each public name and the module it lives in, read from the ``TYPE_CHECKING`` imports above."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    return {
        alias.asname or alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def __getattr__(name: str) -> Any:
    """Load a public name's module on first use, then keep the name here."""
    global _homes
    if _homes is None:
        _homes = homes()
    home = _homes.get(name)
    if home is None:
        raise AttributeError(f"module 'agentcache' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
