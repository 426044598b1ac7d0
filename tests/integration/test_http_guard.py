"""The HTTP server against a caller that means harm, on the configuration ``agentcache serve`` runs
(uvicorn with :func:`agentcache.http.app.server_config`) on loopback: oversized and slow headers,
too many headers, paths that are not UTF-8, numbers JSON cannot carry back, security headers, and the
API's documents (off unless asked for; then the admin's, from local assets only)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")

import httpx
import uvicorn

from agentcache import AgentCache, AsyncAgentCache
from agentcache.http import create_app
from agentcache.http.app import server_config
from agentcache.http.guard import GuardedH11Protocol
from agentcache.testing import unique_prefix
from tests.integration.test_http import USER, free_port


class QuickHeaders(GuardedH11Protocol):
    header_timeout = 1.0


QUICK: dict[str, type[Any]] = {"h11": QuickHeaders}  # the fallback without uvicorn[standard]
try:
    from agentcache.http.fast_protocol import GuardedHttpToolsProtocol

    class QuickHttpTools(GuardedHttpToolsProtocol):
        header_timeout = 1.0

    QUICK["httptools"] = QuickHttpTools  # what agentcache serve runs when it is installed
except ImportError:
    pass

PREFIX = unique_prefix()


@contextlib.contextmanager
def serving(url: str, protocol: type[Any]) -> Iterator[tuple[str, int]]:
    """The app on ``server_config`` (the stack ``agentcache serve`` runs) with ``protocol``."""
    cache = AsyncAgentCache.from_url(url, prefix=PREFIX)
    port = free_port()
    config = server_config(
        create_app(cache, owns_cache=True, user_keys=[USER]), "127.0.0.1", port, http=protocol, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture(scope="module", params=list(QUICK))
def served(request: pytest.FixtureRequest, server_urls: Any) -> Iterator[tuple[str, int]]:
    """The server on each protocol: httptools (with uvicorn[standard]) and h11 (without)."""
    with serving(server_urls("cluster"), QUICK[request.param]) as where:
        yield where


def exchange(where: tuple[str, int], data: bytes, timeout: float = 10) -> bytes:
    """Send ``data`` on a new connection; what came back before the server closed it."""
    reply = b""
    with socket.create_connection(where, timeout=timeout) as sock:
        try:
            sock.sendall(data)
            while chunk := sock.recv(65536):
                reply += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
    return reply


def request(path: bytes, *headers: bytes) -> bytes:
    lines = [b"GET " + path + b" HTTP/1.1", b"Host: x", *headers, b"Connection: close", b"", b""]
    return b"\r\n".join(lines)


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


def test_oversized_heads_and_too_many_headers_are_refused(served: tuple[str, int]) -> None:
    key = b"X-API-Key: " + USER.encode()
    assert status(exchange(served, request(b"/api/v1/threads/t/session", key))) == 200
    assert status(exchange(served, request(b"/health", b"X-Big: " + b"a" * (1 << 20)))) in (0, 400)
    assert status(exchange(served, request(b"/health", *(b"X-%d: a" % i for i in range(20_000))))) in (0, 400)
    many = [b"X-%d: a" % i for i in range(150)]  # small enough for the head's bound, too many for ours
    assert status(exchange(served, request(b"/api/v1/threads/t/session", key, *many))) == 431
    for size in (20_000, 100_000):  # whole heads over the bound, arriving in one read: they were a 200
        reply = exchange(served, request(b"/health", b"X-Big: " + b"a" * size))
        assert status(reply) in (0, 400, 431), reply[:200]
        assert status(reply) != 431 or b'"HeadTooLarge"' in reply
    assert status(exchange(served, request(b"/health", b"X-Fine: " + b"a" * 12_000))) == 200  # under it


def test_a_connection_that_trickles_its_headers_is_closed(served: tuple[str, int]) -> None:
    started = time.monotonic()
    with socket.create_connection(served, timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        closed_after = None
        for _ in range(40):  # one header line every 0.1 s, forever unless the server closes
            try:
                sock.sendall(b"X-Slow: a\r\n")
                sock.settimeout(0.1)
                if sock.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None and closed_after < 3.5  # the deadline is 1 s here (10 s in serve)


def test_slow_sockets_keep_the_server_memory_bounded(served: tuple[str, int]) -> None:
    """Sockets that stream an endless header line: each is refused once it passes the head's bound
    (16 KiB; h11's own, or the httptools protocol's) and closed, so the server's memory does not
    follow what they send."""
    rss = _rss_kib()
    socks = [socket.create_connection(served, timeout=5) for _ in range(6)]
    sent = 0
    try:
        for sock in socks:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        chunk = b"a" * 65536
        for _ in range(64):  # up to 4 MiB a socket
            for sock in socks:
                try:
                    sock.sendall(chunk)
                    sent += len(chunk)
                except OSError:
                    pass
        assert all(_closed_by_server(sock) for sock in socks)
    finally:
        for sock in socks:
            sock.close()
    grown = _rss_kib() - rss
    assert grown < 64 * 1024, f"the server grew {grown} KiB while {sent} bytes were sent"


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (a 400, then end of stream, or a reset) within 5 s."""
    sock.settimeout(5)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def _rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/status") as status_file:
        for line in status_file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_paths_whose_escapes_are_not_utf8_name_no_thread(served: tuple[str, int]) -> None:
    key = b"X-API-Key: " + USER.encode()
    for raw in (b"bytes%FFid", b"bytes%FEid", b"bytes%80id"):
        assert status(exchange(served, request(b"/api/v1/threads/" + raw + b"/session", key))) == 400
    assert status(exchange(served, request(b"/api/v1/threads/bytes%EF%BF%BDid/session", key))) == 200


