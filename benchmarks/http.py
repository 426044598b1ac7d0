"""The HTTP API against the library in one process and the raw command: ``python -m benchmarks.http``.

On a bundled cluster-mode server: GET one session value and POST a message (a conversation append)
through uvicorn (1 and 2 worker processes, ``agentcache.http.app:app_from_env``; and 1 worker with a
per-key rate limit that counts every request, a quota that counts every write, and both, to show
their cost), through
``AsyncAgentCache`` in this process, and the raw Valkey command on valkey-py's asyncio client.
Each candidate runs ``--concurrency`` callers for ``--seconds`` seconds, one candidate at a time
(a server process cannot be interleaved with the others); reported: requests per second, p50 and
p99 latency.

Then the floor race (``--only wrk`` runs just this): ``agentcache serve`` (one worker, keys on, the
request carries a user key) against the floor app, a Starlette app doing one valkey.asyncio GET per
request (the client kind agentcache picked for the server) on uvloop + httptools, access log off,
both driven by ``wrk -t1 -c16 -d10s --latency`` on the same session value, alternating for
``--rounds`` rounds; reported: each side's median requests per second, p50 and p99, and the median
of the per-round ratios (agentcache / floor). Without ``wrk`` (Debian: ``apt-get install wrk``) the
race is skipped with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentcache import AsyncAgentCache, BundledValkey, Message

from .harness import describe_machine, median, percentile, progress, table

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


# --- the floor race: agentcache serve against a minimal app, driven by wrk -----------------------

BENCH_KEY = "bench-user-key"
GET_PATH = "/api/v1/threads/bench/session/pref"
_UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def floor_app(url: str, cluster: bool, key: bytes) -> Any:
    """Starlette with one route that does one valkey.asyncio GET of ``key`` (a ValkeyCluster client
    when ``cluster``: the kind agentcache picked) and answers it as JSON: the floor."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from valkey.asyncio import Valkey, ValkeyCluster

    client: Any = ValkeyCluster.from_url(url) if cluster else Valkey.from_url(url)

    async def get_value(request: Request) -> JSONResponse:
        value = await client.get(key)
        return JSONResponse({"key": request.path_params["key"], "size": len(value or b"")})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/api/v1/threads/{thread}/session/{key}", get_value), Route("/health", health)])


def serve_floor(url: str, port: int, cluster: bool, key: str) -> None:
    """Run :func:`floor_app` on uvloop + httptools, access log off (the floor race's subprocess)."""
    import uvicorn

    app = floor_app(url, cluster, bytes.fromhex(key))
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )


def wrk_missing() -> str | None:
    """Why the floor race cannot run here (None: it can)."""
    if shutil.which("wrk") is None:
        return "wrk is not installed (Debian/Ubuntu: apt-get install wrk)"
    for module in ("uvloop", "httptools"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install 'uvicorn[standard]')"
    return None


def parse_wrk(text: str) -> dict[str, float]:
    """Requests per second, p50 and p99 (us) and the non-2xx count from ``wrk --latency``'s output."""

    def us(label: str) -> float:
        found = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if found is None:
            raise RuntimeError(f"wrk printed no {label}% latency:\n{text}")
        return round(float(found.group(1)) * _UNITS_US[found.group(2)], 1)

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if rate is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{text}")
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    return {
        "requests_per_s": round(float(rate.group(1))),
        "p50_us": us("50"),
        "p99_us": us("99"),
        "non_2xx": int(failed.group(1)) if failed else 0,
        "socket_errors": 0 if errors is None else sum(int(n) for n in re.findall(r"\d+", errors.group(0))),
    }


