"""The HTTP API's one error shape, and the handlers that give every failure that shape.

Every error body is ``{"error": {"code": ..., "message": ..., "details": {...}}}`` with the status
the tier's error carries; unknown routes (404), wrong methods (405), bodies that do not parse (400 or
422) and unexpected failures (500, never with a traceback) included. The Sessions API's routes use
elizaOS's codes (``SESSION_NOT_FOUND``, ...) inside the same envelope, so its published client reads
them; the other routes use agentcache's error class names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentcache.errors import (
    AgentCacheError,
    BackendError,
    ConversationError,
    FieldNotFoundError,
    SessionExpired,
    ValueTooLargeError,
)

log = logging.getLogger("agentcache.http")

ERRORS = {
    400: "invalid input (a body that is not JSON, an invalid timeout configuration)",
    401: "no key, or a wrong one",
    403: "a user key on an admin endpoint",
    404: "not found (also an unknown route)",
    405: "the route exists, the method does not",
    409: "exists",
    410: "expired or ended (details.expiresAt)",
    413: "body or value too large",
    422: "invalid input, or a renewal refused",
    429: "too many requests for this key (Retry-After)",
    500: "unexpected error (never with a traceback)",
    503: "Valkey unreachable, or refusing writes (memory full)",
}


class ErrorDetail(BaseModel):
    """What went wrong: a stable ``code``, a ``message`` that says what to do, and ``details``."""

    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """Every error's body."""

    error: ErrorDetail


class ApiError(Exception):
    """An error a route raises on purpose; answered as ``status`` with the envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.details, self.headers = status, code, details or {}, headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The envelope as a response."""
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def cache_error(exc: AgentCacheError) -> tuple[int, str, str, dict[str, Any]]:
    """A tier's typed error as (status, code, message, details)."""
    if isinstance(exc, SessionExpired):
        return exc.status_code, type(exc).__name__, str(exc)[:500], {"expiresAt": exc.expired_at.isoformat()}
    if isinstance(exc, ConversationError):
        return exc.status_code, type(exc).__name__, str(exc)[:500], {}
    if isinstance(exc, ValueTooLargeError):
        return 413, "ValueTooLarge", str(exc)[:500], {}
    if isinstance(exc, FieldNotFoundError):
        return 404, "NotFound", str(exc)[:500], {}
    if isinstance(exc, BackendError):
        log.warning("Valkey: %s", exc)  # the detail (commands, addresses) stays in the log
        if "OOM" in str(exc) or "maxmemory" in str(exc):
            return 503, "BackendUnavailable", "Valkey is out of memory and refuses writes; reads still work", {}
        return 503, "BackendUnavailable", "Valkey is unreachable or failing; retry later", {}
    return 422, "ValidationError", str(exc)[:500], {}


def install_handlers(app: FastAPI) -> None:
    """Give every failure of ``app`` the envelope."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, str(exc), exc.details, exc.headers)

    @app.exception_handler(AgentCacheError)
    async def agentcache_error(request: Request, exc: AgentCacheError) -> JSONResponse:
        return error_response(*cache_error(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        problems = [{"loc": [str(part) for part in e["loc"]], "msg": str(e["msg"])} for e in errors[:10]]
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "InvalidJSON", "the body is not valid JSON", {"problems": problems})
        return error_response(422, "ValidationError", "the request is not valid", {"problems": problems})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "NotFound", 405: "MethodNotAllowed"}
        message = {404: "no such route", 405: "this route does not take that method"}.get(
            exc.status_code, str(exc.detail)
        )
        return error_response(exc.status_code, codes.get(exc.status_code, "HTTPError"), message, {}, exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "InternalError", "unexpected error; the server log has the details")
