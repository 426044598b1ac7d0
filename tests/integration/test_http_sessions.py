"""The Sessions API as elizaOS's server answers it (``@elizaos/server`` 1.7.2, ``sessions.ts`` and
``SessionErrors.ts``): the exact requests ``@elizaos/api-client`` 1.7.2 sends (``X-API-KEY``, JSON
bodies, ``limit``/``before``/``after`` as strings of ms), on a standalone and a cluster-mode server,
with the loopback model server answering; and the time-paging and shape helpers offline."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import httpx

from agentcache import AgentCache, InvalidArgumentError, Message
from agentcache.http.eliza_shapes import STAMP, js_time
from agentcache.providers.openai import OpenAIChatModel
from agentcache.testing import unique_prefix
from tests.fake_models import FakeModelServer
from tests.integration.test_http import ADMIN, USER, Running

SESSIONS = "/api/messaging/sessions"
AGENT, PERSON = "5f8a0a8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "7b6c5d4e-3f2a-4b1c-9d8e-7f6a5b4c3d2e"
ISO_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"  # JSON of a JavaScript Date


def client_headers(key: str) -> dict[str, str]:
    """What BaseApiClient sends with every request."""
    return {"Content-Type": "application/json", "X-API-KEY": key}


@pytest.fixture
def models(fake_models: FakeModelServer) -> Iterator[FakeModelServer]:
    fake_models.reset()
    yield fake_models


def fake_model(models: FakeModelServer) -> OpenAIChatModel:
    return OpenAIChatModel("gpt-test", base_url=models.openai_url, api_key="t", max_retries=0)


@pytest.fixture(params=["standalone", "cluster"])
def eliza(request: pytest.FixtureRequest, server_urls: Any, models: FakeModelServer) -> Iterator[httpx.Client]:
    """A server with a model (the loopback one), and a client sending what elizaOS's client sends."""
    running = Running(server_urls(request.param), user_keys=[USER], admin_keys=[ADMIN], model=fake_model(models))
    with httpx.Client(base_url=running.base, headers=client_headers(USER), timeout=20) as client:
        yield client
    running.stop()


def create(client: httpx.Client, **extra: Any) -> dict[str, Any]:
    made = client.post(SESSIONS, json={"agentId": AGENT, "userId": PERSON, **extra})
    assert made.status_code == 201, made.text
    return dict(made.json())


def error_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return response.status_code, body["error"]["code"]


# --- field for field ------------------------------------------------------------------------------


