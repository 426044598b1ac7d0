"""The sessions dashboard in a real headless browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium on this machine (apt-get install chromium; .ci/run does)", allow_module_level=True)

import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.test_http import ADMIN, USER, Running  # noqa: E402


def test_the_dashboard_shows_a_session_and_follows_it(server_urls: Any, tmp_path: Path) -> None:
    running = Running(server_urls("cluster"), user_keys=[USER], admin_keys=[ADMIN])
    user = {"Authorization": f"Bearer {USER}"}
    try:
        with httpx.Client(base_url=running.base, headers=user, timeout=10) as api, sync_playwright() as p:
            assert api.get("/dashboard/data").status_code == 403  # the feed is admin only
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless=new"])
            page = browser.new_page()
            page.goto(f"{running.base}/dashboard")
            page.fill("#key", ADMIN)
            page.dispatch_event("#key", "change")
            sid = api.post("/api/messaging/sessions", json={"agentId": "bot", "userId": "u-9"}).json()["sessionId"]
            row = f'#sessions tr[data-id="{sid}"]'
            page.wait_for_selector(row, timeout=15_000)
            assert page.inner_text(f"{row} td:last-child") == "0"
            api.post(f"/api/messaging/sessions/{sid}/messages", json={"content": "hello"})
            page.wait_for_function(
                "sel => document.querySelector(sel + ' td:last-child')?.textContent === '1'", arg=row, timeout=15_000
            )
            api.post("/api/v1/threads/t-9/session", json={"key": "intent", "value": "book_flight", "ttl": 600})
            page.fill("#thread", "t-9")
            page.dispatch_event("#thread", "change")
            page.wait_for_selector('#fields tr[data-id="intent"]', timeout=15_000)
            shot = Path(os.environ.get("AGENTCACHE_SCREENSHOT", tmp_path / "dashboard.png"))
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 1000
            browser.close()
    finally:
        running.stop()
