"""The HTTP API's hot paths: the routes the fast path answers (:mod:`agentcache.http.fast`) answer
exactly as FastAPI does (status, headers, body, errors, keys), and a message posted to a session
costs one round trip."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

pytest.importorskip("fastapi")

import httpx
from starlette.middleware import Middleware

from agentcache import AsyncAgentCache, Message
from agentcache.http import create_app
from agentcache.http.fast import FastPaths
from agentcache.testing import unique_prefix
from tests.integration.test_http import ADMIN, USER

SESSIONS = "/api/messaging/sessions"
VOLATILE = {"timeRemaining", "uptime", "timestamp", "valkeyMs", "lastActivity", "expiresAt", "renewalCount"}
VOLATILE |= {"activeSessions", "createdAt"}  # two sessions, made one after the other


def fast_paths(app: Any) -> Middleware:
    found: list[Middleware] = [middleware for middleware in app.user_middleware if middleware.cls is FastPaths]
    return found[0]


def apps(cache: AsyncAgentCache) -> tuple[Any, Any]:
    """The app as ``create_app`` makes it, and the same app with the fast path off (FastAPI answers)."""
    options: dict[str, Any] = {"user_keys": [USER], "admin_keys": [ADMIN], "history_interval": None}
    fast, slow = create_app(cache, **options), create_app(cache, **options)
    assert fast_paths(fast).kwargs["table"] is not None
    fast_paths(slow).kwargs["table"] = None  # read when the middleware stack is built, at the first request
    return fast, slow


@pytest.fixture(params=["standalone", "cluster"])
async def acache(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> AsyncIterator[AsyncAgentCache]:
    made = AsyncAgentCache.from_url(server_urls(request.param), prefix=unique_prefix())
    yield made
    await made.close()


def shown(response: httpx.Response, own: str) -> tuple[int, dict[str, str], Any]:
    """What a client sees, the time-dependent figures left out and the session id ``own`` named alike."""
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    if not response.content or not headers.get("content-type", "").startswith("application/json"):
        return response.status_code, headers, response.content
    body = json.loads(response.text.replace(own, "<session>"))

    def steady(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (type(v).__name__ if k in VOLATILE else steady(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [steady(v) for v in value]
        return value

    return response.status_code, headers, steady(body)


async def test_the_fast_path_answers_as_fastapi_does(acache: AsyncAgentCache) -> None:
    fast, slow = apps(acache)
    user, admin = {"X-API-Key": USER}, {"Authorization": f"Bearer {ADMIN}"}
    await acache.session.set("t", "k", {"a": [1, 2.5, "é"], "b": None})
    await acache.session.set("t", "raw", b"\x00\xff")
    await acache.session.set("t", "nan", float("nan"))  # cannot be shown as JSON: reported, not a 500
    convs = [await acache.conversations.create(agent_id="agent", user_id="user") for _ in range(2)]
    requests: list[tuple[str, str, dict[str, str]]] = [
        ("GET", "/health", {}),
        ("GET", "/dashboard", {}),
        ("GET", "/api/v1/threads/t/session/k", user),
        ("GET", "/api/v1/threads/t/session/raw", user),
        ("GET", "/api/v1/threads/t/session/nan", user),
        ("GET", "/api/v1/threads/t/session/missing", user),
        ("GET", "/api/v1/threads/t/session/k", {}),
        ("GET", "/api/v1/threads/t/session/k", {"X-API-Key": "wrong"}),
        ("GET", "/api/v1/threads/t/session", user),
        ("GET", "/api/v1/threads/t/user-parts", user),
        ("GET", "/api/v1/sessions/t/values/k", user),
        ("GET", "/api/v1/sessions/t/values/a/b", user),
        ("GET", "/api/v1/sessions/t/values", user),
        ("GET", "/api/v1/tools/stats", user),
        ("DELETE", "/api/v1/tools/some-tool", user),
        ("DELETE", "/api/v1/tools/some-tool", admin),
        ("GET", f"{SESSIONS}/health", user),
        ("GET", f"{SESSIONS}/no-such-session", user),
        ("POST", f"{SESSIONS}/no-such-session/heartbeat", user),
        ("GET", "/api/v1/threads/t/session/k/extra", user),
        ("PUT", "/api/v1/threads/t/session/k", user),
        ("HEAD", "/api/v1/threads/t/session/k", user),
    ]
    for conv in convs:  # the same steps on two like sessions: one answered by each app
        requests += [
            ("GET", f"{SESSIONS}/{conv.id}", user),
            ("POST", f"{SESSIONS}/{conv.id}/heartbeat", user),
            ("POST", f"{SESSIONS}/{conv.id}/renew", user),
            ("DELETE", f"{SESSIONS}/{conv.id}", user),
            ("GET", f"{SESSIONS}/{conv.id}", user),
            ("DELETE", f"{SESSIONS}/{conv.id}", user),
        ]
    answered: dict[str, list[tuple[str, str, Any]]] = {"fast": [], "slow": []}
    for name, app, own in (("fast", fast, convs[0].id), ("slow", slow, convs[1].id)):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            for method, path, headers in requests:
                if (convs[1].id if name == "fast" else convs[0].id) in path:
                    continue  # the other app's session
                response = await client.request(method, path, headers=headers)
                answered[name].append((method, path.replace(own, "<session>"), shown(response, own)))
    assert answered["fast"] == answered["slow"]
    statuses = [status for _, _, (status, _, _) in answered["fast"]]
    assert statuses[:10] == [200, 200, 200, 200, 422, 200, 401, 401, 200, 200]  # a NaN is a 422; no key, a wrong one
    assert statuses[14:] == [403, 200, 200, 404, 404, 404, 405, 405, 200, 200, 200, 200, 404, 404]


async def test_the_fast_path_takes_the_value_reads(acache: AsyncAgentCache) -> None:
    """GET of a session value (the benchmarked request) is the fast path's, at one round trip."""
    fast, _ = apps(acache)
    table: Any = fast_paths(fast).kwargs["table"]
    lanes: list[Any] = table["GET"]
    taken = {lane.regex.pattern for lane in lanes if lane.endpoint is not None}
    assert "^/api/v1/threads/(?P<thread_id>[^/]+)/session/(?P<key>[^/]+)$" in taken
    assert "^/api/messaging/sessions/(?P<session_id>[^/]+)/messages$" not in taken  # query parameters: FastAPI's
    await acache.session.set("t", "k", 1)
    transport = httpx.ASGITransport(app=fast)
    async with httpx.AsyncClient(transport=transport, base_url="http://x", headers={"X-API-Key": USER}) as client:
        before = acache.round_trips
        for _ in range(3):
            assert (await client.get("/api/v1/threads/t/session/k")).json() == {"key": "k", "value": 1}
        assert acache.round_trips - before == 3


