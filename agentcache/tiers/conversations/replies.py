"""Reading the conversation scripts' replies: statuses, timestamps, metadata and messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from agentcache.encoding import codec
from agentcache.errors import (
    InvalidArgumentError,
    SerializationError,
    SessionEnded,
    SessionExists,
    SessionExpired,
    SessionNotFound,
)
from agentcache.tiers.conversations.messages import Message
from agentcache.tiers.conversations.models import _MESSAGES, SessionInfo, Status

# --- replies ------------------------------------------------------------------------------------


def _dt(ms: int | bytes) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def _gone(reply: Sequence[Any], session_id: str) -> None:
    """Raise the error a non-ok script reply stands for."""
    code = reply[0]
    if code == b"missing":
        raise SessionNotFound(
            f"no conversation {session_id!r}: it never existed, was deleted, or expired more than the grace "
            "period ago; create a new one"
        )
    if code == b"expired":
        at = _dt(reply[1])
        raise SessionExpired(
            f"conversation {session_id!r} expired at {at.isoformat()}; create a new one (or renew before the timeout)",
            at,
        )
    if code == b"ended":
        at = _dt(reply[1])
        raise SessionEnded(f"conversation {session_id!r} was ended at {at.isoformat()}; create a new one", at)
    if code == b"exists":
        raise SessionExists(f"conversation {session_id!r} already exists and is active; pick another id or get() it")
    raise InvalidArgumentError(f"unexpected reply {code!r} for conversation {session_id!r}")  # pragma: no cover


def _fields(flat: Sequence[bytes]) -> dict[str, bytes]:
    return {key.decode(): value for key, value in zip(flat[::2], flat[1::2], strict=True)}


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode()


def _status(fields: dict[str, bytes], now: int) -> Status:
    if fields.get("status") == b"ended":
        return "ended"
    deadline = int(fields["deadline"])
    if now >= deadline:
        return "expired"
    return "near_expiration" if deadline - now <= int(fields["warn"]) else "active"


def _info(session_id: str, fields: dict[str, bytes], now: int, length: int) -> SessionInfo:
    status = _status(fields, now)
    deadline = int(fields["deadline"])
    ended = fields.get("ended")
    return SessionInfo(
        id=session_id,
        agent_id=_text(fields.get("agent")),
        user_id=_text(fields.get("user")),
        status=status,
        created_at=_dt(fields["created"]),
        last_activity=_dt(fields["last"]),
        expires_at=_dt(int(ended) if ended is not None else deadline),
        time_remaining=timedelta(milliseconds=max(0, deadline - now) if status not in ("expired", "ended") else 0),
        timeout=timedelta(milliseconds=int(fields["timeout"])),
        auto_renew=fields.get("auto") == b"1",
        max_duration=timedelta(milliseconds=int(fields["maxdur"])),
        warning_threshold=timedelta(milliseconds=int(fields["warn"])),
        renewal_count=int(fields.get("renewals", 0)),
        message_count=length,
        ended_at=_dt(ended) if ended is not None else None,
    )


def _decode_metadata(raw: bytes | None, session_id: str) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = codec.decode(raw)
    except SerializationError as exc:
        raise SerializationError(f"metadata of conversation {session_id!r}: {exc}") from exc
    return value if isinstance(value, dict) else {}


def _decode_messages(raws: Sequence[bytes], session_id: str) -> list[Message]:
    try:
        return _MESSAGES.validate_python([codec.decode(raw) for raw in raws])
    except (SerializationError, ValidationError) as exc:
        raise SerializationError(f"history of conversation {session_id!r} cannot be read: {exc}") from exc
