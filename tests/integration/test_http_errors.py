"""One error shape for every failure of the HTTP API: unknown routes, wrong methods, bodies that do
not parse or are not allowed, keys in any form, and the OpenAPI document declaring them."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")

import httpx

from tests.integration.test_http import ADMIN, USER, Running


@pytest.fixture(scope="module")
def base(server_urls: Any) -> Iterator[str]:
    running = Running(server_urls("cluster"), user_keys=[USER], admin_keys=[ADMIN], max_body_bytes=4096, docs=True)
    yield running.base
    running.stop()


def envelope(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    return dict(body["error"])


def test_unknown_routes_wrong_methods_and_bad_bodies_answer_in_the_envelope(base: str) -> None:
    auth = {"Authorization": f"Bearer {USER}"}
    with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
        assert envelope(client.get("/no/such/route"))["code"] == "NotFound"
        assert client.get("/no/such/route").status_code == 404
        wrong = client.put("/api/v1/threads/t/session")
        assert wrong.status_code == 405 and envelope(wrong)["code"] == "MethodNotAllowed"
        not_json = client.post("/api/v1/threads/t/session", content=b"{", headers={"content-type": "application/json"})
        assert not_json.status_code == 400 and envelope(not_json)["code"] == "InvalidJSON"
        missing_field = client.post("/api/v1/threads/t/session", json={"value": 1})
        assert missing_field.status_code == 422 and envelope(missing_field)["details"]["problems"]
        zipped = client.post(
            "/api/v1/threads/t/session",
            content=b"not gzip at all",
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
        assert zipped.status_code == 400 and envelope(zipped)["code"] == "InvalidBody"
        brotli = client.post(
            "/api/v1/threads/t/session",
            content=b"{}",
            headers={"content-type": "application/json", "content-encoding": "br"},
        )
        assert brotli.status_code == 415 and envelope(brotli)["code"] == "UnsupportedEncoding"
        truncated = gzip.compress(b'{"key": "k", "value": 1}')[:-6]
        cut = client.post(
            "/api/v1/threads/t/session",
            content=truncated,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
        assert cut.status_code == 400 and envelope(cut)["code"] == "InvalidBody"


def test_keys_in_either_header_and_in_any_bytes(base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        path = "/api/v1/threads/t/session"
        assert client.get(path, headers={"X-API-KEY": USER}).status_code == 200
        assert client.get(path, headers={"x-api-key": USER}).status_code == 200
        assert client.get(path, headers={"authorization": f"bearer {USER}"}).status_code == 200
        assert envelope(client.get(path))["code"] == "Unauthorized"
        assert client.get("/api/messaging/sessions", headers={"X-API-Key": USER}).status_code in (401, 403)
        assert client.get("/dashboard/data", headers={"X-API-Key": USER}).status_code == 403
        assert client.get("/dashboard/data", headers={"X-API-Key": ADMIN}).status_code == 200


def test_a_key_that_is_not_ascii_is_a_401_not_a_500(base: str) -> None:
    host, port = base.removeprefix("http://").split(":")
    for header in (b"Authorization: Bearer \xe9\xff", b"X-API-Key: \xc3\xa9t\xc3\xa9"):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"GET /api/v1/threads/t/session HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n"
            )
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 401"), reply[:200]


def test_the_openapi_document_declares_the_errors(base: str) -> None:
    document = httpx.get(base + "/openapi.json", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    responses = document["paths"]["/api/v1/threads/{thread_id}/session"]["post"]["responses"]
    for status in ("400", "401", "404", "405", "413", "422", "429", "503"):
        assert status in responses, status
    schema = document["components"]["schemas"]["ErrorBody"]
    assert schema["required"] == ["error"]


def test_a_body_that_is_not_json_is_answered_without_reading_it(base: str) -> None:
    """Chunked and over the size limit, or from a client that stops sending: the answer comes from
    the headers, and nothing fails inside the app (it raised ClientDisconnect, logged as an error)."""
    import logging

    class Errors(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.ERROR)
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    errors, log = Errors(), logging.getLogger("uvicorn.error")
    log.addHandler(errors)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {USER}"}, timeout=10) as client:
            for content_type in ("text/plain", None):
                headers = {"content-type": content_type} if content_type else {}
                chunks = (b"x" * 1000 for _ in range(10))  # chunked: no Content-Length, 10 KB over 4 KB
                answer = client.post("/api/v1/threads/t/session", content=chunks, headers=headers)
                assert answer.status_code == 422, answer.text
                assert "content-type: application/json" in envelope(answer)["message"]
            assert client.get("/api/v1/threads/t/session").status_code == 200
    finally:
        log.removeHandler(errors)
    assert [r.getMessage() for r in errors.records] == []
