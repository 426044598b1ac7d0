"""The HTTP API on a real uvicorn server on a loopback port, over the bundled Valkey (standalone and
cluster mode), driven with httpx: every endpoint, every error code, and authentication."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

import httpx
import uvicorn

from agentcache import AsyncAgentCache
from agentcache.http import create_app
from agentcache.testing import unique_prefix

USER, ADMIN = "user-key-123", "admin-key-456"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Uvicorn:
    """A uvicorn server on a thread of its own, started with ``config``; ``base`` is its URL."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.server = uvicorn.Server(config)
        self.port = int(config.port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


class Running(Uvicorn):
    """``create_app`` over a fresh cache, served on a thread."""

    def __init__(self, url: str, max_value_bytes: int = 8 << 20, **options: Any) -> None:
        cache = AsyncAgentCache.from_url(url, prefix=unique_prefix(), retry_reads=2, max_value_bytes=max_value_bytes)
        app = create_app(cache, owns_cache=True, **options)
        super().__init__(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))


@pytest.fixture(params=["standalone", "cluster"])
def api(request: pytest.FixtureRequest, server_urls: Any) -> Iterator[httpx.Client]:
    running = Running(server_urls(request.param), user_keys=[USER], admin_keys=[ADMIN], docs=True)
    with httpx.Client(base_url=running.base, headers={"Authorization": f"Bearer {USER}"}, timeout=10) as client:
        yield client
    running.stop()