def test_every_client_request_is_answered_field_for_field(eliza: httpx.Client) -> None:
    health = eliza.get(f"{SESSIONS}/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert {"activeSessions", "timestamp", "expiringSoon", "uptime"} <= set(health.json())

    metadata = {"platform": "web", "username": "ada", "avatar": "a.png"}
    session = create(eliza, metadata=metadata, timeoutConfig={"timeoutMinutes": "45", "autoRenew": True})
    fields = {"sessionId", "agentId", "userId", "createdAt", "lastActivity", "metadata", "expiresAt"}
    fields |= {"timeoutConfig", "renewalCount", "timeRemaining", "isNearExpiration"}
    assert fields <= set(session)
    sid = session["sessionId"]
    assert session["agentId"] == AGENT and session["userId"] == PERSON and session["metadata"] == metadata
    assert session["timeoutConfig"] == {
        "timeoutMinutes": 45,
        "autoRenew": True,
        "maxDurationMinutes": 720,
        "warningThresholdMinutes": 5,
    }
    for key in ("createdAt", "lastActivity", "expiresAt"):
        assert re.match(ISO_MS, session[key]), session[key]
    assert 44 * 60_000 < session["timeRemaining"] <= 45 * 60_000 and session["isNearExpiration"] is False

    info = eliza.get(f"{SESSIONS}/{sid}").json()
    assert fields <= set(info) and info["metadata"] == metadata and info["sessionId"] == sid

    sent = eliza.post(f"{SESSIONS}/{sid}/messages", json={"content": "hello", "metadata": {"source": "web"}})
    assert sent.status_code == 201
    body = sent.json()
    assert body["success"] is True and "agentResponse" not in body  # websocket (the default): no reply here
    user_message = body["userMessage"]
    assert {"id", "content", "authorId", "createdAt", "metadata"} <= set(user_message)
    assert user_message["content"] == "hello" and user_message["authorId"] == PERSON
    assert user_message["metadata"] == {"sessionId": sid, "source": "web"}
    assert user_message["author_id"] == PERSON and isinstance(user_message["created_at"], int)
    status = body["sessionStatus"]
    assert set(status) == {"expiresAt", "renewalCount", "wasRenewed", "isNearExpiration"}
    assert status["wasRenewed"] is True and status["renewalCount"] >= 0
    data = body["data"]  # what the client returns: it unwraps {success, data}
    assert data["userMessage"] == user_message and data["sessionStatus"] == status

    synced = eliza.post(f"{SESSIONS}/{sid}/messages", json={"content": "how are you", "transport": "http"}).json()
    assert synced["agentResponse"]["text"] == "heard: hello | how are you"
    assert synced["data"]["agentResponse"] == synced["agentResponse"]

    history = eliza.get(f"{SESSIONS}/{sid}/messages", params={"limit": "10"}).json()
    assert set(history) == {"messages", "hasMore", "cursors"} and history["hasMore"] is False
    messages = history["messages"]
    assert [m["content"] for m in messages] == ["heard: hello | how are you", "how are you", "hello"]  # newest first
    for message in messages:
        assert {"id", "content", "authorId", "isAgent", "createdAt", "metadata"} <= set(message)
        assert STAMP not in message["metadata"] and message["metadata"]["sessionId"] == sid
    assert [(m["authorId"], m["isAgent"]) for m in messages] == [(AGENT, True), (PERSON, False), (PERSON, False)]
    assert messages[0]["id"] == synced["agentResponse"]["messageId"] and messages[2]["id"] == user_message["id"]
    assert history["cursors"]["after"] > history["cursors"]["before"] == user_message["created_at"]

    listed = eliza.get(SESSIONS, headers=client_headers(ADMIN)).json()
    assert {"sessions", "total", "stats"} <= set(listed) and listed["total"] == len(listed["sessions"])
    assert set(listed["stats"]) == {"totalSessions", "activeSessions", "expiredSessions"}
    mine = [s for s in listed["sessions"] if s["sessionId"] == sid]
    assert len(mine) == 1 and fields <= set(mine[0]) and mine[0]["metadata"] == metadata

    deleted = eliza.delete(f"{SESSIONS}/{sid}")
    assert deleted.status_code == 200 and deleted.json()["success"] is True and deleted.json()["data"]["success"]
    assert error_of(eliza.get(f"{SESSIONS}/{sid}")) == (404, "SESSION_NOT_FOUND")
    assert error_of(eliza.delete(f"{SESSIONS}/{sid}")) == (404, "SESSION_NOT_FOUND")


def test_our_routes_answer_in_the_same_shape(eliza: httpx.Client) -> None:
    sid = create(eliza)["sessionId"]
    for method, path in (("POST", "renew"), ("POST", "heartbeat")):
        answer = eliza.request(method, f"{SESSIONS}/{sid}/{path}")
        assert answer.status_code == 200 and answer.json()["sessionId"] == sid and "timeRemaining" in answer.json()
    patched = eliza.patch(f"{SESSIONS}/{sid}/timeout", json={"timeoutMinutes": 60, "warningThresholdMinutes": 2})
    assert patched.json()["timeoutConfig"]["timeoutMinutes"] == 60 and patched.json()["timeRemaining"] > 59 * 60_000
    assert eliza.patch(f"{SESSIONS}/{sid}/timeout", json={}).status_code == 200
    picture = {"type": "image", "url": "https://example.com/cat.png", "name": "cat.png", "mimeType": "image/png"}
    sent = eliza.post(f"{SESSIONS}/{sid}/messages", json={"content": "look", "attachments": [picture]}).json()
    assert sent["userMessage"]["raw_message"] == {"content": "look", "attachments": [picture]}
    shown = eliza.get(f"{SESSIONS}/{sid}/messages").json()["messages"][0]
    assert shown["content"] == "look" and shown["attachments"] == [picture]
    bad = eliza.post(f"{SESSIONS}/{sid}/messages", json={"content": "look", "attachments": [{"type": "image"}]})
    assert error_of(bad) == (400, "VALIDATION_ERROR")
    assert error_of(eliza.patch(f"{SESSIONS}/{sid}/timeout", json={"timeoutMinutes": 2})) == (400, "VALIDATION_ERROR")
    fixed = eliza.patch(f"{SESSIONS}/{sid}/timeout", json={"maxDurationMinutes": 30})
    assert error_of(fixed) == (400, "VALIDATION_ERROR")
    assert error_of(eliza.patch(f"{SESSIONS}/{sid}/timeout", json={"autoRenew": "sometimes"})) == (
        400,
        "VALIDATION_ERROR",
    )


# --- errors ---------------------------------------------------------------------------------------


def test_errors_take_elizas_codes_and_statuses(eliza: httpx.Client) -> None:
    missing = f"{SESSIONS}/no-such-session"
    requests: list[tuple[str, str, Any]] = [
        ("GET", missing, None),
        ("GET", missing + "/messages", None),
        ("POST", missing + "/messages", {"content": "hi"}),
        ("POST", missing + "/renew", None),
        ("POST", missing + "/heartbeat", None),
        ("DELETE", missing, None),
    ]
    for method, path, body in requests:
        answer = eliza.request(method, path, json=body)
        assert error_of(answer) == (404, "SESSION_NOT_FOUND"), (method, path)
        assert answer.json()["error"]["message"] == "Session with ID 'no-such-session' not found"

    creates: list[tuple[dict[str, Any], str | None]] = [
        ({"userId": PERSON}, "Missing required fields: agentId, userId"),
        ({"agentId": AGENT, "userId": 7}, "Missing required fields: agentId, userId"),
        ({"agentId": "", "userId": PERSON}, None),
        ({"agentId": AGENT, "userId": PERSON, "metadata": {"x": "y" * 10_240}}, "Invalid metadata: Metadata exceeds"),
        ({"agentId": AGENT, "userId": PERSON, "timeoutConfig": {"timeoutMinutes": 100_000}}, "Invalid timeout"),
    ]
    for body, message in creates:
        refused = eliza.post(SESSIONS, json=body)
        assert error_of(refused) == (400, "VALIDATION_ERROR"), body
        assert message is None or refused.json()["error"]["message"].startswith(message), refused.json()
    assert eliza.post(SESSIONS, json={"agentId": AGENT, "userId": PERSON, "metadata": {"x": "y" * 10_000}}).is_success

    sid = create(eliza)["sessionId"]
    messages = f"{SESSIONS}/{sid}/messages"
    sends: list[tuple[dict[str, Any], str]] = [
        ({"content": ""}, "Invalid content: Content cannot be empty"),
        ({"content": "x" * 4001}, "Invalid content: Content exceeds maximum length of 4000 characters"),
        ({"content": "\U0001f600" * 2001}, "Invalid content: Content exceeds"),  # JavaScript counts 4002
        ({"content": 12}, "Invalid content: Content must be a string"),
        ({}, "Invalid content"),
        ({"content": "hi", "transport": "pigeon"}, 'Invalid content: Invalid transport "pigeon"'),
        ({"content": "hi", "metadata": "x"}, "Invalid metadata"),
        ({"content": "hi", "metadata": {"k": "v" * 10_240}}, "Invalid metadata: Metadata exceeds maximum size"),
    ]
    for sent, said in sends:
        refused = eliza.post(messages, json=sent)
        assert error_of(refused) == (400, "VALIDATION_ERROR"), sent
        assert refused.json()["error"]["message"].startswith(said), refused.json()
    assert eliza.post(messages, json={"content": "x" * 4000, "mode": "websocket"}).status_code == 201
    bad_time = eliza.get(messages, params={"before": "yesterday"})
    assert (
        error_of(bad_time) == (400, "VALIDATION_ERROR") and bad_time.json()["error"]["details"]["parameter"] == "before"
    )

    short = create(eliza, timeoutConfig={"maxDurationMinutes": 5})["sessionId"]
    refused = eliza.post(f"{SESSIONS}/{short}/renew")
    assert error_of(refused) == (400, "SESSION_RENEWAL_FAILED")
    assert set(refused.json()["error"]["details"]) == {"maxDuration", "createdAt", "timeSinceCreation"}

    assert error_of(eliza.get(SESSIONS)) == (403, "Forbidden")  # the list is an admin endpoint (see the client)
    assert error_of(eliza.get(f"{SESSIONS}/health", headers={"X-API-KEY": "wrong"})) == (401, "Unauthorized")


def test_an_expired_session_is_410(server_urls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_MIN_TIMEOUT_MINUTES", "0.002")
    running = Running(server_urls("cluster"), user_keys=[USER])
    try:
        with httpx.Client(base_url=running.base, headers=client_headers(USER), timeout=10) as client:
            sid = create(client, timeoutConfig={"timeoutMinutes": 0.004, "autoRenew": False})["sessionId"]
            time.sleep(0.4)
            for answer in (
                client.get(f"{SESSIONS}/{sid}"),
                client.post(f"{SESSIONS}/{sid}/messages", json={"content": "x"}),
            ):
                assert error_of(answer) == (410, "SESSION_EXPIRED")
                assert answer.json()["error"]["message"].startswith(f"Session '{sid}' expired at ")
                assert answer.json()["error"]["details"]["expiresAt"].endswith("Z")
            assert client.delete(f"{SESSIONS}/{sid}").json()["success"] is True  # elizaOS deletes it too
    finally:
        running.stop()


# --- messages by time -----------------------------------------------------------------------------


def test_messages_page_by_time(eliza: httpx.Client) -> None:
    sid = create(eliza)["sessionId"]
    messages = f"{SESSIONS}/{sid}/messages"
    times = []
    for i in range(7):
        times.append(eliza.post(messages, json={"content": f"m{i}"}).json()["userMessage"]["created_at"])
        time.sleep(0.003)  # distinct milliseconds
    assert times == sorted(times) and len(set(times)) == 7

    def contents(**params: Any) -> tuple[list[str], dict[str, Any]]:
        answer = eliza.get(messages, params={k: str(v) for k, v in params.items()})
        assert answer.status_code == 200, answer.text
        return [m["content"] for m in answer.json()["messages"]], answer.json()

    assert contents(limit=3)[0] == ["m6", "m5", "m4"]
    got, body = contents(limit=3, before=times[4])
    assert got == ["m3", "m2", "m1"] and body["hasMore"] is True and body["cursors"]["before"] == times[1]
    got, body = contents(limit=3, before=body["cursors"]["before"])
    assert got == ["m0"] and body["hasMore"] is False
    got, body = contents(limit=2, after=times[2])  # forward: the oldest two after m2
    assert got == ["m4", "m3"] and body["hasMore"] is True
    got, body = contents(limit=2, after=body["cursors"]["after"])
    assert got == ["m6", "m5"] and body["hasMore"] is False
    assert contents(before=times[5], after=times[1])[0] == ["m4", "m3", "m2"]
    assert contents(before=times[5], after=times[1], limit=2)[0] == ["m4", "m3"]
    assert contents(before=js_time(times[3]))[0] == ["m2", "m1", "m0"]  # ISO 8601 too
    assert contents(after=js_time(times[5]).replace("Z", "+00:00"))[0] == ["m6"]
    assert contents(after=times[6])[0] == [] and "cursors" not in contents(after=times[6])[1]
    assert len(contents(limit="abc")[0]) == 7 and len(contents(limit=0)[0]) == 1 and len(contents(limit=500)[0]) == 7


# --- the model ------------------------------------------------------------------------------------


def sse_events(response: httpx.Response) -> list[tuple[str, Any]]:
    events = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_a_model_answers_over_http_and_sse(eliza: httpx.Client, models: FakeModelServer) -> None:
    sid = create(eliza)["sessionId"]
    messages = f"{SESSIONS}/{sid}/messages"
    first = eliza.post(messages, json={"content": "My name is Ada", "transport": "http"}).json()
    assert first["agentResponse"]["text"] == "heard: My name is Ada" and models.calls["chat"] == 1
    legacy = eliza.post(messages, json={"content": "REPLY fine", "mode": "sync"}).json()  # the older name
    assert legacy["agentResponse"]["text"] == "fine"

    streamed = eliza.post(messages, json={"content": "And mine?", "transport": "sse"})
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    events = sse_events(streamed)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "user_message" and kinds[-1] == "done" and set(kinds[1:-1]) == {"chunk"}
    assert events[0][1]["content"] == "And mine?"
    reply = "heard: My name is Ada | REPLY fine | And mine?"
    chunks = [data for kind, data in events if kind == "chunk"]
    assert "".join(c["chunk"] for c in chunks) == reply and [c["index"] for c in chunks] == list(range(len(chunks)))
    assert events[-1][1]["text"] == reply and {c["messageId"] for c in chunks} == {events[-1][1]["messageId"]}

    history = eliza.get(messages).json()["messages"]
    assert [(m["content"], m["isAgent"]) for m in history] == [
        (reply, True),
        ("And mine?", False),
        ("fine", True),
        ("REPLY fine", False),
        ("heard: My name is Ada", True),
        ("My name is Ada", False),
    ]
    assert history[0]["id"] == events[-1][1]["messageId"] and history[1]["id"] == events[0][1]["id"]
    stamps = [m["createdAt"] for m in history]
    assert stamps == sorted(stamps, reverse=True) and len(set(m["id"] for m in history)) == 6

    failed = eliza.post(messages, json={"content": "FAIL now", "transport": "http"})
    assert error_of(failed) == (500, "MESSAGE_SEND_FAILED")
    cut = sse_events(eliza.post(messages, json={"content": "FAIL again", "transport": "sse"}))
    assert [kind for kind, _ in cut] == ["user_message", "error"] and cut[1][1]["code"] == "MESSAGE_SEND_FAILED"
    assert len(eliza.get(messages).json()["messages"]) == 6  # a failed turn stores nothing


def test_without_a_model_messages_are_stored_and_nobody_replies(server_urls: Any) -> None:
    running = Running(server_urls("standalone"), user_keys=[USER])
    try:
        with httpx.Client(base_url=running.base, headers=client_headers(USER), timeout=10) as client:
            sid = create(client)["sessionId"]
            synced = client.post(f"{SESSIONS}/{sid}/messages", json={"content": "hi", "transport": "http"})
            assert synced.status_code == 201 and "agentResponse" not in synced.json()
            events = sse_events(client.post(f"{SESSIONS}/{sid}/messages", json={"content": "yo", "transport": "sse"}))
            assert [kind for kind, _ in events] == ["user_message", "error"] and events[1][1]["code"] == "NO_MODEL"
            assert [m["content"] for m in client.get(f"{SESSIONS}/{sid}/messages").json()["messages"]] == ["yo", "hi"]
    finally:
        running.stop()


def test_a_turn_stamps_what_it_stores(server_urls: Any, models: FakeModelServer) -> None:
    with AgentCache.from_url(server_urls("cluster"), prefix=unique_prefix()) as cache:
        conv = cache.conversations.create(agent_id="a", user_id="u")
        seen: list[str] = []

        def stamp(message: Message) -> Message:
            seen.append(message.role)
            return message.model_copy(update={"metadata": {**message.metadata, "n": len(seen)}})

        result = conv.run("hello", model=fake_model(models), stamp=stamp)
        assert seen == ["user", "assistant"] and [m.metadata["n"] for m in result.messages] == [1, 2]
        assert [m.metadata for m in conv.messages()] == [{"n": 1}, {"n": 2}]
        with pytest.raises(InvalidArgumentError, match="stamp must return a Message"):
            conv.run("again", model=fake_model(models), stamp=lambda m: None)
        assert len(conv.messages()) == 2
