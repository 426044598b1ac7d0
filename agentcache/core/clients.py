"""What agentcache needs to know about a valkey-py or redis-py client: its errors and its kind."""

from __future__ import annotations

import inspect
import select
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from agentcache.core.commands import Batch
from agentcache.core.log import LOG, recovered
from agentcache.errors import BackendError, InvalidArgumentError


def _error_classes() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    import valkey.exceptions as vx

    client: list[type[BaseException]] = [vx.ValkeyError, vx.ValkeyClusterException, OSError]
    reply: list[type[BaseException]] = [vx.ResponseError]
    try:
        import redis.exceptions as rx
    except ImportError:
        pass
    else:
        client += [rx.RedisError, rx.RedisClusterException]
        reply.append(rx.ResponseError)
    return tuple(client), tuple(reply)


CLIENT_ERRORS, REPLY_ERRORS = _error_classes()
"""Exceptions a client raises for a failed server or connection; those that are one command's reply."""


def backend_error(batch: Batch, exc: BaseException, *, connection: bool = False) -> BackendError:
    error = BackendError([c.name for c in batch], exc)
    error.connection = connection
    return error


def send_failed(batch: Batch, exc: Exception) -> BackendError:
    """What an exception the client raised while connecting or sending ``batch`` becomes: a
    BackendError with ``connection=True`` (the command may or may not have run; a read may retry).

    Not only the client's own errors and OSError: its connection handling has races that surface
    as other exceptions. valkey-py's (and redis-py's) asyncio cluster client, when one task's command
    fails on its connection, closes every connection of every node (``_reset_for_reinitialize`` ->
    ``NodesManager.aclose`` -> ``ClusterNode.disconnect``), the ones other tasks are using or still
    connecting on included; such a task's handshake then writes to the writer taken from under it
    (``AttributeError: 'NoneType' object has no attribute 'writelines'``), and ``connect()`` cleans
    up only after the client's own errors. Asyncio streams raise RuntimeError or
    IncompleteReadError in the same way. Those are logged (by type, with the commands' names only)
    so that a bug does not pass unseen for a lost connection.
    """
    if not isinstance(exc, CLIENT_ERRORS):
        LOG.warning(
            "agentcache: the client raised %s while connecting or sending [%s]; taken for a lost connection",
            type(exc).__name__,
            ", ".join(dict.fromkeys(c.name for c in batch)),
        )
    return backend_error(batch, exc, connection=True)


def is_noscript(reply: object) -> bool:
    return type(reply).__name__ == "NoScriptError"


def is_async(client: Any) -> bool:
    return inspect.iscoroutinefunction(getattr(client, "execute_command", None))


def check_client(client: Any, *, want_async: bool) -> Any:
    """Reject a client agentcache cannot drive, before anything is sent."""
    if not callable(getattr(client, "execute_command", None)) or not callable(getattr(client, "pipeline", None)):
        raise InvalidArgumentError(
            f"expected a valkey-py or redis-py client, not {type(client).__name__}; "
            "or use AgentCache.from_url(...), .embedded() or .in_memory()"
        )
    if is_async(client) != want_async:
        raise InvalidArgumentError(
            f"{type(client).__name__} is {'an async' if is_async(client) else 'a sync'} client: use "
            f"{'AsyncAgentCache' if is_async(client) else 'AgentCache'} with it"
        )
    if client.get_encoder().decode_responses:
        raise InvalidArgumentError(
            "the client decodes responses (decode_responses=True); agentcache stores bytes: "
            "pass a client made with decode_responses=False"
        )
    return client


def recovering(client: Any) -> Any:
    """Make a client recover from dropped connections the way the sync valkey-py client does
    (returns the client; clients it does not know are returned as is).

    Two things are fixed here, both in the client object, without waiting for upstream:

    - valkey-py and redis-py cluster clients drop a node from their startup nodes when a connection
      to it fails, and rediscover the cluster from the nodes left. A client made from one URL (a
      one-node cluster, or the node it names going down) is then left with none and can never
      reconnect, even once the server is back. Here every rediscovery first puts the original
      nodes back, so the client recovers as soon as any of them answers.
    - The sync clients poll an idle connection's socket before reusing it and reconnect when the
      server has closed it (a restart, CLIENT KILL, an idle timeout); the asyncio clients only see
      what the event loop has read already, so right after such a close one call fails. Here an
      asyncio connection is polled too (one non-blocking poll) and, if its socket has anything to
      read while idle, dropped before use, so the client connects afresh.
    """
    manager = getattr(client, "nodes_manager", None)
    if manager is not None:
        _keep_seeds(manager)
    pool: Any = getattr(client, "connection_pool", None)
    ensure = getattr(pool, "ensure_connection", None)
    if inspect.iscoroutinefunction(ensure) and not getattr(pool, "_agentcache_polls", False):

        def ensure_connection(connection: Any) -> Awaitable[None]:  # the pool awaits what it returns
            if _closed(connection):
                return _reconnect_then(connection, ensure)
            return ensure(connection)  # the common case: no coroutine of ours

        pool.ensure_connection = ensure_connection
        pool._agentcache_polls = True
    return client


