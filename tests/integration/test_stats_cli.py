"""``agentcache stats``: the shared statistics of every process as tables, once or ``--watch``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

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


def test_watch_redraws_until_interrupted(server_urls: Callable[[str], str]) -> None:
    url, prefix = server_urls("standalone"), unique_prefix()
    _fill(url, prefix)
    done = subprocess.Popen(
        [sys.executable, "-m", "agentcache.cli", "stats", "--url", url, "--prefix", prefix, "--watch", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
    )
    time.sleep(4)  # started, connected, and drawn at least once even on a loaded machine
    done.send_signal(signal.SIGINT)
    out, err = done.communicate(timeout=20)
    assert done.returncode == 0, err
    assert "weather" in out


def test_a_bad_url_is_a_message_and_status_2(capsys: object) -> None:
    assert main(["stats", "--url", "valkey://127.0.0.1:1"]) == 2
    assert main(["stats", "--url", "valkey://127.0.0.1:1", "--watch", "0"]) == 2
