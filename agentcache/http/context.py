"""What every route module of the HTTP API is built with."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from agentcache.errors import AgentCacheError
from agentcache.facade import AsyncAgentCache
from agentcache.http.errors import ApiError
from agentcache.http.guard import strict_json
from agentcache.tiers.content.messages import to_json_value


@dataclass(frozen=True)
class Api:
    """The cache the routes serve, and the dependencies that check a user or an admin key."""

    cache: AsyncAgentCache
    user: Any  # fastapi.Depends(...) of the user scope
    admin: Any  # and of the admin scope


def json_value(value: Any) -> Any:
    """A stored value as JSON data (bytes tagged, see :func:`to_json_value`)."""
    return to_json_value(value, "value")


class _StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


def _json_typed(content_type: str | None) -> bool:
    """Whether a body of this content-type is read as JSON: application/json or +json (FastAPI's
    rule; a body without a content-type it refuses too, as its strict_content_type default does)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("application/") and (media == "application/json" or media.endswith("+json"))


def _has_body(request: Request) -> bool:
    """Whether the request says it sends a body (a non-zero Content-Length, or a chunked one): the
    body itself is not read for this, so a client that hangs up or a body over the size limit
    is answered by what reads it (413 from :mod:`.bodies`)."""
    length = request.headers.get("content-length")
    return (length is not None and length.strip() != "0") or "transfer-encoding" in request.headers


class StrictRoute(APIRoute):
    """A route whose JSON body may not hold NaN, Infinity or numbers beyond a float's range (422),
    and must come as JSON: a body of another content-type (curl's ``-d`` without a
    ``content-type: application/json`` header) is a 422 that says so, unless ``json_only`` is off."""

    json_only = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.json_only and self.body_field is not None

        async def strict(request: Request) -> Response:
            if takes_body:  # only then are the headers looked at here (a GET does no work for this)
                content_type = request.headers.get("content-type")
                if not _json_typed(content_type) and _has_body(request):
                    sent = f"it came as {content_type!r}" if content_type else "it came without one"
                    raise ApiError(
                        422, "ValidationError", f"send the body as JSON with content-type: application/json ({sent})"
                    )
            return await handler(_StrictRequest(request.scope, request.receive))

        return strict


class MappedRoute(StrictRoute):
    """A route family that answers errors its own way: :meth:`mapped` turns a tier's typed error, an
    invalid request or an :class:`ApiError` into the :class:`ApiError` to answer with (None: as is)."""

    def mapped(self, request: Request, exc: Exception) -> ApiError | None:
        raise NotImplementedError

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except (AgentCacheError, RequestValidationError, ApiError) as exc:
                replacement = self.mapped(request, exc)
                if replacement is None:
                    raise
                raise replacement from exc

        return answer


def router() -> APIRouter:
    """A router for a route module: its routes read JSON bodies strictly (:class:`StrictRoute`)."""
    return APIRouter(route_class=StrictRoute)
