"""The CLI as a new user meets it, in a real process: an unreachable server said at start, one
start-up line, Ctrl-C quiet with status 130 (issue 28)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import valkey

pytest.importorskip("fastapi")

from agentcache.server import TEMP_PREFIX


def agentcache(*args: str, own_group: bool = False) -> subprocess.Popen[str]:
    """The command as a terminal starts it; ``own_group``: in a process group of its own (a
    foreground job's), which a terminal's Ctrl-C reaches whole."""
    return subprocess.Popen(
        [sys.executable, "-m", "agentcache", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AGENTCACHE_HTTP_USER_KEYS": "", "AGENTCACHE_HTTP_ADMIN_KEYS": ""},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal would start it
        start_new_session=own_group,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_says_at_once_that_the_server_cannot_be_reached() -> None:
    done = agentcache("serve", "--url", "valkey://127.0.0.1:1", "--port", str(free_port()))
    _, err = done.communicate(timeout=60)
    assert done.returncode == 2
    assert "agentcache serve:" in err and "127.0.0.1:1" in err and "Traceback" not in err


def test_serve_on_port_0_says_the_port_it_listens_on(server_urls: Callable[[str], str]) -> None:
    running = agentcache("serve", "--url", server_urls("standalone"), "--port", "0")
    assert running.stdout is not None
    try:
        line = running.stdout.readline()
        port = int(line.split("listening on http://127.0.0.1:", 1)[1].split(";", 1)[0])  # it said :0
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        running.send_signal(signal.SIGINT)
        running.communicate(timeout=60)
    assert running.returncode == 130


def test_serve_prints_one_start_line_and_stops_quietly_on_ctrl_c(server_urls: Callable[[str], str]) -> None:
    url = server_urls("standalone")
    port = free_port()
    running = agentcache("serve", "--url", url, "--port", str(port))
    assert running.stdout is not None
    line = running.stdout.readline()  # printed once the server answered PING
    assert line.startswith(f"agentcache serve: Valkey at {url}; listening on http://127.0.0.1:{port}; ")
    assert "keys not required (loopback only); model none" in line
    running.send_signal(signal.SIGINT)
    _, err = running.communicate(timeout=60)
    assert running.returncode == 130
    assert "Traceback" not in err and "CancelledError" not in err and "KeyboardInterrupt" not in err
    assert err.rstrip().endswith("interrupted")


def group_members(group: int) -> list[str]:
    """The command names of the processes in process group ``group`` (from /proc)."""
    names = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read()
        except OSError:  # ended meanwhile
            continue
        name, rest = fields[fields.index("(") + 1 : fields.rindex(")")], fields[fields.rindex(")") + 2 :].split()
        if int(rest[2]) == group:  # field 5, pgrp, after state and ppid
            names.append(name)
    return names


def forming(data: Path, pid: int) -> bool:
    """Whether the bundled server started by process ``pid`` is up and its cluster forming (slots
    assigned: the command is waiting for cluster_state:ok)."""
    for config in data.glob(f"{TEMP_PREFIX}{pid}-*/valkey.conf"):
        port = re.search(r"^port (\d+)$", config.read_text(), re.MULTILINE)
        if port is None:
            return False
        client = valkey.Valkey(port=int(port.group(1)), socket_timeout=1)
        try:
            return b"cluster_slots_assigned:16384" in client.execute_command("CLUSTER", "INFO")
        except valkey.ConnectionError:
            return False
        finally:
            client.close()
    return False


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["mcp", "--thread", "t"]])
def test_ctrl_c_while_the_bundled_server_starts_is_an_interrupt_not_its_connection_error(command: list[str]) -> None:
    """A terminal's Ctrl-C reaches the whole group: the bundled server dies while the command waits
    for it (its cluster forming), and the command still ends as interrupted, with nothing left."""
    running = agentcache(*command, own_group=True)
    data = Path(tempfile.gettempdir())
    deadline = time.monotonic() + 60
    while not forming(data, running.pid):  # the node is up and has its slots; the cluster is yet to be ok
        assert running.poll() is None and time.monotonic() < deadline, "the bundled server never started"
        time.sleep(0.002)
    os.killpg(running.pid, signal.SIGINT)
    _, err = running.communicate(timeout=60)
    assert running.returncode == 130, err
    assert "Traceback" not in err and "ConnectionError" not in err and err.rstrip().endswith("interrupted")
    assert group_members(running.pid) == [] and not list(data.glob(f"{TEMP_PREFIX}{running.pid}-*"))


def test_mcp_stops_at_ctrl_c_while_its_client_keeps_stdin_open(server_urls: Callable[[str], str]) -> None:
    """The transport's stdin reader waited for a line or end of input before Ctrl-C could end it."""
    pytest.importorskip("mcp")
    running = agentcache("mcp", "--thread", "t1", "--url", server_urls("standalone"))
    assert running.stdin is not None and running.stdout is not None
    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
    running.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}) + "\n")
    running.stdin.flush()
    assert '"id":1' in running.stdout.readline()  # serving, and reading the next line
    running.send_signal(signal.SIGINT)
    try:
        running.wait(timeout=15)  # the client still holds stdin open
    finally:
        running.kill()
    _, err = running.communicate(timeout=15)
    assert running.returncode == 130, err
    assert "Traceback" not in err and err.rstrip().endswith("interrupted")
