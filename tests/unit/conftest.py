"""The unit tests' guard: a unit test reaches no server, by accident or otherwise.

Every test here runs with ``socket.socket.connect``/``connect_ex`` refusing TCP and Unix sockets and
with the bundled Valkey unable to start, and the suite's server fixtures (``cache``, ``raw``,
``url``, ``server_urls``, ...) fail at once. An operation is checked offline with
:func:`tests.helpers.drive`, or where the backend does not matter (a refusal before anything is
sent) on ``memory_cache``, the in-memory backend; a test that needs a server belongs in
``tests/integration``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentcache.server import BundledValkey, Node
from tests.helpers import make_cache

GUARDED_FAMILIES = {socket.AF_INET, socket.AF_INET6, socket.AF_UNIX}


class ServerReachedError(AssertionError):
    """A unit test tried to reach a server: it belongs in tests/integration, or should use drive()."""


def _refuse(what: str) -> ServerReachedError:
    return ServerReachedError(
        f"a unit test tried to {what}: unit tests run without a server. Drive the operation with "
        "tests.helpers.drive(), or move the test to tests/integration"
    )


class Guard:
    """What the guard refused during one test; the test fails at teardown if anything is left here
    (so code that catches the error, as the CLI does, cannot hide an attempt)."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    def refuse(self, what: str) -> ServerReachedError:
        self.reached.append(what)
        return _refuse(what)

    def check(self) -> None:
        """Fail the test if anything was refused (and not cleared by a test that expected it)."""
        if self.reached:
            pytest.fail(f"this unit test tried to reach a server ({'; '.join(self.reached)}): {_refuse('').args[0]}")


def _guarded_connect(guard: Guard, original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in GUARDED_FAMILIES:
            raise guard.refuse(f"connect a socket to {address!r}")
        return original(self, address)

    return connect


@pytest.fixture(autouse=True)
def no_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Guard]:
    """Refuses every TCP/Unix connect and every start of the bundled Valkey for one unit test."""
    guard = Guard()
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect(guard, socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect(guard, socket.socket.connect_ex))

    def no_start(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise guard.refuse("start the bundled Valkey")

    monkeypatch.setattr(BundledValkey, "start", no_start)
    monkeypatch.setattr(Node, "start", no_start)
    yield guard
    guard.check()


@pytest.fixture(params=["sync", "async"])
def memory_cache(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh in-memory cache (fakeredis with Lua: no socket, no server) on each facade, for what
    does not depend on a server: a call refused before anything is sent leaves ``round_trips`` as it
    was on any backend."""

    def no_url(topology: str) -> str:
        raise _refuse(f"reach the {topology!r} server")

    made, close = make_cache("memory", request.param, no_url)
    made.topology = "memory"
    yield made
    close()


def _no_fixture(name: str) -> Any:
    @pytest.fixture(name=name)
    def refused() -> Any:
        raise _refuse(f"use the {name!r} fixture, which needs a server")

    return refused


server_urls = _no_fixture("server_urls")
cache = _no_fixture("cache")
raw = _no_fixture("raw")
url = _no_fixture("url")
framework_cache = _no_fixture("framework_cache")
fake_models = _no_fixture("fake_models")