def admin(client: httpx.Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


def test_thread_session_endpoints(api: httpx.Client) -> None:
    base = "/api/v1/threads/thread-1/session"
    assert api.post(base, json={"key": "user_preference", "value": {"theme": "dark"}}).json()["status"] == "ok"
    assert api.post(base, json={"key": "temp", "value": 1, "ttl": 60}).status_code == 200
    expires = "2199-12-31T23:59:59+00:00"  # within the cap of a ttl (about 317 years)
    assert api.post(base, json={"key": "later", "value": [1, 2], "expires_at": expires}).status_code == 200
    assert api.get(base + "/user_preference").json() == {"key": "user_preference", "value": {"theme": "dark"}}
    assert api.get(base).json()["values"] == {"later": [1, 2], "temp": 1, "user_preference": {"theme": "dark"}}
    missing = api.get(base + "/nope")  # as on Distri's server: 200 with a null value
    assert missing.status_code == 200 and missing.json() == {"key": "nope", "value": None}
    assert api.delete(base + "/temp").json() == {"deleted": True}
    shot = {"part_type": "image_url", "image_url": {"url": "https://example.com/s.png"}}
    assert api.post(base, json={"key": "__user_part_screenshot", "value": shot}).status_code == 200
    assert api.post(base, json={"key": "__user_part_note", "value": "clicked save"}).status_code == 200
    parts = api.get("/api/v1/threads/thread-1/user-parts").json()["parts"]
    assert parts["note"]["text"] == "clicked save" and parts["screenshot"]["url"] == "https://example.com/s.png"
    assert api.delete("/api/v1/threads/thread-1/user-parts/note").json() == {"deleted": True}
    assert api.delete("/api/v1/threads/thread-1/user-parts").json() == {"removed": 1}
    assert api.delete(base).json()["removed"] == 2
    assert api.get(base).json()["values"] == {}


def test_sessions_endpoints(api: httpx.Client) -> None:
    sessions = "/api/messaging/sessions"
    created = api.post(sessions, json={"agentId": "bot", "userId": "u-1", "metadata": {"channel": "web"}})
    assert created.status_code == 201
    session = created.json()
    sid = session["sessionId"]
    assert session["status"] == "active" and session["timeoutConfig"]["autoRenew"] is True
    assert api.get(f"{sessions}/{sid}").json()["sessionId"] == sid
    for text in ("hello", "how are you", "bye"):
        sent = api.post(f"{sessions}/{sid}/messages", json={"content": text})
        assert sent.status_code == 201
    assert sent.json()["userMessage"]["content"] == "bye" and api.get(f"{sessions}/{sid}").json()["messageCount"] == 3
    page = api.get(f"{sessions}/{sid}/messages", params={"limit": 2}).json()  # newest first, as elizaOS
    assert [m["content"] for m in page["messages"]] == ["bye", "how are you"] and page["hasMore"] is True
    older = api.get(f"{sessions}/{sid}/messages", params={"limit": 2, "before": page["cursors"]["before"]}).json()
    assert [m["content"] for m in older["messages"]] == ["hello"] and older["hasMore"] is False
    assert api.post(f"{sessions}/{sid}/renew").status_code == 200
    assert api.post(f"{sessions}/{sid}/heartbeat").status_code == 200
    patched = api.patch(f"{sessions}/{sid}/timeout", json={"timeoutMinutes": 45, "autoRenew": False})
    assert (
        patched.json()["timeoutConfig"]["timeoutMinutes"] == 45
        and patched.json()["timeoutConfig"]["autoRenew"] is False
    )
    listed = api.get(sessions, headers=admin(api)).json()
    assert sid in [s["sessionId"] for s in listed["sessions"]]
    assert api.delete(f"{sessions}/{sid}").json()["success"] is True
    gone = api.get(f"{sessions}/{sid}/messages")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "SESSION_NOT_FOUND"


def test_error_codes(api: httpx.Client) -> None:
    sessions = "/api/messaging/sessions"
    assert api.get(f"{sessions}/no-such-session").status_code == 404
    bad_timeout = api.post(sessions, json={"agentId": "a", "userId": "u", "timeoutConfig": {"timeoutMinutes": 100000}})
    assert bad_timeout.status_code == 400 and bad_timeout.json()["error"]["code"] == "VALIDATION_ERROR"
    short = api.post(sessions, json={"agentId": "a", "userId": "u", "timeoutConfig": {"maxDurationMinutes": 5}})
    sid = short.json()["sessionId"]
    refused = api.post(f"{sessions}/{sid}/renew")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "SESSION_RENEWAL_FAILED"
    invalid = api.post(sessions, json={"agentId": "", "userId": "u"})
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "VALIDATION_ERROR"
    not_json = api.post("/api/v1/threads/t/session", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "InvalidJSON"
    big = api.post("/api/v1/threads/t/session", json={"key": "k", "value": "x" * (2 * 1024 * 1024)})
    assert big.status_code == 413 and big.json()["error"]["code"] == "PayloadTooLarge"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as it arrives
        yield b'{"key": "k", "value": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    chunked = api.post("/api/v1/threads/t/session", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "PayloadTooLarge"
    bad_part = api.post("/api/v1/threads/t/session", json={"key": "__user_part_x", "value": {"part_type": "video"}})
    assert bad_part.status_code == 422
    bad_name = api.post("/api/v1/threads/t/session", json={"key": "k" * 1024 + "é", "value": 1})
    assert bad_name.status_code == 422 and set(bad_name.json()["error"]) == {"code", "message", "details"}


def test_a_value_over_max_value_bytes_is_413(server_urls: Any) -> None:
    running = Running(server_urls("cluster"), max_value_bytes=1000)
    try:
        with httpx.Client(base_url=running.base, timeout=10) as client:  # no keys: no authentication
            huge = client.post("/api/v1/threads/t/session", json={"key": "k", "value": "x" * 5000})
            assert huge.status_code == 413 and huge.json()["error"]["code"] == "ValueTooLarge"
            assert client.post("/api/v1/threads/t/session", json={"key": "k", "value": "x"}).status_code == 200
    finally:
        running.stop()


def test_authentication(api: httpx.Client) -> None:
    everything = [
        ("GET", "/api/v1/threads/t/session"),
        ("POST", "/api/messaging/sessions"),
        ("GET", "/api/messaging/sessions/x"),
        ("GET", "/api/v1/tools/stats"),
    ]
    admin_only = [("GET", "/api/messaging/sessions"), ("DELETE", "/api/v1/tools/weather")]
    for method, path in everything + admin_only:
        assert api.request(method, path, headers={"Authorization": ""}).status_code == 401
        assert api.request(method, path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    for method, path in admin_only:
        assert api.request(method, path).status_code == 403  # a user key
        assert api.request(method, path, headers=admin(api)).status_code == 200
    assert api.get("/health", headers={"Authorization": ""}).status_code == 200


def test_health_tools_and_openapi(api: httpx.Client) -> None:
    health = api.get("/health").json()
    assert health["status"] == "ok" and health["valkeyMs"] >= 0
    stats = api.get("/api/v1/tools/stats").json()
    assert set(stats) == {"hits", "misses", "writes", "tools"}
    assert api.delete("/api/v1/tools/weather", headers=admin(api)).json() == {"removed": 0}
    assert api.get("/openapi.json").status_code == 403  # the document needs the admin key
    assert api.get("/openapi.json", headers={"Authorization": ""}).status_code == 401
    document = api.get("/openapi.json", headers=admin(api)).json()
    paths = {path for path in document["paths"]}
    assert {
        "/health",
        "/api/v1/threads/{thread_id}/session",
        "/api/v1/threads/{thread_id}/session/{key}",
        "/api/v1/threads/{thread_id}/user-parts",
        "/api/v1/threads/{thread_id}/user-parts/{name}",
        "/api/v1/sessions/{thread_id}",
        "/api/v1/sessions/{thread_id}/values",
        "/api/v1/sessions/{thread_id}/values/{key}",
        "/api/messaging/sessions",
        "/api/messaging/sessions/health",
        "/api/messaging/sessions/{session_id}",
        "/api/messaging/sessions/{session_id}/messages",
        "/api/messaging/sessions/{session_id}/renew",
        "/api/messaging/sessions/{session_id}/timeout",
        "/api/messaging/sessions/{session_id}/heartbeat",
        "/api/v1/tools/stats",
        "/api/v1/tools/{tool}",
        "/dashboard/data",
    } == paths


def test_a_valkey_failure_is_503() -> None:
    cache = AsyncAgentCache.from_url("valkey://127.0.0.1:1", socket_connect_timeout=0.5)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(cache), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/health").status_code == 503
            failed = client.get("/api/v1/threads/t/session/k")
            assert failed.status_code == 503 and failed.json()["error"]["code"] == "BackendUnavailable"
            assert "Traceback" not in failed.text
    finally:
        server.should_exit = True
        thread.join(20)


def test_serve_refuses_a_public_address_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentcache import InvalidArgumentError
    from agentcache.http.app import serve

    monkeypatch.delenv("AGENTCACHE_HTTP_USER_KEYS", raising=False)
    monkeypatch.delenv("AGENTCACHE_HTTP_ADMIN_KEYS", raising=False)
    with pytest.raises(InvalidArgumentError, match="without keys"):
        serve("valkey://127.0.0.1:1", "0.0.0.0", free_port())


# --- the OpenAPI document, fuzzed against the running server ---------------------------------------

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)


def test_the_openapi_document_holds_under_fuzzing(server_urls: Any) -> None:
    """No 5xx, and every response is one the document declares, in its declared shape: every
    operation, 25 generated requests each (derandomized), with an admin key."""
    from hypothesis import given

    running = Running(server_urls("cluster"), user_keys=[USER], admin_keys=[ADMIN], docs=True)
    statuses: dict[int, int] = {}
    try:
        key = {"Authorization": f"Bearer {ADMIN}"}  # the document is the admin's
        schema = schemathesis.openapi.from_url(f"{running.base}/openapi.json", headers=key)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 18
        for operation in operations:

            @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def run(case: Any) -> None:
                response = case.call(headers={"Authorization": f"Bearer {ADMIN}"})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                assert response.status_code < 500, response.text
                case.validate_response(
                    response, checks=[status_code_conformance, content_type_conformance, response_schema_conformance]
                )

            run()
    finally:
        running.stop()
    print(f"\nfuzzed {sum(statuses.values())} requests: {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) >= 200


def test_create_app_checks_its_options() -> None:
    from agentcache import InvalidArgumentError

    cache = AsyncAgentCache.from_url("valkey://127.0.0.1:1")
    for options in ({"max_body_bytes": 0}, {"max_body_bytes": "1"}, {"user_keys": [""]}, {"admin_keys": [3]}):
        with pytest.raises(InvalidArgumentError):
            create_app(cache, **options)
