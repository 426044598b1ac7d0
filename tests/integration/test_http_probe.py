"""The probe of issue 31, kept as a test: ``agentcache serve``'s configuration (uvicorn with
:func:`agentcache.http.app.server_config`, keys, a quota) on loopback over a cluster-mode Valkey,
driven the way an attacker would: keys in every form, path tricks, ids built to collide, bodies
built to break the codec, looking for leaks, and writing as much as a key can. Bounded in time:
every request has a 10 s timeout, and the module has a timeout of its own."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi")

import httpx
from fastapi.routing import APIRoute

from agentcache import AsyncAgentCache
from agentcache.http import create_app
from agentcache.http.app import server_config
from agentcache.testing import unique_prefix
from tests.integration.test_http import Uvicorn, free_port

USER, PATHS, BODIES, ABUSE, OTHER, ADMIN = (
    f"probe-{role}-key" for role in ("user", "paths", "bodies", "abuse", "other", "admin")
)
QUOTA = "threads=16,keys=6,bytes=48kb,per=1h"
LEAKS = re.compile(
    r"Traceback|File \"|site-packages|/agentcache/|\.lua\b|EVALSHA|EVAL\b|\bSCAN\b|GETEX|UNLINK|HSET|PEXPIRE|"
    r"valkey://|redis://|Errno|Connection refused|ConnectionError|\d+\.\d+\.\d+\.\d+:\d+"
)
seen: list[tuple[str, int, bytes]] = []
"""Every answer the probe got (request, status, body), for the leak check."""


class Served(Uvicorn):
    """``create_app`` over a fresh prefix, run as ``agentcache serve`` runs it, on a thread."""

    def __init__(self, url: str, prefix: str, **options: Any) -> None:
        cache = AsyncAgentCache.from_url(url, prefix=prefix)
        self.app = create_app(cache, owns_cache=True, **options)
        super().__init__(server_config(self.app, "127.0.0.1", free_port(), log_level="critical"))

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=10, event_hooks={"response": [_record]})


def _record(response: httpx.Response) -> None:
    response.read()
    seen.append((f"{response.request.method} {response.request.url}", response.status_code, response.content))
    assert response.status_code < 500 or response.status_code == 503, (response.request.url, response.text)


PREFIX = unique_prefix()
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def served(server_urls: Any) -> Iterator[Served]:
    running = Served(
        server_urls("cluster"), PREFIX, user_keys=[USER, PATHS, BODIES, ABUSE, OTHER], admin_keys=[ADMIN], quota=QUOTA
    )
    yield running
    running.stop()


def raw(served: Served, head: bytes) -> tuple[int, bytes]:
    """Send ``head`` (a request without a body) as is on a new connection: (status, whole answer)."""
    reply = b""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(head)
        while chunk := sock.recv(65536):
            reply += chunk
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0
    seen.append((head.split(b"\r\n", 1)[0].decode(errors="replace"), status, reply))
    return status, reply


def api_routes(routes: list[Any]) -> list[tuple[str, str]]:
    """(method, path) of every route, those of included routers too."""
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found += [(method, route.path) for method in sorted(route.methods or ())]
        elif hasattr(route, "original_router"):  # FastAPI's included router
            found += api_routes(route.original_router.routes)
    return found


def code(answer: httpx.Response) -> str:
    """The error's code, in the one envelope or in Distri's shape."""
    error = answer.json()["error"]
    return str(answer.json()["code"] if isinstance(error, str) else error["code"])


def get(path: bytes, *headers: bytes, host: bytes = b"probe") -> bytes:
    return b"\r\n".join([b"GET " + path + b" HTTP/1.1", b"Host: " + host, *headers, b"Connection: close", b"", b""])


# --- auth variants ----------------------------------------------------------------------------------


def test_every_route_refuses_a_missing_or_wrong_key_in_any_form(served: Served) -> None:
    routes = api_routes(served.app.routes)
    assert len(routes) >= 20
    public = {("GET", "/health"), ("GET", "/dashboard")}  # /dashboard: a page without data
    wrong: list[dict[str, Any]] = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {USER}"},
        {"Authorization": f"Token {USER}"},
        {"Authorization": f"Bearer {USER}x"},
        {"Authorization": f"Bearer {USER[:-1]}"},
        {"Authorization": f"Bearer {USER.upper()}"},
        {"X-API-Key": "ключ".encode()},
        {"X-API-Key": "k" * 8000},
    ]
    with served.client() as client:
        for method, path in routes:
            url = re.sub(r"\{[^}]+\}", "probe-id", path)
            for headers in wrong[:3] if (method, path) in public else wrong:
                answer = client.request(method, url, headers=headers, json={}, params={"api_key": USER, "key": USER})
                if (method, path) in public:
                    assert answer.status_code == 200, (method, path)
                else:
                    assert answer.status_code == 401, (method, path, headers, answer.status_code)
                    assert code(answer) == "Unauthorized", answer.text
        for header in (f"Bearer {USER}", f"bearer {USER}", f"BEARER  {USER}"):
            assert client.get("/api/v1/threads/t/session", headers={"Authorization": header}).status_code == 200
        for name in ("X-API-Key", "x-api-key", "X-API-KEY"):
            assert client.get("/api/v1/threads/t/session", headers={name: USER}).status_code == 200
        for method, url in (("GET", "/api/messaging/sessions"), ("DELETE", "/api/v1/tools/probe-tool")):
            assert client.request(method, url, headers={"X-API-Key": USER}).status_code == 403  # a user key
            assert client.request(method, url, headers={"X-API-Key": ADMIN}).status_code == 200
    latin1 = get(b"/api/v1/threads/t/session", b"X-API-Key: cl\xe9")  # not UTF-8 on the wire
    assert raw(served, latin1)[0] == 401


# --- path tricks ------------------------------------------------------------------------------------


def test_path_tricks_reach_no_other_thread_and_redirect_nowhere(served: Served) -> None:
    key = b"X-API-Key: " + PATHS.encode()
    with served.client(PATHS) as client:
        assert (
            client.post("/api/v1/threads/victim/session", json={"key": "secret", "value": "s3cr3t"}).status_code == 200
        )
    for path in (
        b"/api/v1/threads/x/../victim/session",
        b"/api/v1/threads/x/%2e%2e/victim/session",
        b"/api/v1/threads/x%2F..%2Fvictim/session",
        b"/api/v1/threads/%2e%2e/session",
        b"//api/v1/threads/victim/session",
        b"/api/v1/threads/victim/session/",
        b"/api/v1/threads/victim//session",
        b"/api/v1/threads/victim/session;x=1",
        b"/api/v1/threads/victim%00/session",
        b"/./api/v1/threads/victim/session/secret/",
        b"/health/",
    ):
        status, answer = raw(served, get(path, key, host=b"evil.example"))
        assert status in (200, 404), (path, answer[:300])
        assert b"location:" not in answer.lower() and b"evil.example" not in answer, (path, answer[:300])
        assert b"s3cr3t" not in answer, path
    status, answer = raw(served, get(b"/api/v1/threads/bytes%C0%AFid/session", key))  # overlong UTF-8
    assert status == 400
    for override in (b"X-HTTP-Method-Override: DELETE", b"X-HTTP-Method: DELETE", b"X-Method-Override: DELETE"):
        raw(served, get(b"/api/v1/threads/victim/session/secret", key, override))
        raw(served, get(b"/api/v1/threads/victim/session?_method=DELETE", key, override))
    status, answer = raw(
        served,
        b"GET http://evil.example/api/v1/threads/victim/session HTTP/1.1\r\n" + key + b"\r\n"
        b"Host: evil.example\r\nConnection: close\r\n\r\n",
    )
    assert status in (200, 400, 404) and b"location:" not in answer.lower()
    with served.client(PATHS) as client:
        assert client.get("/api/v1/threads/victim/session").json() == {"values": {"secret": "s3cr3t"}}  # still there


# --- adversarial ids --------------------------------------------------------------------------------

IDS = ["a", "a:b", "{a}", "a*", "a?", "[a]", "a\\", "a%", "a:b:c", "*", "é", "e\u0301", "a\x00", "a b"]


def test_ids_built_to_collide_stay_apart(served: Served) -> None:
    with served.client(USER) as client:

        def thread(name: str) -> str:
            return "/api/v1/threads/" + quote(name, safe="") + "/session"

        for name in IDS:
            assert client.post(thread(name), json={"key": "owner", "value": name}).status_code == 200, name
            assert client.post(thread(name), json={"key": "*", "value": name}).status_code == 200, name
        for name in IDS:
            assert client.get(thread(name)).json() == {"values": {"*": name, "owner": name}}, name
            assert client.get(thread(name) + "/owner").json()["value"] == name
        assert client.delete(thread("a*")).json() == {"removed": 2}
        assert client.delete("/api/v1/sessions/" + quote("{a}", safe="")).status_code == 204  # Distri's clear
        assert client.delete(thread("a") + "/" + quote("*", safe="")).json() == {"deleted": True}
        for name in IDS:
            expected = {} if name in ("a*", "{a}") else {"owner": name} if name == "a" else {"*": name, "owner": name}
            assert client.get(thread(name)).json() == {"values": expected}, name


# --- bodies -----------------------------------------------------------------------------------------


def test_bodies_built_to_break_the_codec_are_refused_and_store_nothing(served: Served) -> None:
    path = "/api/v1/threads/bodies/session"
    json_type = {"content-type": "application/json"}
    refused = [
        b'{"key": "k", "value": "\\ud800"}',  # a lone surrogate: no UTF-8 for it
        b'{"key": "\\udfff", "value": 1}',
        b'{"key": "k", "value": 100000000000000000000000000000}',  # beyond 64 bits
        b'{"key": "k", "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # deeper than JSON is read
        b'{"key": "k", "value": ' + b"[" * 150 + b"]" * 150 + b"}",  # deeper than a read shows: it was a 200
        b'{"key": "k", "value": {"$bytes": "YWJj"}}',  # how reads show bytes: it read back as {"$dict": ...}
        b'{"key": "k", "value": [{"$dict": {"a": 1}}]}',
        b'{"key": "k", "value": NaN}',
        b'{"key": "k", "value": 1e400}',
        b'{"key": "", "value": 1}',
        b'{"key": "' + b"k" * 1025 + b'", "value": 1}',
        b'{"key": "k", "value": 1, "ttl": -1}',
        b'{"key": "k", "value": 1, "ttl": 1e300}',
        b'{"key": "k", "value": 1, "ttl": true}',  # a bool, which the Python API refuses too: it was a 200
        b'{"key": "k", "value": 1, "ttl": "60"}',  # a string: it was a 200
        b'{"key": "k", "value": 1, "expires_at": "9999-12-31T00:00:00Z"}',  # ~8,000 years; ttl's cap is ~317
        b'{"key": "k", "value": 1, "expires_at": "2030-01-01T00:00:00"}',  # no offset
        b'{"key": "k", "value": 1, "expires_at": 1}',
        b'{"key": 1, "value": 1}',
        b"[1, 2]",
        b"",
        b"{",
    ]
    with served.client(BODIES) as client:
        for body in refused:
            answer = client.post(path, content=body, headers=json_type)
            assert 400 <= answer.status_code < 500, (body[:80], answer.status_code, answer.text[:300])
            assert set(answer.json()) == {"error"}, answer.text[:300]
        distri = client.post(
            "/api/v1/sessions/bodies/values", json={"key": "k", "value": 1, "expiry": "9999-12-31T00:00:00Z"}
        )
        assert distri.status_code == 400  # Distri's routes answer bad input with 400
        for ttl in (True, "60"):
            distri = client.post("/api/v1/sessions/bodies/values", json={"key": "k", "value": 1, "ttl": ttl})
            assert distri.status_code == 400, distri.text
        for headers in ({"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}):
            plain = client.post(path, content=b'{"key": "k", "value": 1}', headers=headers)  # curl -d without -H
            assert plain.status_code == 422, plain.text
            assert "content-type: application/json" in plain.json()["error"]["message"], plain.text
        plain = client.post("/api/v1/sessions/bodies/values", content=b'{"key": "k", "value": 1}')
        assert plain.status_code == 400 and "content-type: application/json" in plain.json()["error"], plain.text
        assert client.get(path).json() == {"values": {}}  # nothing of the above was stored
        duplicate = client.post(path, content=b'{"key": "a", "key": "b", "value": 1}', headers=json_type)
        assert duplicate.status_code == 200 and client.get(path).json() == {"values": {"b": 1}}  # JSON's last wins
        deep: Any = "bottom"
        for _ in range(100):
            deep = [deep]
        for value in (deep, {"$bytes": "YWJj", "and": 1}, {"$dict": 1, "x": [{"$bytes": 2, "y": None}]}, 2**64 - 1):
            assert client.post(path, json={"key": "c", "value": value}).status_code == 200
            assert client.get(path + "/c").json()["value"] == value  # what is accepted reads back as written


# --- abuse: what one key can create -------------------------------------------------------------------


def test_a_key_creates_at_most_its_quota_even_all_at_once_and_across_workers(served: Served, server_urls: Any) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served.base, headers={"X-API-Key": ABUSE}, timeout=10) as client:
            writes = [
                client.post(f"/api/v1/threads/flood-{i}/session", json={"key": "k", "value": i}) for i in range(40)
            ]
            return list(await asyncio.gather(*writes))

    answers = asyncio.run(burst())
    codes = [a.status_code for a in answers]
    assert codes.count(200) == 16 and codes.count(429) == 24, codes  # atomic in Valkey: never one more
    refusal = next(a for a in answers if a.status_code == 429)
    error = refusal.json()["error"]
    assert error["code"] == "QuotaExceeded" and error["details"]["quota"] == "threads"
    assert error["details"]["limit"] == 16 and 3500 < int(refusal.headers["retry-after"]) <= 3600
    done = [i for i, a in enumerate(answers) if a.status_code == 200]
    with served.client(ABUSE) as client:
        assert client.post(f"/api/v1/threads/flood-{done[0]}/session", json={"key": "k", "value": 0}).status_code == 200
        keys = [
            client.post(f"/api/v1/threads/flood-{done[0]}/session", json={"key": f"k{i}", "value": i}) for i in range(6)
        ]
        assert [k.status_code for k in keys] == [200] * 5 + [429]  # "k" and 5 more: 6 keys in a thread
        assert keys[-1].json()["error"]["details"]["quota"] == "keysPerThread"
        assert client.post("/api/v1/sessions/brand-new/values", json={"key": "k", "value": 1}).status_code == 429
        assert client.post("/api/messaging/sessions", json={"agentId": "a", "userId": "u"}).status_code == 429
        assert client.delete(f"/api/v1/threads/flood-{done[1]}/session").status_code == 200  # deletes never count
    with served.client(OTHER) as other:  # another key: a quota of its own
        assert other.post("/api/v1/threads/flood-0/session", json={"key": "k", "value": 1}).status_code == 200
        big = "x" * 10_000
        sizes = [
            other.post(f"/api/v1/threads/big-{i}/session", json={"key": "k", "value": big}).status_code
            for i in range(6)
        ]
        assert sizes == [200] * 4 + [429] * 2  # 48 KiB of bodies
        assert (
            other.post("/api/v1/threads/big-0/session", json={"key": "k", "value": big}).json()["error"]["details"][
                "quota"
            ]
            == "bytes"
        )
    # another app over the same Valkey and prefix, as a second worker of uvicorn --workers 2 is
    second = Served(server_urls("cluster"), PREFIX, user_keys=[ABUSE], quota=QUOTA)
    try:
        with second.client(ABUSE) as client:
            answer = client.post("/api/v1/threads/flood-from-worker-2/session", json={"key": "k", "value": 1})
            assert answer.status_code == 429 and answer.json()["error"]["code"] == "QuotaExceeded"
            assert (
                client.post(f"/api/v1/threads/flood-{done[0]}/session", json={"key": "k", "value": 1}).status_code
                == 200
            )
    finally:
        second.stop()


# --- leaks --------------------------------------------------------------------------------------------


def test_no_answer_leaks_internals(served: Served) -> None:
    dead = Served("valkey://127.0.0.1:1", unique_prefix(), user_keys=[USER])
    try:
        with dead.client(USER) as client:
            for method, path, body in (
                ("GET", "/health", None),
                ("GET", "/api/v1/threads/t/session", None),
                ("GET", "/api/v1/threads/t/session/k", None),
                ("POST", "/api/v1/threads/t/session", {"key": "k", "value": 1}),
                ("DELETE", "/api/v1/threads/t/session", None),
                ("GET", "/api/v1/sessions/t/values", None),
                ("POST", "/api/messaging/sessions", {"agentId": "a", "userId": "u"}),
                ("GET", "/api/v1/tools/stats", None),
            ):
                answer = client.request(method, path, json=body)
                assert answer.status_code == 503, (path, answer.text)
    finally:
        dead.stop()
    with served.client(USER) as client:
        client.get("/api/v1/threads/" + quote("\x7f{}*", safe="") + "/session/" + quote("?[]", safe=""))
        client.post("/api/messaging/sessions/none-such/messages", json={"content": "hi"})
        client.get("/docs")
        client.get("/openapi.json")
    assert len(seen) > 50
    for request, status, answered in seen:
        assert not LEAKS.search(answered.decode(errors="replace")), (request, status, answered[:400])
        assert b"uvicorn" not in answered.lower().split(b"\r\n\r\n", 1)[-1], request


def test_the_documents_and_redirects_are_off(served: Served) -> None:
    with served.client(ADMIN) as client:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            answer = client.get(path)
            assert answer.status_code == 404 and answer.json()["error"]["code"] == "NotFound", path
        assert client.get("/health/").status_code == 404 and "location" not in client.get("/health/").headers
