"""LangGraph long-term memory store on agentcache: ``AgentCacheStore`` (extra ``langgraph``).

A ``BaseStore`` on plain Valkey (no modules): one key per item, each with its own TTL refreshed by
reads; a namespace's items and its index share the namespace's hash tag, so it works on a Valkey
Cluster without CROSSSLOT errors; filters run inside the server in the same round trip; a registry
of namespaces answers prefix searches and ``list_namespaces`` without a SCAN (``cache.store``).

Wrap an :class:`~agentcache.AgentCache` for ``graph.invoke``/``stream`` and an
:class:`~agentcache.AsyncAgentCache` for ``ainvoke``/``astream`` (an AgentCache also serves the
async methods, in a worker thread). Semantic search (``search(query=...)``, an ``index`` config)
raises :class:`~agentcache.SemanticSearchUnavailable`: the store has no index of embeddings yet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from agentcache.errors import missing_extra

try:
    import langgraph.store.base as lg_store
    from langgraph.store.base import (
        BaseStore,
        GetOp,
        Item,
        ListNamespacesOp,
        Op,
        PutOp,
        Result,
        SearchItem,
        SearchOp,
        TTLConfig,
    )
except ImportError as missing:
    raise missing_extra(__name__, "langgraph", missing) from missing

from agentcache.errors import InvalidArgumentError, SemanticSearchUnavailable
from agentcache.facade import AgentCache, AsyncAgentCache
from agentcache.integrations.bridge import awaited, called, checked_cache
from agentcache.tiers.store.models import GetItem, ListNamespaces, PutItem, SearchItems, StoredItem, StoreOp

__all__ = ["AgentCacheStore"]

# LangGraph's own label check (its InvalidNamespaceError) where its version has one; the tier checks
# labels either way.
_validate_labels = getattr(lg_store, "validate_op_namespace", lambda op: None)


class AgentCacheStore(BaseStore):
    """A LangGraph ``BaseStore`` keeping memory in Valkey through agentcache.

    ``ttl`` is LangGraph's ``TTLConfig``: ``{"default_ttl": minutes, "refresh_on_read": True}``
    gives items put without a ``ttl`` that TTL, and ``refresh_on_read`` (the default) makes
    ``get``/``search`` set it again unless told ``refresh_ttl=False``. Valkey expires items itself,
    so ``sweep_interval_minutes`` is not needed (and ignored). Without ``ttl`` items never expire
    unless put with one.
    """

    supports_ttl = True

    def __init__(self, cache: AgentCache | AsyncAgentCache, *, ttl: TTLConfig | None = None, index: Any = None) -> None:
        checked_cache(cache)
        if index is not None:
            raise SemanticSearchUnavailable(
                "AgentCacheStore has no semantic index of embeddings yet (it comes with the semantic "
                "cache, which has not landed): leave index out and search with filter=..."
            )
        self.cache = cache
        self.ttl_config = _ttl_config(ttl)

    # --- the BaseStore interface: everything goes through batch / abatch

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run LangGraph store ops: reads side by side (one round trip for any number of gets),
        then writes; reads see the store as it was before the batch."""
        ours = _ops(ops)
        hint = "use the async methods (aget, aput, asearch, ainvoke)"
        return _results(called(self.cache.store.batch, ours, hint=hint))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return _results(await awaited(self.cache.store.batch, _ops(ops)))


def _ops(ops: Iterable[Op]) -> list[StoreOp]:
    out: list[StoreOp] = []
    for op in ops:
        _validate_labels(op)
        if isinstance(op, GetOp):
            out.append(GetItem(op.namespace, op.key, op.refresh_ttl))
        elif isinstance(op, PutOp):
            out.append(PutItem(op.namespace, op.key, op.value, _ttl(op.ttl)))
        elif isinstance(op, SearchOp):
            out.append(SearchItems(op.namespace_prefix, op.filter, op.limit, op.offset, op.refresh_ttl, op.query))
        elif isinstance(op, ListNamespacesOp):
            conditions = tuple((c.match_type, tuple(c.path)) for c in op.match_conditions or ())
            out.append(ListNamespaces(conditions, op.max_depth, op.limit, op.offset))
        else:
            raise InvalidArgumentError(f"unknown store op {type(op).__name__}")
    return out


def _results(results: list[Any]) -> list[Result]:
    out: list[Result] = []
    for result in results:
        if isinstance(result, StoredItem):
            out.append(_as_item(result))
        elif isinstance(result, list) and result and isinstance(result[0], StoredItem):
            out.append([_as_search_item(r) for r in result])
        else:
            out.append(result)
    return out


def _as_item(stored: StoredItem) -> Item:
    return Item(
        value=stored.value,
        key=stored.key,
        namespace=stored.namespace,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
    )


def _as_search_item(stored: StoredItem) -> SearchItem:
    return SearchItem(stored.namespace, stored.key, stored.value, stored.created_at, stored.updated_at)


def _ttl(ttl: object) -> timedelta | None:
    """A PutOp's ttl (minutes; LangGraph versions may also pass a timedelta or a deadline)."""
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        return ttl
    if isinstance(ttl, datetime):
        deadline = ttl if ttl.tzinfo else ttl.astimezone()
        return max(deadline - datetime.now(UTC), timedelta(milliseconds=1))
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise InvalidArgumentError(f"ttl is in minutes and must be > 0 (or None: never expires), not {ttl!r}")
    return timedelta(minutes=ttl)


def _ttl_config(ttl: Mapping[str, Any] | None) -> TTLConfig | None:
    if ttl is None:
        return None
    if not isinstance(ttl, Mapping):
        raise InvalidArgumentError('ttl must be a mapping like {"default_ttl": 60, "refresh_on_read": True}')
    unknown = set(ttl) - {"default_ttl", "refresh_on_read", "sweep_interval_minutes"}
    if unknown:
        raise InvalidArgumentError(f"unknown TTL settings {sorted(unknown)}: default_ttl, refresh_on_read")
    if ttl.get("default_ttl") is not None:
        _ttl(ttl["default_ttl"])  # checked now rather than on the first put
    config: TTLConfig = {"refresh_on_read": bool(ttl.get("refresh_on_read", True))}
    if ttl.get("default_ttl") is not None:
        config["default_ttl"] = ttl["default_ttl"]
    return config
