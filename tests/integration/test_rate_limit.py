"""Rate limits and quotas kept in Valkey: ``cache.limits.hit`` and ``cache.limits.admit`` on every
topology and facade (one round trip, the server's clock, a refusal counts nothing), and the HTTP
API's per-key limit, shared by two uvicorn worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

from agentcache.tiers.limits.tier import Quota, Verdict
from tests.helpers import cost


def test_a_limit_allows_its_burst_then_refuses_with_the_wait(cache: Any) -> None:
    verdicts = [cache.limits.hit("caller-a", 3, 60) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0]
    assert 0 < verdicts[3].retry_after <= 20.0  # one request comes back every 60 / 3 s
    assert cache.limits.hit("caller-b", 3, 60).allowed  # another name has its own count
    assert cost(cache, lambda: cache.limits.hit("caller-b", 3, 60)) == 1  # the script known on that node


def test_a_refused_request_comes_back_after_the_interval(cache: Any) -> None:
    assert cache.limits.hit("fast", 1, 0.3).allowed
    refused = cache.limits.hit("fast", 1, 0.3)
    assert not refused.allowed and 0 < refused.retry_after <= 0.3
    time.sleep(refused.retry_after + 0.05)
    assert cache.limits.hit("fast", 1, 0.3).allowed


def test_a_limit_key_expires_once_it_holds_nothing_back(cache: Any) -> None:
    if cache.topology == "memory":
        pytest.skip("looks at the server's key")
    from tests.helpers import command

    cache.limits.hit("brief", 10, 60)
    ttl = command(cache, "PTTL", f"{cache.settings.prefix}:limit:{{brief}}")
    assert 0 < ttl <= 6000  # one interval (60 s / 10) ahead of now, not the whole window


def test_quotas_count_threads_keys_and_bytes_in_one_round_trip(cache: Any) -> None:
    quota = Quota(threads=2, keys_per_thread=2, bytes=100, window=60)

    def admit(thread: str, key: str, size: int = 10, **rate: Any) -> Verdict:
        verdict: Verdict = cache.limits.admit("writer", quota=quota, thread=thread, key=key, size=size, **rate)
        return verdict

    assert admit("t1", "a").allowed and admit("t1", "b").allowed
    refused = admit("t1", "c")
    assert (refused.allowed, refused.refused_by, refused.used) == (False, "keys", 2)
    assert 55 < refused.retry_after <= 60  # the window ends a minute after the first write
    assert admit("t1", "a").allowed  # a key the thread already has
    assert admit("t2", "a").allowed
    assert (admit("t3", "a").refused_by, admit("t3", "a").used) == ("threads", 2)
    assert (admit("t2", "a", 61).refused_by, admit("t2", "a", 61).used) == ("bytes", 40)  # 4 writes of 10
    assert admit("t2", "a", 0, rate=(1, 60)).allowed  # the rate's one request
    assert admit("t2", "a", 60, rate=(1, 60)).refused_by == "rate"  # ... and a refusal counts no bytes
    assert admit("t2", "b", 60).allowed  # 40 + 0 + 60 = 100: the refused 60 were not counted
    assert cache.limits.admit("another writer", quota=quota, thread="t3", key="a").allowed  # a count of its own
    assert cost(cache, lambda: admit("t2", "b", 0)) == 1
    assert cost(cache, lambda: cache.limits.admit("writer", quota=quota)) == 0  # writes no thread: nothing to count
    assert cost(cache, lambda: cache.limits.admit("writer", thread="t9")) == 0  # no quota, no rate


def test_a_quota_window_starts_over(cache: Any) -> None:
    quota = Quota(threads=1, window=0.4)
    assert cache.limits.admit("brief writer", quota=quota, thread="t1").allowed
    refused = cache.limits.admit("brief writer", quota=quota, thread="t2")
    assert refused.refused_by == "threads" and 0 < refused.retry_after <= 0.4
    time.sleep(refused.retry_after + 0.05)
    assert cache.limits.admit("brief writer", quota=quota, thread="t2").allowed
    assert cache.limits.admit("brief writer", quota=quota, thread="t1").refused_by == "threads"


def test_quota_keys_expire_with_their_window(cache: Any) -> None:
    if cache.topology == "memory":
        pytest.skip("looks at the server's keys")
    from agentcache.encoding.keys import quota_keys
    from agentcache.tiers.limits.tier import digest
    from tests.helpers import command

    cache.limits.admit("expiring writer", quota=Quota(threads=5, keys_per_thread=5, window=30), thread="t", key="k")
    for key in quota_keys(cache.settings.prefix, "expiring writer", digest("t")):
        assert 25_000 < command(cache, "PTTL", key) <= 30_000, key


# --- over HTTP ------------------------------------------------------------------------------------

pytest.importorskip("fastapi")
import httpx  # noqa: E402

from tests.integration.test_http import ADMIN, USER, Running, free_port  # noqa: E402


def test_each_key_is_limited_and_a_refusal_says_when_to_retry(server_urls: Any) -> None:
    running = Running(server_urls("cluster"), user_keys=[USER, "other-user"], admin_keys=[ADMIN], rate_limit="5/60")
    try:
        with httpx.Client(base_url=running.base, timeout=10) as client:
            first = {"X-API-Key": USER}
            codes = [client.get("/api/v1/threads/t/session", headers=first).status_code for _ in range(6)]
            assert codes == [200] * 5 + [429]
            refused = client.get("/api/v1/threads/t/session", headers={"Authorization": f"Bearer {USER}"})
            assert refused.status_code == 429  # the same key, however it is sent
            assert 1 <= int(refused.headers["retry-after"]) <= 12
            assert refused.json()["error"]["code"] == "RateLimited"
            other = client.get("/api/v1/threads/t/session", headers={"X-API-Key": "other-user"})
            assert other.status_code == 200  # a key of its own
            assert all(client.get("/health").status_code == 200 for _ in range(8))  # never limited
            assert client.get("/api/v1/threads/t/session", headers={"X-API-Key": "wrong"}).status_code == 401
    finally:
        running.stop()


def test_two_workers_share_one_count(server_urls: Any) -> None:
    url = server_urls("cluster")
    port = free_port()
    env = {
        **os.environ,
        "AGENTCACHE_URL": url,
        "AGENTCACHE_HTTP_USER_KEYS": USER,
        "AGENTCACHE_HTTP_RATE_LIMIT": "20/600",
    }
    command = [sys.executable, "-m", "uvicorn", "agentcache.http.app:app_from_env", "--factory"]
    command += ["--port", str(port), "--workers", "2", "--log-level", "warning"]
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.1)
        thread = f"rl-{port}"
        codes: list[int] = []
        for _ in range(30):  # a new connection each time, so both workers answer
            codes.append(httpx.get(f"{base}/api/v1/threads/{thread}/session", headers={"X-API-Key": USER}).status_code)
        assert codes.count(200) == 20 and codes.count(429) == 10
    finally:
        process.terminate()
        process.wait(20)
