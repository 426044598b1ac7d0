"""The bundled server never outlives the process that started it, and leaves nothing behind.

Each owner here is a child Python process that starts ``AgentCache.embedded()``, prints what it
started, and then ends in one of the ways a process ends: closing the cache, returning without
closing, SIGTERM, SIGKILL, ``os._exit``. The test then watches the server's pid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentcache import AgentCache, AsyncAgentCache, BundledValkey, InvalidArgumentError, ServerStartError
from agentcache.server import TEMP_PREFIX, _alive

OWNER = """
import json, os, sys, time
from agentcache import AgentCache
cache = AgentCache.embedded({args})
cache.session.set("t", "f", 1)
server = cache.server
print(json.dumps({{"pids": server.pids, "dirs": [str(n.directory) for n in server.nodes]}}), flush=True)
{then}
"""


def start_owner(then: str, args: str = "") -> tuple[subprocess.Popen[str], dict[str, Any]]:
    child = subprocess.Popen(
        [sys.executable, "-c", OWNER.format(args=args, then=textwrap.dedent(then))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line, child.communicate()[1]
    started: dict[str, Any] = json.loads(line)
    assert started["pids"] and all(_alive(pid) for pid in started["pids"])
    return child, started


def gone_within(pids: list[int], seconds: float = 10.0) -> float:
    """Seconds until every pid has exited (fails after ``seconds``)."""
    began = time.monotonic()
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() - began < seconds, f"server still running {seconds} s after its owner: {pids}"
        time.sleep(0.02)
    return time.monotonic() - began


@pytest.mark.parametrize(
    "ending",
    ["close", "return without close", "sys.exit without close", "os._exit", "SIGTERM", "SIGKILL"],
)
def test_the_server_dies_with_its_owner(ending: str) -> None:
    then = {
        "close": "cache.close()",
        "return without close": "",
        "sys.exit without close": "sys.exit(3)",
        "os._exit": "os._exit(0)",
    }.get(ending, "time.sleep(60)")
    child, started = start_owner(then)
    if ending.startswith("SIG"):
        child.send_signal(getattr(signal, ending))
    _, errors = child.communicate(timeout=30)
    assert "Exception ignored" not in errors and "Traceback" not in errors, errors
    gone_within(started["pids"])  # measured: about 0.01 s after the owner in every case
    if ending in ("close", "return without close", "sys.exit without close"):
        assert not any(Path(d).exists() for d in started["dirs"])  # and its temporary directory is gone


def test_a_killed_owners_temporary_directory_goes_with_the_next_start() -> None:
    child, started = start_owner("time.sleep(60)")
    child.kill()
    child.wait()
    gone_within(started["pids"])
    assert all(Path(d).exists() for d in started["dirs"])  # nobody was left to remove it
    with BundledValkey("standalone"):
        assert not any(Path(d).exists() for d in started["dirs"])


def test_a_running_servers_directory_is_never_swept() -> None:
    with BundledValkey("standalone") as first, BundledValkey("standalone") as second:
        assert first.nodes[0].directory.exists()
        assert second.nodes[0].directory.exists()
        assert first.nodes[0].directory.name.startswith(f"{TEMP_PREFIX}{os.getpid()}-")


def test_a_server_started_from_a_short_lived_thread_keeps_running() -> None:
    """Linux ties the parent-death signal to the thread that forked: the servers are forked from a
    launcher thread that lives as long as the process, not from the caller's thread."""
    made: list[AgentCache] = []
    worker = threading.Thread(target=lambda: made.append(AgentCache.embedded()))
    worker.start()
    worker.join()
    with made[0] as cache:
        assert cache.server is not None
        time.sleep(0.2)  # the death signal would have arrived by now
        assert all(_alive(pid) for pid in cache.server.pids)
        cache.session.set("t", "f", 1)
        assert cache.session.get("t", "f") == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_exiting_does_not_stop_its_parents_server() -> None:
    """A pre-fork worker (gunicorn, say) that exits runs the exit handlers it inherited: they must
    not stop the server of the process that started it."""
    with AgentCache.embedded() as cache:
        cache.session.set("t", "f", 1)
        assert cache.server is not None
        server = cache.server
        pid = os.fork()
        if pid == 0:  # the child: run the inherited exit handlers, as sys.exit would
            import atexit

            server.stop()
            atexit._run_exitfuncs()
            os._exit(0)
        os.waitpid(pid, 0)
        assert all(_alive(p) for p in server.pids)
        assert cache.session.get("t", "f") == 1
        assert all(node.directory.exists() for node in server.nodes)


