"""The conversation tier's operations: message history with a lifecycle (timeouts, renewal, expiry), fork and snapshots.

``cache.conversations`` creates and finds conversations; a :class:`Conversation` is a handle on one.
Every method of both is an operation (see ``core/commands.py``), written once and run by either facade.

Each lifecycle transition — create, append (with its auto-renewal), heartbeat, renew, timeout
change, pop, clear, end — is one script call that reads the server's clock (``TIME``), so every
worker agrees on expiry whatever its own clock says. The conversation's keys expire at its deadline
plus a grace period: until then an expired conversation reads as expired (:class:`SessionExpired`),
afterwards as gone (:class:`SessionNotFound`); no sweeper runs.

``list_active`` and ``expiring`` read sorted sets scored by deadline (see ``encoding/keys.py``).
Those live in another slot than the conversations, and a cluster script cannot reach across slots,
so an index update rides in the same round trip as the lifecycle script but is not atomic with it
(and is optional: an error there never fails a write that the lifecycle script made). The index
update is computed from the settings the handle knows, on the index's own clock reading, so its
score can differ from the deadline by the few milliseconds between the two scripts. Every write
script replies with the deadline and the settings it used; when those show that the index update
sent beside it was wrong (another worker changed the timeout or auto-renew, the conversation ended
or expired meanwhile, a create hit an active id), one more round trip corrects the index. Reads
check every entry against the conversation itself, so a stale entry is never reported as live.
"""

from __future__ import annotations

import secrets
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from agentcache.core.commands import Batch, Command, Operation, Replies, cmd
from agentcache.encoding import codec
from agentcache.encoding.keys import (
    check_name,
    conversation_keys,
    index_all,
    index_bucket,
    user_parts_key,
)
from agentcache.errors import (
    InvalidArgumentError,
    InvalidMessageError,
    InvalidTimeoutConfig,
    RenewalRefused,
    SerializationError,
    shown,
)
from agentcache.tiers.content.messages import Message, from_json_value, to_json_value
from agentcache.tiers.conversations.agents import TimeoutSettings, check_bool, optional_ms, resolve_settings
from agentcache.tiers.conversations.index import (
    MAX_COUNT,
    check_limit,
    deadline_move,
    effective_cap,
    index_cmd,
    index_fix,
)
from agentcache.tiers.conversations.lifecycle import Seconds, to_ms
from agentcache.tiers.conversations.models import SNAPSHOT_FORMAT, MessagePage, SessionInfo
from agentcache.tiers.conversations.refs import Opened, Ref, Tier, index_keys
from agentcache.tiers.conversations.replies import (
    CreateReply,
    IndexAdd,
    ReadReply,
    WriteReply,
    datetime_of,
    decode_messages,
    decode_metadata,
    meta_text,
    raise_gone,
    session_info,
    status_of,
    text_of,
)
from agentcache.tiers.conversations.scripts import CONV_CREATE, CONV_READ, CONV_WRITE
from agentcache.tiers.session.tier import remove_fields
from agentcache.tiers.settings import Settings


def _encode_messages(s: Settings, messages: object) -> list[bytes]:
    if isinstance(messages, Message) or not isinstance(messages, Iterable) or isinstance(messages, str | bytes):
        raise InvalidArgumentError("messages must be a list of agentcache.Message (use add_message for one)")
    encoded = []
    for message in messages:
        if not isinstance(message, Message):
            raise InvalidArgumentError(
                f"a message must be an agentcache.Message (e.g. Message.user('hi')), not {type(message).__name__}"
            )
        encoded.append(codec.encode(message.persisted().stored_data(), 0, s.max_value_bytes))
    return encoded


def _new_id() -> str:
    """An unguessable id: 144 random bits, URL-safe."""
    return secrets.token_urlsafe(18)


@dataclass(frozen=True, slots=True)
class Summary:
    """A compacted conversation's summary as a fork or a snapshot carries it: its ``text`` and
    ``sumto``, how many messages at the head of the history it covers (see ``compact.lua``)."""

    text: str
    sumto: int


