"""LangGraph checkpointer on agentcache: ``AgentCacheSaver`` (extra ``langgraph``).

A thread's checkpoints, pending writes and channel values sit under the thread's hash tag
(``<prefix>:langgraph:{<thread>}:...``, the checkpoint tier), so they work on Valkey Cluster without
CROSSSLOT errors and ``cache.session.destroy_thread(thread_id)`` removes them with the thread's
session state. Serialized with LangGraph's own serializer (``JsonPlusSerializer``: JSON and msgpack);
a serializer that falls back to pickle is refused.

Wrap an :class:`~agentcache.AgentCache` for ``graph.invoke``/``stream`` and an
:class:`~agentcache.AsyncAgentCache` for ``ainvoke``/``astream`` (an AgentCache also serves the
async methods, in a worker thread).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from agentcache.errors import missing_extra

try:
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import (
        WRITES_IDX_MAP,
        BaseCheckpointSaver,
        ChannelVersions,
        Checkpoint,
        CheckpointMetadata,
        CheckpointTuple,
        get_checkpoint_id,
        get_checkpoint_metadata,
    )
    from langgraph.checkpoint.serde.base import SerializerProtocol
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
except ImportError as missing:
    raise missing_extra(__name__, "langgraph", missing) from missing

from agentcache.errors import InvalidArgumentError
from agentcache.facade import AgentCache, AsyncAgentCache
from agentcache.integrations.bridge import awaited, called, checked_cache
from agentcache.tiers.checkpoints.tier import StoredCheckpoint, StoredWrite

__all__ = ["AgentCacheSaver"]


class AgentCacheSaver(BaseCheckpointSaver[str]):
    """A LangGraph ``BaseCheckpointSaver`` storing in Valkey through agentcache.

    ``ttl`` follows LangGraph's TTL convention: ``{"default_ttl": minutes, "refresh_on_read": True}``
    gives each thread's checkpoints that TTL from every write and, when ``refresh_on_read`` (the
    default), from every read too. Without it checkpoints never expire.
    """

    def __init__(
        self,
        cache: AgentCache | AsyncAgentCache,
        *,
        ttl: Mapping[str, Any] | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        checked_cache(cache)
        if getattr(serde, "pickle_fallback", False):
            raise InvalidArgumentError(
                "a serializer with pickle_fallback is refused: the store is shared; use JSON/msgpack"
            )
        super().__init__(serde=serde or JsonPlusSerializer())
        self.cache = cache
        self._ttl, self._refresh = _ttl_config(ttl)

    # --- how a call reaches the tier: directly, or in a worker thread for a sync cache in async code

    def _sync(self, name: str, *args: Any, **kwargs: Any) -> Any:
        hint = "use the graph's async methods (ainvoke, astream, aget_state)"
        return called(getattr(self.cache.checkpoints, name), *args, hint=hint, **kwargs)

    async def _async(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await awaited(getattr(self.cache.checkpoints, name), *args, **kwargs)

    # --- the BaseCheckpointSaver interface

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint of ``config`` (its ``checkpoint_id``, else the thread's newest)."""
        return self._tuple(self._sync("get", *_where(config), refresh=self._refresh))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._tuple(await self._async("get", *_where(config), refresh=self._refresh))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first: of ``config``'s thread (and namespace, if it names one), or of
        every thread without a config; metadata equal to ``filter``; ids below ``before``'s."""
        threads = self._sync("threads") if config is None else [config["configurable"]["thread_id"]]
        query = _Query(config, filter, before, limit)
        for thread_id in threads:
            yield from query.pick(self, self._sync("list", thread_id, **query.args(), refresh=self._refresh))
            if query.done:
                return

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        threads = await self._async("threads") if config is None else [config["configurable"]["thread_id"]]
        query = _Query(config, filter, before, limit)
        for thread_id in threads:
            for tup in query.pick(self, await self._async("list", thread_id, **query.args(), refresh=self._refresh)):
                yield tup
            if query.done:
                return

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint with its channel values; returns the config that names it."""
        args, kwargs, stored = self._put(config, checkpoint, metadata)
        self._sync("put", *args, **kwargs)
        return stored

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        args, kwargs, stored = self._put(config, checkpoint, metadata)
        await self._async("put", *args, **kwargs)
        return stored

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        """Store a task's pending writes on the checkpoint of ``config``."""
        self._sync("put_writes", *self._writes(config, writes, task_id, task_path), ttl=self._ttl)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self._async("put_writes", *self._writes(config, writes, task_id, task_path), ttl=self._ttl)

    def delete_thread(self, thread_id: str) -> None:
        """Remove every checkpoint and write of the thread (its session state stays: see
        ``cache.session.destroy_thread`` for both)."""
        self._sync("delete_thread", thread_id)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._async("delete_thread", thread_id)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Remove the checkpoints (and their writes) these runs made, in every thread."""
        self._sync("delete_runs", run_ids)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._async("delete_runs", run_ids)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and write of one thread to another."""
        self._sync("copy_thread", source_thread_id, target_thread_id, ttl=self._ttl)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._async("copy_thread", source_thread_id, target_thread_id, ttl=self._ttl)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``"keep_latest"``: keep each namespace's newest checkpoint; ``"delete"``: remove all."""
        self._sync("prune", thread_ids, keep_latest=_keep_latest(strategy))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._async("prune", thread_ids, keep_latest=_keep_latest(strategy))

    def get_next_version(self, current: str | int | float | None, channel: None = None) -> str:
        """Versions as LangGraph's own savers make them: a zero-padded counter, then a random part."""
        number = 0 if current is None else int(current) if not isinstance(current, str) else int(current.split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    # --- conversions, shared by the sync and the async methods

    def _put(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata
    ) -> tuple[tuple[Any, ...], dict[str, Any], RunnableConfig]:
        thread_id, namespace, parent_id = _where(config)
        full = get_checkpoint_metadata(config, metadata)
        run_id = full.get("run_id")
        args = (
            thread_id,
            namespace,
            checkpoint["id"],
            self.serde.dumps_typed(checkpoint),
            self.serde.dumps_typed(full),
        )
        kwargs = {"parent_id": parent_id, "run_id": run_id if isinstance(run_id, str) else None, "ttl": self._ttl}
        stored: RunnableConfig = {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": namespace, "checkpoint_id": checkpoint["id"]}
        }
        return args, kwargs, stored

    def _writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> tuple[str, str, str, Sequence[StoredWrite]]:
        thread_id, namespace, checkpoint_id = _where(config)
        if checkpoint_id is None:
            raise InvalidArgumentError("put_writes needs config['configurable']['checkpoint_id']")
        stored = [
            StoredWrite(task_id, WRITES_IDX_MAP.get(channel, idx), channel, self.serde.dumps_typed(value), task_path)
            for idx, (channel, value) in enumerate(writes)
        ]
        return thread_id, namespace, checkpoint_id, stored

    def _tuple(self, stored: StoredCheckpoint | None) -> CheckpointTuple | None:
        if stored is None:
            return None
        loads = self.serde.loads_typed
        where = {"thread_id": stored.thread_id, "checkpoint_ns": stored.namespace}
        return CheckpointTuple(
            config={"configurable": {**where, "checkpoint_id": stored.checkpoint_id}},
            checkpoint=loads(stored.checkpoint),
            metadata=loads(stored.metadata),
            parent_config=(
                {"configurable": {**where, "checkpoint_id": stored.parent_id}} if stored.parent_id else None
            ),
            pending_writes=[(w.task_id, w.channel, loads(w.value)) for w in stored.writes],
        )


class _Query:
    """What a ``list`` call asks for, and how much of it is still wanted across threads."""

    def __init__(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> None:
        configurable = config["configurable"] if config else {}
        self.namespace: str | None = configurable.get("checkpoint_ns")
        self.only_id = configurable.get("checkpoint_id")
        self.before = get_checkpoint_id(before) if before else None
        self.filter = filter or {}
        self.left = limit

    def args(self) -> dict[str, Any]:
        """What the tier can do itself: the namespace, ``before``, and the limit when nothing else
        filters."""
        pushed = None if self.filter or self.only_id else self.left
        return {"namespace": self.namespace, "before": self.before, "limit": pushed}

    @property
    def done(self) -> bool:
        return self.left is not None and self.left <= 0

    def pick(self, saver: AgentCacheSaver, found: list[StoredCheckpoint]) -> Iterator[CheckpointTuple]:
        for stored in found:
            if self.done:
                return
            if self.only_id and stored.checkpoint_id != self.only_id:
                continue
            if self.before and stored.checkpoint_id >= self.before:
                continue
            tup = saver._tuple(stored)
            assert tup is not None
            if any(tup.metadata.get(k) != v for k, v in self.filter.items()):
                continue
            if self.left is not None:
                self.left -= 1
            yield tup


def _where(config: RunnableConfig) -> tuple[str, str, str | None]:
    """(thread id, namespace, checkpoint id) of a config, checked."""
    configurable = config.get("configurable") or {}
    thread_id = configurable.get("thread_id")
    if not isinstance(thread_id, str) or not thread_id:
        raise InvalidArgumentError("the config needs configurable.thread_id (a non-empty str)")
    namespace = configurable.get("checkpoint_ns", "") or ""
    return thread_id, namespace, get_checkpoint_id(config)


def _ttl_config(ttl: Mapping[str, Any] | None) -> tuple[timedelta | None, timedelta | None]:
    if ttl is None:
        return None, None
    if not isinstance(ttl, Mapping):
        raise InvalidArgumentError('ttl must be a mapping like {"default_ttl": 60, "refresh_on_read": True}')
    minutes = ttl.get("default_ttl")
    if minutes is None:
        return None, None
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0:
        raise InvalidArgumentError(f"default_ttl is in minutes and must be > 0, not {minutes!r}")
    every = timedelta(minutes=minutes)
    return every, every if ttl.get("refresh_on_read", True) else None


def _keep_latest(strategy: str) -> bool:
    if strategy not in ("keep_latest", "delete"):
        raise InvalidArgumentError(f'strategy must be "keep_latest" or "delete", not {strategy!r}')
    return strategy == "keep_latest"
