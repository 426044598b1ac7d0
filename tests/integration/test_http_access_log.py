"""``agentcache serve`` in a real process: on uvloop and httptools, no access log unless
``--access-log`` (then one line per request)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

pytest.importorskip("fastapi")

import httpx

from tests.integration.test_cli_first_hour import free_port


def served(url: str, *options: str) -> tuple[str, str]:
    """Start ``agentcache serve``, GET /health twice, stop it: its start line, and all it wrote
    after it (uvicorn writes the access log to stdout, the rest to stderr)."""
    port = free_port()
    running = subprocess.Popen(
        [sys.executable, "-m", "agentcache", "serve", "--url", url, "--port", str(port), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AGENTCACHE_HTTP_USER_KEYS": "", "AGENTCACHE_HTTP_ADMIN_KEYS": ""},
    )
    assert running.stdout is not None
    try:
        line = running.stdout.readline()  # printed once the server listens
        for _ in range(2):
            assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
    finally:
        running.send_signal(signal.SIGINT)
        out, err = running.communicate(timeout=60)
    return line, out + err


def test_the_access_log_is_off_unless_asked_for(server_urls: Callable[[str], str]) -> None:
    pytest.importorskip("uvloop")
    pytest.importorskip("httptools")
    url = server_urls("standalone")
    line, logged = served(url)
    assert line.rstrip().endswith("; uvloop+httptools, access log off"), line
    assert "GET /health" not in logged
    line, logged = served(url, "--access-log")
    assert line.rstrip().endswith("; uvloop+httptools, access log on"), line
    assert logged.count('"GET /health HTTP/1.1" 200') == 2, logged