def _stored_summary(r: Ref, fields: dict[str, bytes], length: int) -> Summary | None:
    """The summary in a dump's meta fields (opened: with ``encryption=`` it is sealed for this
    conversation's meta hash), None when it has none. ``sumto`` never passes the ``length`` read."""
    text = meta_text(fields.get("summary"), "summary", r.tier.settings.sealer, r.keys.meta)
    return None if text is None else Summary(text, min(int(fields.get("sumto", b"0")), length))


def _write(
    r: Ref, mode: str, *args: object, new_timeout: int | None = None, more_keys: tuple[str, ...] = ()
) -> Generator[Batch, Replies, WriteReply]:
    """One write script, with the index update the handle's settings call for beside it; the reply,
    checked. One round trip, plus one to correct the index only when the reply shows the update
    was wrong (settings changed elsewhere, or the conversation is not live)."""
    timeout = r.timeout_ms if new_timeout is None else new_timeout
    sent = deadline_move(mode, r.auto_renew, timeout, r.cap_ms, new_timeout is not None)
    batch: Batch = [CONV_WRITE([*r.keys.both, *more_keys], mode, r.tier.life.grace_ms, *args)]
    if sent is not None:
        batch.append(index_cmd(r.indexes, "add", r.id, sent.timeout_ms, sent.cap_ms, sent.how))
    replies = yield batch
    reply = WriteReply.parse(replies[0])
    index = IndexAdd.parse(replies[1]) if sent is not None else None
    fix: Command | None = None
    if reply.ok:
        r.timeout_ms, r.auto_renew, r.cap_ms = reply.timeout_ms, reply.auto_renew, reply.cap_ms
        did = deadline_move(mode, r.auto_renew, r.timeout_ms, r.cap_ms, new_timeout is not None)
        fix = index_fix(r, sent, did, reply.deadline)
    elif reply.status == b"refused":
        r.cap_ms = reply.cap_ms
        if sent is not None and effective_cap(sent.cap_ms) > effective_cap(r.cap_ms):
            fix = index_cmd(r.indexes, "set", r.id, reply.deadline, "set", 3)
    elif index is not None and any(index.changed):  # not live: take back its entry
        fix = index_cmd(r.indexes, "drop", r.id, index.score)
    if fix is not None and not (sent is not None and index is None):  # the index failed: leave it
        yield [fix]
    if reply.status not in (b"ok", b"refused", b"conflict"):
        reply.raise_gone(r.id)
    return reply


# --- creating -----------------------------------------------------------------------------------


def _create(
    t: Tier,
    session_id: str,
    agent_id: str,
    user_id: str,
    system: str | None,
    metadata: dict[str, Any],
    encoded: list[bytes],
    chosen: TimeoutSettings,
    summary: Summary | None = None,
) -> Operation[Opened]:
    """One round trip: the create script, and the index update beside it (an entry only where there
    is none, so an active conversation's entry is never touched). More only when needed: one to
    correct the indexes if an entry was already there or the id is active (SessionExists), and the
    SCAN steps that remove the state of an expired or ended conversation this one replaces.
    ``summary``: a compaction's summary the new conversation starts with (a fork, a restore),
    sealed here for its own meta hash."""
    s = t.settings
    keys = conversation_keys(s.prefix, s.key_id(session_id, "session_id"))
    meta = codec.seal(codec.encode(metadata, 0, s.max_value_bytes), s.sealer, codec.hash_where(keys.meta, "meta"))
    ref = Ref(t, session_id, agent_id, user_id, keys, chosen.timeout_ms, 0, chosen.auto_renew)
    first = min(chosen.timeout_ms, chosen.max_duration_ms)
    args = (
        t.life.grace_ms,
        chosen.timeout_ms,
        chosen.max_duration_ms,
        chosen.warning_ms,
        "1" if chosen.auto_renew else "0",
        agent_id,
        user_id,
        "" if system is None else codec.seal_text(system, s.sealer, codec.hash_where(keys.meta, "system")),
        "0" if system is None else "1",
        meta,
        session_id,
        "" if summary is None else codec.seal_text(summary.text, s.sealer, codec.hash_where(keys.meta, "summary")),
        "" if summary is None else summary.sumto,
        *[codec.seal_message(m, s.sealer, keys.msgs) for m in encoded],
    )
    replies = yield [CONV_CREATE(keys.both, *args), index_cmd(ref.indexes, "add", session_id, first, 0, "nx")]
    reply, index = CreateReply.parse(replies[0]), IndexAdd.parse(replies[1])
    if reply.status != b"ok":
        fix = _unclaim(t, ref, reply, index)
        if fix is not None:
            yield [fix]
        raise_gone(reply.raw, session_id)
    ref.cap_ms = reply.now + chosen.max_duration_ms
    if index is not None and not all(index.changed):  # an entry was there already: set ours
        yield [index_cmd(ref.indexes, "set", session_id, reply.deadline, "set", 3)]
    if reply.replaced:  # it replaced an expired or ended conversation: its state goes with it
        yield from remove_fields(s, session_id)
    return Opened(ref, system, metadata)


