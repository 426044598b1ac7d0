"""The dashboard in a real headless browser (Debian's chromium, driven by Playwright), after a real
workload on a 3-primary cluster: every chart has data, search and drill-down work, values that look
like markup stay text; and what one poll of its feed costs, in round trips and bytes.

``AGENTCACHE_SCREENSHOTS=<dir>`` keeps the screenshots there (``docs/`` for docs/dashboard.md's).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("fastapi")

import httpx
import uvicorn
from fastapi.testclient import TestClient

from agentcache import AgentCache, AsyncAgentCache, ModelPrice, NearCache
from agentcache.http.app import create_app
from agentcache.http.dashboard import (
    detail_section,
    history_section,
    sessions_section,
    totals_section,
    valkey_section,
)
from agentcache.testing import unique_prefix
from agentcache.tiers.content.messages import ImagePart, Message, ToolCallPart
from agentcache.tiers.monitor.history import Timings
from tests.integration.test_http import ADMIN, USER, Uvicorn, free_port

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

INTERVAL = 1.0
XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">'
CHARTS = ["chart-hits", "chart-ops", "chart-latency", "chart-cost", "chart-near", "chart-expiry"]
PRICES = {"gpt-4o-mini": ModelPrice(input_per_million=0.15, output_per_million=0.6)}


def png(width: int = 96, height: int = 64) -> bytes:
    """A small gradient PNG (a message's image part)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 2 % 256, y * 3 % 256, 200 - x)) for x in range(width)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Served(Uvicorn):
    """``create_app`` under uvicorn on a thread, over a cache whose operations are timed."""

    def __init__(self, url: str, prefix: str) -> None:
        cache = AsyncAgentCache.from_url(url, prefix=prefix, observers=[Timings()], llm_prices=PRICES)
        app = create_app(cache, owns_cache=True, user_keys=[USER], admin_keys=[ADMIN], history_interval=INTERVAL)
        super().__init__(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))