def run_wrk(base: str, opts: argparse.Namespace, seconds: float, headers: dict[str, str]) -> dict[str, float]:
    command = ["wrk", f"-t{opts.wrk_threads}", f"-c{opts.concurrency}", f"-d{seconds:g}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, base + GET_PATH], capture_output=True, text=True, check=True)
    figures = parse_wrk(done.stdout)
    if figures["non_2xx"] or figures["socket_errors"]:
        raise RuntimeError(f"wrk saw failures against {base}:\n{done.stdout}")
    return figures


def start_server(
    command: list[str], env: dict[str, str], base: str, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` (in ``cwd``, default this checkout) and wait for ``base``/health to answer 200."""
    import httpx

    checkout = Path(__file__).resolve().parent.parent  # where the floor's subprocess imports benchmarks from
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, cwd=cwd or checkout)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/health").status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{command} did not start")
        time.sleep(0.1)


FLOOR = "floor: Starlette + one GET, uvloop + httptools"


def floor_race(url: str, opts: argparse.Namespace) -> dict[str, Any]:
    """``agentcache serve`` (keys on) against the floor app (and, with ``--baseline``, the
    ``agentcache serve`` of another source tree), wrk runs in rotating order; see the module doc."""

    async def prepare() -> tuple[bool, bytes]:
        async with AsyncAgentCache.from_url(url) as cache:
            await cache.session.set("bench", "pref", {"theme": "dark"})
            return "Cluster" in type(cache.client).__name__, cache.session.key("bench", "pref").encode()

    cluster, key = asyncio.run(prepare())
    env = {**os.environ, "AGENTCACHE_HTTP_USER_KEYS": BENCH_KEY}
    for variable in ("AGENTCACHE_HTTP_ADMIN_KEYS", "AGENTCACHE_HTTP_RATE_LIMIT", "AGENTCACHE_HTTP_QUOTA"):
        env.pop(variable, None)
    keyed = {"Authorization": f"Bearer {BENCH_KEY}"}
    servers: dict[str, tuple[str, dict[str, str]]] = {}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        port = free_port()
        floor = f"from benchmarks.http import serve_floor; serve_floor({url!r}, {port}, {cluster}, {key.hex()!r})"
        processes.append(start_server([sys.executable, "-c", floor], env, f"http://127.0.0.1:{port}"))
        servers[FLOOR] = (f"http://127.0.0.1:{port}", {})
        trees: list[tuple[str, Path | None]] = [("agentcache serve, key on", None)]
        if opts.baseline:
            trees.append((f"baseline: agentcache serve of {opts.baseline}, key on", Path(opts.baseline)))
        for name, tree in trees:
            port = free_port()
            serve = [sys.executable, "-m", "agentcache", "serve", "--url", url, "--port", str(port), *opts.serve_args]
            own = env if tree is None else {**env, "PYTHONPATH": str(tree.resolve())}
            processes.append(start_server(serve, own, f"http://127.0.0.1:{port}", cwd=tree))
            servers[name] = (f"http://127.0.0.1:{port}", keyed)
        for base, headers in servers.values():
            run_wrk(base, opts, 2, headers)  # warm up
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        names = list(servers)
        for round_number in range(opts.rounds):
            turn = round_number % len(names)
            for name in names[turn:] + names[:turn]:  # each candidate goes first in turn
                progress(f"wrk round {round_number + 1}/{opts.rounds}: {name}")
                runs[name].append(run_wrk(servers[name][0], opts, opts.wrk_seconds, servers[name][1]))
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
    ratios = {
        name: [
            round(a["requests_per_s"] / f["requests_per_s"], 3) for a, f in zip(runs[name], runs[FLOOR], strict=True)
        ]
        for name in servers
        if name != FLOOR
    }
    rows = {
        name: {
            field: median(sorted(run[field] for run in runs[name])) for field in ("requests_per_s", "p50_us", "p99_us")
        }
        for name in servers
    }
    return {
        "client": "ValkeyCluster" if cluster else "Valkey",
        "rows": rows,
        "runs": runs,
        "ratios": ratios,
        "median_ratio": {name: round(median(sorted(values)), 3) for name, values in ratios.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--only", choices=["all", "drive", "wrk"], default="all", help="which part to run")
    parser.add_argument("--topology", choices=["cluster", "standalone"], default="cluster", help="the bundled server")
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds per side in the floor race")
    parser.add_argument("--wrk-seconds", type=float, default=10.0, help="each wrk run's duration")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--baseline",
        default=None,
        help="another source tree whose agentcache serve races too (e.g. git archive HEAD | tar -x -C DIR)",
    )
    parser.add_argument(
        "--serve-args", nargs=argparse.REMAINDER, default=[], help="extra options for agentcache serve (last)"
    )
    parser.add_argument("--out", default="bench-results/http.json")
    opts = parser.parse_args(argv)
    rows: dict[str, dict[str, float]] = {}
    race: dict[str, Any] | None = None
    skipped = None
    with BundledValkey(opts.topology) as server:
        if opts.only in ("all", "drive"):
            rows = asyncio.run(run(server.url, opts))
        if opts.only in ("all", "wrk"):
            skipped = wrk_missing()
            if skipped is None:
                race = floor_race(server.url, opts)
    print(f"HTTP API ({describe_machine()}), {opts.topology} server, {opts.concurrency} callers")
    if rows:
        print(f"vs library vs raw command, {opts.seconds} s each")
        figures = [[name, r["requests_per_s"], r["p50_us"], r["p99_us"]] for name, r in sorted(rows.items())]
        print(table(["candidate", "requests/s", "p50 us", "p99 us"], figures, left=1))
    if skipped is not None:
        print(f"floor race skipped: {skipped}")
    if race is not None:
        print(
            f"floor race: wrk -t{opts.wrk_threads} -c{opts.concurrency} -d{opts.wrk_seconds:g}s, GET one session "
            f"value, {opts.rounds} rounds (medians); floor client {race['client']}"
        )
        figures = [[name, r["requests_per_s"], r["p50_us"], r["p99_us"]] for name, r in race["rows"].items()]
        print(table(["candidate", "requests/s", "p50 us", "p99 us"], figures, left=1))
        for name, ratios in race["ratios"].items():
            print(f"{name} / floor, per round: {ratios}; median {race['median_ratio'][name]}x")
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(
        json.dumps(
            {
                "machine": describe_machine(),
                "options": vars(opts),
                "rows": rows,
                "floor_race": race,
                "skipped": skipped,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