def _unclaim(t: Tier, ref: Ref, reply: CreateReply, index: IndexAdd | None) -> Command | None:
    """After a create found ``ref.id`` active: take the id out of the indexes of the attempted owner
    that are not the live conversation's, and give an entry the create added to one of the live
    conversation's own indexes (it had none) the live deadline. None when there is nothing to do."""
    if reply.status != b"exists":  # pragma: no cover - the create script replies ok or exists
        return None
    live = index_keys(t.settings, reply.agent_id, reply.user_id, ref.id)
    added = [False] * 3 if index is None else index.changed
    keep = [key for key, new in zip(ref.indexes, added, strict=True) if key in live and new]
    drop = [key for key in ref.indexes if key not in live]
    if not keep and not drop:
        return None
    return index_cmd([*keep, *drop], "set", ref.id, reply.deadline, "set", len(keep))


def _check_metadata(metadata: object) -> dict[str, Any]:
    """``metadata`` if it is a dict a snapshot can carry (str keys throughout: SerializationError)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidArgumentError(f"metadata must be a dict, not {type(metadata).__name__}")
    to_json_value(metadata, "metadata")
    return metadata


def _check_system(system: object) -> str | None:
    if system is not None and not isinstance(system, str):
        raise InvalidArgumentError(f"system must be a str or None, not {type(system).__name__}")
    return system


def create(
    t: Tier,
    *,
    agent_id: str,
    user_id: str,
    session_id: str | None = None,
    system: str | None = None,
    messages: Sequence[Message] | None = None,
    metadata: dict[str, Any] | None = None,
    timeout: Seconds | None = None,
    auto_renew: bool | None = None,
    max_duration: Seconds | None = None,
    warning_threshold: Seconds | None = None,
) -> Operation[Opened]:
    """Start a conversation and return its handle.

    ``session_id`` defaults to a new unguessable id. Settings left ``None`` come from the agent's
    defaults (``configure_agent``), then the cache's (environment, then built-in). One round trip,
    plus one to read the agent's defaults unless all four settings are given. Raises
    :class:`SessionExists` (409) if ``session_id`` names an active conversation, changing nothing of
    it (one more round trip when the attempt named another agent or user: their indexes are
    corrected); :class:`InvalidTimeoutConfig` (400) for a timeout outside the limits. An expired or
    ended conversation of that id is replaced and its state (``conv.state``) removed: one more round
    trip per SCAN step then (one on a cluster-mode server). :class:`SerializationError` for
    metadata or messages a JSON snapshot could not carry (a dict key that is not a str, a NaN).
    """
    agent, user = check_name(agent_id, "agent_id"), check_name(user_id, "user_id")
    sid = _new_id() if session_id is None else check_name(session_id, "session_id")
    _check_system(system)
    encoded = _encode_messages(t.settings, [] if messages is None else messages)
    meta = _check_metadata(metadata)
    codec.encode(meta, 0, t.settings.max_value_bytes)  # fail before anything is sent
    timeout_ms = optional_ms(timeout, "timeout")
    if timeout_ms is not None:
        t.life.check_timeout(timeout_ms)
    duration_ms = optional_ms(max_duration, "max_duration")
    if duration_ms is not None:
        t.life.check_max_duration(duration_ms)
    chosen = yield from resolve_settings(
        t,
        agent,
        timeout_ms,
        check_bool(auto_renew, "auto_renew"),
        duration_ms,
        optional_ms(warning_threshold, "warning_threshold"),
    )
    return (yield from _create(t, sid, agent, user, system, meta, encoded, chosen))


def _read_info(t: Tier, session_id: str) -> Generator[Batch, Replies, tuple[dict[str, bytes], int, int]]:
    keys = conversation_keys(t.settings.prefix, t.settings.key_id(session_id, "session_id"))
    (raw,) = yield [CONV_READ(keys.both, "info")]
    reply = ReadReply.parse(raw, "info", session_id)
    return reply.fields, reply.now, reply.length


def _handle(t: Tier, session_id: str, fields: dict[str, bytes]) -> Opened:
    created, maxdur = int(fields["created"]), int(fields["maxdur"])
    ref = Ref(
        t,
        session_id,
        text_of(fields.get("agent")),
        text_of(fields.get("user")),
        conversation_keys(t.settings.prefix, t.settings.key_id(session_id, "session_id")),
        int(fields["timeout"]),
        created + maxdur,
        fields.get("auto") == b"1",
    )
    system = meta_text(fields.get("system"), "system", t.settings.sealer, ref.keys.meta)
    metadata = decode_metadata(fields.get("meta"), session_id, t.settings.sealer, ref.keys.meta)
    return Opened(ref, system, metadata)


def get(t: Tier, session_id: str) -> Operation[Opened]:
    """The conversation ``session_id``. One round trip; does not count as activity.

    Raises :class:`SessionNotFound` (404) if it never existed or was deleted (or expired longer
    than the grace period ago), :class:`SessionExpired` (410, with ``expired_at``) if it timed out,
    :class:`SessionEnded` (410, a SessionExpired) if it was ended.
    """
    sid = check_name(session_id, "session_id")
    fields, now, _ = yield from _read_info(t, sid)
    status = status_of(fields, now)
    if status == "expired":
        raise_gone([b"expired", fields["deadline"]], sid)
    if status == "ended":
        raise_gone([b"ended", fields["ended"]], sid)
    return _handle(t, sid, fields)


def restore(t: Tier, data: dict[str, Any], session_id: str | None = None) -> Operation[Opened]:
    """A new conversation from a snapshot (:meth:`Conversation.to_dict`), under its id or ``session_id``.

    The history, system prompt, metadata, owner, settings and summary (of a compacted conversation;
    a snapshot without one, as older versions made, restores with none) come back; the clocks start
    again. One round trip (costs as :func:`create` otherwise). Raises :class:`SessionExists` if that
    id is active, :class:`InvalidArgumentError` for a malformed snapshot before anything is sent.
    """
    if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
        raise InvalidArgumentError(f"not a conversation snapshot (expected 'format': {SNAPSHOT_FORMAT!r})")
    try:
        raw_messages = data.get("messages", [])
        if not isinstance(raw_messages, list):
            raise InvalidArgumentError(f"'messages' must be a list, not {type(raw_messages).__name__}")
        messages = [Message.from_json_data(m) for m in raw_messages]
        settings = data["settings"]
        if not isinstance(settings, dict):
            raise InvalidArgumentError(f"'settings' must be a dict, not {type(settings).__name__}")
        sid = check_name(session_id if session_id is not None else data["id"], "session_id")
        agent, user = check_name(data["agent_id"], "agent_id"), check_name(data["user_id"], "user_id")
        auto = settings["auto_renew"]
        if not isinstance(auto, bool):
            raise InvalidArgumentError(f"settings 'auto_renew' must be true or false, not {shown(auto)}")
        timeout_ms = to_ms(settings["timeout"], "timeout")
        chosen = TimeoutSettings(
            timeout_ms=t.life.check_timeout(timeout_ms),
            auto_renew=auto,
            max_duration_ms=t.life.check_max_duration(to_ms(settings["max_duration"], "max_duration")),
            warning_ms=to_ms(settings["warning_threshold"], "warning_threshold"),
        )
        system = _check_system(data.get("system"))
        meta = _check_metadata(from_json_value(data.get("metadata"), "metadata"))
        summary = _snapshot_summary(data, len(messages))
    except (KeyError, TypeError, ValidationError, InvalidMessageError) as exc:
        if isinstance(exc, SerializationError | InvalidMessageError):
            raise InvalidArgumentError(f"conversation snapshot is malformed: {exc}") from exc
        raise InvalidArgumentError(f"conversation snapshot is malformed: {exc!r}") from exc
    encoded = _encode_messages(t.settings, messages)
    return (yield from _create(t, sid, agent, user, system, meta, encoded, chosen, summary))


def _snapshot_summary(data: dict[str, Any], count: int) -> Summary | None:
    """A snapshot's ``summary`` and ``sumto`` (absent: none), checked against its ``count`` messages."""
    text, sumto = data.get("summary"), data.get("sumto", 0)
    if text is not None and not isinstance(text, str):
        raise InvalidArgumentError(f"'summary' must be a str or null, not {shown(text)}")
    if sumto is None:
        sumto = 0
    if not isinstance(sumto, int) or isinstance(sumto, bool) or not 0 <= sumto <= count:
        raise InvalidArgumentError(
            f"'sumto' must be an int from 0 to the number of messages ({count}), not {shown(sumto)}"
        )
    if text is None:
        if sumto:
            raise InvalidArgumentError(f"'sumto' is {sumto} but the snapshot has no 'summary'")
        return None
    return Summary(text, sumto)


