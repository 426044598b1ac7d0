"""The near cache: entries served from process memory, invalidated by the server.

Opt in with ``near_cache=NearCache(...)`` on any constructor. Valkey's client tracking in
broadcasting mode reports every change (write, delete, expiry, eviction, FLUSHALL) of every key
under the tracked prefixes (``<prefix>:tool:``, ``<prefix>:llm:`` and ``<prefix>:session:``) to one
listening connection per primary, which a background thread reads; each report drops the local
copy. The listener redirects the reports to itself and subscribes to ``__redis__:invalidate``, so
this works over RESP2 and with any client.

Why it never serves what Valkey has already replaced (beyond the delivery of the report):

- an entry is admitted only when tracking was live on every primary before its read was sent, and
  no report for its key (nor a flush) arrived between sending the read and admitting the reply
  (a ticket: the report sequence number when the read was sent);
- a lost listening connection, a changed set of primaries, or a close flushes everything, and no
  entry is admitted until tracking is live again on every primary;
- each entry keeps its own deadline: a tool result or LLM response its stored expiry (wall clock,
  the server's), a session field the time its read was sent plus ``session_window`` of its TTL.

Memory is bounded by ``max_entries`` and ``max_bytes`` (least recently used first out).
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from agentcache.core.commands import Batch, Replies
from agentcache.core.log import LOG
from agentcache.core.observe import count_local_hit
from agentcache.encoding.keys import tier_heads
from agentcache.errors import InvalidArgumentError

CHANNEL = b"__redis__:invalidate"
REFRESH_BELOW = 0.98
"""A near cache's session read slides the field's expiry only when less than this fraction of its
TTL is left (``session_near_get.lua``): each refresh is a change every process hears about."""
RECENT = 4096  # reports remembered for tickets still in flight; an older ticket is refused
_CONNECTION_KEYS = ("host", "port", "username", "password", "db", "socket_connect_timeout", "client_name")


@dataclass(frozen=True, slots=True)
class NearCache:
    """The near cache's settings (``near_cache=NearCache(...)`` on a constructor).

    ``session_window``: a session field is served locally for this fraction of its TTL after the
    read that brought it here; the next read then goes to the server, which slides its expiry when
    less than 98% of its TTL is left. So a field read at least once every
    ``(0.98 - session_window) x TTL`` (88% by default) never expires on the server.
    ``sessions=False`` keeps session fields out (their refreshes are writes, which every process's
    listener hears about)."""

    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    session_window: float = 0.1
    sessions: bool = True

    def __post_init__(self) -> None:
        for name in ("max_entries", "max_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgumentError(f"NearCache {name} must be a positive int, not {value!r}")
        window = self.session_window
        if not isinstance(window, int | float) or isinstance(window, bool) or not 0 < window < REFRESH_BELOW:
            raise InvalidArgumentError(
                f"NearCache session_window must be a fraction above 0 and below {REFRESH_BELOW}, not {window!r}"
            )


class Ticket(NamedTuple):
    """Taken when a read is sent: the report sequence number then, and the time (monotonic)."""

    seq: int
    sent: float


@dataclass(slots=True)
class _Entry:
    raw: bytes
    until: float  # monotonic: not served after this
    wall_until: float  # wall clock (s): not served after this (a stored expiry); inf for none
    own: int = 0
    """Reports of the read's own change still to come: a session read that refreshed the field's TTL
    made a change the server reports like any other. Reports of one key come in the order the server
    ran the commands, and none had come when the entry was admitted, so the next one is the read's."""


@dataclass(frozen=True, slots=True)
class NearStats:
    """This process's near cache: local hits and misses, reports and flushes, what it holds."""

    hits: int
    misses: int
    invalidations: int
    flushes: int
    evictions: int
    entries: int
    bytes: int
    live: bool
    """Whether tracking is live on every primary (else nothing is served or admitted)."""


