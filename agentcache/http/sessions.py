"""The Sessions API over HTTP (seed 002): ``/api/messaging/sessions``, conversations with a
lifecycle, answered as elizaOS's server answers them (:mod:`.eliza_shapes`), so that its client
``@elizaos/api-client`` works unchanged: health, create, info, send (``transport`` websocket, http
or sse), messages by time, list (admin), delete; and ours beside them: renew, heartbeat, PATCH
timeout.

With a model (:mod:`.chat`), transport ``http`` runs a turn over the conversation and answers with
``agentResponse``; ``sse`` streams it as elizaOS's events (``user_message``, ``chunk``, ``done``,
``error``). Without one, a message is stored and nothing replies. elizaOS's send answer is
``{success: true, ...}``, which its client unwraps as ``.data``: so our answer also carries the same
object under ``data`` (ours), and the client gets it instead of ``undefined``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from agentcache.errors import AgentCacheError, InvalidTimeoutConfig
from agentcache.http.context import Api, MappedRoute
from agentcache.http.eliza_history import page
from agentcache.http.eliza_shapes import (
    check_content,
    check_metadata,
    js_time,
    message_json,
    ms,
    now_ms,
    query_limit,
    query_time,
    request_error,
    session_error,
    session_json,
    session_status,
    stamp_of,
    stamped,
    stamper,
    transport_of,
    user_message_json,
    validation,
)
from agentcache.http.errors import ApiError, problems_of
from agentcache.tiers.content.messages import ImagePart, Message, TextPart
from agentcache.tiers.conversations.turns import Done, TextDelta

STARTED = time.monotonic()
LIST_LIMIT = 1000
HANDLES = 4096
"""How many conversation handles a worker keeps (see :class:`Handles`)."""


class TimeoutConfig(BaseModel):
    """Minutes, as numbers (or numeric strings, as elizaOS takes them)."""

    timeoutMinutes: float | None = Field(default=None, gt=0)  # noqa: N815 - the API's names
    autoRenew: bool | None = None  # noqa: N815
    maxDurationMinutes: float | None = Field(default=None, gt=0)  # noqa: N815
    warningThresholdMinutes: float | None = Field(default=None, gt=0)  # noqa: N815


class CreateSession(BaseModel):
    agentId: str  # noqa: N815
    userId: str  # noqa: N815
    metadata: dict[str, Any] | None = None
    timeoutConfig: TimeoutConfig | None = None  # noqa: N815


class Attachment(BaseModel):
    type: str | None = None
    url: str
    name: str | None = None
    size: float | None = None
    mimeType: str | None = None  # noqa: N815


class SendMessage(BaseModel):
    content: str
    metadata: dict[str, Any] | None = None
    attachments: list[Attachment] | None = None
    transport: Any = Field(default=None, description="http, sse or websocket (the default)")
    mode: Any = Field(default=None, description="the older name of transport: sync, stream or websocket")
    role: Literal["user", "assistant", "system"] = Field(default="user", description="ours: who speaks")


class ElizaRoute(MappedRoute):
    """A route whose errors take elizaOS's codes: the tier's typed errors and unreadable requests
    become :class:`ApiError` (still the one envelope of :mod:`.errors`). A body not sent as JSON is
    read as none, as elizaOS's server reads it (its "Missing required fields" answer)."""

    json_only = False

    def mapped(self, request: Request, exc: Exception) -> ApiError | None:
        if isinstance(exc, AgentCacheError):
            return session_error(exc, request.path_params.get("session_id"))
        if isinstance(exc, RequestValidationError):
            problems, json_invalid = problems_of(exc)
            return request_error(problems, request.url.path, json_invalid)
        return None


