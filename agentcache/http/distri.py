"""Distri's session store routes, so its clients (``@distri/core``'s ``DistriClient``, the Rust
crate ``distri``) work unchanged with ``baseUrl``/``DISTRI_BASE_URL`` set to ``<server>/api/v1``.

The routes, answers and status codes are those of Distri's own server
(``server/distri-server/src/routes/session.rs``): ``POST /sessions/{id}/values`` with ``{key, value,
expiry?}`` is 204; ``GET /sessions/{id}/values`` is ``{"values": {...}}``; ``GET
/sessions/{id}/values/{key}`` is ``{"value": v}`` (``null`` when missing or expired);
``DELETE`` of a key or of the whole session is 204 (also when nothing was there). Bad input is 400
there, so it is 400 here, in this API's one error shape. Values behave as on the seed document's
routes (:mod:`.values`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from agentcache.errors import AgentCacheError
from agentcache.http.context import Api, MappedRoute
from agentcache.http.errors import ApiError, DistriErrorBody, cache_error, declared, problems_of
from agentcache.http.values import Rfc3339, Seconds, deadline, read, read_all, remove, write


class SetValueRequest(BaseModel):
    """Distri's ``SetValueRequest`` (``value`` is required there too); ``expires_at`` and ``ttl``
    are this API's, as on the seed document's routes."""

    key: str = Field(min_length=1, max_length=1024)
    value: Any
    expiry: Rfc3339 | None = None
    expires_at: Rfc3339 | None = None
    ttl: Seconds | None = None


class ValueResponse(BaseModel):
    value: Any = None


class ValuesResponse(BaseModel):
    values: dict[str, Any]
    unreadable: dict[str, str] | None = None
    """Keys whose values cannot be shown as JSON (written by other means), and why; absent if none."""


class BadInputIs400(MappedRoute):
    """A route that answers bad input with 400, as Distri's server does, where the rest of this API
    says 422."""

    def mapped(self, request: Request, exc: Exception) -> ApiError | None:
        if isinstance(exc, RequestValidationError):
            problems, json_invalid = problems_of(exc)
            code = "InvalidJSON" if json_invalid else "ValidationError"
            return ApiError(400, code, "the request is not valid", {"problems": problems})
        if isinstance(exc, ApiError):
            return None if exc.status != 422 else ApiError(400, exc.code, str(exc), exc.details)
        assert isinstance(exc, AgentCacheError)
        status, code, message, details = cache_error(exc)
        return None if status != 422 else ApiError(400, code, message, details)


def routes(api: Api) -> APIRouter:
    """Distri's session store routes over ``api.cache``."""
    router = APIRouter(route_class=BadInputIs400, tags=["Distri sessions"], responses=declared(DistriErrorBody))
    cache, user = api.cache, api.user
    base = "/api/v1/sessions/{thread_id}"

    @router.post(base + "/values", dependencies=[user], status_code=204, response_class=Response)
    async def set_value(thread_id: str, body: SetValueRequest) -> Response:
        expires_at = deadline(body.expiry, body.expires_at)
        await write(cache, thread_id, body.key, body.value, ttl=body.ttl, expires_at=expires_at)
        return Response(status_code=204)

    @router.get(base + "/values", dependencies=[user], response_model_exclude_unset=True)
    async def get_values(thread_id: str) -> ValuesResponse:
        return ValuesResponse(**await read_all(cache, thread_id))

    @router.get(base + "/values/{key:path}", dependencies=[user])
    async def get_value(thread_id: str, key: str) -> ValueResponse:
        return ValueResponse(value=await read(cache, thread_id, key))

    @router.delete(base + "/values/{key:path}", dependencies=[user], status_code=204, response_class=Response)
    async def delete_value(thread_id: str, key: str) -> Response:
        await remove(cache, thread_id, key)
        return Response(status_code=204)

    @router.delete(base, dependencies=[user], status_code=204, response_class=Response)
    async def clear_session(thread_id: str) -> Response:
        await cache.session.destroy_thread(thread_id)
        return Response(status_code=204)

    return router