def _delete(t: Tier, session_id: str, agent_id: str | None, user_id: str | None) -> Operation[bool]:
    """UNLINK the conversation's keys, drop its index entries, destroy its state. A handle knows the
    owner, so the index update rides along. By id alone, the owner and the entry's score are read
    in the same round trip, and a second one removes the entries that still have that score: a
    conversation created under the id in between (its entry has its own score) keeps its entry."""
    s = t.settings
    keys = conversation_keys(s.prefix, s.key_id(session_id, "session_id"))
    batch: Batch = [cmd("HMGET", keys.meta, "agent", "user"), cmd("UNLINK", *keys.both)]
    if agent_id is not None and user_id is not None:
        batch.append(index_cmd(index_keys(s, agent_id, user_id, session_id), "remove", session_id))
    else:
        batch.append(cmd("ZSCORE", index_all(s.prefix, index_bucket(session_id)), session_id, optional=True))
    replies = yield batch
    owner, removed, score = replies
    if agent_id is None and owner[0] is not None and score is not None:
        owners = index_keys(s, owner[0].decode(), owner[1].decode(), session_id)
        yield [index_cmd(owners, "drop", session_id, score)]
    yield from remove_fields(s, session_id)
    return bool(removed)


def delete(t: Tier, session_id: str) -> Operation[bool]:
    """Remove the conversation now (history, meta, its state, its index entries), whatever its status.

    True if it existed. Afterwards it reads as :class:`SessionNotFound`. Two round trips (one when
    it was not indexed), plus one per SCAN step to remove its state."""
    return (yield from _delete(t, check_name(session_id, "session_id"), None, None))


