"""The HTTP API (the ``http`` extra: FastAPI): thread session state, conversations ("sessions"),
tool statistics and a health check, a thin surface over :class:`~agentcache.AsyncAgentCache`.

``create_app(cache, user_keys=..., admin_keys=...)`` builds the app. With keys, every endpoint but
``/health`` needs ``Authorization: Bearer <key>``: a user key opens the thread and session
endpoints, an admin key opens those and the admin ones (listing sessions, invalidating a tool).
Without keys nothing is checked; ``agentcache serve`` then refuses to listen beyond loopback.
Errors are one JSON shape, ``{"error": code, "message": ..., "details": {...}}``, with the status
the tier's error carries (404, 410, 422, 400, 409, 413); a Valkey failure is 503.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from agentcache.errors import (
    AgentCacheError,
    BackendError,
    ConversationError,
    FieldNotFoundError,
    InvalidArgumentError,
    SessionExpired,
    ValueTooLargeError,
)
from agentcache.facade import AsyncAgentCache
from agentcache.http.dashboard import PAGE, dashboard_data
from agentcache.tiers.conversations.messages import DataPart, ImagePart, Message, TextPart, to_json_value
from agentcache.tiers.conversations.models import SessionInfo
from agentcache.tiers.conversations.parts import USER_PART_PREFIX

MAX_BODY_BYTES = 1024 * 1024
Scope = Literal["user", "admin"]
ERRORS = {
    400: "invalid timeout configuration",
    401: "no key, or a wrong one",
    403: "a user key on an admin endpoint",
    404: "not found",
    409: "exists",
    410: "expired or ended (details.expiresAt)",
    413: "body or value too large",
    422: "invalid input, or a renewal refused",
    500: "unexpected error (never with a traceback)",
    503: "Valkey unreachable",
}


class ErrorBody(BaseModel):
    """Every error's body."""

    error: str
    message: str
    details: dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, details or {}


def _error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, "details": details or {}}, status_code=status)


