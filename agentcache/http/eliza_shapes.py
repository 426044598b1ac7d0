"""The Sessions API's wire shapes, as elizaOS's server sends them (``@elizaos/server`` 1.7.2,
``packages/server/src/api/messaging/sessions.ts`` and ``errors/SessionErrors.ts``), so that its
published client (``@elizaos/api-client``) reads our answers unchanged.

- Times are JavaScript's ``Date`` in JSON: ISO 8601 in UTC with milliseconds and ``Z``.
- A message sent through the API carries an id and a time (ms) in its metadata under the reserved
  key :data:`STAMP`; the key is never returned and is dropped from metadata a caller sends. A
  message stored otherwise (by the library) has none: its id is derived from the session and its
  position, its time is the session's creation.
- Errors keep agentcache's one envelope ``{"error": {"code", "message", "details"}}`` with the codes
  and statuses of elizaOS's ``SessionError`` classes (:func:`session_error`).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from agentcache.errors import (
    AgentCacheError,
    InvalidArgumentError,
    InvalidNameError,
    InvalidTimeoutConfig,
    ModelError,
    RenewalRefused,
    SerializationError,
    SessionEnded,
    SessionExpired,
    SessionNotFound,
)
from agentcache.http.errors import ApiError, cache_error
from agentcache.tiers.content.messages import Message, TextPart
from agentcache.tiers.conversations.models import SessionInfo

STAMP = "__agentcache_http__"
"""The reserved metadata key of a message sent through the API: ``{"id": str, "at": ms}`` (and
``"attachments"`` as sent)."""

MAX_CONTENT_LENGTH = 4000  # characters as JavaScript counts them (UTF-16 code units)
MAX_METADATA_SIZE = 10 * 1024  # of JSON.stringify(metadata)
MAX_LIMIT, DEFAULT_LIMIT = 100, 50
TRANSPORTS = ("http", "sse", "websocket")
LEGACY_MODES = {"sync": "http", "stream": "sse", "websocket": "websocket"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_IDS = uuid.UUID("6c1f4a52-3c1e-4d5e-9a43-5b0f8f1d2e77")  # namespace of derived message ids


# --- times --------------------------------------------------------------------------------------


def ms(value: datetime | timedelta) -> int:
    """A time (ms since the epoch) or a duration in whole milliseconds."""
    return (value - _EPOCH if isinstance(value, datetime) else value) // timedelta(milliseconds=1)


def js_time(at: int) -> str:
    """``ms`` as ``JSON.stringify(new Date(ms))`` writes it: ``2025-01-02T03:04:05.678Z``."""
    moment = _EPOCH + timedelta(milliseconds=at)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{at % 1000:03d}Z"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def js_length(text: str) -> int:
    """``text.length`` in JavaScript: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


_INTEGER = re.compile(r"\s*([+-]?\d+)")


def js_int(value: str) -> int | None:
    """``parseInt(value, 10)``: the leading integer, None where JavaScript gets NaN."""
    found = _INTEGER.match(value)
    return int(found.group(1)) if found else None


def query_limit(value: str | None) -> int:
    """elizaOS's ``limit``: 50 when absent or not a number, else clamped to 1..100."""
    parsed = js_int(value) if value else None
    return DEFAULT_LIMIT if parsed is None else max(1, min(MAX_LIMIT, parsed))


_NUMBER = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")


def query_time(name: str, value: str | None) -> int | None:
    """``before``/``after`` as ms: a number of ms (what the client sends), or an ISO 8601 time."""
    if not value:
        return None
    if _NUMBER.fullmatch(value):
        return int(float(value))
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None:
        raise validation(
            f"Invalid pagination parameter '{name}': Must be a valid timestamp",
            {
                "parameter": name,
                "value": value,
                "reason": "Must be a valid timestamp (ms since the epoch, or ISO 8601)",
            },
        )
    return ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


# --- input limits -------------------------------------------------------------------------------


def validation(message: str, details: Mapping[str, Any] | None = None) -> ApiError:
    """elizaOS's ``ValidationError`` family: 400 ``VALIDATION_ERROR``."""
    return ApiError(400, "VALIDATION_ERROR", message, dict(details or {}))


def check_content(content: str) -> str:
    if not content:
        raise validation("Invalid content: Content cannot be empty", {"reason": "Content cannot be empty"})
    if js_length(content) > MAX_CONTENT_LENGTH:
        reason = f"Content exceeds maximum length of {MAX_CONTENT_LENGTH} characters"
        raise validation(f"Invalid content: {reason}", {"reason": reason})
    return content