def _keep_seeds(manager: Any) -> None:
    nodes = getattr(manager, "startup_nodes", None)
    if not isinstance(nodes, dict) or not nodes or getattr(manager, "_agentcache_seeded", False):
        return
    seeds = list(nodes.values())
    node_class = type(seeds[0])
    asynchronous = inspect.iscoroutinefunction(manager.initialize)
    kwargs = getattr(manager, "connection_kwargs", {}) if asynchronous else {}
    addresses = [(node.name, node.host, node.port) for node in seeds]

    discovered = [bool(getattr(manager, "nodes_cache", None))]  # a sync client discovers when it is made

    def reseed(startup_nodes: dict[str, Any]) -> None:
        lost = [address for address in addresses if address[0] not in startup_nodes]
        for name, host, port in lost:
            startup_nodes[name] = node_class(host, port, **kwargs)
        if lost:
            recovered(f"the cluster client had dropped {len(lost)} of its startup node(s); they are back")
        elif discovered[0]:
            recovered("the cluster client rediscovers its nodes (a failover, resharding or a lost connection)")
        discovered[0] = True

    base: Any = type(manager)
    # The managers use __slots__, so the method is overridden by a subclass of the same layout made
    # for this client (its addresses in the closure), and the instance's class is switched to it.
    if asynchronous:

        class SeededAsync(base):  # type: ignore[misc]
            __slots__ = ()
            _agentcache_seeded = True

            async def initialize(self, *args: Any, **kwargs: Any) -> None:
                reseed(self.startup_nodes)
                await super().initialize(*args, **kwargs)
                for node in self.nodes_cache.values():
                    _poll_before_use(node)

        manager.__class__ = SeededAsync
        for node in manager.nodes_cache.values():
            _poll_before_use(node)
    else:

        class Seeded(base):  # type: ignore[misc]
            __slots__ = ()
            _agentcache_seeded = True

            def initialize(self, *args: Any, **kwargs: Any) -> None:
                reseed(self.startup_nodes)
                super().initialize(*args, **kwargs)

        manager.__class__ = Seeded


_polling_node_classes: dict[type, type] = {}


def _poll_before_use(node: Any) -> None:
    """Switch an asyncio cluster node to a subclass that drops its next connection if closed."""
    base: Any = type(node)
    if getattr(base, "_agentcache_polls", False) or not hasattr(node, "_free"):
        return
    if base not in _polling_node_classes:

        class PollingNode(base):  # type: ignore[misc]
            __slots__ = ()
            _agentcache_polls = True

            # Plain methods returning what the cluster client awaits: no coroutine of ours per call.
            def execute_command(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
                if self._free and _closed(self._free[0]):  # takes that connection first, once dropped
                    return _dropped_then(self, super().execute_command(*args, **kwargs))
                return super().execute_command(*args, **kwargs)  # type: ignore[no-any-return]

            def execute_pipeline(self, commands: Any) -> Awaitable[Any]:
                if self._free and _closed(self._free[0]):
                    return _dropped_then(self, super().execute_pipeline(commands))
                return super().execute_pipeline(commands)  # type: ignore[no-any-return]

        _polling_node_classes[base] = PollingNode
    node.__class__ = _polling_node_classes[base]


POLL_IDLE_S = 0.0
"""A pooled asyncio connection handed out again within this many seconds of its last hand-out is
not polled (0: every hand-out is). Kept at 0: a threshold saves one ``poll(0)`` system call per call
(about a microsecond) but lets a connection closed within it fail a call, where now none does (a
dropped connection costs no call: tests/integration/test_faults.py)."""


def _closed(connection: Any) -> bool:
    """Whether an idle asyncio connection's socket has something to read: the server closed it (or
    sent what nobody asked for). One non-blocking poll, without awaiting anything."""
    if POLL_IDLE_S:
        now = time.monotonic()
        last = connection.__dict__.get("_agentcache_used", 0.0)
        connection._agentcache_used = now
        if now - last < POLL_IDLE_S:  # measured from its last hand-out, so never shorter than its idle time
            return False
    transport = getattr(getattr(connection, "_writer", None), "transport", None)
    if transport is None:  # not connected, or not a socket (the in-memory backend)
        return False
    cached = getattr(connection, "_agentcache_poll", None)
    if cached is None or cached[0] is not transport:  # one poller per socket, made on first use
        sock = transport.get_extra_info("socket")
        if sock is None or sock.fileno() < 0:
            return False
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        cached = (transport, poller)
        connection._agentcache_poll = cached
    return bool(cached[1].poll(0))


async def _reconnect_then(connection: Any, ensure: Callable[[Any], Awaitable[None]]) -> None:
    """Drop a connection the server closed, then let the pool connect it again."""
    recovered("the server closed an idle connection (a restart, CLIENT KILL or an idle timeout); reconnecting")
    await connection.disconnect()
    await ensure(connection)


async def _dropped_then(node: Any, call: Coroutine[Any, Any, Any]) -> Any:
    """Run ``call`` (not started yet) once the connection the node hands out next is dropped."""
    try:
        await _drop_next(node)
    except BaseException:
        call.close()  # never started: closed so Python does not warn
        raise
    return await call


async def _drop_next(node: Any) -> None:
    """Drop the connection the node hands out next (the server closed it: see :func:`_closed`).

    The connection is taken out of the node's free list while it is dropped: a disconnect awaits,
    and meanwhile another task would take the same connection, connect it again and have the new
    socket taken from under it when this disconnect ends (its handshake then fails on a writer that
    is None). Put back first in the list, it is the one the node's ``execute_command`` or
    ``execute_pipeline`` takes at once (no await in between)."""
    connection = node._free.popleft()
    try:
        recovered("the server closed an idle connection (a restart, CLIENT KILL or an idle timeout); reconnecting")
        await connection.disconnect()
    finally:
        node._free.appendleft(connection)
