"""The HTTP API (the ``http`` extra: FastAPI): thread session state, conversations ("sessions"),
tool statistics and a health check, a thin surface over :class:`~agentcache.AsyncAgentCache`.

``create_app(cache, user_keys=..., admin_keys=...)`` builds the app from the route modules
(:mod:`.threads`, :mod:`.sessions`). With keys, every endpoint but ``/health`` needs a key
(:mod:`.auth`): a user key opens the thread and session endpoints, an admin key those and the admin
ones (listing sessions, invalidating a tool). Without keys nothing is checked; ``agentcache serve``
then refuses to listen beyond loopback. Every error has one shape (:mod:`.errors`); bodies are
limited and may be gzip (:mod:`.bodies`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from fastapi import Depends, FastAPI, Query
from fastapi.responses import HTMLResponse, JSONResponse

from agentcache.core import interrupts
from agentcache.errors import BackendError, InvalidArgumentError
from agentcache.facade import AsyncAgentCache
from agentcache.http.auth import Keys, configured
from agentcache.http.bodies import BodyLimit
from agentcache.http.chat import configured_model
from agentcache.http.context import Api
from agentcache.http.dashboard import dashboard_data, recording
from agentcache.http.dashboard_page import PAGE
from agentcache.http.distri import routes as distri_routes
from agentcache.http.docs import install as install_docs
from agentcache.http.errors import ErrorBody, declared, error_response, install_handlers, log
from agentcache.http.fast import FastPaths, lanes
from agentcache.http.guard import MAX_HEAD_BYTES, Guard, GuardedH11Protocol, content_security_policy
from agentcache.http.rate import Admission, configured_quota, configured_rate
from agentcache.http.sessions import routes as session_routes
from agentcache.http.threads import routes as thread_routes
from agentcache.tiers.monitor.history import INTERVAL_S as HISTORY_INTERVAL_S
from agentcache.tiers.monitor.history import Timings

MAX_BODY_BYTES = 1024 * 1024
MAX_CONNECTIONS = 512
"""``agentcache serve`` answers 503 to requests beyond this many open connections or running requests."""
KEEP_ALIVE_S = 5
"""How long ``agentcache serve`` keeps an idle connection open."""
READ_RETRY_S = 1.0
"""How long a read through ``agentcache serve`` waits out a lost connection (a failover, a restart)."""


# --- the app --------------------------------------------------------------------------------------


def create_app(
    cache: AsyncAgentCache,
    *,
    user_keys: Sequence[str] | None = None,
    admin_keys: Sequence[str] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    cors_origins: Sequence[str] = (),
    owns_cache: bool = False,
    metrics_registry: Any = None,
    rate_limit: str | None = None,
    model: Any = None,
    quota: str | None = None,
    docs: bool = False,
    history_interval: float | None = HISTORY_INTERVAL_S,
) -> FastAPI:
    """The HTTP API over ``cache``. Keys default to the comma-separated ``AGENTCACHE_HTTP_USER_KEYS``
    and ``AGENTCACHE_HTTP_ADMIN_KEYS`` environment variables; no key at all: no authentication.
    ``owns_cache``: close the cache when the app shuts down. ``metrics_registry``: a
    ``prometheus_client`` registry served at ``/metrics`` (admin scope). ``rate_limit``: requests per
    key, e.g. ``"600/60"`` (default ``AGENTCACHE_HTTP_RATE_LIMIT``, else none; see :mod:`.rate`).
    ``model``: a ChatModel or ``"provider:model"`` that answers the Sessions API's messages (default
    ``AGENTCACHE_MODEL``, else none: messages are stored, nobody replies; see :mod:`.chat`).
    ``quota``: what each key may write per window, e.g. ``"threads=1000,keys=200,bytes=50mb,per=1d"``
    (default ``AGENTCACHE_HTTP_QUOTA``, else none; see :mod:`.rate`). ``docs``: serve ``/openapi.json``
    (admin scope) and Swagger UI at ``/docs`` from local assets (see :mod:`.docs`); off by default.
    ``history_interval``: seconds between the dashboard's history entries, recorded while the app
    runs (None: not recorded; see :mod:`.dashboard`)."""
    chat_model = configured_model(model)
    users = configured(user_keys, "AGENTCACHE_HTTP_USER_KEYS")
    admins = configured(admin_keys, "AGENTCACHE_HTTP_ADMIN_KEYS")
    if not isinstance(max_body_bytes, int) or isinstance(max_body_bytes, bool) or max_body_bytes < 1:
        raise InvalidArgumentError(f"max_body_bytes must be a positive int, not {max_body_bytes!r}")
    if any(not isinstance(key, str) or not key for key in (*users, *admins)):
        raise InvalidArgumentError("keys must be non-empty strings")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with recording(cache, history_interval):  # the dashboard's history
            yield
        if owns_cache:
            await cache.close()

    app = FastAPI(
        title="agentcache",
        description=__doc__.split("\n")[0],
        lifespan=lifespan,
        responses=declared(ErrorBody),
        openapi_url=None,  # the documents only with docs=True, and then behind the admin key
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # a redirect would copy the Host header into its Location
    )
    rate, quotas = configured_rate(rate_limit), configured_quota(quota)
    admission = None if rate is None and quotas is None else Admission(cache, rate, quotas)
    keys = Keys(users, admins, None if admission is None else admission.check)
    app.state.authenticated = keys.required
    user, admin = Depends(keys.check("user")), Depends(keys.check("admin"))
    install_handlers(app)

    if metrics_registry is not None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        from starlette.responses import Response

        @app.get("/metrics", dependencies=[admin], include_in_schema=False)
        async def metrics() -> Response:
            return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    # --- health ---------------------------------------------------------------------------------

    @app.get("/health")
    async def health() -> JSONResponse:
        started = time.perf_counter()
        try:
            await cache.ping()
        except BackendError as exc:
            log.warning("health: %s", exc)
            return error_response(503, "BackendUnavailable", "Valkey is unreachable or failing")
        return JSONResponse({"status": "ok", "valkeyMs": round((time.perf_counter() - started) * 1000, 3)})

    if docs:
        install_docs(app, admin)

    api = Api(cache, user, admin)
    included = [thread_routes(api), distri_routes(api), session_routes(api, chat_model)]
    for router in included:
        app.include_router(router)

    # --- dashboard --------------------------------------------------------------------------------

    @app.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(PAGE)  # holds no data; the feed below needs the admin key

    @app.get("/dashboard/data", dependencies=[admin])
    async def dashboard_feed(
        since: int = Query(0, ge=0),
        id: str | None = None,
        before: int | None = Query(None, ge=0),
        known: str | None = None,
    ) -> dict[str, Any]:
        return await dashboard_data(cache, since=since, key=id, before=before, known=known, interval=history_interval)

    # --- tools ------------------------------------------------------------------------------------

    @app.get("/api/v1/tools/stats", dependencies=[user])
    async def tool_stats() -> dict[str, Any]:
        stats = await cache.stats()
        tools = {
            name: {
                "hits": t.hits,
                "misses": t.misses,
                "hitRate": t.hit_rate,
                "costSaved": t.cost_saved,
                "recommendation": str(t.recommendation.value),
            }
            for name, t in stats.tools.items()
        }
        return {"hits": stats.tool.hits, "misses": stats.tool.misses, "writes": stats.tool.writes, "tools": tools}

    @app.delete("/api/v1/tools/{tool}", dependencies=[admin])
    async def invalidate_tool(tool: str) -> dict[str, Any]:
        return {"removed": await cache.tool.invalidate_tool(tool)}

    # --- middleware: the first added is the innermost ---------------------------------------------

    app.add_middleware(FastPaths, table=lanes(app, included, keys))  # every route is declared by now
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(Guard, csp=content_security_policy(PAGE))  # outermost: before anything else looks
    return app


def app_from_env() -> FastAPI:
    """An app over ``AGENTCACHE_URL`` (for ``uvicorn agentcache.http.app:app_from_env --factory
    --workers N``: each worker process makes its own); ``AGENTCACHE_HTTP_DOCS=1`` turns the docs on."""
    url = os.environ.get("AGENTCACHE_URL")
    if not url:
        raise InvalidArgumentError("set AGENTCACHE_URL to the Valkey server's URL")
    docs = os.environ.get("AGENTCACHE_HTTP_DOCS", "") in ("1", "true", "yes")
    return create_app(AsyncAgentCache.from_url(url, observers=[Timings()]), owns_cache=True, docs=docs)


def server_stack() -> tuple[str, Any, dict[str, Any]]:
    """What ``agentcache serve`` runs on: ``(name, protocol, options)``. uvloop and httptools when
    installed (the ``uvicorn[standard]`` extras), each falling back on its own to asyncio's loop and
    h11; the protocol is the guarded one (a head's size bound and arrival deadline) and ``options``
    the ``uvicorn.Config`` options that go with it."""
    loop = "asyncio" if loop_factory() is None else "uvloop"
    try:
        from agentcache.http.fast_protocol import GuardedHttpToolsProtocol
    except ImportError:
        return f"{loop}+h11", GuardedH11Protocol, {"loop": loop}
    return f"{loop}+httptools", GuardedHttpToolsProtocol, {"loop": loop}


def server_config(app: Any, host: str, port: int, *, access_log: bool = False, **overrides: Any) -> Any:
    """The ``uvicorn.Config`` that ``agentcache serve`` runs ``app`` with: uvloop and httptools
    (h11 and asyncio without the ``uvicorn[standard]`` extras), a bound on a request head's size and
    a deadline for its arrival, a concurrency limit, a keep-alive timeout; no access log unless
    ``access_log``. ``overrides``: any other ``uvicorn.Config`` option (``http=`` a protocol class)."""
    import uvicorn

    _, protocol, stack = server_stack()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": access_log,
        "http": protocol,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,  # h11's own bound; the httptools protocol keeps it too
        "limit_concurrency": MAX_CONNECTIONS,
        "timeout_keep_alive": KEEP_ALIVE_S,
        **stack,
    }
    return uvicorn.Config(app, **{**options, **overrides})


def serve(
    url: str | None,
    host: str,
    port: int,
    data_dir: str | None = None,
    *,
    rate_limit: str | None = None,
    model: str | None = None,
    quota: str | None = None,
    docs: bool = False,
    access_log: bool = False,
) -> None:
    """Run the API with uvicorn (``agentcache serve``) on uvloop and httptools when installed (see
    :func:`server_config`); refuses a non-loopback ``host`` without keys. ``access_log``: log a
    line per request (off by default: no per-request logging work)."""
    import ipaddress

    import uvicorn

    loopback = host == "localhost" or _is_loopback(host, ipaddress)
    keyed = configured(None, "AGENTCACHE_HTTP_USER_KEYS") or configured(None, "AGENTCACHE_HTTP_ADMIN_KEYS")
    if not loopback and not keyed:
        raise InvalidArgumentError(
            f"refusing to listen on {host} without keys: set AGENTCACHE_HTTP_USER_KEYS / AGENTCACHE_HTTP_ADMIN_KEYS "
            "or bind to 127.0.0.1"
        )

    if url is not None and data_dir is not None:
        raise InvalidArgumentError(
            "--data-dir is for the bundled server; with --url the data lives on that server: drop one of them"
        )
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidArgumentError(f"port must be a number from 0 to 65535, not {port!r}")
    configured_rate(rate_limit)  # a bad limit is refused before the server starts
    configured_quota(quota)
    configured_model(model)  # and a model that cannot be made
    observers, registry = _metrics()

    async def main() -> None:
        options: dict[str, Any] = {"observers": [*observers, Timings()], "retry_reads": READ_RETRY_S}
        cache = (
            AsyncAgentCache.embedded(data_dir, **options) if url is None else AsyncAgentCache.from_url(url, **options)
        )
        try:
            await cache.ping()  # an unreachable server is said now, not as a 503 on every request
        except BaseException:
            await cache.close()
            raise
        app = create_app(
            cache,
            owns_cache=True,
            metrics_registry=registry,
            rate_limit=rate_limit,
            model=model,
            quota=quota,
            docs=docs,
        )
        server = uvicorn.Server(server_config(app, host, port, access_log=access_log))
        announced = asyncio.create_task(_announce(server, cache, url, host, port, keyed=bool(keyed), model=model))
        try:
            await server.serve()
        finally:
            announced.cancel()

    interrupts.run(main(), loop_factory=loop_factory())


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (None: asyncio's), for ``agentcache serve``."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _announce(
    server: Any, cache: AsyncAgentCache, url: str | None, host: str, port: int, *, keyed: bool, model: str | None
) -> None:
    """One start-up line, once uvicorn serves (and handles Ctrl-C itself): what runs where."""
    while not server.started:
        await asyncio.sleep(0.02)
    where = f"Valkey at {url}" if url is not None else f"the bundled Valkey ({cache.server!r})"
    bound = [sock.getsockname()[1] for listening in getattr(server, "servers", []) for sock in listening.sockets]
    port = bound[0] if bound else port  # the port the system chose for --port 0
    access = "on" if server.config.access_log else "off"
    print(
        f"agentcache serve: {where}; listening on http://{host}:{port}; "
        f"keys {'required' if keyed else 'not required (loopback only)'}; model {model or 'none'}; "
        f"{server_stack()[0]}, access log {access}",
        flush=True,
    )


def _metrics() -> tuple[list[Any], Any]:
    """With the prometheus extra installed: its observer and registry (``/metrics``), else none."""
    try:
        from agentcache.observers.prometheus import PrometheusMetrics
    except ImportError:
        return [], None
    metrics = PrometheusMetrics()
    return [metrics], metrics.registry


def _is_loopback(host: str, ipaddress: Any) -> bool:
    try:
        return bool(ipaddress.ip_address(host).is_loopback)
    except ValueError:
        return False