def test_a_file_as_data_dir_is_a_typed_error_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "a-file"
    path.write_text("not a directory")
    script = f"""
from agentcache import AgentCache, InvalidArgumentError
try:
    AgentCache.embedded(data_dir={str(path)!r})
except InvalidArgumentError as exc:
    print("typed:", exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("typed: data_dir") and "is a file" in done.stdout
    assert done.stderr == ""  # no "Exception ignored in ... __del__", no traceback
    with pytest.raises(InvalidArgumentError, match="is a file"):
        BundledValkey(data_dir=path).start()


def test_a_data_dir_in_use_is_refused(tmp_path: Path) -> None:
    with AgentCache.embedded(data_dir=tmp_path) as cache:
        with pytest.raises(ServerStartError, match="in use by another bundled Valkey"):
            AgentCache.embedded(data_dir=tmp_path)
        cache.session.set("t", "f", 1)  # the first server is untouched
        assert cache.session.get("t", "f") == 1
    with AgentCache.embedded(data_dir=tmp_path) as again:  # free again once the first has stopped
        assert again.session.get("t", "f") == 1


def test_the_data_dir_stays_locked_until_the_server_has_exited(tmp_path: Path) -> None:
    """The lock is shared with the server process: an owner killed while its server still shuts
    down does not let a second server open the same append-only file."""
    child, started = start_owner("time.sleep(60)", args=f"data_dir={str(tmp_path)!r}")
    child.kill()
    child.wait()
    gone_within(started["pids"])
    with AgentCache.embedded(data_dir=tmp_path) as cache:  # and after it has, the data is there
        assert cache.session.get("t", "f") == 1


def test_a_process_whose_other_threads_still_run_is_alive() -> None:
    """A server whose main thread has exited shows as a zombie while its other threads finish, and
    they still hold its files (the data directory's lock among them): it is not gone yet. Counting
    it gone let the test above start a second server too early (seen once in CI)."""
    code = (
        "import ctypes, sys, threading\n"
        "threading.Thread(target=sys.stdin.readline).start()\n"
        "print('ready', flush=True)\n"
        "ctypes.CDLL(None).pthread_exit(None)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    began = time.monotonic()
    while (
        b")" not in (stat := Path(f"/proc/{child.pid}/stat").read_bytes()) or stat.rsplit(b")", 1)[1].split()[0] != b"Z"
    ):
        assert time.monotonic() - began < 10, "the main thread did not exit"
        time.sleep(0.01)
    assert _alive(child.pid)  # the main thread is a zombie; the reading thread still runs
    child.stdin.close()  # the reading thread returns, and with it the process
    gone_within([child.pid])
    child.wait()


@pytest.mark.parametrize("fsync", ["everysec", "always"])
def test_appendfsync(tmp_path: Path, fsync: Any) -> None:
    with AgentCache.embedded(data_dir=tmp_path, appendfsync=fsync) as cache:
        assert cache.server is not None
        node = cache.server.nodes[0]
        with AgentCache.from_url(cache.server.url) as raw:
            assert raw.client.config_get("appendfsync") == {"appendfsync": fsync}
            assert raw.client.config_get("appendonly") == {"appendonly": "yes"}
        assert node.port == cache.server.ports[0]


def test_the_server_is_described(tmp_path: Path) -> None:
    with AgentCache.embedded() as cache:
        server = cache.server
        assert server is not None
        assert server.host == "127.0.0.1"
        assert len(server.pids) == len(server.ports) == len(server.nodes) == 1
        assert server.url == f"valkey://127.0.0.1:{server.ports[0]}"
        assert str(server.pids[0]) in repr(server)
    assert server.pids == [] and "stopped" in repr(server)


def test_the_async_facade_stops_its_server_too() -> None:
    import asyncio

    async def main() -> list[int]:
        async with AsyncAgentCache.embedded() as cache:
            assert cache.server is not None
            return cache.server.pids

    gone_within(asyncio.run(main()))


def test_temporary_directories_are_under_the_temp_dir() -> None:
    with BundledValkey("cluster", primaries=3) as server:
        roots = {node.directory.parent for node in server.nodes}
        assert len(roots) == 1 and roots.pop().parent == Path(tempfile.gettempdir())
