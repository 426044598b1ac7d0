"""The CLI as a new user meets it, in a real process: an unreachable server said at start, one
start-up line, Ctrl-C quiet with status 130 (issue 28)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable

import pytest

pytest.importorskip("fastapi")


def agentcache(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentcache", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AGENTCACHE_HTTP_USER_KEYS": "", "AGENTCACHE_HTTP_ADMIN_KEYS": ""},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal would start it
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
