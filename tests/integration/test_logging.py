"""Logging: silent by default; WARNING for recoveries, INFO for scripts sent by body, DEBUG for round
trips; never a key, value, thread id or field name in any message."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import valkey

from agentcache import AgentCache, AsyncAgentCache
from agentcache.testing import unique_prefix

SECRET_THREAD, SECRET_FIELD, SECRET_VALUE = "thread-of-alice", "card_number", "4242-4242-4242-4242"


def kill_connections(url: str) -> None:
    admin = valkey.Valkey.from_url(url)
    try:
        admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    finally:
        admin.close()


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name.startswith("agentcache")]


def test_round_trips_at_debug_without_user_data(server_urls: Any, caplog: pytest.LogCaptureFixture) -> None:
    with AgentCache.from_url(server_urls("cluster"), prefix=unique_prefix()) as cache:
        cache.ping()
        with caplog.at_level(logging.DEBUG, logger="agentcache"):
            cache.session.set(SECRET_THREAD, SECRET_FIELD, SECRET_VALUE)
            cache.session.get(SECRET_THREAD, SECRET_FIELD)
            cache.session.get_all(SECRET_THREAD)
    said = messages(caplog)
    assert any("round trip: 1 command(s) [SET]" in m for m in said)
    assert any("round trip: 1 command(s) [GETEX]" in m for m in said)  # a get of a field it wrote: GETEX PX
    text = "\n".join(said)
    for secret in (SECRET_THREAD, SECRET_FIELD, SECRET_VALUE, "4242", "alice"):
        assert secret not in text


def test_a_script_sent_by_body_is_info(server_urls: Any, caplog: pytest.LogCaptureFixture) -> None:
    url = server_urls("standalone")
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        cache.session.get("t", "f")
        admin = valkey.Valkey.from_url(url)
        admin.script_flush()
        admin.close()
        with caplog.at_level(logging.INFO, logger="agentcache"):
            cache.session.get("t", "f")
    assert [m for m in messages(caplog) if "session_get sent by its body" in m]


def test_an_async_reconnect_is_a_warning(server_urls: Any, caplog: pytest.LogCaptureFixture) -> None:
    url = server_urls("standalone")

    async def main() -> None:
        async with AsyncAgentCache.from_url(url, prefix=unique_prefix()) as cache:
            await cache.session.set("t", "f", 1)
            kill_connections(url)
            await asyncio.sleep(0.05)
            with caplog.at_level(logging.WARNING, logger="agentcache"):
                assert await cache.session.get("t", "f") == 1  # and no call is lost

    asyncio.run(main())
    assert any("closed an idle connection" in m for m in messages(caplog))


def test_a_cluster_rediscovery_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A node killed and restarted on its port: the cluster client finds it again, and says so."""
    import time

    from agentcache import BackendError, BundledValkey

    with BundledValkey("cluster") as server, AgentCache.from_url(server.url, cluster=True) as cache:
        cache.session.set("t", "f", 1)
        node = server.nodes[0]
        node.kill()
        with pytest.raises(BackendError):
            cache.session.get("t", "f")
        node.start()
        with caplog.at_level(logging.WARNING, logger="agentcache"):
            deadline = time.monotonic() + 20
            while True:
                try:
                    cache.session.set("t", "f", 2)
                    break
                except BackendError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
    said = messages(caplog)
    assert any("agentcache recovered" in m and "cluster client" in m for m in said), said


def test_silent_by_default() -> None:
    """No logging configured: nothing on stderr, even when a recovery happens (Python's last-resort
    handler would print a WARNING if the logger had no handler)."""
    script = textwrap.dedent(
        """
        import asyncio, valkey
        from agentcache import AsyncAgentCache, BundledValkey

        async def main():
            with BundledValkey("standalone") as server:
                async with AsyncAgentCache.from_url(server.url) as cache:
                    await cache.session.set("t", "f", 1)
                    valkey.Valkey.from_url(server.url).execute_command("CLIENT", "KILL", "TYPE", "normal")
                    await asyncio.sleep(0.05)
                    assert await cache.session.get("t", "f") == 1
                    valkey.Valkey.from_url(server.url).script_flush()
                    await cache.session.get("t", "f")
            print("ok")

        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
    assert done.stderr == ""
