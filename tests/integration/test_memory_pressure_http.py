"""Issue 29 over HTTP: with a noeviction server's memory full, every write route answers 503 in the
error envelope and writes nothing, reads still answer; and a conversation whose history is gone
answers its history with 500 ``HistoryLost``, never a shorter one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import httpx

from agentcache import AsyncAgentCache
from agentcache.http import create_app
from agentcache.testing import unique_prefix, valkey_server
from tests.integration.test_memory_pressure import LIMIT, Server

KEY = "user-key-123"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    import valkey

    with valkey_server("standalone") as running:
        admin = valkey.Valkey(host=running.host, port=running.ports[0])
        admin.config_set("maxmemory-policy", "noeviction")
        yield Server("standalone", running.url, admin, LIMIT)
        admin.close()


def run_api(server: Server, test: Any) -> Any:
    """Run ``test(client, prefix)`` against the app over a fresh cache, in-process (ASGI)."""

    async def main() -> Any:
        cache = AsyncAgentCache.from_url(server.url, prefix=unique_prefix())
        app = create_app(cache, user_keys=[KEY], admin_keys=[KEY])
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {KEY}"}
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
                return await test(client, cache.settings.prefix)
        finally:
            server.free()
            await cache.close()

    return asyncio.run(main())


def out_of_memory(response: httpx.Response) -> bool:
    error = response.json().get("error", {})
    return response.status_code == 503 and "memory" in str(error.get("message", "")).lower()


def test_write_routes_answer_503_and_write_nothing(server: Server) -> None:
    async def test(api: httpx.AsyncClient, prefix: str) -> dict[str, int]:
        sessions = "/api/messaging/sessions"
        made = await api.post(sessions, json={"agentId": "agent", "userId": "user"})
        assert made.status_code == 201, made.text
        sid = made.json()["sessionId"]
        assert (await api.post(f"{sessions}/{sid}/messages", json={"content": "hello"})).status_code == 201
        assert (await api.post("/api/v1/threads/t/session", json={"key": "k", "value": 1})).status_code == 200
        before = server.snapshot(prefix)
        server.fill()
        counts = {"creates": 0, "messages": 0, "session values": 0}
        for _ in range(50):
            counts["creates"] += out_of_memory(await api.post(sessions, json={"agentId": "agent", "userId": "user"}))
            posted = await api.post(f"{sessions}/{sid}/messages", json={"content": "more"})
            counts["messages"] += out_of_memory(posted)
            stored = await api.post("/api/v1/threads/t/session", json={"key": "k2", "value": 2})
            counts["session values"] += out_of_memory(stored)
        assert server.snapshot(prefix) == before  # nothing written, not even in part
        history = await api.get(f"{sessions}/{sid}/messages")  # reads still answer
        assert history.status_code == 200 and "hello" in history.text
        assert (await api.get("/api/v1/threads/t/session/k")).json()["value"] == 1
        return counts

    assert run_api(server, test) == {"creates": 50, "messages": 50, "session values": 50}


def test_a_lost_history_answers_500_history_lost(server: Server) -> None:
    async def test(api: httpx.AsyncClient, prefix: str) -> None:
        sessions = "/api/messaging/sessions"
        made = (await api.post(sessions, json={"agentId": "agent", "userId": "user"})).json()
        sid = made["sessionId"]
        for text in ("one", "two"):
            assert (await api.post(f"{sessions}/{sid}/messages", json={"content": text})).status_code == 201
        (history,) = [k for k in server.admin.scan_iter(match=f"{prefix}:conv:*") if k.endswith(b":msgs")]
        server.admin.delete(history)  # as an eviction would
        lost = await api.get(f"{sessions}/{sid}/messages")
        assert lost.status_code == 500, lost.text
        assert lost.json()["error"]["code"] == "HistoryLost"

    run_api(server, test)