def check_metadata(metadata: Any) -> dict[str, Any]:
    """Metadata as sent (an object, at most 10 KB of JSON), without the reserved key."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise validation("Invalid metadata: Metadata must be an object", {"reason": "Metadata must be an object"})
    if js_length(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)) > MAX_METADATA_SIZE:
        reason = f"Metadata exceeds maximum size of {MAX_METADATA_SIZE} bytes"
        raise validation(f"Invalid metadata: {reason}", {"reason": reason})
    return {key: value for key, value in metadata.items() if key != STAMP}


def transport_of(value: Any) -> str:
    """The body's ``transport`` (or the older ``mode``), as elizaOS reads it; websocket by default."""
    if value is None:
        return "websocket"
    if isinstance(value, str) and value in TRANSPORTS:
        return value
    if isinstance(value, str) and value in LEGACY_MODES:
        return LEGACY_MODES[value]
    shown = f'"{value}"' if isinstance(value, str) else f'type "{type(value).__name__}"'
    reason = f"Invalid transport {shown}. Must be one of: {', '.join([*TRANSPORTS, 'sync', 'stream'])}"
    raise validation(f"Invalid content: {reason}", {"reason": reason})


# --- sessions -----------------------------------------------------------------------------------


def session_json(info: SessionInfo) -> dict[str, Any]:
    """elizaOS's ``SessionInfoResponse`` (its create response is a subset), plus ``status`` and
    ``messageCount`` of ours. No ``channelId``: there is no channel behind a session here."""
    remaining = ms(info.time_remaining)
    return {
        "sessionId": info.id,
        "agentId": info.agent_id,
        "userId": info.user_id,
        "createdAt": js_time(ms(info.created_at)),
        "lastActivity": js_time(ms(info.last_activity)),
        "metadata": info.metadata,
        "expiresAt": js_time(ms(info.expires_at)),
        "timeoutConfig": {
            "timeoutMinutes": info.timeout / timedelta(minutes=1),
            "autoRenew": info.auto_renew,
            "maxDurationMinutes": info.max_duration / timedelta(minutes=1),
            "warningThresholdMinutes": info.warning_threshold / timedelta(minutes=1),
        },
        "renewalCount": info.renewal_count,
        "timeRemaining": remaining,
        "isNearExpiration": 0 < remaining <= ms(info.warning_threshold),
        "status": info.status,
        "messageCount": info.message_count,
    }


def session_status(info: SessionInfo) -> dict[str, Any]:
    """The ``sessionStatus`` of a send-message answer. ``wasRenewed`` as elizaOS decides it: auto
    renew is on and the session is younger than its maximum duration."""
    return {
        "expiresAt": js_time(ms(info.expires_at)),
        "renewalCount": info.renewal_count,
        "wasRenewed": info.auto_renew and info.last_activity - info.created_at < info.max_duration,
        "isNearExpiration": info.status == "near_expiration",
    }


# --- messages -----------------------------------------------------------------------------------


def stamped(message: Message, message_id: str, at: int, attachments: list[Any] | None = None) -> Message:
    """``message`` with its id and time under :data:`STAMP`."""
    stamp: dict[str, Any] = {"id": message_id, "at": at}
    if attachments:
        stamp["attachments"] = attachments
    return message.model_copy(update={"metadata": {**message.metadata, STAMP: stamp}})


def stamp_of(message: Message) -> dict[str, Any] | None:
    stamp = message.metadata.get(STAMP)
    if isinstance(stamp, dict) and isinstance(stamp.get("id"), str) and isinstance(stamp.get("at"), int):
        return stamp
    return None


def stamper(user_at: int, reply_id: str) -> Callable[[Message], Message]:
    """The ``stamp`` of a model turn: the messages the turn adds get ids (the first reply
    ``reply_id``) and the time they are stored, after the user message's."""
    ids = [reply_id]

    def stamp(message: Message) -> Message:
        if stamp_of(message) is not None:
            return message
        message_id = ids.pop() if ids and message.role == "assistant" else str(uuid.uuid4())
        return stamped(message, message_id, max(now_ms(), user_at + 1))

    return stamp


def message_id(session_id: str, index: int, message: Message) -> str:
    stamp = stamp_of(message)
    return stamp["id"] if stamp else str(uuid.uuid5(_IDS, f"{session_id}\x00{index}"))


def content_of(message: Message) -> str:
    """The text; a message without text (a tool call or result) as the JSON of its parts."""
    if any(isinstance(part, TextPart) for part in message.parts) or not message.parts:
        return message.text
    return json.dumps(message.to_json_data()["parts"], separators=(",", ":"), ensure_ascii=False)


def message_json(session_id: str, owners: tuple[str, str], index: int, message: Message, at: int) -> dict[str, Any]:
    """elizaOS's ``SimplifiedMessage``, plus ``role`` (and ``attachments`` when sent) of ours.
    ``owners``: the session's (agent id, user id); ``index``: the message's position; ``at``: its time."""
    agent_id, user_id = owners
    stamp = stamp_of(message) or {}
    metadata = {key: value for key, value in message.to_json_data()["metadata"].items() if key != STAMP}
    out = {
        "id": message_id(session_id, index, message),
        "content": content_of(message),
        "authorId": user_id if message.role == "user" else agent_id,
        "isAgent": message.role != "user",
        "createdAt": js_time(at),
        "metadata": {"sessionId": session_id, **metadata},
        "role": message.role,
    }
    if stamp.get("attachments"):
        out["attachments"] = stamp["attachments"]
    return out


