"""The Sessions API over HTTP (seed 002): ``/api/messaging/sessions``, conversations with a lifecycle."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from agentcache.http.context import Api
from agentcache.tiers.conversations.messages import Message, TextPart
from agentcache.tiers.conversations.models import SessionInfo


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


def routes(api: Api) -> APIRouter:
    """The Sessions API routes over ``api.cache``."""
    router = APIRouter()
    cache, user, admin = api.cache, api.user, api.admin
    sessions = "/api/messaging/sessions"

    @router.post(sessions, status_code=201, dependencies=[user])
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

    @router.get(sessions, dependencies=[admin])
    async def list_sessions(
        agentId: str | None = None,  # noqa: N803
        userId: str | None = None,  # noqa: N803
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        page = await cache.conversations.list_active(agent_id=agentId, user_id=userId, limit=limit, cursor=cursor)
        return {"sessions": [_info(info) for info in page], "cursor": page.cursor}

    @router.get(sessions + "/{session_id}", dependencies=[user])
    async def session_info(session_id: str) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        return _info(await conv.info())

    @router.post(sessions + "/{session_id}/messages", status_code=201, dependencies=[user])
    async def send_message(session_id: str, body: SendMessage) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        message = Message(role=body.role, parts=[TextPart(text=body.content)], metadata=body.metadata or {})
        count = await conv.add_message(message)
        return {"messageCount": count, "session": _info(await conv.info())}

    @router.get(sessions + "/{session_id}/messages", dependencies=[user])
    async def history(session_id: str, limit: int = 50, before: int | None = None) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        page = await conv.messages(limit=limit, before=before)
        return {"messages": [m.to_json_data() for m in page], "before": page.cursor}

    @router.post(sessions + "/{session_id}/renew", dependencies=[user])
    async def renew(session_id: str) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        await conv.renew()
        return _info(await conv.info())

    @router.patch(sessions + "/{session_id}/timeout", dependencies=[user])
    async def update_timeout(session_id: str, body: TimeoutConfig) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        await conv.update_timeout(
            _minutes(body.timeoutMinutes),
            auto_renew=body.autoRenew,
            warning_threshold=_minutes(body.warningThresholdMinutes),
        )
        return _info(await conv.info())

    @router.post(sessions + "/{session_id}/heartbeat", dependencies=[user])
    async def heartbeat(session_id: str) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        await conv.heartbeat()
        return _info(await conv.info())

    @router.delete(sessions + "/{session_id}", dependencies=[user])
    async def end(session_id: str) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        return {"ended": await conv.end()}

    return router