async def test_a_message_is_posted_in_one_round_trip(acache: AsyncAgentCache) -> None:
    app = create_app(acache, user_keys=[USER], history_interval=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://x", headers={"X-API-Key": USER}) as client:
        made = await client.post(SESSIONS, json={"agentId": "agent", "userId": "user"})
        session = made.json()["sessionId"]
        warm = await client.post(f"{SESSIONS}/{session}/messages", json={"content": "hello"})
        assert warm.status_code == 201  # the scripts are loaded now
        before = acache.round_trips
        sent = await client.post(f"{SESSIONS}/{session}/messages", json={"content": "again"})
        assert acache.round_trips - before == 1
        answer = sent.json()
        assert sent.status_code == 201 and answer["userMessage"]["content"] == "again"
        info = await (await acache.conversations.get(session)).info()
        assert answer["sessionStatus"]["renewalCount"] == info.renewal_count
        assert answer["data"] == {k: v for k, v in answer.items() if k != "data"}

        other = await acache.conversations.create(agent_id="agent", user_id="user")  # not made by this server
        await other.add_message(Message.assistant("hi"))
        before = acache.round_trips
        assert (await client.post(f"{SESSIONS}/{other.id}/messages", json={"content": "x"})).status_code == 201
        assert acache.round_trips - before == 2  # read the session once, then post
        before = acache.round_trips
        assert (await client.post(f"{SESSIONS}/{other.id}/messages", json={"content": "y"})).status_code == 201
        assert acache.round_trips - before == 1

        await other.delete()
        gone = await client.post(f"{SESSIONS}/{other.id}/messages", json={"content": "z"})
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "SESSION_NOT_FOUND"
        empty = await client.post(f"{SESSIONS}/{other.id}/messages", json={"content": ""})
        assert empty.status_code == 404  # a session that is gone says so before its bad input
        history = await (await acache.conversations.get(session)).messages()
        assert [m.text for m in history] == ["hello", "again"]