def workload(url: str, prefix: str, api: httpx.Client, rounds: int) -> list[str]:
    """Sessions (through the HTTP API and the library), messages, thread fields, tool and model
    hits and misses, session reads through a near cache; the history recorded as it goes. Returns
    the ids of the sessions created through the API."""
    options: dict[str, Any] = {"prefix": prefix, "observers": [Timings()], "llm_prices": PRICES}
    with AgentCache.from_url(url, near_cache=NearCache(), **options) as cache:
        cache.monitor.record(interval=INTERVAL)
        created = [
            api.post("/api/messaging/sessions", json={"agentId": "support-bot", "userId": f"web-{i}"}).json()[
                "sessionId"
            ]
            for i in range(4)
        ]
        for i in range(10):
            cache.conversations.create(
                agent_id=("support-bot", "planner")[i % 2], user_id=f"u{i}", timeout=300 + 150 * i
            )
        conv = cache.conversations.create(agent_id="support-bot", user_id="alice", session_id="order-4711")
        conv.add_message(Message.user("message 0: where is my order 4711?"))
        for n in range(1, 22):
            conv.add_message(Message.assistant(f"message {n}") if n % 2 else Message.user(f"message {n}"))
        call = ToolCallPart(id="c1", name="search_orders", arguments={"order": 4711})
        conv.add_message(Message.assistant("Looking it up.", tool_calls=[call]))
        conv.add_message(Message.tool("c1", {"status": "shipped", "eta": "tomorrow"}))
        conv.add_message(Message.user("Here is my receipt", ImagePart(data=png(), mime_type="image/png", name="r.png")))
        conv.add_message(Message.user(XSS))
        cache.session.set("order-4711", "intent", "track_order", ttl=600)
        cache.session.set("order-4711", "cart", {"items": 3, "note": XSS}, ttl=90)
        cache.session.set("order-4711", XSS, "a field name that looks like markup")
        request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
        answer = {
            "choices": [{"message": {"content": "hello"}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 80},
        }
        for r in range(rounds):
            for i in range(25):
                cache.session.get("order-4711", "intent")  # served from the near cache after the first
                cache.tool.get_or_compute("search_orders", {"q": i % (3 + r)}, lambda: {"found": 1}, cost=0.002)
                cache.tool.check("weather", {"city": f"city-{r}-{i % 5}"})  # never stored: misses
            if not cache.llm.check(request).hit:
                cache.llm.store(request, answer)
            cache.llm.check(request)
            api.post(f"/api/messaging/sessions/{created[r % len(created)]}/messages", json={"content": f"hi {r}"})
            cache.stats()  # ship the counts now rather than within the next second
            cache.monitor.record(interval=INTERVAL)
            time.sleep(INTERVAL)
        cache.stats()
        cache.monitor.record(interval=INTERVAL)
    return created


def measure_feed(api: httpx.Client, base: str) -> dict[str, tuple[int, int]]:
    """Bytes of ``/dashboard/data`` (and history entries in it): the first load, a later poll, a
    poll with a session open, and one whose messages the page already has."""
    admin = {"Authorization": f"Bearer {ADMIN}"}

    def get(**params: Any) -> dict[str, Any]:
        answer = api.get("/dashboard/data", params=params, headers=admin)
        assert answer.status_code == 200
        data: dict[str, Any] = answer.json()
        sizes[len(sizes)] = (len(answer.content), len(data["history"]["entries"]))
        return data

    sizes: dict[int, tuple[int, int]] = {}
    first = get()
    since = first["history"]["entries"][-1]["t"]
    get(since=since)
    version = get(since=since, id="order-4711")["detail"]["conversation"]["version"]
    get(since=since, id="order-4711", known=version)
    names = ["first load", "poll", "poll, one session", "poll, messages unchanged"]
    measured = {name: sizes[i] for i, name in enumerate(names)}
    sections = {name: len(json.dumps(first[name])) for name in ("history", "totals", "valkey", "sessions")}
    print(f"\nfeed bytes (entries): {measured}; first load by section: {sections}")
    return measured


def open_dashboard(page: Page, base: str) -> None:
    page.goto(f"{base}/dashboard")
    page.fill("#key", ADMIN)
    page.dispatch_event("#key", "change")
    page.wait_for_selector("body[data-loaded]", timeout=15_000)


def points(page: Page, chart: str) -> int:
    return int(page.get_attribute(f"#{chart}", "data-points") or 0)


def test_the_app_records_the_history_with_its_own_timings(server_urls: Any) -> None:
    prefix = unique_prefix()
    cache = AsyncAgentCache.from_url(server_urls("cluster"), prefix=prefix, observers=[Timings()])
    app = create_app(cache, owns_cache=True, user_keys=[USER], admin_keys=[ADMIN], history_interval=0.1)
    user = {"Authorization": f"Bearer {USER}"}
    with TestClient(app) as client:  # runs the lifespan: the recorder starts and stops with the app
        deadline = time.monotonic() + 10
        entries: list[dict[str, Any]] = []
        while not any("session.set_value" in e["ops"] for e in entries):
            assert time.monotonic() < deadline, entries
            client.post("/api/v1/threads/t-1/session", json={"key": "k", "value": 1}, headers=user)
            time.sleep(0.15)
            feed = client.get("/dashboard/data", headers={"Authorization": f"Bearer {ADMIN}"}).json()
            entries = feed["history"]["entries"]
        assert feed["interval"] == 0.1 and all(e["s"] > 0 for e in entries)
    with AgentCache.from_url(server_urls("cluster"), prefix=prefix) as check:
        count = len(check.monitor.history())
        time.sleep(0.3)
        assert len(check.monitor.history()) == count  # the recorder stopped with the app


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium; .ci/run does)")
def test_the_dashboard_shows_every_section_after_a_workload(server_urls: Any, tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright

    prefix = unique_prefix()
    url = server_urls("cluster3")
    served = Served(url, prefix)
    shots = Path(os.environ.get("AGENTCACHE_SCREENSHOTS") or tmp_path)
    try:
        with httpx.Client(base_url=served.base, headers={"Authorization": f"Bearer {USER}"}, timeout=10) as api:
            created = workload(url, prefix, api, rounds=5)
            bare = httpx.get(f"{served.base}/dashboard")
            assert bare.status_code == 200 and "order-4711" not in bare.text  # the page carries no data
            assert all(sid not in bare.text for sid in created)
            assert api.get("/dashboard/data").status_code == 403  # the feed is for admins
            assert httpx.get(f"{served.base}/dashboard/data").status_code == 401
            feed = measure_feed(api, served.base)
            assert feed["first load"][1] >= 4  # history entries
            assert feed["poll"][0] < 8_000 and feed["poll, messages unchanged"][0] < feed["poll, one session"][0] / 2
        with sync_playwright() as p:
            assert CHROMIUM is not None
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless=new"])
            page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
            dialogs: list[str] = []

            def on_dialog(dialog: Dialog) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            open_dashboard(page, served.base)
            page.wait_for_function(
                "charts => charts.every(id => Number(document.getElementById(id).dataset.points) > 0)",
                arg=CHARTS,
                timeout=15_000,
            )
            assert all(points(page, chart) > 0 for chart in CHARTS)
            assert page.locator("#ops tr[data-op='session.get']").count() == 1
            # Valkey: one card per primary, each with its keys by tier
            assert page.locator("#nodes .node").count() == 3
            assert page.locator("#nodes .node .legend span").count() >= 3
            assert "3 primaries" in page.inner_text("#cluster")
            # tools and models, by cost saved, with a recommendation and a trend each
            names = page.locator("#tool-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.name)")
            assert names[0] == "search_orders" and {"weather", "gpt-4o-mini"} <= set(names)
            assert page.locator("#tool-table tr[data-name='weather'] td").nth(6).inner_text().startswith("lower")
            assert page.locator("#tool-table tr[data-name='search_orders'] svg.spark").count() == 1
            # sessions: the list, then the search and the drill-down
            assert page.locator(f"#session-list tr[data-id='{created[0]}']").count() == 1
            page.fill("#q", "order-4711")
            page.dispatch_event("#search", "submit")
            page.wait_for_selector("#messages .msg", timeout=10_000)
            assert page.locator("#messages .msg").count() == 20  # one page
            thumbnail = page.locator("#messages img.thumb").get_attribute("src", timeout=2_000)
            assert thumbnail is not None and thumbnail.startswith("data:image/png;base64,")
            assert page.locator("#fields tr[data-field='intent']").count() == 1
            countdown = page.locator("#fields tr[data-field='cart'] td").nth(1)
            before = countdown.inner_text()
            page.wait_for_function(
                "was => document.querySelector(\"#fields tr[data-field='cart'] td:nth-child(2)\").textContent !== was",
                arg=before,
                timeout=5_000,
            )
            assert before.endswith("s") and before != countdown.inner_text()  # the TTL counts down
            # markup in a message, a field's value and a field's name stayed text; nothing ran
            text = page.inner_text("#detail")
            assert text.count("window.__pwned = 1</script>") >= 3
            assert page.evaluate("window.__pwned") is None and dialogs == []
            assert page.locator("img[src='x']").count() == 0
            page.click("#older")
            page.wait_for_selector("#messages .msg:first-child .part:text-is('message 0: where is my order 4711?')")
            page.click("#newest")
            page.wait_for_function("() => document.querySelectorAll('#messages img.thumb').length === 1")
            page.fill("#q", "")
            page.dispatch_event("#q", "input")
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
            # a row of the list opens that session
            page.click(f"#session-list tr[data-id='{created[1]}'] button")
            page.wait_for_function(
                "sid => document.getElementById('detail-title').textContent.endsWith(sid)", arg=created[1]
            )
            narrow = browser.new_page(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, color_scheme="dark"
            )
            open_dashboard(narrow, served.base)
            narrow.wait_for_function("() => Number(document.getElementById('chart-hits').dataset.points) > 0")
            narrow.fill("#q", "order-4711")
            narrow.dispatch_event("#search", "submit")
            narrow.wait_for_selector("#messages img.thumb", timeout=10_000)
            narrow.fill("#q", "")
            narrow.dispatch_event("#q", "input")
            narrow.locator("#detail").scroll_into_view_if_needed()
            narrow.evaluate("document.getElementById('detail').scrollIntoView()")
            narrow.screenshot(path=str(shots / "dashboard-narrow-session.png"))  # one screen, at the session
            overflow = narrow.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0  # wide tables scroll inside their card, the page does not
            narrow.evaluate("window.scrollTo(0, 0)")
            narrow.screenshot(path=str(shots / "dashboard-narrow.png"))  # the first screen
            assert narrow.evaluate("window.__pwned") is None
            browser.close()
        for shot in ("dashboard.png", "dashboard-narrow.png", "dashboard-narrow-session.png"):
            assert (shots / shot).stat().st_size > 10_000
    finally:
        served.stop()


@pytest.mark.parametrize("topology", ["cluster", "cluster3"])
def test_one_poll_costs_a_few_round_trips_per_section(server_urls: Any, topology: str) -> None:
    """Round trips and bytes of each section of ``/dashboard/data``, sections run one at a time.

    On servers in cluster mode only: there a thread's SCAN is confined to its slot. On a standalone
    server it walks the whole keyspace, so the thread's fields cost one round trip more per SCAN step
    as the server fills (seen in the full suite: 5 for "detail" instead of 4)."""

    async def main() -> dict[str, tuple[int, int]]:
        async with AsyncAgentCache.from_url(server_urls(topology), prefix=unique_prefix()) as cache:
            conv = await cache.conversations.create(agent_id="a", user_id="u", session_id="s-1")
            for n in range(30):
                await conv.add_message(Message.user(f"message {n}"))
            await cache.session.set("s-1", "intent", "x" * 50)
            await cache.tool.store("search", {"q": 1}, "r", cost=0.01)
            await cache.tool.check("search", {"q": 1})
            await cache.monitor.record(interval=0.01)
            await asyncio.sleep(0.02)
            await cache.monitor.record(interval=0.01)
            sections: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
                "history": lambda: history_section(cache, 0),
                "totals": lambda: totals_section(cache),
                "valkey": lambda: valkey_section(cache),
                "sessions": lambda: sessions_section(cache),
                "detail": lambda: detail_section(cache, "s-1", None, None),
            }
            measured: dict[str, tuple[int, int]] = {}
            for name, section in sections.items():
                await section()  # the scripts are loaded after this
                before = cache.round_trips
                data = await section()
                measured[name] = (cache.round_trips - before, len(json.dumps(data)))
            version = (await detail_section(cache, "s-1", None, None))["conversation"]["version"]
            before = cache.round_trips
            unchanged = await detail_section(cache, "s-1", None, version)
            measured["detail, messages unchanged"] = (cache.round_trips - before, len(json.dumps(unchanged)))
            assert unchanged["conversation"]["messages"] is None
            return measured

    measured = asyncio.run(main())
    primaries = 3 if topology == "cluster3" else 1
    trips = {name: n for name, (n, _) in measured.items()}
    assert trips == {
        "history": 1,
        "totals": 1,
        "valkey": primaries + 1,
        "sessions": 3,
        "detail": 4,
        "detail, messages unchanged": 3,
    }
    sizes = {name: size for name, (_, size) in measured.items()}
    assert sizes["detail, messages unchanged"] < sizes["detail"] / 2
    print(f"\n{topology}: " + ", ".join(f"{name} {n} rt {size} B" for name, (n, size) in measured.items()))