# --- one conversation ---------------------------------------------------------------------------


def add_messages(r: Ref, messages: Sequence[Message], *, attach_user_parts: bool = True) -> Operation[int]:
    """Append ``messages`` atomically, in order; returns the history's new length.

    Counts as activity: with auto-renew the conversation's expiry moves to now + timeout (never past
    ``max_duration``). Transient parts (``save=False``) are not stored. The last user message takes
    the thread's pending persistent user parts (``cache.session.set_user_part``) in the same script
    that stores it, so each part lands on exactly one message however many workers add at once;
    ``attach_user_parts=False`` leaves them pending. One round trip."""
    sealer = r.tier.settings.sealer
    encoded = [codec.seal(m, sealer, r.keys.msgs) for m in _encode_messages(r.tier.settings, messages)]
    users = [i for i, message in enumerate(messages) if message.role == "user"]
    if not attach_user_parts or not users:
        reply = yield from _write(r, "append", *encoded)
        return int(reply.result)
    parts = user_parts_key(r.tier.settings.prefix, r.tier.settings.key_id(r.id))
    reply = yield from _write(r, "attach", users[-1] + 1, *encoded, more_keys=(parts,))
    return int(reply.result)


def add_message(r: Ref, message: Message, *, attach_user_parts: bool = True) -> Operation[int]:
    """Append one message; see :meth:`add_messages`."""
    return (yield from add_messages(r, [message], attach_user_parts=attach_user_parts))


