"""The conversation scripts' replies, each parsed in one place into a small named type (the
scripts' headers in ``*.lua`` give the raw shapes), and the decoding of what they carry:
statuses, timestamps, metadata and messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from agentcache.encoding import codec
from agentcache.encoding.encryption import Sealer
from agentcache.errors import (
    HistoryLost,
    InvalidArgumentError,
    SerializationError,
    SessionEnded,
    SessionExists,
    SessionExpired,
    SessionNotFound,
)
from agentcache.tiers.content.messages import Message
from agentcache.tiers.content.parts import message_data
from agentcache.tiers.conversations.models import SessionInfo, Status

_MESSAGES: TypeAdapter[list[Message]] = TypeAdapter(list[Message])

# --- the scripts' replies -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriteReply:
    """``conv_write`` (append, heartbeat, renew, timeout, pop, clear, end, replace).

    ``status`` ok: ``deadline`` is the expiry after the write, ``result`` the mode's own (the new
    length, the popped message, how many were cleared), and ``timeout_ms``/``auto_renew``/``cap_ms``
    the settings the script used. refused (renew past max_duration): ``deadline`` is unchanged and
    ``cap_ms`` the cap. conflict (replace): the history changed since it was read; nothing written.
    missing, expired, ended: see :meth:`raise_gone`."""

    status: bytes
    raw: Sequence[Any]
    now: int = 0
    deadline: int = 0
    result: Any = None
    timeout_ms: int = 0
    auto_renew: bool = False
    cap_ms: int = 0

    @classmethod
    def parse(cls, reply: Sequence[Any]) -> WriteReply:
        if reply[0] == b"ok" and len(reply) == 3:  # end: ok, now, now
            return cls(b"ok", reply, int(reply[1]), int(reply[2]))
        if reply[0] == b"ok":
            return cls(
                b"ok", reply, int(reply[1]), int(reply[2]), reply[3], int(reply[4]), reply[5] == b"1", int(reply[6])
            )
        if reply[0] == b"refused":
            return cls(b"refused", reply, deadline=int(reply[1]), cap_ms=int(reply[2]))
        return cls(reply[0], reply)

    @property
    def ok(self) -> bool:
        return self.status == b"ok"

    def raise_gone(self, session_id: str) -> None:
        raise_gone(self.raw, session_id)


@dataclass(frozen=True, slots=True)
class CreateReply:
    """``conv_create``: ok (``now``, ``deadline``, ``length``, ``replaced``: an expired or ended
    conversation of that id was replaced) or exists (the live one's ``deadline``, ``agent_id``,
    ``user_id``: nothing changed)."""

    status: bytes
    raw: Sequence[Any]
    now: int = 0
    deadline: int = 0
    length: int = 0
    replaced: bool = False
    agent_id: str = ""
    user_id: str = ""

    @classmethod
    def parse(cls, reply: Sequence[Any]) -> CreateReply:
        if reply[0] == b"ok":
            return cls(b"ok", reply, int(reply[1]), int(reply[2]), int(reply[3]), reply[4] == 1)
        if reply[0] == b"exists":
            return cls(b"exists", reply, deadline=int(reply[1]), agent_id=text_of(reply[2]), user_id=text_of(reply[3]))
        return cls(reply[0], reply)  # pragma: no cover - the create script replies ok or exists


@dataclass(frozen=True, slots=True)
class ReadReply:
    """``conv_read``, by mode: info (``fields``, ``length``), len (``length``), range (``start``:
    the index of the first message returned, ``messages``), dump (``fields``, ``messages``). A
    conversation that is not there, or whose history holds fewer messages than it counts
    (``HistoryLost``), raises its error (:func:`raise_gone`) in :meth:`parse`."""

    now: int
    fields: dict[str, bytes]
    length: int = 0
    start: int = 0
    messages: Sequence[bytes] = ()

    @classmethod
    def parse(cls, reply: Sequence[Any], mode: str, session_id: str) -> ReadReply:
        if reply[0] != b"ok":
            raise_gone(reply, session_id)
        now = int(reply[1])
        if mode == "info":
            return cls(now, _fields(reply[2]), length=int(reply[3]))
        if mode == "len":
            return cls(now, {}, length=int(reply[2]))
        if mode == "range":
            return cls(now, {}, start=int(reply[2]), messages=reply[3])
        return cls(now, _fields(reply[2]), messages=reply[3])  # dump


@dataclass(frozen=True, slots=True)
class ContextRead:
    """``conv_read context``: the messages after the summary (``start``: the list index of the first
    one returned), the stored system prompt and summary (None when there is none), where the summary
    ends (``sumto``), and what a compaction checks before it writes (``epoch``, ``created``). A
    conversation that is not there, or whose history was lost, raises its error."""

    now: int
    start: int
    messages: Sequence[bytes]
    system: str | None
    summary: str | None
    sumto: int
    epoch: int
    created: bytes

    @classmethod
    def parse(
        cls, reply: Sequence[Any], session_id: str, sealer: Sealer | None = None, meta_key: str = ""
    ) -> ContextRead:
        """The reply read (``sealer``, ``meta_key``: the cache's sealer and the meta hash's key, with
        ``encryption=``: the system prompt and the summary are sealed)."""
        if reply[0] != b"ok":
            raise_gone(reply, session_id)
        return cls(
            int(reply[1]),
            int(reply[2]),
            reply[3],
            meta_text(reply[4], "system", sealer, meta_key),
            meta_text(reply[5], "summary", sealer, meta_key),
            int(reply[6]),
            int(reply[7]),
            reply[8] or b"",
        )


@dataclass(frozen=True, slots=True)
class CompactReply:
    """``conv_compact``: ok (the new ``epoch`` and ``sumto``, how many messages were ``dropped``, the
    history's ``length`` after) or conflict (the history changed since it was read: nothing written).
    missing, expired, ended, lost: see :meth:`raise_gone`."""

    status: bytes
    raw: Sequence[Any]
    epoch: int = 0
    sumto: int = 0
    dropped: int = 0
    length: int = 0

    @classmethod
    def parse(cls, reply: Sequence[Any]) -> CompactReply:
        if reply[0] == b"ok":
            return cls(b"ok", reply, int(reply[2]), int(reply[3]), int(reply[4]), int(reply[5]))
        if reply[0] == b"conflict":
            return cls(b"conflict", reply, int(reply[1]), int(reply[2]), length=int(reply[3]))
        return cls(reply[0], reply)

    def raise_gone(self, session_id: str) -> None:
        raise_gone(self.raw, session_id)


@dataclass(frozen=True, slots=True)
class IndexAdd:
    """``conv_index add``: the score it set, and per index key whether the entry was added or changed."""

    score: Any
    changed: list[bool]

    @classmethod
    def parse(cls, reply: Sequence[Any] | None) -> IndexAdd | None:
        """None for a failed index update (an optional command's error becomes None)."""
        return None if reply is None else cls(reply[0], [bool(flag) for flag in reply[1:]])


@dataclass(frozen=True, slots=True)
class IndexEntries:
    """``conv_index list`` and ``expiring``: (session id, score) pairs in deadline order, and the
    server's time they were read at."""

    ids: list[str]
    scores: list[bytes]
    now: int

    @classmethod
    def parse(cls, reply: Sequence[Any]) -> IndexEntries:
        flat = reply[1:]
        return cls([raw.decode() for raw in flat[::2]], list(flat[1::2]), int(reply[0]))


# --- what they carry ----------------------------------------------------------------------------


def datetime_of(ms: int | bytes) -> datetime:
    """A server timestamp (milliseconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def raise_gone(reply: Sequence[Any], session_id: str) -> None:
    """Raise the error a non-ok script reply stands for."""
    code = reply[0]
    if code == b"missing":
        raise SessionNotFound(
            f"no conversation {session_id!r}: it never existed, was deleted, or expired more than the grace "
            "period ago; create a new one"
        )
    if code == b"expired":
        at = datetime_of(reply[1])
        raise SessionExpired(
            f"conversation {session_id!r} expired at {at.isoformat()}; create a new one (or renew before the timeout)",
            at,
        )
    if code == b"ended":
        at = datetime_of(reply[1])
        raise SessionEnded(f"conversation {session_id!r} was ended at {at.isoformat()}; create a new one", at)
    if code == b"lost":
        expected, found = int(reply[1]), int(reply[2])
        raise HistoryLost(
            f"conversation {session_id!r} counts {expected} messages but only {found} are stored: its history "
            "was evicted (the server's maxmemory-policy evicts; see docs/memory.md) or deleted. Reading it "
            "would return a shorter history; clear() starts the history over, end() or delete() removes it",
            expected,
            found,
        )
    if code == b"exists":
        raise SessionExists(f"conversation {session_id!r} already exists and is active; pick another id or get() it")
    raise InvalidArgumentError(f"unexpected reply {code!r} for conversation {session_id!r}")  # pragma: no cover


def _fields(flat: Sequence[bytes]) -> dict[str, bytes]:
    return {key.decode(): value for key, value in zip(flat[::2], flat[1::2], strict=True)}


def text_of(value: bytes | None) -> str:
    """A stored text field, decoded ('' when it is missing)."""
    return "" if value is None else value.decode()


def status_of(fields: dict[str, bytes], now: int) -> Status:
    """A conversation's status from its meta fields, at the server's time ``now``."""
    if fields.get("status") == b"ended":
        return "ended"
    deadline = int(fields["deadline"])
    if now >= deadline:
        return "expired"
    return "near_expiration" if deadline - now <= int(fields["warn"]) else "active"


def session_info(
    session_id: str, fields: dict[str, bytes], now: int, length: int, sealer: Sealer | None = None, meta_key: str = ""
) -> SessionInfo:
    """The :class:`SessionInfo` of a conversation from its meta fields and history length
    (``sealer``, ``meta_key``: the cache's sealer and the meta hash's key, with ``encryption=``)."""
    status = status_of(fields, now)
    deadline = int(fields["deadline"])
    ended = fields.get("ended")
    count = fields.get("count")  # None: stored before conversations counted their messages
    live = status in ("active", "near_expiration")
    return SessionInfo(
        id=session_id,
        agent_id=text_of(fields.get("agent")),
        user_id=text_of(fields.get("user")),
        status=status,
        created_at=datetime_of(fields["created"]),
        last_activity=datetime_of(fields["last"]),
        expires_at=datetime_of(int(ended) if ended is not None else deadline),
        time_remaining=timedelta(milliseconds=max(0, deadline - now) if status not in ("expired", "ended") else 0),
        timeout=timedelta(milliseconds=int(fields["timeout"])),
        auto_renew=fields.get("auto") == b"1",
        max_duration=timedelta(milliseconds=int(fields["maxdur"])),
        warning_threshold=timedelta(milliseconds=int(fields["warn"])),
        renewal_count=int(fields.get("renewals", 0)),
        message_count=length,
        ended_at=datetime_of(ended) if ended is not None else None,
        metadata=decode_metadata(fields.get("meta"), session_id, sealer, meta_key),
        lost_messages=max(0, int(count) - length) if count is not None and live else 0,
    )


def meta_text(raw: bytes | None, field: str, sealer: Sealer | None = None, meta_key: str = "") -> str | None:
    """A text field of a conversation's meta hash (``system``, ``summary``): sealed with
    ``encryption=`` (bound to the hash's key and the field), plain text without; None if absent."""
    if raw is None:
        return None
    if sealer is None and raw[:1] not in (b"\x01", b"\x02"):
        return raw.decode()  # (what a sealed field starts with: its header's version)
    return codec.opened_text(raw, sealer, codec.hash_where(meta_key, field))


def decode_metadata(
    raw: bytes | None, session_id: str, sealer: Sealer | None = None, meta_key: str = ""
) -> dict[str, Any]:
    """A conversation's stored metadata (an empty dict when none was stored; ``sealer``,
    ``meta_key``: with ``encryption=``)."""
    if raw is None:
        return {}
    try:
        value = codec.decode(codec.opened(raw, sealer, codec.hash_where(meta_key, "meta")))
    except SerializationError as exc:
        raise SerializationError(f"metadata of conversation {session_id!r}: {exc}") from exc
    return value if isinstance(value, dict) else {}


def decode_messages(
    raws: Sequence[bytes], session_id: str, sealer: Sealer | None = None, msgs_key: str = ""
) -> list[Message]:
    """Stored messages, decoded and validated; SerializationError naming the conversation otherwise
    (``sealer``, ``msgs_key``: the cache's sealer and the message list's key, with ``encryption=``)."""
    if sealer is not None:
        raws = [codec.opened(raw, sealer, msgs_key) for raw in raws]
    try:
        return _MESSAGES.validate_python([message_data(codec.decode(raw)) for raw in raws])
    except (SerializationError, ValidationError) as exc:
        raise SerializationError(f"history of conversation {session_id!r} cannot be read: {exc}") from exc