class _CountedBody:
    """ASGI middleware: a request body (chunked, without Content-Length) that grows past ``limit``
    ends the request with 413 as soon as it does."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received, refused = 0, False

        async def counted() -> Any:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.limit:
                    refused = True
                    body = _error(413, "PayloadTooLarge", f"the body is over {self.limit} bytes")
                    await send({"type": "http.response.start", "status": 413, "headers": body.raw_headers})
                    await send({"type": "http.response.body", "body": body.body})
                    return {"type": "http.disconnect"}  # the app stops reading; its own answer is dropped
            return message

        async def guarded(message: Any) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, guarded)


def _code(exc: AgentCacheError) -> tuple[int, str, dict[str, Any]]:
    if isinstance(exc, SessionExpired):
        return exc.status_code, type(exc).__name__, {"expiresAt": exc.expired_at.isoformat()}
    if isinstance(exc, ConversationError):
        return exc.status_code, type(exc).__name__, {}
    if isinstance(exc, ValueTooLargeError):
        return 413, "ValueTooLarge", {}
    if isinstance(exc, FieldNotFoundError):
        return 404, "NotFound", {}
    if isinstance(exc, BackendError):
        return 503, "BackendUnavailable", {}
    return 422, "ValidationError", {}


def _keys(given: Sequence[str] | None, variable: str) -> tuple[str, ...]:
    if given is not None:
        return tuple(given)
    return tuple(key.strip() for key in os.environ.get(variable, "").split(",") if key.strip())


def _json(value: Any) -> Any:
    return to_json_value(value, "value")


def _info(info: SessionInfo) -> dict[str, Any]:
    return {
        "sessionId": info.id,
        "agentId": info.agent_id,
        "userId": info.user_id,
        "status": info.status,
        "createdAt": info.created_at.isoformat(),
        "lastActivity": info.last_activity.isoformat(),
        "expiresAt": info.expires_at.isoformat(),
        "timeRemainingMs": int(info.time_remaining.total_seconds() * 1000),
        "renewalCount": info.renewal_count,
        "messageCount": info.message_count,
        "timeoutConfig": {
            "timeoutMinutes": info.timeout.total_seconds() / 60,
            "autoRenew": info.auto_renew,
            "maxDurationMinutes": info.max_duration.total_seconds() / 60,
            "warningThresholdMinutes": info.warning_threshold.total_seconds() / 60,
        },
    }


# --- request bodies -------------------------------------------------------------------------------


class SetValue(BaseModel):
    key: str = Field(min_length=1, max_length=1024)
    value: Any = None
    expires_at: datetime | None = None
    ttl: float | None = Field(default=None, gt=0)


class TimeoutConfig(BaseModel):
    timeoutMinutes: float | None = Field(default=None, gt=0)  # noqa: N815 - the API's names
    autoRenew: bool | None = None  # noqa: N815
    maxDurationMinutes: float | None = Field(default=None, gt=0)  # noqa: N815
    warningThresholdMinutes: float | None = Field(default=None, gt=0)  # noqa: N815


class CreateSession(BaseModel):
    agentId: str = Field(min_length=1, max_length=1024)  # noqa: N815
    userId: str = Field(min_length=1, max_length=1024)  # noqa: N815
    metadata: dict[str, Any] | None = None
    timeoutConfig: TimeoutConfig | None = None  # noqa: N815


class SendMessage(BaseModel):
    content: str
    role: Literal["user", "assistant", "system"] = "user"
    metadata: dict[str, Any] | None = None


def _minutes(value: float | None) -> float | None:
    return None if value is None else value * 60


def _user_part(value: Any) -> TextPart | ImagePart | DataPart:
    """A part in the seed's shapes: ``{"part_type": "text", "text"}``, ``{"part_type": "image_url",
    "image_url": {"url"}}``, ``{"part_type": "image", "bytes", "mime_type", "name"}``, ``{"part_type":
    "data", "data"}``; a plain string is text."""
    if isinstance(value, str):
        return TextPart(text=value)
    if not isinstance(value, dict):
        raise ApiError(422, "ValidationError", "a user part is a string or an object with part_type")
    kind = value.get("part_type")
    if kind == "text" and isinstance(value.get("text"), str):
        return TextPart(text=value["text"])
    if kind == "image_url" and isinstance(value.get("image_url"), dict):
        return ImagePart(url=str(value["image_url"].get("url")), mime_type=value.get("mime_type"))
    if kind == "image" and isinstance(value.get("bytes"), str):
        return ImagePart(data=value["bytes"], mime_type=value.get("mime_type"), name=value.get("name"))
    if kind == "data":
        return DataPart(data=value.get("data"))
    raise ApiError(422, "ValidationError", "part_type must be text, image_url, image or data, with its fields")


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
) -> FastAPI:
    """The HTTP API over ``cache``. Keys default to the comma-separated ``AGENTCACHE_HTTP_USER_KEYS``
    and ``AGENTCACHE_HTTP_ADMIN_KEYS`` environment variables; no key at all: no authentication.
    ``owns_cache``: close the cache when the app shuts down. ``metrics_registry``: a
    ``prometheus_client`` registry served at ``/metrics`` (admin scope)."""
    users, admins = _keys(user_keys, "AGENTCACHE_HTTP_USER_KEYS"), _keys(admin_keys, "AGENTCACHE_HTTP_ADMIN_KEYS")
    if not isinstance(max_body_bytes, int) or isinstance(max_body_bytes, bool) or max_body_bytes < 1:
        raise InvalidArgumentError(f"max_body_bytes must be a positive int, not {max_body_bytes!r}")
    if any(not isinstance(key, str) or not key for key in (*users, *admins)):
        raise InvalidArgumentError("keys must be non-empty strings")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_cache:
            await cache.close()

    app = FastAPI(
        title="agentcache",
        description=__doc__.split("\n")[0],
        lifespan=lifespan,
        responses={status: {"model": ErrorBody, "description": text} for status, text in ERRORS.items()},
    )
    app.state.authenticated = bool(users or admins)

    def scope(needed: Scope) -> Callable[[Request], Awaitable[None]]:
        async def check(request: Request) -> None:
            if not (users or admins):
                return
            header = request.headers.get("authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else ""
            allowed = admins if needed == "admin" else (*users, *admins)
            if not token or not any(hmac.compare_digest(token, key) for key in (*users, *admins)):
                raise ApiError(401, "Unauthorized", "send Authorization: Bearer <key>")
            if not any(hmac.compare_digest(token, key) for key in allowed):
                raise ApiError(403, "Forbidden", "this endpoint needs an admin key")

        return check

    user, admin = Depends(scope("user")), Depends(scope("admin"))

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            return _error(413, "PayloadTooLarge", f"the body is over {max_body_bytes} bytes")
        return await call_next(request)

    app.add_middleware(_CountedBody, limit=max_body_bytes)  # a body without a length is counted as it comes

    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"], allow_headers=["*"])

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, str(exc), exc.details)

    @app.exception_handler(AgentCacheError)
    async def cache_error(request: Request, exc: AgentCacheError) -> JSONResponse:
        status, code, details = _code(exc)
        return _error(status, code, str(exc)[:500], details)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()[:10]]
        return _error(422, "ValidationError", "the request is not valid", {"problems": problems})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, "InternalError", "unexpected error; the server log has the details")

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
            return _error(503, "BackendUnavailable", str(exc)[:300])
        return JSONResponse({"status": "ok", "valkeyMs": round((time.perf_counter() - started) * 1000, 3)})

    # --- thread session state (seed 000) -------------------------------------------------------

    base = "/api/v1/threads/{thread_id}"

    @app.post(base + "/session", dependencies=[user])
    async def set_value(thread_id: str, body: SetValue) -> dict[str, Any]:
        if body.key.startswith(USER_PART_PREFIX):
            name = body.key[len(USER_PART_PREFIX) :]
            part = _user_part(body.value)
            await cache.session.set_user_part(thread_id, name, part, ttl=body.ttl, expires_at=body.expires_at)
        else:
            await cache.session.set(thread_id, body.key, body.value, ttl=body.ttl, expires_at=body.expires_at)
        return {"status": "ok", "key": body.key}

    @app.get(base + "/session", dependencies=[user])
    async def get_values(thread_id: str) -> dict[str, Any]:
        return {"values": _json(await cache.session.get_all(thread_id))}

    @app.get(base + "/session/{key}", dependencies=[user])
    async def get_value(thread_id: str, key: str) -> dict[str, Any]:
        missing = object()
        value = await cache.session.get(thread_id, key, missing)
        if value is missing:
            raise ApiError(404, "NotFound", f"no key {key!r} in this thread")
        return {"key": key, "value": _json(value)}

    @app.delete(base + "/session/{key}", dependencies=[user])
    async def delete_value(thread_id: str, key: str) -> dict[str, Any]:
        if key.startswith(USER_PART_PREFIX):
            return {"deleted": await cache.session.delete_user_part(thread_id, key[len(USER_PART_PREFIX) :])}
        return {"deleted": await cache.session.delete(thread_id, key)}

    @app.delete(base + "/session", dependencies=[user])
    async def clear(thread_id: str) -> dict[str, Any]:
        return {"removed": await cache.session.destroy_thread(thread_id)}

    @app.get(base + "/user-parts", dependencies=[user])
    async def user_parts(thread_id: str) -> dict[str, Any]:
        parts = await cache.session.user_parts(thread_id)
        return {"parts": {name: _json(part.model_dump()) for name, part in parts.items()}}

    @app.delete(base + "/user-parts/{name}", dependencies=[user])
    async def delete_user_part(thread_id: str, name: str) -> dict[str, Any]:
        return {"deleted": await cache.session.delete_user_part(thread_id, name)}

    @app.delete(base + "/user-parts", dependencies=[user])
    async def clear_user_parts(thread_id: str) -> dict[str, Any]:
        return {"removed": await cache.session.clear_user_parts(thread_id)}

    # --- sessions (seed 002) ----------------------------------------------------------------------

    sessions = "/api/messaging/sessions"

    @app.post(sessions, status_code=201, dependencies=[user])
    async def create_session(body: CreateSession) -> dict[str, Any]:
        config = body.timeoutConfig or TimeoutConfig()
        conv = await cache.conversations.create(
            agent_id=body.agentId,
            user_id=body.userId,
            metadata=body.metadata,
            timeout=_minutes(config.timeoutMinutes),
            auto_renew=config.autoRenew,
            max_duration=_minutes(config.maxDurationMinutes),
            warning_threshold=_minutes(config.warningThresholdMinutes),
        )
        return _info(await conv.info())

    @app.get(sessions, dependencies=[admin])
    async def list_sessions(
        agentId: str | None = None,  # noqa: N803
        userId: str | None = None,  # noqa: N803
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        page = await cache.conversations.list_active(agent_id=agentId, user_id=userId, limit=limit, cursor=cursor)
        return {"sessions": [_info(info) for info in page], "cursor": page.cursor}

    @app.get(sessions + "/{session_id}", dependencies=[user])
    async def session_info(session_id: str) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        return _info(await conv.info())

    @app.post(sessions + "/{session_id}/messages", status_code=201, dependencies=[user])
    async def send_message(session_id: str, body: SendMessage) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        message = Message(role=body.role, parts=[TextPart(text=body.content)], metadata=body.metadata or {})
        count = await conv.add_message(message)
        return {"messageCount": count, "session": _info(await conv.info())}

    @app.get(sessions + "/{session_id}/messages", dependencies=[user])
    async def history(session_id: str, limit: int = 50, before: int | None = None) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        page = await conv.messages(limit=limit, before=before)
        return {"messages": [m.to_json_data() for m in page], "before": page.cursor}

    @app.post(sessions + "/{session_id}/renew", dependencies=[user])
    async def renew(session_id: str) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        await conv.renew()
        return _info(await conv.info())

    @app.patch(sessions + "/{session_id}/timeout", dependencies=[user])
    async def update_timeout(session_id: str, body: TimeoutConfig) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        await conv.update_timeout(
            _minutes(body.timeoutMinutes),
            auto_renew=body.autoRenew,
            warning_threshold=_minutes(body.warningThresholdMinutes),
        )
        return _info(await conv.info())

    @app.post(sessions + "/{session_id}/heartbeat", dependencies=[user])
    async def heartbeat(session_id: str) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        await conv.heartbeat()
        return _info(await conv.info())

    @app.delete(sessions + "/{session_id}", dependencies=[user])
    async def end(session_id: str) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        return {"ended": await conv.end()}

    # --- dashboard --------------------------------------------------------------------------------

    @app.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(PAGE)  # holds no data; the feed below needs the admin key

    @app.get("/dashboard/data", dependencies=[admin])
    async def dashboard_feed(thread: str | None = None) -> dict[str, Any]:
        return await dashboard_data(cache, thread)

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

    return app


def app_from_env() -> FastAPI:
    """An app over ``AGENTCACHE_URL`` (for ``uvicorn agentcache.http.app:app_from_env --factory
    --workers N``: each worker process makes its own)."""
    url = os.environ.get("AGENTCACHE_URL")
    if not url:
        raise InvalidArgumentError("set AGENTCACHE_URL to the Valkey server's URL")
    return create_app(AsyncAgentCache.from_url(url), owns_cache=True)


def serve(url: str | None, host: str, port: int, data_dir: str | None = None) -> None:
    """Run the API with uvicorn (``agentcache serve``); refuses a non-loopback ``host`` without keys."""
    import asyncio
    import ipaddress

    import uvicorn

    loopback = host == "localhost" or _is_loopback(host, ipaddress)
    if not loopback and not (_keys(None, "AGENTCACHE_HTTP_USER_KEYS") or _keys(None, "AGENTCACHE_HTTP_ADMIN_KEYS")):
        raise InvalidArgumentError(
            f"refusing to listen on {host} without keys: set AGENTCACHE_HTTP_USER_KEYS / AGENTCACHE_HTTP_ADMIN_KEYS "
            "or bind to 127.0.0.1"
        )

    observers, registry = _metrics()

    async def main() -> None:
        cache = (
            AsyncAgentCache.embedded(data_dir, observers=observers)
            if url is None
            else AsyncAgentCache.from_url(url, observers=observers)
        )
        app = create_app(cache, owns_cache=True, metrics_registry=registry)
        await uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info")).serve()

    asyncio.run(main())


def _metrics() -> tuple[list[Any], Any]:
    """With the prometheus extra installed: its observer and registry (``/metrics``), else none."""
    try:
        from agentcache.integrations.prometheus import PrometheusMetrics
    except ImportError:
        return [], None
    metrics = PrometheusMetrics()
    return [metrics], metrics.registry


def _is_loopback(host: str, ipaddress: Any) -> bool:
    try:
        return bool(ipaddress.ip_address(host).is_loopback)
    except ValueError:
        return False
