"""Distri's session store clients, unchanged, against the HTTP API (standalone and cluster mode).

The requests below are the ones the clients send, read from their sources:
- ``@distri/core``'s ``DistriClient`` (distrihub/distrijs, ``packages/core/src/distri-client.ts``):
  ``baseUrl + path`` with ``encodeURIComponent`` on the session id and key, ``config.headers`` on every
  call (the API key as ``x-api-key``, or ``accessToken`` as ``Authorization: Bearer``), ``Content-Type:
  application/json`` and ``JSON.stringify({key, value, expiry?})`` on the POST, and its rule that a
  call fails unless ``resp.ok``; ``getSessionValue`` returns ``data.value ?? null``.
- the crate ``distri`` (distrihub/distri, ``distri/src/client.rs``, ``config.rs``): ``x-api-key`` on
  every request, serde_json bodies (``{"key", "value", "expiry"?}``; ``Part`` as ``{"part_type",
  "data"}``, ``FileType`` tagged by ``type``; a ``Value`` map's keys sorted), ``set_user_part_image``
  as a gzip body (``Compression::fast()``) with ``Content-Encoding: gzip``, and its rule that a call
  fails unless the status is a success; ``clear_user_parts`` lists the values and deletes each
  ``__user_part_`` key.
The status codes are those of Distri's server (``server/distri-server/src/routes/session.rs``): 204 for
a set, a delete and a clear, 200 ``{"value": null}`` for a missing key, 400 for a bad body.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi")

import httpx

from agentcache import AgentCache, DataPart, ImagePart, Message, TextPart
from agentcache.testing import unique_prefix
from tests.integration.test_http import ADMIN, USER, Running

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00\x10pixels" * 300).decode()  # over 1 KiB: stored gzip


class Server:
    """A running API (``Running``) whose cache's URL and key prefix the test knows."""

    def __init__(self, url: str) -> None:
        self.url, self.prefix = url, unique_prefix()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("tests.integration.test_http.unique_prefix", lambda: self.prefix)
            self.running = Running(url, user_keys=[USER], admin_keys=[ADMIN])
        self.base = self.running.base


@pytest.fixture(scope="module", params=["standalone", "cluster"])
def server(request: pytest.FixtureRequest, server_urls: Any) -> Iterator[Server]:
    served = Server(server_urls(request.param))
    yield served
    served.running.stop()


def fresh() -> str:
    return f"thread-{uuid.uuid4().hex[:8]}"


class ClientError(Exception):
    """What either client raises when the server refuses a call."""


# --- the JS client's requests ------------------------------------------------------------------


