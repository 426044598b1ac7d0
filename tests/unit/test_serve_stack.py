"""What ``agentcache serve`` runs on: uvloop and httptools when installed, each falling back on its
own (asyncio's loop, h11 with its bound on a request head); the access log off unless asked for."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("uvicorn")

from agentcache.http.app import MAX_CONNECTIONS, loop_factory, server_config, server_stack
from agentcache.http.guard import MAX_HEAD_BYTES, GuardedH11Protocol


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` unimportable, as on a machine without them."""
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in modules):
            monkeypatch.delitem(sys.modules, name)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_the_fast_stack_when_installed() -> None:
    pytest.importorskip("uvloop")
    pytest.importorskip("httptools")
    from agentcache.http.fast_protocol import GuardedHttpToolsProtocol

    name, protocol, options = server_stack()
    assert (name, protocol, options) == ("uvloop+httptools", GuardedHttpToolsProtocol, {"loop": "uvloop"})
    config = server_config(object(), "127.0.0.1", 8787)
    assert config.http is GuardedHttpToolsProtocol and config.loop == "uvloop"
    assert config.access_log is False and config.limit_concurrency == MAX_CONNECTIONS
    assert server_config(object(), "127.0.0.1", 8787, access_log=True).access_log is True


def test_without_uvloop_and_httptools_it_falls_back_to_asyncio_and_h11(monkeypatch: pytest.MonkeyPatch) -> None:
    _without(
        monkeypatch, "uvloop", "httptools", "agentcache.http.fast_protocol", "uvicorn.protocols.http.httptools_impl"
    )
    assert loop_factory() is None
    assert server_stack() == ("asyncio+h11", GuardedH11Protocol, {"loop": "asyncio"})
    config = server_config(object(), "127.0.0.1", 8787)
    assert config.http is GuardedH11Protocol and config.loop == "asyncio"
    assert config.h11_max_incomplete_event_size == MAX_HEAD_BYTES and config.access_log is False


def test_each_falls_back_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("httptools")
    _without(monkeypatch, "uvloop")
    name, _, options = server_stack()
    assert name == "asyncio+httptools" and options == {"loop": "asyncio"}