def messages(r: Ref, limit: int | None = None, before: int | None = None) -> Operation[MessagePage]:
    """The history, oldest first: the newest ``limit`` messages (all if None) before the cursor ``before``.

    The page's ``cursor`` is what to pass as ``before`` to read further back (None: nothing older).
    One round trip; reading is not activity."""
    if limit is not None:
        check_limit(limit)
    if before is not None and (not isinstance(before, int) or isinstance(before, bool) or not 0 <= before <= MAX_COUNT):
        raise InvalidArgumentError(f"before must be a cursor from a previous page (an int >= 0), not {shown(before)}")
    (raw,) = yield [CONV_READ(r.keys.both, "range", "" if limit is None else limit, "" if before is None else before)]
    page = ReadReply.parse(raw, "range", r.id)
    sealer = r.tier.settings.sealer
    return MessagePage(
        decode_messages(page.messages, r.id, sealer, r.keys.msgs), page.start if page.start > 0 else None
    )


def length(r: Ref) -> Operation[int]:
    """How many messages the history holds. One round trip."""
    (raw,) = yield [CONV_READ(r.keys.both, "len")]
    return ReadReply.parse(raw, "len", r.id).length


def clear(r: Ref) -> Operation[int]:
    """Remove every message (the conversation stays); returns how many were removed. One round trip."""
    reply = yield from _write(r, "clear")
    return int(reply.result)


def pop_last(r: Ref) -> Operation[Message | None]:
    """Remove and return the newest message (None if the history is empty). One round trip."""
    reply = yield from _write(r, "pop")
    raw = reply.result
    return None if raw is None or raw == 0 else decode_messages([raw], r.id, r.tier.settings.sealer, r.keys.msgs)[0]


@dataclass(frozen=True, slots=True)
class Tail:
    """The newest messages of a history as read (``start``: the list index of the first), with what
    :func:`replace_after` checks before it writes: ``epoch`` and ``created`` (see ``compact.lua``)."""

    messages: list[Message]
    start: int
    epoch: int
    created: bytes

    @property
    def length(self) -> int:
        """How many messages the history held when it was read."""
        return self.start + len(self.messages)


def tail(r: Ref, limit: int) -> Operation[Tail]:
    """The newest ``limit`` messages, oldest first, with what a later :func:`replace_after` checks.
    One round trip; reading is not activity."""
    check_limit(limit)
    (raw,) = yield [CONV_READ(r.keys.both, "tail", limit)]
    if raw[0] != b"ok":
        raise_gone(raw, r.id)
    messages = decode_messages(raw[3], r.id, r.tier.settings.sealer, r.keys.msgs)
    return Tail(messages, int(raw[2]), int(raw[4]), raw[5] or b"")


