"""The SQLite snapshot store, shared by threads and reopened (no server involved)."""

from __future__ import annotations

import threading
from pathlib import Path

from agentcache import (
    SQLiteStore,
)


def test_sqlite_store_persists_across_connections_and_threads(tmp_path: Path) -> None:
    path = tmp_path / "snap.db"
    with SQLiteStore(path) as store:
        threads = [threading.Thread(target=store.save, args=(f"s{i}", {"i": i})) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with SQLiteStore(path) as again:
        assert again.list_sessions() == [f"s{i}" for i in range(8)]
        assert again.load("s3") == {"i": 3}
