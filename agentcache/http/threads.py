"""Thread session state over HTTP (seed 000): ``/api/v1/threads/{thread_id}/session`` and its user parts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from agentcache.http.context import Api, json_value
from agentcache.http.errors import ApiError
from agentcache.tiers.conversations.messages import DataPart, ImagePart, TextPart
from agentcache.tiers.conversations.parts import USER_PART_PREFIX


class SetValue(BaseModel):
    key: str = Field(min_length=1, max_length=1024)
    value: Any = None
    expires_at: datetime | None = None
    ttl: float | None = Field(default=None, gt=0)


def user_part(value: Any) -> TextPart | ImagePart | DataPart:
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


def routes(api: Api) -> APIRouter:
    """The thread routes over ``api.cache``."""
    router = APIRouter()
    cache, user = api.cache, api.user
    base = "/api/v1/threads/{thread_id}"

    @router.post(base + "/session", dependencies=[user])
    async def set_value(thread_id: str, body: SetValue) -> dict[str, Any]:
        if body.key.startswith(USER_PART_PREFIX):
            name = body.key[len(USER_PART_PREFIX) :]
            part = user_part(body.value)
            await cache.session.set_user_part(thread_id, name, part, ttl=body.ttl, expires_at=body.expires_at)
        else:
            await cache.session.set(thread_id, body.key, body.value, ttl=body.ttl, expires_at=body.expires_at)
        return {"status": "ok", "key": body.key}

    @router.get(base + "/session", dependencies=[user])
    async def get_values(thread_id: str) -> dict[str, Any]:
        return {"values": json_value(await cache.session.get_all(thread_id))}

    @router.get(base + "/session/{key}", dependencies=[user])
    async def get_value(thread_id: str, key: str) -> dict[str, Any]:
        missing = object()
        value = await cache.session.get(thread_id, key, missing)
        if value is missing:
            raise ApiError(404, "NotFound", f"no key {key!r} in this thread")
        return {"key": key, "value": json_value(value)}

    @router.delete(base + "/session/{key}", dependencies=[user])
    async def delete_value(thread_id: str, key: str) -> dict[str, Any]:
        if key.startswith(USER_PART_PREFIX):
            return {"deleted": await cache.session.delete_user_part(thread_id, key[len(USER_PART_PREFIX) :])}
        return {"deleted": await cache.session.delete(thread_id, key)}

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
