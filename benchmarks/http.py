"""The HTTP API against the library in one process and the raw command: ``python -m benchmarks.http``.

On a bundled cluster-mode server: GET one session value and POST a message (a conversation append)
through uvicorn (1 and 2 worker processes, ``agentcache.http.app:app_from_env``; and 1 worker with a
per-key rate limit that counts every request, a quota that counts every write, and both, to show
their cost), through
``AsyncAgentCache`` in this process, and the raw Valkey command on valkey-py's asyncio client.
Each candidate runs ``--concurrency`` callers for ``--seconds`` seconds, one candidate at a time
(a server process cannot be interleaved with the others); reported: requests per second, p50 and
p99 latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentcache import AsyncAgentCache, BundledValkey, Message

from .harness import describe_machine, percentile, progress, table

Call = Callable[[], Awaitable[object]]


async def drive(call: Call, concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[int] = []
    stop = time.monotonic() + seconds

    async def caller() -> None:
        while time.monotonic() < stop:
            started = time.perf_counter_ns()
            await call()
            latencies.append(time.perf_counter_ns() - started)

    began = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.monotonic() - began
    ordered = sorted(latencies)
    return {
        "requests_per_s": round(len(ordered) / elapsed),
        "p50_us": round(percentile(ordered, 0.5) / 1000, 1),
        "p99_us": round(percentile(ordered, 0.99) / 1000, 1),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_uvicorn(url: str, workers: int, extra: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "AGENTCACHE_URL": url, **(extra or {})}
    command = [sys.executable, "-m", "uvicorn", "agentcache.http.app:app_from_env", "--factory"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/health").status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.1)


async def run(url: str, opts: argparse.Namespace) -> dict[str, dict[str, float]]:
    import httpx
    from valkey.asyncio import ValkeyCluster

    rows: dict[str, dict[str, float]] = {}
    async with AsyncAgentCache.from_url(url) as cache:
        await cache.session.set("bench", "pref", {"theme": "dark"})
        conv = await cache.conversations.create(agent_id="bench", user_id="u")
        raw = ValkeyCluster.from_url(url)
        key = cache.session.key("bench", "pref")
        message = Message.user("hello")
        progress("library in this process")
        rows["get: AsyncAgentCache in process"] = await drive(
            lambda: cache.session.get("bench", "pref"), opts.concurrency, opts.seconds
        )
        rows["append: AsyncAgentCache in process"] = await drive(
            lambda: conv.add_message(message), opts.concurrency, opts.seconds
        )

        async def raw_get() -> object:
            return await raw.get(key)

        async def raw_push() -> object:
            return await raw.rpush("bench:{raw}:list", b"x" * 60)  # type: ignore[misc]

        rows["get: raw GET (floor)"] = await drive(raw_get, opts.concurrency, opts.seconds)
        rows["append: raw RPUSH (floor)"] = await drive(raw_push, opts.concurrency, opts.seconds)
        await raw.aclose()
        unlimited = {"AGENTCACHE_HTTP_RATE_LIMIT": "1000000000/1"}  # counted on every request, never refused
        quota = {"AGENTCACHE_HTTP_QUOTA": "threads=1000000000,bytes=1000000gb"}  # every write counted, none refused
        for label, workers, extra in (
            ("1 worker(s)", 1, {}),
            ("2 worker(s)", 2, {}),
            ("1 worker, rate limit", 1, unlimited),
            ("1 worker, quota", 1, quota),
            ("1 worker, rate limit + quota", 1, {**unlimited, **quota}),
        ):
            progress(f"uvicorn, {label}")
            process, base = start_uvicorn(url, workers, extra)
            try:
                limits = httpx.Limits(max_connections=opts.concurrency)
                async with httpx.AsyncClient(base_url=base, limits=limits) as client:
                    get_path = "/api/v1/threads/bench/session/pref"
                    post_path = f"/api/messaging/sessions/{conv.id}/messages"

                    async def get_one(c: Any = client, path: str = get_path) -> object:
                        return await c.get(path)

                    async def post_one(c: Any = client, path: str = post_path) -> object:
                        return await c.post(path, json={"content": "hello"})

                    rows[f"get: HTTP, {label}"] = await drive(get_one, opts.concurrency, opts.seconds)
                    rows[f"append: HTTP, {label}"] = await drive(post_one, opts.concurrency, opts.seconds)
            finally:
                process.terminate()
                process.wait(10)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", default="bench-results/http.json")
    opts = parser.parse_args(argv)
    with BundledValkey("cluster") as server:
        rows = asyncio.run(run(server.url, opts))
    print(
        f"HTTP API vs library vs raw command ({describe_machine()}), {opts.concurrency} callers, {opts.seconds} s each"
    )
    figures = [[name, r["requests_per_s"], r["p50_us"], r["p99_us"]] for name, r in sorted(rows.items())]
    print(table(["candidate", "requests/s", "p50 us", "p99 us"], figures, left=1))
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(
        json.dumps({"machine": describe_machine(), "options": vars(opts), "rows": rows}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
