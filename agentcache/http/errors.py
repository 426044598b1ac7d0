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
    429: "too many requests for this key, or its quota used up (Retry-After)",
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


class DistriErrorBody(BaseModel):
    """Every error's body on Distri's routes: the message in ``error``, as Distri's server sends it."""

    error: str
    code: str
    details: dict[str, Any]


def declared(body: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The error statuses as an OpenAPI ``responses`` mapping, with ``body`` as their schema."""
    return {status: {"model": body, "description": text} for status, text in ERRORS.items()}


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


DISTRI_ROUTES = "/api/v1/sessions/"
"""Where Distri's session store routes live: their errors carry the message as a string in
``error`` (Distri's server's shape, which its clients read), with ``code`` and ``details`` beside it."""


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    path: str = "",
) -> JSONResponse:
    """The envelope as a response (Distri's shape for a ``path`` under :data:`DISTRI_ROUTES`)."""
    if path.startswith(DISTRI_ROUTES):
        body: dict[str, Any] = {"error": message, "code": code, "details": details or {}}
    else:
        body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def problems_of(exc: RequestValidationError) -> tuple[list[dict[str, Any]], bool]:
    """What a request failed validation on (``loc`` and ``msg``, at most 10), and whether its body
    was not JSON at all."""
    errors = exc.errors()
    problems = [{"loc": [str(part) for part in e["loc"]], "msg": str(e["msg"])} for e in errors[:10]]
    return problems, any(e.get("type") == "json_invalid" for e in errors)


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


def answer_error(exc: ApiError | AgentCacheError, path: str) -> JSONResponse:
    """The envelope for a route's :class:`ApiError` or a tier's typed error, on ``path``."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, str(exc), exc.details, exc.headers, path=path)
    return error_response(*cache_error(exc), path=path)


def install_handlers(app: FastAPI) -> None:
    """Give every failure of ``app`` the envelope."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return answer_error(exc, request.url.path)

    @app.exception_handler(AgentCacheError)
    async def agentcache_error(request: Request, exc: AgentCacheError) -> JSONResponse:
        return answer_error(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems, _ = problems_of(exc)
        broken = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if broken:
            reason = str((broken[0].get("ctx") or {}).get("error", ""))
            if "finite" in reason:  # guard.strict_json: valid JSON, but not a value JSON can carry back
                return error_response(
                    422, "ValidationError", f"the body's {reason}", {"problems": problems}, path=request.url.path
                )
            return error_response(
                400, "InvalidJSON", "the body is not valid JSON", {"problems": problems}, path=request.url.path
            )
        return error_response(
            422, "ValidationError", "the request is not valid", {"problems": problems}, path=request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "NotFound", 405: "MethodNotAllowed"}
        message = {404: "no such route", 405: "this route does not take that method"}.get(
            exc.status_code, str(exc.detail)
        )
        code = codes.get(exc.status_code, "HTTPError")
        return error_response(exc.status_code, code, message, {}, exc.headers, path=request.url.path)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(
            500, "InternalError", "unexpected error; the server log has the details", path=request.url.path
        )