def to_iso_string(when: datetime) -> str:
    """JavaScript's ``Date.prototype.toISOString()``: milliseconds and ``Z``."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class DistriJs:
    """``new DistriClient({baseUrl, headers})``'s session store methods, request for request."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=10)
        self.statuses: list[int] = []

    def fetch(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        if body is None:
            response = self.http.request(method, path)
        else:  # JSON.stringify: insertion order, no spaces
            content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            response = self.http.request(method, path, content=content, headers={"Content-Type": "application/json"})
        self.statuses.append(response.status_code)
        if not response.is_success:
            raise ClientError(response.status_code, response.text)
        return response

    def setSessionValue(self, session_id: str, key: str, value: Any, expiry: str | None = None) -> None:  # noqa: N802
        body = {"key": key, "value": value}
        if expiry:
            body["expiry"] = expiry
        self.fetch("POST", f"/sessions/{quote(session_id, safe='')}/values", body)

    def getSessionValue(self, session_id: str, key: str) -> Any:  # noqa: N802
        data = self.fetch("GET", f"/sessions/{quote(session_id, safe='')}/values/{quote(key, safe='')}").json()
        return data.get("value")

    def getSessionValues(self, session_id: str) -> dict[str, Any]:  # noqa: N802
        return dict(self.fetch("GET", f"/sessions/{quote(session_id, safe='')}/values").json()["values"])

    def deleteSessionValue(self, session_id: str, key: str) -> None:  # noqa: N802
        self.fetch("DELETE", f"/sessions/{quote(session_id, safe='')}/values/{quote(key, safe='')}")

    def clearSession(self, session_id: str) -> None:  # noqa: N802
        self.fetch("DELETE", f"/sessions/{quote(session_id, safe='')}")


# --- the Rust client's requests ----------------------------------------------------------------


def to_rfc3339(when: datetime) -> str:
    """chrono's ``DateTime<Utc>::to_rfc3339()`` of ``Utc::now()``: nanoseconds and ``+00:00``."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond * 1000 + 417:09d}+00:00"


def serde(value: Any) -> bytes:
    """serde_json's bytes for a ``serde_json::Value``: compact, map keys sorted (its default BTreeMap)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


class DistriRust:
    """``Distri::from_config(DistriConfig::new(base)).with_api_key(key)``'s session store methods."""

    USER_PART_PREFIX = "__user_part_"

    def __init__(self, base_url: str, api_key: str) -> None:
        headers = {"x-api-key": api_key, "accept": "*/*", "accept-encoding": "gzip"}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=10)
        self.statuses: list[int] = []

    def send(self, method: str, path: str, **options: Any) -> httpx.Response:
        response = self.http.request(method, path, **options)
        self.statuses.append(response.status_code)
        if not response.is_success:
            raise ClientError(response.status_code, response.text)
        return response

    def set_session_value(self, session_id: str, key: str, value: Any, expiry_iso: str | None = None) -> None:
        body = b'{"key":' + serde(key) + b',"value":' + serde(value)  # struct SetRequest: fields in order
        body += (b',"expiry":' + serde(expiry_iso) if expiry_iso is not None else b"") + b"}"
        self.send("POST", f"/sessions/{session_id}/values", content=body, headers={"content-type": "application/json"})

    def get_session_value(self, session_id: str, key: str) -> Any:
        return self.send("GET", f"/sessions/{session_id}/values/{key}").json()["value"]

    def get_session_values(self, session_id: str) -> dict[str, Any]:
        return dict(self.send("GET", f"/sessions/{session_id}/values").json()["values"])

    def delete_session_value(self, session_id: str, key: str) -> None:
        self.send("DELETE", f"/sessions/{session_id}/values/{key}")

    def clear_session(self, session_id: str) -> None:
        self.send("DELETE", f"/sessions/{session_id}")

    def set_user_part(self, session_id: str, name: str, part: dict[str, Any]) -> None:
        self.set_session_value(session_id, self.USER_PART_PREFIX + name, part)

    def set_user_part_text(self, session_id: str, name: str, text: str) -> None:
        self.set_user_part(session_id, name, {"part_type": "text", "data": text})  # Part::Text

    def set_user_part_image(self, session_id: str, name: str, image: dict[str, Any]) -> None:
        value = {"part_type": "image", "data": image}  # Part::Image(FileType)
        compressed = gzip.compress(serde({"key": self.USER_PART_PREFIX + name, "value": value}), 1, mtime=0)
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        self.send("POST", f"/sessions/{session_id}/values", content=compressed, headers=headers)

    def delete_user_part(self, session_id: str, name: str) -> None:
        self.delete_session_value(session_id, self.USER_PART_PREFIX + name)

    def clear_user_parts(self, session_id: str) -> None:
        for key in self.get_session_values(session_id):
            if key.startswith(self.USER_PART_PREFIX):
                self.delete_session_value(session_id, key)


# --- the tests ---------------------------------------------------------------------------------


def test_the_seed_documents_js_example_works_unchanged(server: Server) -> None:
    client = DistriJs(server.base + "/api/v1", {"x-api-key": USER})
    thread_id = "thread 123:é-" + fresh()  # encodeURIComponent: %20, %3A, %C3%A9
    client.setSessionValue(thread_id, "user_preference", {"theme": "dark", "language": "en"})
    assert client.getSessionValue(thread_id, "user_preference") == {"theme": "dark", "language": "en"}
    expiry = to_iso_string(datetime.now(UTC) + timedelta(hours=24))
    client.setSessionValue(thread_id, "temporary_data", {"data": "value"}, expiry)
    assert client.getSessionValues(thread_id) == {
        "temporary_data": {"data": "value"},
        "user_preference": {"theme": "dark", "language": "en"},
    }
    client.deleteSessionValue(thread_id, "user_preference")
    assert client.getSessionValue(thread_id, "user_preference") is None  # a missing key: 200, null
    client.setSessionValue(thread_id, "a/b?c", [1])  # a key with "/" (as %2F) is still one key
    assert client.getSessionValue(thread_id, "a/b?c") == [1]
    client.clearSession(thread_id)
    assert client.getSessionValues(thread_id) == {}
    assert client.statuses == [204, 200, 204, 200, 204, 200, 204, 200, 204, 200]  # Distri's server's codes


