"""Which failed round trips a read retries, and how long it waits, decided without a server; the
``retry_reads`` option is checked (retries against a server that goes away: tests/integration/test_retries.py)."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from agentcache import AgentCache, InvalidArgumentError
from agentcache.core.clients import backend_error
from agentcache.core.commands import cmd
from agentcache.core.executors import retry_pause


def test_only_connection_errors_of_reads_are_retried() -> None:
    batch = [cmd("GET", "k")]
    dropped = backend_error(batch, ConnectionError("reset"), connection=True)
    refused = backend_error(batch, ValueError("WRONGTYPE"))
    later = time.monotonic() + 10
    assert retry_pause(later, 1, dropped) is not None
    assert retry_pause(later, 1, refused) is None  # the server answered: sending again changes nothing
    assert retry_pause(0.0, 1, dropped) is None  # not a read
    assert retry_pause(time.monotonic() + 0.001, 9, dropped) is None  # the deadline would pass


@pytest.mark.parametrize("bad", [-1, "5", math.nan, math.inf, True, 10**6])
def test_retry_reads_is_checked(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="retry_reads"):
        AgentCache.in_memory(retry_reads=bad)
