"""Snapshot stores: where :meth:`Conversation.to_dict` snapshots are kept, outside the conversation's lifetime.

Every store has the same four methods — ``save(id, data)``, ``load(id) -> dict | None``,
``delete(id) -> bool``, ``list_sessions() -> list[str]`` — and holds JSON-serializable dicts:

- :class:`MemoryStore`: a dict in this process (tests, notebooks).
- :class:`SQLiteStore`: a SQLite file (standard-library ``sqlite3``), safe across threads and processes.
- :class:`ValkeySnapshotStore`: on a cache's server, for every worker; on an
  :class:`~agentcache.AsyncAgentCache` its methods are awaited.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from agentcache.core.binding import Bound, E, bind_beside, operation
from agentcache.core.commands import Operation, cmd
from agentcache.encoding import codec
from agentcache.encoding.keys import check_name, conv_snapshot_index, conv_snapshot_key
from agentcache.errors import InvalidArgumentError, SerializationError
from agentcache.tiers.settings import Settings


@runtime_checkable
class SnapshotStore(Protocol):
    """What a snapshot store offers (sync). Write your own with these four methods."""

    def save(self, session_id: str, data: dict[str, Any]) -> None: ...
    def load(self, session_id: str) -> dict[str, Any] | None: ...
    def delete(self, session_id: str) -> bool: ...
    def list_sessions(self) -> list[str]: ...


def _json(session_id: object, data: object) -> str:
    check_name(session_id, "session_id")
    if not isinstance(data, dict):
        raise InvalidArgumentError(f"a snapshot must be a dict (conv.to_dict()), not {type(data).__name__}")
    try:
        return json.dumps(data, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"snapshot of {session_id!r} is not JSON-serializable: {exc}") from exc


class MemoryStore:
    """Snapshots in a dict of this process (each kept as JSON text, so a load is a fresh copy)."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def save(self, session_id: str, data: dict[str, Any]) -> None:
        """Store ``data`` under ``session_id``, replacing what was there."""
        text = _json(session_id, data)
        with self._lock:
            self._data[session_id] = text

    def load(self, session_id: str) -> dict[str, Any] | None:
        """The snapshot saved under ``session_id``, or None."""
        with self._lock:
            text = self._data.get(check_name(session_id, "session_id"))
        return None if text is None else dict(json.loads(text))

    def delete(self, session_id: str) -> bool:
        """Remove the snapshot; True if there was one."""
        with self._lock:
            return self._data.pop(check_name(session_id, "session_id"), None) is not None

    def list_sessions(self) -> list[str]:
        """The ids with a snapshot, sorted."""
        with self._lock:
            return sorted(self._data)


class SQLiteStore:
    """Snapshots in a SQLite database file (``":memory:"`` for a private in-memory one).

    One connection guarded by a lock serves every thread; WAL mode lets several processes share the
    file. Rows hold JSON text, readable with any SQLite tool."""

    def __init__(self, path: str | Path) -> None:
        if not isinstance(path, str | os.PathLike) or isinstance(os.fspath(path), bytes):
            raise InvalidArgumentError(f"path must be a str or a pathlib.Path, not {type(path).__name__}")
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        except (sqlite3.Error, ValueError) as exc:  # ValueError: a NUL in the path
            raise InvalidArgumentError(self._cannot_open(exc)) from exc
        try:
            with self._lock, self._conn:
                if self.path != ":memory:":
                    self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS snapshots "
                    "(id TEXT PRIMARY KEY, data TEXT NOT NULL, saved_at REAL NOT NULL)"
                )
        except sqlite3.Error as exc:  # not a database, read-only, ...
            self._conn.close()
            raise InvalidArgumentError(self._cannot_open(exc)) from exc

    def _cannot_open(self, exc: Exception) -> str:
        folder = Path(self.path).parent
        hint = (
            f"its directory {str(folder)!r} does not exist: create it first (Path(...).parent.mkdir(parents=True))"
            if self.path != ":memory:" and not folder.is_dir()
            else "check that the path is a file you may write (or an SQLite database) and its directory is writable"
        )
        return f"cannot open the SQLite snapshot store {self.path!r}: {exc}; {hint}"

    def save(self, session_id: str, data: dict[str, Any]) -> None:
        """Store ``data`` under ``session_id``, replacing what was there."""
        text = _json(session_id, data)
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO snapshots (id, data, saved_at) VALUES (?, ?, ?)",
                (session_id, text, time.time()),
            )

    def load(self, session_id: str) -> dict[str, Any] | None:
        """The snapshot saved under ``session_id``, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM snapshots WHERE id = ?", (check_name(session_id, "session_id"),)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def delete(self, session_id: str) -> bool:
        """Remove the snapshot; True if there was one."""
        with self._lock, self._conn:
            cursor = self._conn.execute("DELETE FROM snapshots WHERE id = ?", (check_name(session_id, "session_id"),))
            return cursor.rowcount > 0

    def list_sessions(self) -> list[str]:
        """The ids with a snapshot, sorted."""
        with self._lock:
            return [row[0] for row in self._conn.execute("SELECT id FROM snapshots ORDER BY id")]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- on the cache's server ----------------------------------------------------------------------


def _key(s: Settings, session_id: str) -> str:
    return conv_snapshot_key(s.prefix, s.key_id(session_id, "session_id"))


def _index(s: Settings) -> str:
    return conv_snapshot_index(s.prefix)


def save(s: Settings, session_id: str, data: dict[str, Any]) -> Operation[None]:
    """Store ``data`` under ``session_id`` (no expiry), replacing what was there. One round trip."""
    _json(session_id, data)  # the same promise as the other stores: JSON-serializable
    key = _key(s, session_id)
    payload = codec.seal(codec.encode(data, 0, s.max_value_bytes), s.sealer, key)
    yield [cmd("SET", key, payload), cmd("SADD", _index(s), session_id)]


def load(s: Settings, session_id: str) -> Operation[dict[str, Any] | None]:
    """The snapshot saved under ``session_id``, or None. One round trip."""
    key = _key(s, check_name(session_id, "session_id"))
    (raw,) = yield [cmd("GET", key)]
    if raw is None:
        return None
    try:
        return dict(codec.decode(codec.opened(raw, s.sealer, key)))
    except SerializationError as exc:
        raise SerializationError(f"snapshot {session_id!r}: {exc}") from exc


def delete(s: Settings, session_id: str) -> Operation[bool]:
    """Remove the snapshot; True if there was one. One round trip."""
    replies = yield [cmd("UNLINK", _key(s, check_name(session_id, "session_id"))), cmd("SREM", _index(s), session_id)]
    return bool(replies[0])


def list_sessions(s: Settings) -> Operation[list[str]]:
    """The ids with a snapshot, sorted. One round trip."""
    (members,) = yield [cmd("SMEMBERS", _index(s))]
    return sorted(member.decode() for member in members)


class ValkeySnapshotStore(Bound[E]):
    """Snapshots on a cache's server, shared by every worker: ``ValkeySnapshotStore(cache)``.

    Keys: ``<prefix>:conv-snapshot:<session>`` (msgpack of the snapshot, no expiry) and the set
    ``<prefix>:conv-snapshots`` of ids. On an AsyncAgentCache the methods are awaited."""

    TIER = "conversations"

    def __init__(self, cache: Bound[E]) -> None:
        bind_beside(self, cache)

    save = operation(save)
    load = operation(load, reads=True)
    delete = operation(delete)
    list_sessions = operation(list_sessions, reads=True)
