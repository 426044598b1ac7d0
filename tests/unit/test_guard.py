"""The unit tests' guard (tests/unit/conftest.py) fires: no unit test reaches a server."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from agentcache import AgentCache, AsyncAgentCache
from agentcache.errors import BackendError
from agentcache.testing import valkey_server
from tests.unit.conftest import Guard, ServerReachedError


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_UNIX])
def test_a_socket_cannot_connect(family: socket.AddressFamily, no_server: Guard) -> None:
    address = ("127.0.0.1", 6379) if family == socket.AF_INET else "/tmp/agentcache-unit-guard.sock"
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        with pytest.raises(ServerReachedError, match="unit tests run without a server"):
            sock.connect(address)
        with pytest.raises(ServerReachedError):
            sock.connect_ex(address)
    assert len(no_server.reached) == 2
    no_server.reached.clear()  # expected here: the test would fail at teardown otherwise


def test_the_bundled_valkey_cannot_start(no_server: Guard) -> None:
    with pytest.raises(ServerReachedError, match="start the bundled Valkey"), valkey_server("standalone"):
        pass  # pragma: no cover
    assert no_server.reached == ["start the bundled Valkey"]
    no_server.reached.clear()


def test_a_cache_on_a_url_reaches_nothing(no_server: Guard) -> None:
    """Both facades' first command goes through the guarded connect (the client may wrap the error)."""
    with (
        AgentCache.from_url("valkey://127.0.0.1:1", retry_reads=0) as cache,
        pytest.raises((ServerReachedError, BackendError)) as caught,
    ):
        cache.ping()
    assert "unit tests run without a server" in _chain(caught.value)

    async def first_call() -> str:
        async with AsyncAgentCache.from_url("valkey://127.0.0.1:1", retry_reads=0) as acache:
            with pytest.raises((ServerReachedError, BackendError)) as failed:
                await acache.ping()
            return _chain(failed.value)

    assert "unit tests run without a server" in asyncio.run(first_call())
    assert no_server.reached
    no_server.reached.clear()


def test_an_attempt_caught_by_the_code_still_fails_the_test(no_server: Guard) -> None:
    """The CLI turns a connection error into exit status 2: the guard's teardown check fails such a
    test anyway."""
    with contextlib.suppress(Exception), socket.create_connection(("127.0.0.1", 1), timeout=0.1):
        pass  # pragma: no cover
    assert no_server.reached
    with pytest.raises(pytest.fail.Exception, match="this unit test tried to reach a server"):
        no_server.check()
    no_server.reached.clear()
    no_server.check()


def _chain(error: BaseException) -> str:
    """Every message along an exception's causes and contexts."""
    seen: list[str] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 20:
        seen.append(str(current))
        current = current.__cause__ or current.__context__
    return " | ".join(seen)