def test_numbers_json_cannot_carry_back_are_refused_and_the_thread_stays_readable(served: tuple[str, int]) -> None:
    base = f"http://{served[0]}:{served[1]}"
    with httpx.Client(base_url=base, headers={"X-API-Key": USER}, timeout=10) as client:
        path = "/api/v1/threads/poison-target/session"
        assert client.post(path, json={"key": "fine", "value": 1}).status_code == 200
        for value in (b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity"):
            body = b'{"key": "poison", "value": ' + value + b"}"
            refused = client.post(path, content=body, headers={"content-type": "application/json"})
            assert refused.status_code == 422, (value, refused.text)
            assert "finite" in refused.json()["error"]["message"]
        assert client.get(path).status_code == 200  # nothing was stored: the thread reads as before
        assert client.get(path).json()["values"] == {"fine": 1}


def test_html_responses_carry_security_headers(served: tuple[str, int]) -> None:
    page = httpx.get(f"http://{served[0]}:{served[1]}/dashboard")
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "'sha256-" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert httpx.get(f"http://{served[0]}:{served[1]}/health").headers["x-content-type-options"] == "nosniff"


def test_a_value_json_cannot_show_hides_only_its_own_field(served: tuple[str, int], server_urls: Any) -> None:
    """A NaN stored through the library (msgpack carries it) is reported for its field; the others read."""
    with AgentCache.from_url(server_urls("cluster"), prefix=PREFIX) as library:
        library.session.set("mixed", "fine", 1)
        library.session.set("mixed", "poison", float("nan"))
    base = f"http://{served[0]}:{served[1]}"
    with httpx.Client(base_url=base, headers={"X-API-Key": USER}, timeout=10) as client:
        for path in ("/api/v1/threads/mixed/session", "/api/v1/sessions/mixed/values"):
            both = client.get(path).json()
            assert both["values"] == {"fine": 1} and set(both["unreadable"]) == {"poison"}, both
        assert client.get("/api/v1/threads/mixed/session/poison").status_code == 422
        assert client.get("/api/v1/threads/mixed/session/fine").json()["value"] == 1


# --- the documents: off unless asked for, then the admin's, from local assets ---------------------


@pytest.fixture(scope="module")
def documented(server_urls: Any) -> Iterator[str]:
    from tests.integration.test_http import ADMIN, Running

    running = Running(server_urls("cluster"), user_keys=[USER], admin_keys=[ADMIN], docs=True)
    yield running.base
    running.stop()


def test_the_documents_are_the_admins_and_load_nothing_from_elsewhere(documented: str) -> None:
    from tests.integration.test_http import ADMIN

    with httpx.Client(base_url=documented, timeout=10) as client:
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/openapi.json", headers={"X-API-Key": USER}).status_code == 403
        document = client.get("/openapi.json", headers={"X-API-Key": ADMIN})
        assert document.status_code == 200 and "/api/v1/threads/{thread_id}/session" in document.json()["paths"]
        page = client.get("/docs")  # a page without data: it asks for the key
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self' 'sha256-" in policy and "default-src 'none'" in policy and "http" not in policy
        assert "frame-ancestors 'none'" in policy and page.headers["x-frame-options"] == "DENY"
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(source.startswith("/docs/") for source in sources), sources  # no CDN
        for source in sources:
            asset = client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 10_000, source
            assert asset.headers["x-content-type-options"] == "nosniff"
        assert client.get("/redoc").status_code == 404


def test_the_docs_page_runs_under_its_policy_in_a_browser(documented: str) -> None:
    import shutil

    from tests.integration.test_http import ADMIN

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    sync_api = pytest.importorskip("playwright.sync_api")
    if chromium is None:
        pytest.skip("no chromium on this machine (apt-get install chromium; .ci/run does)")
    requested: list[str] = []
    console: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--headless=new"])
        page = browser.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda message: console.append(message.text))
        page.goto(f"{documented}/docs")
        page.wait_for_selector("#problem:has-text('admin key')", timeout=15_000)
        page.fill("#key", ADMIN)
        page.click("#auth button")
        page.wait_for_selector(".opblock", timeout=15_000)
        operations = page.locator(".opblock").count()
        browser.close()
    assert operations >= 20
    assert all(url.startswith(documented) for url in requested), requested
    assert not [text for text in console if "Content Security Policy" in text], console
