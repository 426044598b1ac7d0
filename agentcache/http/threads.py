"""Thread session state over HTTP (seed 000): ``/api/v1/threads/{thread_id}/session`` and its user
parts. The values behave as on Distri's routes (:mod:`.values`): ``expires_at`` or ``expiry``, user
parts in every client's shape, a missing key reads as ``null``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from agentcache.http.context import Api, json_value
from agentcache.http.context import router as strict_router
from agentcache.http.values import Rfc3339, Seconds, deadline, read, read_all, remove, write


class SetValue(BaseModel):
    key: str = Field(min_length=1, max_length=1024)
    value: Any = None
    expires_at: Rfc3339 | None = None
    expiry: Rfc3339 | None = None  # Distri's clients' name for expires_at
    ttl: Seconds | None = None


def routes(api: Api) -> APIRouter:
    """The thread routes over ``api.cache``."""
    router = strict_router()
    cache, user = api.cache, api.user
    base = "/api/v1/threads/{thread_id}"

    @router.post(base + "/session", dependencies=[user])
    async def set_value(thread_id: str, body: SetValue) -> dict[str, Any]:
        expires_at = deadline(body.expiry, body.expires_at)
        await write(cache, thread_id, body.key, body.value, ttl=body.ttl, expires_at=expires_at)
        return {"status": "ok", "key": body.key}

    @router.get(base + "/session", dependencies=[user])
    async def get_values(thread_id: str) -> dict[str, Any]:
        return await read_all(cache, thread_id)

    @router.get(base + "/session/{key}", dependencies=[user])
    async def get_value(thread_id: str, key: str) -> dict[str, Any]:
        return {"key": key, "value": await read(cache, thread_id, key)}  # missing: null, as Distri

    @router.delete(base + "/session/{key}", dependencies=[user])
    async def delete_value(thread_id: str, key: str) -> dict[str, Any]:
        return {"deleted": await remove(cache, thread_id, key)}

    @router.delete(base + "/session", dependencies=[user])
    async def clear(thread_id: str) -> dict[str, Any]:
        return {"removed": await cache.session.destroy_thread(thread_id)}

    @router.get(base + "/user-parts", dependencies=[user])
    async def user_parts(thread_id: str) -> dict[str, Any]:
        parts = await cache.session.user_parts(thread_id)
        return {"parts": {name: json_value(part.model_dump()) for name, part in parts.items()}}

    @router.delete(base + "/user-parts/{name}", dependencies=[user])
    async def delete_user_part(thread_id: str, name: str) -> dict[str, Any]:
        return {"deleted": await cache.session.delete_user_part(thread_id, name)}

    @router.delete(base + "/user-parts", dependencies=[user])
    async def clear_user_parts(thread_id: str) -> dict[str, Any]:
        return {"removed": await cache.session.clear_user_parts(thread_id)}

    return router