def user_message_json(session_id: str, user_id: str, message: Message) -> dict[str, Any]:
    """The ``userMessage`` of a send-message answer: the client's ``UserMessageData``
    (``id, content, authorId, createdAt, metadata``) and the fields elizaOS's server sends beside
    them (``author_id``, ``created_at`` in ms, ``source_type``, ``raw_message``)."""
    stamp = stamp_of(message) or {"id": "", "at": 0}
    metadata = {key: value for key, value in message.to_json_data()["metadata"].items() if key != STAMP}
    return {
        "id": stamp["id"],
        "content": message.text,
        "authorId": user_id,
        "createdAt": js_time(stamp["at"]),
        "metadata": {"sessionId": session_id, **metadata},
        "author_id": user_id,
        "created_at": stamp["at"],
        "source_type": "user",
        "raw_message": {"content": message.text, "attachments": stamp.get("attachments")},
    }


# --- errors -------------------------------------------------------------------------------------


def session_error(exc: AgentCacheError, session_id: str | None) -> ApiError:
    """A tier error as elizaOS's ``SessionError`` of the same meaning (``SessionErrors.ts``):
    404 ``SESSION_NOT_FOUND`` (also a session ended with ``end()``: elizaOS's sessions end by being
    deleted), 410 ``SESSION_EXPIRED``, 400 ``SESSION_RENEWAL_FAILED``, 400 ``VALIDATION_ERROR``,
    500 ``MESSAGE_SEND_FAILED`` (the model turn failed). Anything else keeps agentcache's code."""
    sid = session_id or ""
    if isinstance(exc, SessionEnded):
        ended = {"reason": "ended", "endedAt": js_time(ms(exc.expired_at))}
        return ApiError(404, "SESSION_NOT_FOUND", f"Session with ID '{sid}' not found", ended)
    if isinstance(exc, SessionExpired):
        at = js_time(ms(exc.expired_at))
        return ApiError(410, "SESSION_EXPIRED", f"Session '{sid}' expired at {at}", {"expiresAt": at})
    if isinstance(exc, SessionNotFound):
        return ApiError(404, "SESSION_NOT_FOUND", f"Session with ID '{sid}' not found")
    if isinstance(exc, RenewalRefused):
        reason = "Maximum duration reached"
        return ApiError(400, "SESSION_RENEWAL_FAILED", f"Cannot renew session '{sid}': {reason}", {"reason": str(exc)})
    if isinstance(exc, InvalidTimeoutConfig):
        return validation(f"Invalid timeout configuration: {exc}"[:500], {"reason": str(exc)[:500]})
    if isinstance(exc, ModelError):
        message = f"Failed to send message in session '{sid}': {exc}"[:500]
        return ApiError(500, "MESSAGE_SEND_FAILED", message, {"reason": str(exc)[:500]})
    if isinstance(exc, InvalidArgumentError | InvalidNameError | SerializationError):
        return validation(str(exc)[:500], {"reason": str(exc)[:500]})
    status, code, message, details = cache_error(exc)
    return ApiError(status, code, message, details)


def request_error(problems: list[dict[str, Any]], path: str, json_invalid: bool) -> ApiError:
    """A body or query FastAPI could not read, as elizaOS words it for that field."""
    if json_invalid:
        return validation("the body is not valid JSON", {"problems": problems})
    fields = {str(p["loc"][1]) for p in problems if len(p["loc"]) > 1 and p["loc"][0] == "body"}
    whole = any(list(p["loc"]) == ["body"] for p in problems)
    if fields & {"agentId", "userId"} or (whole and path.rstrip("/").endswith("/sessions")):
        return validation("Missing required fields: agentId, userId", {"missingFields": ["agentId", "userId"]})
    if "content" in fields or (whole and path.endswith("/messages")):
        reason = "Content must be a string" if "content" in fields else "Invalid message request format"
        return validation(f"Invalid content: {reason}", {"reason": reason, "problems": problems})
    if "metadata" in fields:
        return validation("Invalid metadata: Metadata must be an object", {"reason": "Metadata must be an object"})
    if "attachments" in fields:
        reason = "attachments must be a list of objects, each with a string url"
        return validation(f"Invalid content: {reason}", {"reason": reason, "problems": problems})
    if fields or whole:
        reason = "Invalid timeout configuration format"
        return validation(f"Invalid timeout configuration: {reason}", {"reason": reason, "problems": problems})
    return validation("the request is not valid", {"problems": problems})
