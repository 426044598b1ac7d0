"""The fast path: the routes that need nothing but their path, answered without FastAPI's request
machinery (dependency solving, its router's included-router contexts, per-request wrappers).

A route qualifies when its endpoint is a coroutine function whose parameters are all ``str`` path
parameters, its only dependency is a key check (:meth:`.auth.Keys.check`), and it answers a
``Response`` or what its response model serializes (no response options). Those are GET, DELETE
and body-less POST routes: reading a session value, a thread's values, a conversation's info,
renew, heartbeat, deletes. :class:`FastPaths` (ASGI middleware, inside the guards and the body
limit) matches a request against the app's routes in FastAPI's order; when the first route that
matches path and method qualifies, it runs the same key check, the same endpoint and the same
serialization FastAPI would, and answers errors through the same mapping (a route's own
``mapped``, then :func:`.errors.answer_error`). Anything else (bodies, query parameters, HEAD, a
path no route matches, an app mounted under a root path) goes to FastAPI unchanged. Unexpected
exceptions propagate to FastAPI's outermost handler (the 500 envelope), as they would from a route.

The table is built from the routes FastAPI holds, so there is one declaration of each route: its
path, methods, status code, key scope and response model are read from its ``APIRoute``.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentcache.errors import AgentCacheError
from agentcache.http.auth import Keys
from agentcache.http.errors import ApiError, answer_error

Endpoint = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Dump:
    """A route's response model options, as FastAPI applies them when it serializes."""

    by_alias: bool = True
    exclude_unset: bool = False
    exclude_defaults: bool = False
    exclude_none: bool = False


@dataclass(frozen=True, slots=True)
class Lane:
    """One route as the fast path sees it; ``endpoint`` None: FastAPI answers it."""

    regex: re.Pattern[str]
    convertors: dict[str, Any]
    endpoint: Endpoint | None = None
    checks: tuple[Callable[[Request], Awaitable[None]], ...] = ()
    status: int = 200
    adapter: TypeAdapter[Any] | None = None
    options: Dump | None = None
    mapped: Callable[[Request, Exception], ApiError | None] | None = None


def lane_of(route: Route, keys: Keys) -> Lane:
    """``route`` as a :class:`Lane`: with its endpoint if it qualifies (see the module's docstring)."""
    regex, convertors = route.path_regex, route.param_convertors
    if not isinstance(route, APIRoute):
        return Lane(regex, convertors)
    endpoint = route.endpoint
    if not inspect.iscoroutinefunction(endpoint) or route.response_model_include or route.response_model_exclude:
        return Lane(regex, convertors)
    try:
        hints = typing.get_type_hints(endpoint)
    except Exception:  # an annotation that does not resolve: leave the route to FastAPI
        return Lane(regex, convertors)
    parameters = inspect.signature(endpoint).parameters.values()
    plain = all(
        p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty and hints.get(p.name) is str
        for p in parameters
    )
    checks = tuple(depends.dependency for depends in route.dependencies if depends.dependency in keys.made)
    if not plain or {p.name for p in parameters} != set(convertors) or len(checks) != len(route.dependencies):
        return Lane(regex, convertors)
    returned = hints.get("return")
    answers_itself = isinstance(returned, type) and issubclass(returned, Response)
    adapter = None
    if route.response_model is not None:
        if not isinstance(route.response_class, DefaultPlaceholder):
            return Lane(regex, convertors)
        adapter = TypeAdapter(route.response_model)
    elif not answers_itself:
        return Lane(regex, convertors)
    options = Dump(
        bool(route.response_model_by_alias),
        bool(route.response_model_exclude_unset),
        bool(route.response_model_exclude_defaults),
        bool(route.response_model_exclude_none),
    )
    mapped = getattr(route, "mapped", None)
    return Lane(regex, convertors, endpoint, checks, route.status_code or 200, adapter, options, mapped)


def lanes(app: FastAPI, included: Sequence[APIRouter], keys: Keys) -> dict[str, list[Lane]] | None:
    """The app's routes in FastAPI's order, by method (``included``: the routers ``app`` included,
    in order, which FastAPI holds as one entry each, or, in older versions, copies route by
    route). None when the app holds something else (a mount, an unknown entry), so nothing is taken
    from FastAPI that it might answer otherwise."""
    ordered: list[Route] = []
    pending = list(included)
    for entry in app.router.routes:
        if isinstance(entry, Route):
            ordered.append(entry)  # (older FastAPI versions copy an included router's routes in here)
        elif pending and type(entry).__name__ == "_IncludedRouter":
            router = pending.pop(0)
            if not all(isinstance(route, Route) for route in router.routes):
                return None
            ordered.extend(route for route in router.routes if isinstance(route, Route))
        else:
            return None
    if pending and len(pending) != len(included):  # some routers held as one entry, others not
        return None
    table: dict[str, list[Lane]] = {}
    for route in ordered:
        lane = lane_of(route, keys)
        for method in route.methods or ():
            table.setdefault(method, []).append(lane)
    return table


class FastPaths:
    """ASGI middleware: the qualifying routes answered here (see the module's docstring); ``table``
    is set once the app's routes are all declared (None: everything goes to the app)."""

    def __init__(self, app: Any, table: dict[str, list[Lane]] | None = None) -> None:
        self.app, self.table = app, table

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.table is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]  # no root path: the route's own path
        for lane in self.table.get(scope["method"], ()):
            found = lane.regex.match(path)
            if found is None:
                continue
            if lane.endpoint is None:
                break
            params = {name: lane.convertors[name].convert(value) for name, value in found.groupdict().items()}
            response = await self._answer(lane, {**scope, "path_params": params}, receive, params)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(lane: Lane, scope: Any, receive: Any, params: dict[str, Any]) -> Response:
        assert lane.endpoint is not None
        request = Request(scope, receive)
        try:
            for check in lane.checks:
                await check(request)
            content = await lane.endpoint(**params)
        except (ApiError, AgentCacheError) as exc:
            error: ApiError | AgentCacheError = exc
            if lane.mapped is not None:
                error = lane.mapped(request, exc) or exc
            return answer_error(error, scope["path"])
        if isinstance(content, Response):
            return content
        assert lane.adapter is not None and lane.options is not None
        o, value = lane.options, lane.adapter.validate_python(content, from_attributes=True)
        body = lane.adapter.dump_json(
            value,
            by_alias=o.by_alias,
            exclude_unset=o.exclude_unset,
            exclude_defaults=o.exclude_defaults,
            exclude_none=o.exclude_none,
        )
        return Response(body, status_code=lane.status, media_type="application/json")