def test_user_parts_from_js_are_stored_as_user_parts_and_read_back_as_written(server: Server) -> None:
    client = DistriJs(server.base + "/api/v1", {"Authorization": f"Bearer {USER}"})  # accessToken: USER
    thread_id = fresh()
    written = {
        "__user_part_note": {"part_type": "text", "data": "Screenshot shows the login form"},
        "__user_part_shot": {
            "part_type": "image",
            "data": {"type": "bytes", "mime_type": "image/png", "bytes": PNG, "name": "screenshot.png"},
        },
        "__user_part_link": {
            "part_type": "image",
            "data": {"type": "url", "mime_type": "image/png", "url": "https://example.com/a.png"},
        },
        "__user_part_dom": {"part_type": "data", "data": {"page_url": "https://example.com", "nodes": [1, 2.5]}},
        "__user_part_seed": {"part_type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        "__user_part_scratch": {"part_type": "text", "data": "for this turn only", "__metadata": {"save": False}},
    }
    for key, value in written.items():
        client.setSessionValue(thread_id, key, value)
    for key, value in written.items():
        assert client.getSessionValue(thread_id, key) == value
        assert json.dumps(client.getSessionValue(thread_id, key)) == json.dumps(value)  # key order too
    assert client.getSessionValues(thread_id) == written
    seed = httpx.get(f"{server.base}/api/v1/threads/{thread_id}/session", headers={"x-api-key": USER}).json()
    assert seed["values"] == written  # the same on the seed document's routes
    parts = httpx.get(f"{server.base}/api/v1/threads/{thread_id}/user-parts", headers={"x-api-key": USER}).json()
    assert set(parts["parts"]) == {"note", "shot", "link", "dom", "seed", "scratch"}
    assert parts["parts"]["shot"] == {
        "save": True,
        "type": "image",
        "data": {"$bytes": PNG},
        "url": None,
        "mime_type": "image/png",
        "name": "screenshot.png",
    }
    assert parts["parts"]["scratch"]["save"] is False
    client.deleteSessionValue(thread_id, "__user_part_note")
    assert (
        "note"
        not in httpx.get(f"{server.base}/api/v1/threads/{thread_id}/user-parts", headers={"x-api-key": USER}).json()[
            "parts"
        ]
    )


def test_the_rust_clients_session_and_user_part_calls_work_unchanged(server: Server) -> None:
    client = DistriRust(server.base + "/api/v1", USER)
    session_id = fresh()
    client.set_session_value(session_id, "user_preference", {"theme": "dark", "language": "en"}, None)
    assert client.get_session_value(session_id, "user_preference") == {"language": "en", "theme": "dark"}
    expiry = to_rfc3339(datetime.now(UTC) + timedelta(hours=24))
    client.set_session_value(session_id, "temporary_data", {"data": "value"}, expiry)
    assert set(client.get_session_values(session_id)) == {"temporary_data", "user_preference"}
    client.delete_session_value(session_id, "user_preference")
    assert client.get_session_value(session_id, "user_preference") is None

    client.set_user_part(session_id, "observation", {"part_type": "text", "data": "The user clicked submit"})
    client.set_user_part_text(session_id, "screenshot_description", "The login form with errors")
    image = {"type": "bytes", "bytes": PNG, "mime_type": "image/png", "name": "screenshot.png"}
    client.set_user_part_image(session_id, "screenshot", image)
    unnamed = {"type": "bytes", "bytes": PNG[:40], "mime_type": "image/png", "name": None}  # Option::None
    client.set_user_part_image(session_id, "thumb", unnamed)
    assert client.get_session_value(session_id, "__user_part_screenshot") == {"part_type": "image", "data": image}
    assert client.get_session_value(session_id, "__user_part_thumb") == {"part_type": "image", "data": unnamed}
    values = client.get_session_values(session_id)
    assert values["__user_part_observation"] == {"data": "The user clicked submit", "part_type": "text"}
    client.delete_user_part(session_id, "observation")
    assert "__user_part_observation" not in client.get_session_values(session_id)
    client.clear_user_parts(session_id)
    assert client.get_session_values(session_id) == {"temporary_data": {"data": "value"}}
    client.clear_session(session_id)
    assert client.get_session_values(session_id) == {}
    assert set(client.statuses) == {200, 204}


def test_user_parts_set_by_either_client_attach_to_the_next_user_message(server: Server) -> None:
    with AgentCache.from_url(server.url, prefix=server.prefix) as cache:
        conv = cache.conversations.create(agent_id="bot", user_id="u-1")
        rust = DistriRust(server.base + "/api/v1", USER)
        rust.set_user_part_text(conv.id, "a-note", "clicked submit")
        shot = {"type": "bytes", "bytes": PNG, "mime_type": "image/png", "name": "s.png"}
        rust.set_user_part_image(conv.id, "b-shot", shot)
        js = DistriJs(server.base + "/api/v1", {"x-api-key": USER})
        js.setSessionValue(conv.id, "__user_part_c-dom", {"part_type": "data", "data": {"url": "https://example.com"}})
        js.setSessionValue(
            conv.id, "__user_part_d-url", {"part_type": "image_url", "image_url": {"url": "https://x/a.png"}}
        )
        conv.add_message(Message.user("Fix the form"))
        assert conv.messages()[-1].parts == [
            TextPart(text="Fix the form"),
            TextPart(text="clicked submit"),
            ImagePart(data=base64.b64decode(PNG), mime_type="image/png", name="s.png"),
            DataPart(data={"url": "https://example.com"}),
            ImagePart(url="https://x/a.png"),
        ]
        assert js.getSessionValues(conv.id) == {}  # each part lands once: the message took them


def test_expiry_and_expires_at_on_both_route_families(server: Server) -> None:
    js = DistriJs(server.base + "/api/v1", {"x-api-key": USER})
    seed = httpx.Client(base_url=server.base + "/api/v1/threads", headers={"x-api-key": USER}, timeout=10)
    thread_id = fresh()
    soon = datetime.now(UTC) + timedelta(milliseconds=400)
    js.setSessionValue(thread_id, "js", 1, to_iso_string(soon))
    DistriRust(server.base + "/api/v1", USER).set_session_value(thread_id, "rust", 2, to_rfc3339(soon))
    offset = soon.astimezone(timezone(timedelta(hours=8))).isoformat()  # "...+08:00"
    assert seed.post(f"/{thread_id}/session", json={"key": "at", "value": 3, "expires_at": offset}).status_code == 200
    assert (
        seed.post(f"/{thread_id}/session", json={"key": "ex", "value": 4, "expiry": to_iso_string(soon)}).status_code
        == 200
    )
    js.setSessionValue(thread_id, "__user_part_p", "pending", to_iso_string(soon))
    js.setSessionValue(thread_id, "kept", 5)
    assert set(js.getSessionValues(thread_id)) == {"js", "rust", "at", "ex", "__user_part_p", "kept"}
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.15)
    assert js.getSessionValues(thread_id) == {"kept": 5}  # expired, never slid
    for key in ("js", "rust", "at", "ex", "__user_part_p", "nothing-here"):
        assert seed.get(f"/{thread_id}/session/{key}").json() == {"key": key, "value": None}
        assert js.getSessionValue(thread_id, key) is None
    js.setSessionValue(thread_id, "kept", 6, "2001-01-01T00:00:00Z")  # a past expiry: gone at once
    assert js.getSessionValue(thread_id, "kept") is None
    seed.close()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{", "not JSON"),
        (b'{"key": "k"}', "no value (serde refuses it)"),
        (b'{"key": "k", "value": 1, "expiry": "2030-01-01T00:00:00"}', "no offset"),
        (b'{"key": "k", "value": 1, "expiry": 1893456000}', "a number, not RFC 3339"),
        (b'{"key": "k", "value": 1, "expiry": "tomorrow"}', "not a timestamp"),
        (b'{"key": "__user_part_x", "value": {"part_type": "video", "data": 1}}', "not a user part"),
        (
            b'{"key": "__user_part_x", "value": {"part_type": "image", "data": {"type": "bytes", "bytes": "*"}}}',
            "bad base64",
        ),
        (b'{"key": "__user_part_x", "value": 7}', "a number is not a part"),
    ],
)
def test_bad_bodies_are_400_on_distris_routes_and_422_on_the_seeds(server: Server, body: bytes, why: str) -> None:
    thread_id = fresh()
    headers = {"x-api-key": USER, "content-type": "application/json"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=10) as http:
        distri = http.post(f"/api/v1/sessions/{thread_id}/values", content=body)
        assert distri.status_code == 400, (why, distri.text)
        assert set(distri.json()) == {"error", "code", "details"} and isinstance(distri.json()["error"], str)
        if body != b'{"key": "k"}':  # the seed document's value defaults to null
            seed = http.post(f"/api/v1/threads/{thread_id}/session", content=body)
            assert seed.status_code in (400, 422), (why, seed.text)  # 400: not JSON
        assert http.get(f"/api/v1/sessions/{thread_id}/values").json() == {"values": {}}