def replace_after(
    r: Ref, keep: int, messages: Sequence[Message], read: Tail | None = None, *, drop: int = 0
) -> Operation[bool]:
    """Replace every message after the first ``keep`` by ``messages``, and remove the first ``drop``
    of those kept, atomically; with ``read`` (a :func:`tail`), only if the history is still the one
    read: nothing appended, popped, cleared, compacted or replaced since, and the same conversation
    (False, and nothing written, otherwise). A summary that covered a replaced message is dropped,
    as by :func:`clear`; one over dropped messages stays. A history found shorter than counted
    raises :class:`HistoryLost`. Not activity: the deadline stays. One round trip."""
    for name, value in (("keep", keep), ("drop", drop)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
            raise InvalidArgumentError(f"{name} must be an int >= 0, not {shown(value)}")
    if drop > keep:
        raise InvalidArgumentError(f"drop ({drop}) removes only kept messages: at most keep ({keep})")
    sealer = r.tier.settings.sealer
    encoded = [codec.seal(m, sealer, r.keys.msgs) for m in _encode_messages(r.tier.settings, messages)]
    check = ("0", "", "", "") if read is None else ("1", read.created, read.epoch, read.length)
    reply = yield from _write(r, "replace", *check, drop, keep, *encoded)
    return reply.ok


def info(r: Ref) -> Operation[SessionInfo]:
    """Status, clocks and settings, by the server's clock. Works on an expired or ended conversation
    during the grace period; raises :class:`SessionNotFound` after it. One round trip."""
    fields, now, count = yield from _read_info(r.tier, r.id)
    return session_info(r.id, fields, now, count, r.tier.settings.sealer, r.keys.meta)


def heartbeat(r: Ref) -> Operation[datetime]:
    """Record activity without a message (with auto-renew, that renews); returns the expiry. One round trip."""
    reply = yield from _write(r, "heartbeat")
    return datetime_of(reply.deadline)


def renew(r: Ref) -> Operation[datetime]:
    """Push the expiry to now + timeout, capped at ``created_at + max_duration``; returns the new expiry.

    Raises :class:`RenewalRefused` (422) once the cap is reached: create a new conversation then.
    One round trip."""
    reply = yield from _write(r, "renew")
    if reply.status == b"refused":
        ends = datetime_of(reply.deadline).isoformat()
        raise RenewalRefused(
            f"conversation {r.id!r} has reached its max_duration (it ends at {ends}) "
            "and cannot be renewed; start a new conversation (fork() keeps the history)"
        )
    return datetime_of(reply.deadline)


def update_timeout(
    r: Ref,
    timeout: Seconds | None = None,
    *,
    auto_renew: bool | None = None,
    warning_threshold: Seconds | None = None,
) -> Operation[datetime]:
    """Change the inactivity timeout (expiry becomes now + timeout, within ``max_duration``), and/or
    auto-renew and the warning threshold; returns the expiry. A timeout outside the configured
    limits raises :class:`InvalidTimeoutConfig` (400) before anything is sent. One round trip."""
    timeout_ms = optional_ms(timeout, "timeout")
    if timeout_ms is not None:
        r.tier.life.check_timeout(timeout_ms)
    auto = check_bool(auto_renew, "auto_renew")
    warning_ms = optional_ms(warning_threshold, "warning_threshold")
    if timeout_ms is None and auto is None and warning_ms is None:
        raise InvalidTimeoutConfig("update_timeout needs a timeout, auto_renew or warning_threshold")
    args = ("" if timeout_ms is None else timeout_ms, "" if auto is None else int(auto), warning_ms or "")
    reply = yield from _write(r, "timeout", *args, new_timeout=timeout_ms)
    return datetime_of(reply.deadline)


def end(r: Ref) -> Operation[bool]:
    """End the conversation: its history and state are removed; it reads as :class:`SessionEnded` (410)
    for the grace period, then as not found. True if it was live (False: it had expired or ended).

    One round trip, plus one per SCAN step to remove its state (one on a cluster-mode server)."""
    replies = yield [CONV_WRITE(r.keys.both, "end", r.tier.life.grace_ms), index_cmd(r.indexes, "remove", r.id)]
    reply = WriteReply.parse(replies[0])
    if reply.status == b"missing":
        reply.raise_gone(r.id)
    yield from remove_fields(r.tier.settings, r.id)
    return reply.ok


def delete_conversation(r: Ref) -> Operation[bool]:
    """Remove the conversation now, whatever its status: history, meta, state and index entries."""
    return (yield from _delete(r.tier, r.id, r.agent_id, r.user_id))


def _dump(r: Ref) -> Generator[Batch, Replies, tuple[dict[str, bytes], list[Message]]]:
    (raw,) = yield [CONV_READ(r.keys.both, "dump")]
    dump = ReadReply.parse(raw, "dump", r.id)
    return dump.fields, decode_messages(dump.messages, r.id, r.tier.settings.sealer, r.keys.msgs)


def fork(r: Ref, session_id: str | None = None) -> Operation[Opened]:
    """A new conversation with a copy of this one's history, system prompt, metadata and settings,
    and its summary if it was compacted (so the fork's :meth:`context` is this one's).

    The two then diverge; this one is not changed. Its state (``conv.state``) is not copied and its
    clocks start now. Two round trips (read a consistent copy, then create)."""
    sid = _new_id() if session_id is None else check_name(session_id, "session_id")
    fields, history = yield from _dump(r)
    chosen = TimeoutSettings(
        int(fields["timeout"]), fields.get("auto") == b"1", int(fields["maxdur"]), int(fields["warn"])
    )
    s = r.tier.settings
    encoded = [codec.encode(m.model_dump(), 0, s.max_value_bytes) for m in history]
    system = meta_text(fields.get("system"), "system", s.sealer, r.keys.meta)
    return (
        yield from _create(
            r.tier,
            sid,
            r.agent_id,
            r.user_id,
            system,
            decode_metadata(fields.get("meta"), r.id, s.sealer, r.keys.meta),
            encoded,
            chosen,
            _stored_summary(r, fields, len(history)),
        )
    )


def _json_messages(history: list[Message], session_id: str) -> list[dict[str, Any]]:
    out = []
    for i, message in enumerate(history):
        try:
            out.append(message.to_json_data())
        except SerializationError as exc:
            raise SerializationError(f"conversation {session_id!r}, message {i}: {exc}") from exc
    return out


def to_dict(r: Ref) -> Operation[dict[str, Any]]:
    """A JSON-serializable snapshot: ``Conversation.from_dict`` restores it exactly.

    Image bytes are base64 text; any other bytes (metadata, data parts, tool arguments) the tagged
    form ``{"$bytes": "<base64>"}``. What JSON cannot carry faithfully (a dict key that is not a str,
    a NaN) raises :class:`SerializationError` naming where; create and add_message refuse it already.
    A compacted conversation's summary comes as ``summary`` (its text, None when it has none) and
    ``sumto`` (how many of ``messages`` it covers). One round trip; read from one consistent copy."""
    fields, history = yield from _dump(r)
    system = meta_text(fields.get("system"), "system", r.tier.settings.sealer, r.keys.meta)
    summary = _stored_summary(r, fields, len(history))
    try:
        metadata = to_json_value(
            decode_metadata(fields.get("meta"), r.id, r.tier.settings.sealer, r.keys.meta), "metadata"
        )
    except SerializationError as exc:
        raise SerializationError(f"conversation {r.id!r}: {exc}") from exc
    return {
        "format": SNAPSHOT_FORMAT,
        "id": r.id,
        "agent_id": text_of(fields.get("agent")),
        "user_id": text_of(fields.get("user")),
        "system": system,
        "metadata": metadata,
        "messages": _json_messages(history, r.id),
        "summary": None if summary is None else summary.text,
        "sumto": 0 if summary is None else summary.sumto,
        "settings": {
            "timeout": int(fields["timeout"]) / 1000,
            "auto_renew": fields.get("auto") == b"1",
            "max_duration": int(fields["maxdur"]) / 1000,
            "warning_threshold": int(fields["warn"]) / 1000,
        },
        "created_at": datetime_of(fields["created"]).isoformat(),
    }
