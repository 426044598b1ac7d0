"""``agentcache stats``: the shared statistics of every process as tables, once or ``--watch``."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import IO

import pytest
from rich.console import Console

from agentcache import AgentCache
from agentcache.cli import main
from agentcache.stats_view import show
from agentcache.testing import unique_prefix


def _fill(url: str, prefix: str) -> None:
    with AgentCache.from_url(url, prefix=prefix) as cache:
        cache.session.set("t", "f", 1)
        cache.session.get("t", "f")
        cache.tool.store("weather", {"city": "Paris"}, "sunny", cost=0.25)
        for _ in range(24):
            cache.tool.check("weather", {"city": "Paris"})
        cache.tool.check("weather", {"city": "Lyon"})


def test_stats_tables_show_tiers_tools_and_advice(server_urls: Callable[[str], str]) -> None:
    url, prefix = server_urls("cluster3"), unique_prefix()
    _fill(url, prefix)
    console = Console(record=True, width=160)
    assert show(url, prefix, None, console=console) == 0
    text = console.export_text()
    assert f"agentcache statistics ({prefix}, all processes)" in text
    assert "weather" in text and "96.0%" in text  # 24 hits of 25 lookups
    assert "raise the TTL" in text
    assert "6" in text  # cost saved: 24 hits x 0.25


def _read_until(stream: IO[bytes], wanted: bytes, count: int, deadline: float) -> bytes:
    """What ``stream`` gave until ``wanted`` appeared ``count`` times (or the deadline, or its end)."""
    seen = b""
    while seen.count(wanted) < count and time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.2)
        if ready:
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
    return seen


def test_watch_redraws_into_a_pipe_until_interrupted(server_urls: Callable[[str], str]) -> None:
    """Piped (``| tee log``), each refresh is printed and flushed at once; Ctrl-C: quiet, status 130."""
    url, prefix = server_urls("standalone"), unique_prefix()
    _fill(url, prefix)
    title = f"agentcache statistics ({prefix}, all processes) at ".encode()
    running = subprocess.Popen(
        [sys.executable, "-m", "agentcache.cli", "stats", "--url", url, "--prefix", prefix, "--watch", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "160"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal would start it
    )
    assert running.stdout is not None
    try:
        shown = _read_until(running.stdout, title, 2, time.monotonic() + 30)  # generous: a loaded machine
        assert shown.count(title) >= 2, shown.decode(errors="replace")  # two refreshes, before any Ctrl-C
        assert b"weather" in shown
        running.send_signal(signal.SIGINT)
        _, err = running.communicate(timeout=30)
    finally:
        if running.poll() is None:
            running.kill()
            running.communicate()
    errors = err.decode()
    assert running.returncode == 130, errors
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors
    assert errors.rstrip().endswith("interrupted")


def test_a_bad_url_is_a_message_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--url", "valkey://127.0.0.1:1"]) == 2
    said = capsys.readouterr().err
    assert said.startswith("agentcache stats: ") and "127.0.0.1:1" in said, said
    for wrong in ("0", "-1", "nan", "inf", "1e300", "1e-300", "soon"):  # nan, inf and 1e300 failed after drawing once
        with pytest.raises(SystemExit) as stopped:
            main(["stats", "--url", "valkey://127.0.0.1:1", "--watch", wrong])
        assert stopped.value.code == 2
        assert "argument --watch:" in capsys.readouterr().err