def _minutes(value: float | None) -> float | None:
    return None if value is None else value * 60


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def routes(api: Api, model: Any = None) -> APIRouter:
    """The Sessions API routes over ``api.cache``; ``model``: a ChatModel that replies, or None."""
    router = APIRouter(route_class=ElizaRoute)
    cache, user, admin = api.cache, api.user, api.admin
    handles = Handles()
    sessions = "/api/messaging/sessions"

    # registered before /{session_id}, which would take "health" for an id
    @router.get(sessions + "/health", dependencies=[user])
    async def health() -> dict[str, Any]:
        found = await cache.conversations.list_active(limit=LIST_LIMIT)
        return {
            "status": "healthy",
            "activeSessions": len(found),
            "timestamp": _now(),
            "expiringSoon": sum(1 for info in found if info.status == "near_expiration"),
            "uptime": round(time.monotonic() - STARTED, 3),
            "countedUpTo": LIST_LIMIT,
        }

    @router.post(sessions, status_code=201, dependencies=[user])
    async def create_session(body: CreateSession) -> dict[str, Any]:
        config = body.timeoutConfig or TimeoutConfig()
        conv = await cache.conversations.create(
            agent_id=body.agentId,
            user_id=body.userId,
            metadata=check_metadata(body.metadata),
            timeout=_minutes(config.timeoutMinutes),
            auto_renew=config.autoRenew,
            max_duration=_minutes(config.maxDurationMinutes),
            warning_threshold=_minutes(config.warningThresholdMinutes),
        )
        handles.put(conv)  # its first message then needs no read first
        return session_json(await conv.info())

    @router.get(sessions, dependencies=[admin])
    async def list_sessions(
        agentId: str | None = None,  # noqa: N803
        userId: str | None = None,  # noqa: N803
        limit: int = Query(LIST_LIMIT, ge=1, le=LIST_LIMIT, description="ours: a page of at most this many"),
        cursor: str | None = Query(None, description="ours: the cursor of the previous page"),
    ) -> dict[str, Any]:
        found = await cache.conversations.list_active(agent_id=agentId, user_id=userId, limit=limit, cursor=cursor)
        listed = [session_json(info) for info in found]
        stats = {"totalSessions": len(listed), "activeSessions": len(listed), "expiredSessions": 0}
        return {"sessions": listed, "total": len(listed), "stats": stats, "cursor": found.cursor}

    @router.get(sessions + "/{session_id}", dependencies=[user])
    async def session_info(session_id: str) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        return session_json(await conv.info())

    @router.post(sessions + "/{session_id}/messages", status_code=201, dependencies=[user], response_model=None)
    async def send_message(session_id: str, body: SendMessage) -> dict[str, Any] | StreamingResponse:
        transport = transport_of(body.transport if body.transport is not None else body.mode)
        replies = model is not None and body.role == "user"
        conv = None if replies else handles.get(session_id)  # a turn reads the session anyway
        if conv is None:
            conv = handles.put(await cache.conversations.get(session_id))
        try:
            content = check_content(body.content)
            metadata = check_metadata(body.metadata)
        except ApiError:
            await cache.conversations.get(session_id)  # a session that is gone says so first, as ever
            raise
        attachments = [a.model_dump(exclude_none=True) for a in body.attachments or []]
        images = [
            ImagePart(url=a.url, mime_type=a.mimeType, name=a.name) for a in body.attachments or [] if a.type == "image"
        ]
        at = now_ms()
        message = stamped(
            Message(role=body.role, parts=[TextPart(text=content), *images], metadata=metadata),
            str(uuid.uuid4()),
            at,
            attachments,
        )
        reply_id = str(uuid.uuid4())
        if replies:
            user_message = user_message_json(session_id, conv.user_id, message)
            if transport == "sse":
                events = _streamed(conv, message, model, stamper(at, reply_id), reply_id, user_message)
                return _event_stream(events)
            answer: dict[str, Any] = {"success": True, "userMessage": user_message}
            if transport == "http":
                result = await conv.run(message, model=model, stamp=stamper(at, reply_id))
                reply = result.messages[-1]
                answer["agentResponse"] = {"text": result.text, "messageId": reply_id, "createdAt": _at(reply)}
            else:
                await conv.add_message(message)
            answer["sessionStatus"] = session_status(await conv.info())
            return {**answer, "data": dict(answer)}
        try:
            posted = await conv.post_message(message)  # the append and the info after it: one round trip
        except AgentCacheError:
            handles.drop(session_id)
            raise
        user_message = user_message_json(session_id, posted.info.user_id, message)
        if transport == "sse":
            return _event_stream(_unanswered(user_message))
        answer = {"success": True, "userMessage": user_message, "sessionStatus": session_status(posted.info)}
        return {**answer, "data": dict(answer)}

    @router.get(sessions + "/{session_id}/messages", dependencies=[user])
    async def history(
        session_id: str,
        limit: str | None = Query(None, description="1 to 100 (default 50)"),
        before: str | None = Query(None, description="only messages older than this time (ms, or ISO 8601)"),
        after: str | None = Query(None, description="only messages newer than this time (ms, or ISO 8601)"),
    ) -> dict[str, Any]:
        size, older, newer = query_limit(limit), query_time("before", before), query_time("after", after)
        conv = await cache.conversations.get(session_id)

        async def read(count: int, position: int | None) -> tuple[int, list[Message]]:
            found = await conv.messages(limit=count, before=position)
            return found.cursor or 0, list(found)

        async def created() -> int:
            return ms((await conv.info()).created_at)

        found, _ = await page(read, created, size, older, newer)
        owners = (conv.agent_id, conv.user_id)
        messages = [message_json(session_id, owners, index, message, at) for index, message, at in found.entries]
        answer: dict[str, Any] = {"messages": messages, "hasMore": found.has_more}
        if found.entries:
            answer["cursors"] = {"before": found.entries[-1][2], "after": found.entries[0][2]}
        return answer

    @router.post(sessions + "/{session_id}/renew", dependencies=[user])
    async def renew(session_id: str) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        try:
            await conv.renew()
        except AgentCacheError as exc:
            error = session_error(exc, session_id)
            if error.code == "SESSION_RENEWAL_FAILED":  # with elizaOS's details: one more round trip
                info = await conv.info()
                shown = session_json(info)
                error.details = {
                    "maxDuration": shown["timeoutConfig"]["maxDurationMinutes"],
                    "createdAt": shown["createdAt"],
                    "timeSinceCreation": now_ms() - ms(info.created_at),
                }
            raise error from exc
        return session_json(await conv.info())

    @router.patch(sessions + "/{session_id}/timeout", dependencies=[user])
    async def update_timeout(session_id: str, body: TimeoutConfig) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        if body.maxDurationMinutes is not None:
            current = (await conv.info()).max_duration.total_seconds() / 60
            if body.maxDurationMinutes != current:
                reason = "maxDurationMinutes is set when the session is created and cannot change"
                raise validation(f"Invalid timeout configuration: {reason}", {"reason": reason})
        if body.timeoutMinutes is not None or body.autoRenew is not None or body.warningThresholdMinutes is not None:
            try:
                await conv.update_timeout(
                    _minutes(body.timeoutMinutes),
                    auto_renew=body.autoRenew,
                    warning_threshold=_minutes(body.warningThresholdMinutes),
                )
            except InvalidTimeoutConfig as exc:
                raise validation(f"Invalid timeout configuration: {exc}"[:500], {"reason": str(exc)[:500]}) from exc
        return session_json(await conv.info())

    @router.post(sessions + "/{session_id}/heartbeat", dependencies=[user])
    async def heartbeat(session_id: str) -> dict[str, Any]:
        conv = await cache.conversations.get(session_id)
        await conv.heartbeat()
        return session_json(await conv.info())

    @router.delete(sessions + "/{session_id}", dependencies=[user])
    async def delete(session_id: str) -> dict[str, Any]:
        handles.drop(session_id)
        if not await cache.conversations.delete(session_id):
            raise ApiError(404, "SESSION_NOT_FOUND", f"Session with ID '{session_id}' not found")
        done = {"success": True, "message": f"Session {session_id} deleted successfully"}
        return {**done, "data": dict(done)}

    return router


