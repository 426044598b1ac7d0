"""The per-call path kept cheap without changing what it does (issue 25): statistics counted without
a lock stay exact under threads, the memoised log-level check follows every level change, and the
asyncio connections' idle poll still sees a connection the server closed."""

from __future__ import annotations

import logging
import socket
import sys
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from agentcache import stats as stats_module
from agentcache.core import clients
from agentcache.core.log import DEBUG, LOG, debug_enabled, round_trip_started
from agentcache.stats import StatsBuffer

THREADS = 4
CALLS = 3000


def shipped(commands: list[Any]) -> dict[str, float]:
    """What a list of HINCRBY/HINCRBYFLOAT commands adds up to, per field."""
    totals: dict[str, float] = {}
    for command in commands:
        name, field, amount = command.args[0], command.args[2], command.args[3]
        totals[field] = totals.get(field, 0) + (float(amount) if name == "HINCRBYFLOAT" else amount)
    return totals


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter allows, so that an unlocked race would show."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.parametrize("fold_at", [stats_module.FOLD_AT, 7])
def test_counts_are_exact_under_threads_with_drains_racing_them(
    busy_switching: None, monkeypatch: pytest.MonkeyPatch, fold_at: int
) -> None:
    monkeypatch.setattr(stats_module, "FOLD_AT", fold_at)  # 7: the deque is folded all the time
    buffer = StatsBuffer("p:stats", flush_seconds=0)
    collected: list[Any] = []
    done = threading.Event()

    def counter(index: int) -> None:
        for i in range(CALLS):
            buffer.lookup("session", i % 2 == 0)
            buffer.tool_lookup(f"tool{index}", True, 0.5)
            buffer.count("session/writes")

    def drainer() -> None:
        while not done.is_set():
            collected.extend(buffer.due())

    threads = [threading.Thread(target=counter, args=(n,)) for n in range(THREADS)]
    draining = threading.Thread(target=drainer)
    draining.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    draining.join()
    collected.extend(buffer.drain())

    totals = shipped(collected)
    assert totals["session/hits"] == totals["session/misses"] == THREADS * CALLS // 2
    assert totals["session/writes"] == THREADS * CALLS
    assert totals["tool/hits"] == THREADS * CALLS
    for n in range(THREADS):
        assert totals[f"tool/hits/tool{n}"] == CALLS
        assert totals[f"tool/cost_saved/tool{n}"] == pytest.approx(CALLS * 0.5)
    assert buffer.drain() == [] and buffer.due() == []


def test_counts_keep_their_kind_and_the_deque_stays_short(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_module, "FOLD_AT", 10)
    buffer = StatsBuffer("p:stats", flush_seconds=float("inf"))
    for _ in range(100):
        buffer.tool_lookup("search", True, 3)  # an int cost stays an int: HINCRBY
    buffer.count("llm/writes", amount=1.0)  # a float amount stays a float, even 1.0: HINCRBYFLOAT
    assert len(buffer._pending) <= 10 + 3  # folded as it grows: memory stays bounded without flushes
    assert buffer.due() == []  # not due before flush_seconds
    by_field = {c.args[2]: (c.args[0], c.args[3]) for c in buffer.drain()}
    assert by_field == {
        "tool/hits": ("HINCRBY", 100),
        "tool/hits/search": ("HINCRBY", 100),
        "tool/cost_saved/search": ("HINCRBY", 300),
        "llm/writes": ("HINCRBYFLOAT", "1.0"),
    }


def test_the_debug_check_follows_every_level_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LOG, "level", LOG.level)
    monkeypatch.setattr(LOG, "disabled", LOG.disabled)
    try:
        LOG.setLevel(logging.DEBUG)
        assert debug_enabled() and debug_enabled()  # the second from logging's memo
        assert round_trip_started() > 0
        LOG.disabled = True  # not a level change: logging keeps its memo, the check still sees it
        assert not debug_enabled()
        LOG.disabled = False
        logging.disable(logging.DEBUG)
        assert not debug_enabled()
        logging.disable(logging.NOTSET)
        assert debug_enabled()
        LOG.setLevel(logging.WARNING)
        assert not debug_enabled() and not debug_enabled()
        assert round_trip_started() == 0.0
        LOG.setLevel(logging.NOTSET)
        logging.getLogger().setLevel(logging.DEBUG)  # inherited from the root
        assert debug_enabled() == LOG.isEnabledFor(DEBUG) == True  # noqa: E712
    finally:
        logging.disable(logging.NOTSET)
        logging.getLogger().setLevel(logging.WARNING)
        LOG.setLevel(logging.NOTSET)
    assert debug_enabled() == LOG.isEnabledFor(DEBUG)


def connection_on(sock: socket.socket) -> Any:
    """An object shaped like an asyncio valkey-py connection whose transport holds ``sock``."""
    transport = SimpleNamespace(get_extra_info=lambda name: sock if name == "socket" else None)
    return SimpleNamespace(_writer=SimpleNamespace(transport=transport))


def test_the_idle_poll_sees_a_connection_the_server_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    ours, server = socket.socketpair()
    try:
        connection = connection_on(ours)
        assert not clients._closed(connection) and not clients._closed(connection)
        server.close()
        assert clients._closed(connection)  # every hand-out is polled (the default threshold is 0)
        monkeypatch.setattr(clients, "POLL_IDLE_S", 3600.0)
        assert clients._closed(connection)  # never handed out under a threshold: polled
        assert not clients._closed(connection)  # handed out again within it: not polled
    finally:
        ours.close()
    assert not clients._closed(SimpleNamespace())  # not connected: nothing to poll