class NearStore:
    """One cache's near cache: the entries, the tickets, and the listeners."""

    def __init__(self, config: NearCache, prefix: str) -> None:
        self.config = config
        tool, llm, session = tier_heads(prefix)
        self.prefixes = [tool, llm] + ([session] if config.sessions else [])
        self._session_head = session
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._seq = 0  # reports (and flushes) seen
        self._flushed_at = 0  # the sequence number of the last flush
        self._recent: OrderedDict[str, int] = OrderedDict()  # key -> sequence number of its last report
        self._live = False
        self.hits = self.misses = self.invalidations = self.flushes = self.evictions = 0
        self._tracker: _Tracker | None = None

    # --- what operations call (no I/O)

    def get(self, key: str) -> bytes | None:
        """The local copy of ``key`` if it may be served, else None (a local miss)."""
        entry = self._entries.get(key)
        if entry is None or not self._live:
            self.misses += 1
            return None
        if time.monotonic() > entry.until or time.time() > entry.wall_until:
            with self._lock:
                if self._entries.get(key) is entry:
                    self._drop(key)
            self.misses += 1
            return None
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
        self.hits += 1
        count_local_hit()
        return entry.raw

    def ticket(self) -> Ticket | None:
        """Taken before a read is sent: what :meth:`admit` needs (None while tracking is not live)."""
        return Ticket(self._seq, time.monotonic()) if self._live else None

    def admit(
        self, key: str, raw: bytes, ticket: Ticket | None, *, ttl_ms: int = 0, expires_ms: int = 0, own: int = 0
    ) -> None:
        """Keep ``raw`` for ``key`` if nothing changed it since ``ticket`` was taken. A session field
        (``ttl_ms``: its sliding TTL) is kept for ``session_window`` of it from when the read was sent;
        a stored entry until ``expires_ms`` (wall clock ms; 0: no expiry). ``own``: reports of the
        read's own change to come (1 when the read refreshed the field's expiry)."""
        if ticket is None or len(raw) > self.config.max_bytes:
            return
        seq = ticket.seq
        if key.startswith(self._session_head):
            if not self.config.sessions or ttl_ms <= 0:
                return  # a fixed deadline or no TTL: the header does not say when it ends
            until = ticket.sent + ttl_ms / 1000 * self.config.session_window
        else:
            until = float("inf")
        wall_until = expires_ms / 1000 if expires_ms else float("inf")
        with self._lock:
            if not self._live or self._flushed_at > seq or self._recent.get(key, -1) > seq:
                return  # changed (or possibly changed) since the read was sent
            if self._recent and seq < next(iter(self._recent.values())) and len(self._recent) >= RECENT:
                return  # older than what is remembered: it might have been reported
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.raw)
            self._entries[key] = _Entry(raw, until, wall_until, own)
            self._bytes += len(raw)
            while len(self._entries) > self.config.max_entries or self._bytes > self.config.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.raw)
                self.evictions += 1

    def forget(self, key: str) -> None:
        """Drop ``key`` now and refuse reads of it already in flight: this process writes or
        removes it (called before and after the write; the report follows)."""
        with self._lock:
            self._seq += 1
            self._remember(key)
            self._drop(key)

    def forget_prefix(self, head: str) -> None:
        """Drop every key starting with ``head`` (a thread, a tool, a model) and refuse reads in flight."""
        with self._lock:
            self._seq += 1
            self._flushed_at = self._seq  # cheaper than remembering each key: a read in flight is refused
            for key in [k for k in self._entries if k.startswith(head)]:
                self._drop(key)

    # --- what the listeners call

    def invalidate(self, keys: list[bytes] | None) -> None:
        """A report: these keys changed (None: every key, FLUSHALL/FLUSHDB)."""
        if keys is None:
            self.flush("the server flushed its keys")
            return
        with self._lock:
            self._seq += 1
            for raw_key in keys:
                key = raw_key.decode(errors="surrogateescape")
                self._remember(key)
                entry = self._entries.get(key)
                if entry is None:
                    continue
                if entry.own:  # the report of the read that brought it here
                    entry.own -= 1
                    continue
                self._drop(key)
                self.invalidations += 1

    def flush(self, why: str) -> None:
        with self._lock:
            self._seq += 1
            self._flushed_at = self._seq
            had = len(self._entries)
            self._entries.clear()
            self._recent.clear()
            self._bytes = 0
            self.flushes += 1
        if had:
            LOG.warning("agentcache near cache flushed (%d entries): %s", had, why)

    def set_live(self, live: bool) -> None:
        with self._lock:
            self._live = live

    def _remember(self, key: str) -> None:
        recent = self._recent
        recent[key] = self._seq
        recent.move_to_end(key)
        if len(recent) > RECENT:
            recent.popitem(last=False)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.raw)

    # --- life

    @property
    def started(self) -> bool:
        return self._tracker is not None

    def start(self, client: Any) -> None:
        """Start listening to the server(s) of ``client`` (a valkey-py/redis-py client, sync or
        async, standalone or cluster)."""
        if self._tracker is None:
            self._tracker = _Tracker(self, client)
            self._tracker.start()

    def stop(self) -> None:
        if self._tracker is not None:
            self._tracker.stop()
        self.set_live(False)
        self.flush("the cache was closed")

    def stats(self) -> NearStats:
        return NearStats(
            self.hits,
            self.misses,
            self.invalidations,
            self.flushes,
            self.evictions,
            len(self._entries),
            self._bytes,
            self._live,
        )


