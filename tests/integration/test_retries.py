"""Reads retry on connection errors within the ``retry_reads`` deadline; writes never do."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import valkey

from agentcache import AgentCache, AsyncAgentCache, BackendError, BundledValkey


def restart_later(server: BundledValkey, seconds: float) -> threading.Thread:
    def restart() -> None:
        time.sleep(seconds)
        server.nodes[0].start()

    thread = threading.Thread(target=restart)
    thread.start()
    return thread


def test_a_read_waits_for_the_server_and_a_write_does_not() -> None:
    with BundledValkey("standalone") as server, AgentCache.from_url(server.url, retry_reads=20) as cache:
        cache.session.set("t", "f", 1)
        server.nodes[0].kill()
        began = time.monotonic()
        with pytest.raises(BackendError) as failed:
            cache.session.set("t", "f", 2)  # a write that may have been applied is never sent again
        assert failed.value.connection and time.monotonic() - began < 5
        thread = restart_later(server, 0.5)
        try:
            assert cache.session.get("t", "f") is None  # waited for the restart (no data dir: empty)
            cache.session.set("t", "f", 3)
            assert cache.session.get_many("t", ["f"]) == {"f": 3}
        finally:
            thread.join()


def test_the_async_facade_retries_reads_too() -> None:
    async def main(server: BundledValkey) -> None:
        async with AsyncAgentCache.from_url(server.url, retry_reads=20) as cache:
            await cache.session.set("t", "f", 1)
            server.nodes[0].kill()
            with pytest.raises(BackendError):
                await cache.session.set("t", "f", 2)
            thread = restart_later(server, 0.5)
            try:
                assert await cache.tool.check("tool", {"a": 1}) is not None  # a miss, once back
            finally:
                thread.join()

    with BundledValkey("standalone") as server:
        asyncio.run(main(server))


def test_without_retry_reads_a_read_fails_at_once() -> None:
    with BundledValkey("standalone") as server, AgentCache.from_url(server.url) as cache:
        cache.session.set("t", "f", 1)
        server.nodes[0].kill()
        with pytest.raises(BackendError):
            cache.session.get("t", "f")


@pytest.mark.parametrize("facade", ["sync", "async"])
def test_connections_killed_mid_load(facade: str) -> None:
    """A killer drops every client connection every 20 ms: no read fails; a write may fail, and
    every write that was acknowledged is there afterwards."""
    with BundledValkey("standalone") as server:
        stop = threading.Event()

        def killer() -> None:
            admin = valkey.Valkey.from_url(server.url)
            while not stop.is_set():
                admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
                time.sleep(0.02)
            admin.close()

        acknowledged: dict[str, int] = {}
        read_errors: list[str] = []

        async def load(cache: Any, run: Any) -> None:
            for i in range(200):
                try:
                    await run(cache.session.set("t", f"f{i % 20}", i))
                    acknowledged[f"f{i % 20}"] = i
                except BackendError:
                    pass
                try:
                    await run(cache.session.get("t", f"f{i % 20}"))
                except BackendError as exc:
                    read_errors.append(str(exc))

        async def run(value: Any) -> Any:
            return await value if asyncio.iscoroutine(value) else value

        kill = threading.Thread(target=killer)
        kill.start()
        try:
            if facade == "sync":
                with AgentCache.from_url(server.url, retry_reads=10) as cache:
                    asyncio.run(load(cache, run))
            else:

                async def main() -> None:
                    async with AsyncAgentCache.from_url(server.url, retry_reads=10) as acache:
                        await load(acache, run)

                asyncio.run(main())
        finally:
            stop.set()
            kill.join()
        assert read_errors == []
        with AgentCache.from_url(server.url) as check:
            stored = check.session.get_all("t")
        for field, value in acknowledged.items():
            assert stored[field] >= value  # the last acknowledged write, or a later one that landed
