"""``agentcache serve`` over a one-node cluster-mode Valkey whose connections are killed and which is
SIGKILLed and restarted on its port, while clients send session POSTs and GETs (issue 32): every
answer is a 200, a 404 (a field whose first write failed) or a 503, never a 500 or a dropped
connection; every POST that was acknowledged is there afterwards; and the server serves again by
itself once the faults stop.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

import httpx

from agentcache import BundledValkey
from tests.integration.test_reconnect_race import Faults

CLIENTS = 16
FAULT_SECONDS = 5.0
RECOVERY_DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``agentcache serve --url <url> --port <port>`` in a process of its own, as an operator runs it
    (no keys: loopback only; no rate limit)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTCACHE_HTTP_", "AGENTCACHE_URL"))}
    command = [sys.executable, "-c", "from agentcache.cli import main; raise SystemExit(main())"]
    with open(log, "wb") as out:
        return subprocess.Popen(
            [*command, "serve", "--url", url, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env
        )


class Users:
    """CLIENTS users of the API, each setting then reading its own thread's fields in turn."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.statuses: Counter[tuple[str, int | str]] = Counter()
        self.acknowledged: dict[tuple[str, str], int] = {}

    async def answer(self, method: str, path: str, **kwargs: Any) -> int | str:
        """The status code, or the name of the error if there was no answer (both counted)."""
        try:
            status: int | str = (await self.http.request(method, path, **kwargs)).status_code
        except httpx.TransportError as exc:  # e.g. the server dropped the connection
            status = type(exc).__name__
        self.statuses[(method, status)] += 1
        return status

    async def user(self, n: int, until: float) -> None:
        """Until ``until``, then on until one POST and one GET have worked (the server recovers)."""
        thread, j, clean = f"thread-{n}", 0, False
        while time.monotonic() < until or not clean:
            assert time.monotonic() < until + RECOVERY_DEADLINE, f"no recovery: {self.statuses}"
            j += 1
            field = f"f{j % 4}"
            path = f"/api/v1/threads/{thread}/session"
            posted = await self.answer("POST", path, json={"key": field, "value": j})
            if posted == 200:
                self.acknowledged[(thread, field)] = j
            got = await self.answer("GET", f"{path}/{field}")
            clean = posted == 200 and got == 200
            if not clean:
                await asyncio.sleep(0.01)

    async def run(self, faults: Faults) -> None:
        async def stop_faults() -> None:
            await asyncio.sleep(FAULT_SECONDS)
            await asyncio.to_thread(faults.stop)

        until = time.monotonic() + FAULT_SECONDS
        await asyncio.gather(stop_faults(), *(self.user(n, until) for n in range(CLIENTS)))

    async def lost(self) -> list[tuple[str, str, int, str]]:
        """Acknowledged POSTs whose value is not found (or a later one, whose POST failed after it was applied)."""
        lost = []
        for (thread, field), value in self.acknowledged.items():
            got = await self.http.get(f"/api/v1/threads/{thread}/session/{field}")
            if got.status_code != 200 or got.json()["value"] < value:
                lost.append((thread, field, value, got.text))
        return lost


async def wait_healthy(http: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while (status := await Users(http).answer("GET", "/health")) != 200:
        assert process.poll() is None, f"agentcache serve exited:\n{log.read_text(errors='replace')[-3000:]}"
        assert time.monotonic() < deadline, f"agentcache serve is not healthy ({status}):\n{log.read_text()[-3000:]}"
        await asyncio.sleep(0.1)


def test_serve_answers_no_500_while_valkey_restarts(tmp_path: Path) -> None:
    log, port = tmp_path / "serve.log", free_port()
    # appendfsync=always: a write acknowledged before a SIGKILL is on disk, so "nothing lost" is testable
    with BundledValkey("cluster", data_dir=tmp_path / "valkey", appendfsync="always") as server:
        process = start_serve(server.url, port, log)

        async def main() -> Users:
            limits = httpx.Limits(max_connections=CLIENTS)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits) as http:
                await wait_healthy(http, process, log)
                users = Users(http)
                with Faults(server) as faults:
                    await users.run(faults)
                print(
                    f"\nagentcache serve: {dict(sorted(users.statuses.items(), key=str))}, "
                    f"{faults.kills} connections killed, {faults.restarts} SIGKILL + restart"
                )
                assert faults.restarts >= 2 and users.statuses[("POST", 503)], "the faults did not bite"
                assert await users.lost() == []
                return users

        try:
            users = asyncio.run(main())
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    served = log.read_text(errors="replace")
    assert all(status in (200, 404, 503) for _, status in users.statuses), (users.statuses, served[-5000:])
    assert "Traceback" not in served, served[-5000:]