class Handles:
    """The conversation handles this worker opened, the most recent ``size``, by session id: a
    message to a session it knows is posted without reading the session first. A handle's settings
    are refreshed by every write's reply, and a post corrects what a stale handle got wrong (see
    ``post_message``); a handle whose post failed is dropped."""

    def __init__(self, size: int = HANDLES) -> None:
        self.size = size
        self.known: OrderedDict[str, Any] = OrderedDict()

    def get(self, session_id: str) -> Any:
        conv = self.known.get(session_id)
        if conv is not None:
            self.known.move_to_end(session_id)
        return conv

    def put(self, conv: Any) -> Any:
        self.known[conv.id] = conv
        self.known.move_to_end(conv.id)
        while len(self.known) > self.size:
            self.known.popitem(last=False)
        return conv

    def drop(self, session_id: str) -> None:
        self.known.pop(session_id, None)


def _event_stream(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        events,
        status_code=200,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _now() -> str:
    return js_time(now_ms())


def _at(message: Message) -> str:
    stamp = stamp_of(message)
    return js_time(int(stamp["at"])) if stamp else ""


async def _unanswered(user: dict[str, Any]) -> AsyncIterator[bytes]:
    """The SSE events of a message stored where no model replies: ``user_message``, then ``error``."""
    yield _sse("user_message", user)
    reason = "the message was stored; no model replies here (start agentcache serve with --model provider:model)"
    yield _sse("error", {"error": reason, "code": "NO_MODEL"})


async def _streamed(
    conv: Any, message: Message, model: Any, stamp: Callable[[Message], Message], reply_id: str, user: dict[str, Any]
) -> AsyncIterator[bytes]:
    """elizaOS's SSE events for one turn: ``user_message``, a ``chunk`` per piece of the reply,
    ``done`` with the reply once the turn is stored; ``error`` if it failed (nothing stored)."""
    yield _sse("user_message", user)
    index = 0
    try:
        async for event in conv.stream(message, model=model, stamp=stamp):
            if isinstance(event, TextDelta):
                yield _sse("chunk", {"messageId": reply_id, "chunk": event.text, "index": index})
                index += 1
            elif isinstance(event, Done):
                reply = event.result.messages[-1]
                yield _sse("done", {"text": event.result.text, "messageId": reply_id, "createdAt": _at(reply)})
    except AgentCacheError as exc:
        error = session_error(exc, conv.id)
        yield _sse("error", {"error": str(error), "code": error.code})