def forgetting(
    near: NearStore | None, batch: Batch, keys: Sequence[str] = (), head: str | None = None
) -> Generator[Batch, Replies, Replies]:
    """Send ``batch``, which writes or removes ``keys`` (or any key starting with ``head``): the near
    cache, if any, forgets them before and after, so this process never reads its own change's old
    value from memory (the server's report of the change comes later, on the listening thread)."""
    if near is None:
        return (yield batch)
    _forget(near, keys, head)
    try:
        return (yield batch)
    finally:
        _forget(near, keys, head)


def _forget(near: NearStore, keys: Sequence[str], head: str | None) -> None:
    for key in keys:
        near.forget(key)
    if head is not None:
        near.forget_prefix(head)


def _nodes(client: Any) -> list[tuple[str, int]]:
    if hasattr(client, "get_primaries"):
        return sorted((node.host, int(node.port)) for node in client.get_primaries())
    kwargs = client.connection_pool.connection_kwargs
    return [(kwargs.get("host", "localhost"), int(kwargs.get("port", 6379)))]


def _connection_kwargs(client: Any) -> dict[str, Any]:
    if hasattr(client, "nodes_manager"):  # the sync cluster client
        source = client.nodes_manager.connection_kwargs
    elif hasattr(client, "connection_kwargs"):  # the asyncio cluster client
        source = client.connection_kwargs
    else:
        source = client.connection_pool.connection_kwargs
    kwargs = {k: source[k] for k in _CONNECTION_KEYS if source.get(k) is not None}
    kwargs.pop("host", None)
    kwargs.pop("port", None)
    ssl = {k: v for k, v in source.items() if k.startswith("ssl") and v is not None}
    if ssl or "SSL" in type(source.get("connection_class", object)).__name__:
        kwargs["ssl"] = ssl
    return kwargs


class _Tracker:
    """One thread that keeps a listening connection per primary and reads their reports."""

    def __init__(self, store: NearStore, client: Any) -> None:
        self.store = store
        self.client = client
        self.kwargs = _connection_kwargs(client)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="agentcache-near-cache", daemon=True)
        self.connections: dict[tuple[str, int], Any] = {}

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self._close_all()

    def _run(self) -> None:
        pause = 0.05
        while not self.stopping.is_set():
            try:
                nodes = _nodes(self.client)
                self._connect(nodes)
                self.store.set_live(True)
                pause = 0.05
                self._listen(nodes)
            except Exception as exc:  # a lost connection, a node gone, a changed cluster
                self.store.set_live(False)
                self.store.flush(f"tracking was interrupted ({type(exc).__name__}: {exc})")
                self._close_all()
                self.stopping.wait(pause)
                pause = min(pause * 2, 1.0)
        self.store.set_live(False)

    def _connect(self, nodes: list[tuple[str, int]]) -> None:
        from valkey.connection import Connection, SSLConnection

        for node in nodes:
            kwargs = dict(self.kwargs)
            kwargs.setdefault("socket_connect_timeout", 2.0)  # a node that does not answer must not hold up close()
            ssl = kwargs.pop("ssl", None)
            cls: Any = SSLConnection if ssl is not None else Connection
            conn = cls(host=node[0], port=node[1], **kwargs, **(ssl or {}))
            conn.connect()
            conn.send_command("CLIENT", "ID")
            own = conn.read_response()
            prefixes = [word for p in self.store.prefixes for word in ("PREFIX", p)]
            conn.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", own, "BCAST", *prefixes)
            conn.read_response()
            conn.send_command("SUBSCRIBE", CHANNEL)
            conn.read_response()
            self.connections[node] = conn

    def _listen(self, nodes: list[tuple[str, int]]) -> None:
        checked = time.monotonic()
        by_socket = {conn._sock: conn for conn in self.connections.values()}
        while not self.stopping.is_set():
            for conn in by_socket.values():
                self._drain(conn)  # what the parser has buffered already
            ready, _, _ = select.select(list(by_socket), [], [], 0.2)
            for sock in ready:
                if not self._drain(by_socket[sock]):
                    raise ConnectionError("a listening connection was closed")
            if time.monotonic() - checked > 0.5:  # the cluster's primaries may have changed
                checked = time.monotonic()
                if _nodes(self.client) != nodes:
                    raise ConnectionError("the set of primaries changed")

    def _drain(self, conn: Any) -> bool:
        """Read every report ``conn`` has; False if it had nothing although its socket was ready (closed)."""
        read = False
        while conn.can_read(timeout=0):
            read = True
            message = conn.read_response()
            if isinstance(message, list) and len(message) == 3 and message[1] == CHANNEL:
                self.store.invalidate(message[2])
        return read

    def _close_all(self) -> None:
        for conn in self.connections.values():
            with contextlib.suppress(Exception):
                conn.disconnect()
        self.connections.clear()