def test_x_api_key_in_any_case_or_a_bearer_key_and_nothing_else(server: Server) -> None:
    path = f"{server.base}/api/v1/sessions/{fresh()}/values"
    for headers in (
        {"x-api-key": USER},
        {"X-API-KEY": USER},
        {"X-Api-Key": ADMIN},
        {"Authorization": f"Bearer {USER}"},
        {"authorization": f"bearer {ADMIN}"},
    ):
        assert httpx.get(path, headers=headers).status_code == 200, headers
    for headers in ({}, {"x-api-key": "wrong"}, {"x-api-key": USER[:-1]}, {"Authorization": USER}, {"x-api-key": ""}):
        refused = httpx.post(path, headers=headers, json={"key": "k", "value": 1})
        assert refused.status_code == 401 and refused.json()["code"] == "Unauthorized", headers
    assert httpx.get(path, headers={"x-api-key": USER}).json() == {"values": {}}


def gzip_bomb(inflated: int) -> bytes:
    """A gzip body of valid JSON's start followed by ``inflated`` bytes of spaces."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [packer.compress(b'{"key": "k", "value": "')]
    block = b" " * (1 << 20)
    out += [packer.compress(block) for _ in range(inflated >> 20)]
    out.append(packer.compress(b'"}') + packer.flush())
    return b"".join(out)


def test_a_gzip_bomb_is_413_with_nothing_stored_and_costs_about_the_limit(server: Server) -> None:
    thread_id = fresh()
    bomb = gzip_bomb(256 << 20)  # 256 MiB inflated; the limit is 1 MiB
    assert len(bomb) < 300_000
    headers = {"x-api-key": USER, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
        tracemalloc.start()
        try:
            refused = http.post(f"/api/v1/sessions/{thread_id}/values", content=bomb)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert refused.status_code == 413 and refused.json()["code"] == "PayloadTooLarge"
        print(f"\ngzip bomb: {len(bomb)} bytes inflating to {256 << 20}: 413, peak traced memory {peak} bytes")
        assert peak < 8 << 20  # the server inflated about the limit, never the bomb
        just_under = gzip.compress(serde({"key": "big", "value": "x" * ((1 << 20) - 100)}))
        assert http.post(f"/api/v1/sessions/{thread_id}/values", content=just_under).status_code == 204
        just_over = gzip.compress(serde({"key": "over", "value": "x" * (1 << 20)}))
        assert http.post(f"/api/v1/sessions/{thread_id}/values", content=just_over).status_code == 413
    read = httpx.get(f"{server.base}/api/v1/sessions/{thread_id}/values", headers={"x-api-key": USER})
    assert list(read.json()["values"]) == ["big"]  # nothing of the bomb, nor of the body just over
