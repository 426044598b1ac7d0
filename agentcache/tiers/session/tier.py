"""The session tier: thread-scoped key-value state, one key per field.

Each field is its own key ``<prefix>:session:{<thread>}:<field>`` with its own TTL, refreshed by
that TTL on every read (sliding expiry). Thread-wide operations walk the thread's keys with SCAN and
act on each batch inside one script call; on a cluster-mode server that SCAN stays in the thread's
slot, so its cost depends on the thread's size, not on the rest of the keyspace.

Every function here is an operation (see ``core/commands.py``): written once, run by either facade.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from agentcache.core.binding import Bound, E, operation
from agentcache.core.commands import Batch, Command, Operation, Replies, cmd, lua, one
from agentcache.core.near import REFRESH_BELOW, forgetting
from agentcache.encoding import codec
from agentcache.encoding.encryption import Sealer
from agentcache.encoding.expiry import TTL, Deadline, deadline_ms, ttl_ms
from agentcache.encoding.keys import ThreadKeys, checkpoint_keys, session_key, session_thread, user_parts_key
from agentcache.errors import (
    DecryptionError,
    FieldNotFoundError,
    InvalidArgumentError,
    SerializationError,
    UnreadableFieldsError,
)
from agentcache.tiers.content.messages import DataPart, ImagePart, Part, TextPart
from agentcache.tiers.content.parts import USER_PART_PREFIX, UserPart, from_stored, to_stored, user_part_field
from agentcache.tiers.settings import Settings

M = TypeVar("M")
USER_PART_MARK = ":" + USER_PART_PREFIX  # in a key: maybe a user part (their fixed deadlines stay version 1)

SESSION_GET = lua(__package__, "session_get")  # GET + the sliding refresh, in one call
SESSION_NEAR_GET = lua(__package__, "session_near_get")  # the same for a near cache: refresh when due
SESSION_SCAN = lua(__package__, "session_scan", prelude="slide")  # one SCAN step and the work on what it found
USER_PART = lua(__package__, "user_part", prelude="slide")  # a thread's user parts: list, clear
USER_PART_SET = lua(__package__, "user_part_set", prelude="put")  # one user part and the set of their keys
SESSION_PUT = lua(__package__, "session_put", prelude="put")  # one field if the thread has room: count + SET
SESSION_PEEK = lua(__package__, "session_peek")  # one SCAN step: each field's TTL and value, refreshing nothing
SESSION_SET_MANY = lua(__package__, "session_set_many")  # several SETs of one thread, all or none
SESSION_GET_MANY = lua(__package__, "session_get_many", prelude="slide")  # several GETs + slides, one call


def _decode(raw: bytes, thread_id: str, field: str, model: type[M] | None = None) -> Any:
    """Decode a stored value (into ``model`` if given); errors name the field and thread."""
    try:
        value = codec.decode(raw)
        return value if model is None else codec.as_model(value, model)
    except SerializationError as exc:
        raise SerializationError(f"session field {field!r} of thread {thread_id!r}: {exc}") from exc


def _plain(field: object) -> object:
    if isinstance(field, str) and field.startswith(USER_PART_PREFIX):
        raise InvalidArgumentError(
            f"field {field!r}: names starting with {USER_PART_PREFIX!r} are user parts; "
            "use set_user_part(thread_id, name, part)"
        )
    return field


def _stored(
    s: Settings, key: str, value: Any, ttl: TTL | None, expires_at: Deadline | None, part: bool = False
) -> tuple[bytes, str, int]:
    """A value as stored at ``key`` (sealed with ``encryption=``; ``part``: a user part's
    ``[save, data]``), with how it expires: ``px`` ms, ``pxat`` a deadline (Unix ms), or '' (never)."""
    seal = codec.seal_part if part else codec.seal
    if expires_at is not None:
        if ttl is not None:
            raise InvalidArgumentError("give ttl or expires_at, not both")
        at = deadline_ms(expires_at)
        data = codec.encode(value, 0, s.max_value_bytes, deadline_ms=None if part else at)  # parts: version 1
        return seal(data, s.sealer, key), "pxat", at
    ms = s.session_ttl_ms if ttl is None else ttl_ms(ttl)
    return seal(codec.encode(value, ms, s.max_value_bytes), s.sealer, key), "px" if ms else "", ms


def _set_cmd(s: Settings, key: str, value: Any, ttl: TTL | None, expires_at: Deadline | None) -> Command:
    data, expiry, amount = _stored(s, key, value, ttl, expires_at)
    return cmd("SET", key, data, expiry.upper(), amount) if expiry else cmd("SET", key, data)


def set_(
    s: Settings,
    thread_id: str,
    field: str,
    value: Any,
    *,
    ttl: TTL | None = None,
    expires_at: Deadline | None = None,
) -> Operation[None]:
    """Store ``value`` in ``field`` of ``thread_id``. One round trip.

    ``ttl`` (seconds, a timedelta, or ``NO_EXPIRY``) overrides the tier default and slides on every
    read; ``expires_at`` (aware datetime or ISO-8601 string) is a fixed deadline that never slides
    (one in the past removes the field). Give at most one of the two.
    """
    key = session_key(s.prefix, s.key_id(thread_id), _plain(field))
    command = _set_cmd(s, key, value, ttl, expires_at)
    yield from forgetting(s.near, [command, *s.stats.due()], [key])
    if s.near is None:
        learn(s.slides, key, command.args[2])
    s.stats.count("session/writes")


def set_many(
    s: Settings,
    thread_id: str,
    values: Mapping[str, Any],
    *,
    ttl: TTL | None = None,
    expires_at: Deadline | None = None,
) -> Operation[None]:
    """Store several fields of one thread, each as :meth:`set` would (same ``ttl`` or ``expires_at``
    for all). One round trip on every topology: a thread's fields share one slot. Every value is
    checked before anything is sent; the fields are written by one script call, so all of them or
    (a server out of memory refusing it) none."""
    if not isinstance(values, Mapping):
        raise InvalidArgumentError(f"values must be a dict of field -> value, not {type(values).__name__}")
    keys = [session_key(s.prefix, s.key_id(thread_id), _plain(f)) for f in values]
    stored = [_stored(s, k, v, ttl, expires_at) for k, v in zip(keys, values.values(), strict=True)]
    args = [x for one_value in stored for x in one_value]
    if keys:
        yield from forgetting(s.near, [SESSION_SET_MANY(keys, *args), *s.stats.due()], keys)
        if s.near is None:
            for key, (data, _, _) in zip(keys, stored, strict=True):
                learn(s.slides, key, data)
        s.stats.count("session/writes", amount=len(keys))


def get(
    s: Settings, thread_id: str, field: str, default: Any = None, *, model: type[M] | None = None
) -> Operation[Any]:
    """The value of ``field``, or ``default`` if it is missing or expired. One round trip.

    A hit refreshes the field's expiry by the field's own TTL (fixed deadlines do not move).
    With ``model=`` (a pydantic model class) the stored data is validated into that model.
    """
    key = session_key(s.prefix, s.key_id(thread_id), field)
    if model is not None:
        codec.check_model(model)
    near = s.near
    if near is None:
        known = s.slides.get(key)
        if known is None:  # first read here, or not sliding: the script reads the header and slides
            raw = (yield [SESSION_GET([key]), *s.stats.due()])[0]
            if raw is not None:
                learn(s.slides, key, raw)
        else:  # GETEX refreshes by the TTL this process last saw; the header says whether it still holds
            raw = (yield [known[0], *s.stats.due()])[0]
            if raw is None:
                s.slides.pop(key, None)
            elif not raw.startswith(known[1]):  # another writer changed how it expires: put that back
                yield from repair(s, key, raw)
        s.stats.lookup("session", raw is not None)
        return default if raw is None else _decode(codec.opened(raw, s.sealer, key), thread_id, field, model)
    local = near.get(key)
    if local is not None:  # served from memory, within the window after the read that brought it
        s.stats.lookup("session", True)
        return _decode(local, thread_id, field, model)
    ticket = near.ticket()
    reply = (yield [SESSION_NEAR_GET([key], REFRESH_BELOW), *s.stats.due()])[0]
    s.stats.lookup("session", reply is not None)
    if reply is None:
        return default
    raw, refreshed = reply
    raw = codec.opened(raw, s.sealer, key)  # the near cache holds plain envelopes, in this process only
    value = _decode(raw, thread_id, field, model)
    near.admit(key, raw, ticket, ttl_ms=codec.slide_ms(raw), own=int(refreshed))
    return value


SLIDES_KEPT = 10_000
"""Keys whose sliding TTL a cache remembers (``Settings.slides``); past it the memory starts again."""


def learn(slides: dict[str, tuple[Command, bytes]], key: str, raw: bytes) -> None:
    """Remember how ``key`` slides, from the value read or written there (``raw``, its header):
    its next read is ``GETEX key PX ms``. A value that does not slide (no expiry, a fixed deadline,
    a user part, data agentcache did not write) is forgotten: its reads go through the script."""
    ms = codec.slide_ms(raw)
    if ms <= 0 or USER_PART_MARK in key:
        slides.pop(key, None)
        return
    if len(slides) >= SLIDES_KEPT and key not in slides:
        slides.clear()  # atomic, unlike dropping the oldest while other threads read and write
    slides[key] = (cmd("GETEX", key, "PX", ms), raw[: codec.HEADER_SIZE])


def repair(s: Settings, key: str, raw: bytes) -> Generator[Batch, Replies, None]:
    """``GETEX key PX ms`` refreshed ``key`` by a TTL its value's header (``raw``) does not hold:
    another writer changed it since this process last saw it. One more round trip (the get script,
    in its repair mode) puts back the expiry the header names: another TTL, none, or a fixed deadline."""
    now = (yield [SESSION_GET([key], "repair")])[0]
    learn(s.slides, key, raw if now is None else now)
    if now is None:
        s.slides.pop(key, None)


def delete(s: Settings, thread_id: str, field: str) -> Operation[bool]:
    """Remove ``field``; True if it existed. One round trip."""
    key = session_key(s.prefix, s.key_id(thread_id), field)
    s.slides.pop(key, None)
    (removed,) = yield from forgetting(s.near, [cmd("UNLINK", key)], [key])
    return bool(removed)


def _fields_of(fields: object) -> list[str]:
    if isinstance(fields, str | bytes) or not isinstance(fields, Iterable):
        raise InvalidArgumentError(f"fields must be a list of field names, not {type(fields).__name__}")
    return list(dict.fromkeys(fields))  # each once, in the order given


def get_many(s: Settings, thread_id: str, fields: Iterable[str]) -> Operation[dict[str, Any]]:
    """The fields that exist, as ``{field: value}`` (missing or expired ones are left out), each hit
    refreshed by its own TTL like :meth:`get`. One round trip on every topology. Data that cannot
    be decoded: as :func:`get_all`."""
    names = _fields_of(fields)
    keys = [session_key(s.prefix, s.key_id(thread_id), field) for field in names]
    if not keys:
        return {}
    values = (yield [SESSION_GET_MANY(keys), *s.stats.due()])[0]
    for raw in values:
        s.stats.lookup("session", raw is not None)
    found = zip(names, keys, values, strict=True)
    return _decoded(thread_id, [(f, codec.opened(raw, s.sealer, k)) for f, k, raw in found if raw is not None])


def _decoded(thread_id: str, stored: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """``{field: value}``; data that cannot be decoded raises :class:`UnreadableFieldsError` for its
    fields only, carrying every field that did decode."""
    found: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    for field, raw in stored:
        try:
            found[field] = _decode(raw, thread_id, field)
        except SerializationError as exc:
            unreadable[field] = str(exc)
    if unreadable:
        raise UnreadableFieldsError(thread_id, found, unreadable)
    return found


def delete_many(s: Settings, thread_id: str, fields: Iterable[str]) -> Operation[int]:
    """Remove several fields of one thread; returns how many existed. One round trip (one UNLINK)."""
    keys = [session_key(s.prefix, s.key_id(thread_id), field) for field in _fields_of(fields)]
    if not keys:
        return 0
    (removed,) = yield from forgetting(s.near, [cmd("UNLINK", *keys)], keys)
    return int(removed)


def ttl(s: Settings, thread_id: str, field: str) -> Operation[float | None]:
    """Seconds until ``field`` expires, ``None`` if it never does; raises :class:`FieldNotFoundError`
    if the field does not exist. Does not refresh anything. One round trip."""
    key = session_key(s.prefix, s.key_id(thread_id), field)
    ms = yield from one(cmd("PTTL", key))
    if ms == -2:
        raise FieldNotFoundError(f"no field {field!r} in thread {thread_id!r}")
    return None if ms == -1 else ms / 1000


def _scan(
    s: Settings, keys: ThreadKeys, mode: str, pattern: str | None = None, cursor: bytes | int = 0, *more: str
) -> Generator[Batch, Replies, list[Any]]:
    """Walk the thread's keys (those matching ``pattern``, default all) in ``mode`` from ``cursor``
    (``more``: the mode's further arguments); one round trip per SCAN step. Returns every step's items."""
    items: list[Any] = []
    match = keys.pattern if pattern is None else pattern
    while True:
        reply = yield from one(SESSION_SCAN([keys.anchor], mode, cursor, match, s.scan_count, *more))
        cursor = reply[0]
        items.extend(reply[1:])
        if cursor in (b"0", 0, "0"):
            return items


def get_all(s: Settings, thread_id: str) -> Operation[dict[str, Any]]:
    """Every live field of the thread (sorted by name), each refreshed by its own TTL. Fields whose
    data cannot be decoded (written by other means) raise :class:`UnreadableFieldsError`, which
    carries all the others."""
    keys = session_thread(s.prefix, s.key_id(thread_id))
    items = yield from _scan(s, keys, "get")
    found = {
        field: codec.opened(raw, s.sealer, key.decode(errors="surrogateescape"))
        for key, raw in zip(items[::2], items[1::2], strict=True)
        if (field := keys.field_of(key))
    }
    return _decoded(thread_id, sorted(found.items()))


def touch(s: Settings, thread_id: str) -> Operation[int]:
    """Refresh every field of the thread by its own TTL; returns how many fields the thread has."""
    keys = session_thread(s.prefix, s.key_id(thread_id))
    items = yield from _scan(s, keys, "touch")
    return len({k for k in items if keys.field_of(k) is not None})


def fields(s: Settings, thread_id: str) -> Operation[list[str]]:
    """The names of the thread's live fields, sorted, without refreshing them."""
    keys = session_thread(s.prefix, s.key_id(thread_id))
    items = yield from _scan(s, keys, "keys")
    return sorted({f for f in map(keys.field_of, items) if f is not None})


def destroy_thread(s: Settings, thread_id: str) -> Operation[int]:
    """Remove every field of the thread and its framework checkpoints (LangGraph's; UNLINK);
    returns how many keys were removed."""
    return (yield from remove_fields(s, thread_id, checkpoints=True))


def remove_fields(
    s: Settings, thread_id: str, *, checkpoints: bool = False, keep_user_parts: bool = False
) -> Operation[int]:
    """Remove every field of the thread (and its user-part set), and its framework checkpoints only
    if asked: a conversation replaced or deleted, or an agent clearing its session data, leaves a
    graph's checkpoints of the same id alone. ``keep_user_parts``: the pending user parts (and their
    set) stay. One round trip per SCAN step (one on a cluster)."""
    named = s.key_id(thread_id)
    keys = session_thread(s.prefix, named)
    keep = (keys.starting(USER_PART_PREFIX),) if keep_user_parts else ()
    batch = [SESSION_SCAN([keys.anchor], "unlink", 0, keys.pattern, s.scan_count, *keep)]
    if not keep_user_parts:
        batch.append(cmd("UNLINK", user_parts_key(s.prefix, named)))  # the set of its user parts' keys goes too
    if checkpoints:
        batch.append(cmd("UNLINK", *checkpoint_keys(s.prefix, named).all))  # same slot: no extra round trip
    first, *more = yield from forgetting(s.near, batch, head=keys.head)
    if not keep_user_parts:
        more = more[1:]  # the set is not a field
    rest = [] if first[0] in (b"0", 0, "0") else (yield from _scan(s, keys, "unlink", None, first[0], *keep))
    if s.near is not None:
        s.near.forget_prefix(keys.head)
    return int(first[1]) + int(sum(more)) + int(sum(rest))


# --- user parts ---------------------------------------------------------------------------------


def _user_part_cmd(s: Settings, thread_id: str, *args: object) -> Command:
    return USER_PART([user_parts_key(s.prefix, s.key_id(thread_id))], *args)


def set_user_part(
    s: Settings,
    thread_id: str,
    name: str,
    part: UserPart | str,
    *,
    ttl: TTL | None = None,
    expires_at: Deadline | None = None,
    written: Any = None,
) -> Operation[None]:
    """Attach ``part`` (text, an image or data; a str is text) to the thread's next user message.

    Stored as the session field ``__user_part_<name>`` (replacing a part of that name) with the same
    TTL rules as any field. The next user message added to the conversation of this id takes every
    pending persistent part, atomically; transient ones (``save=False``) are never stored with a
    message. ``written``: the JSON a client sent for the part (the HTTP API), kept so that reading
    the field shows it as sent (``parts.as_written``). One round trip."""
    key = session_key(s.prefix, s.key_id(thread_id), user_part_field(name))
    data, expiry, amount = _stored(s, key, to_stored(part, written), ttl, expires_at, part=True)
    command = USER_PART_SET([user_parts_key(s.prefix, s.key_id(thread_id))], key, data, expiry, amount)
    yield from forgetting(s.near, [command, *s.stats.due()], [key])
    s.stats.count("session/writes")


def user_parts(s: Settings, thread_id: str) -> Operation[dict[str, Part]]:
    """The thread's pending user parts by name (sorted), each refreshed by its own TTL. One round trip."""
    return parts_of(
        (yield from one(_user_part_cmd(s, thread_id, "list"))),
        session_thread(s.prefix, s.key_id(thread_id)),
        thread_id,
        s.sealer,
    )


def parts_of(items: list[Any], thread: ThreadKeys, thread_id: str, sealer: Sealer | None = None) -> dict[str, Part]:
    """The user parts in a ``user_part.lua`` listing (key, value, key, value...), by name, sorted
    (``sealer``: the cache's, with ``encryption=``)."""
    found: dict[str, Part] = {}
    for key, raw in zip(items[::2], items[1::2], strict=True):
        field = thread.field_of(key)
        if field is not None and field.startswith(USER_PART_PREFIX):
            plain = codec.opened(raw, sealer, key.decode(errors="surrogateescape"))
            found[field[len(USER_PART_PREFIX) :]] = from_stored(_decode(plain, thread_id, field))
    return dict(sorted(found.items()))


def delete_user_part(s: Settings, thread_id: str, name: str) -> Operation[bool]:
    """Remove the pending user part ``name``; True if it was there. One round trip."""
    key = session_key(s.prefix, s.key_id(thread_id), user_part_field(name))
    batch = [cmd("UNLINK", key), cmd("SREM", user_parts_key(s.prefix, s.key_id(thread_id)), key)]
    removed, _ = yield from forgetting(s.near, batch, [key])
    return bool(removed)


def clear_user_parts(s: Settings, thread_id: str) -> Operation[int]:
    """Remove every pending user part of the thread; returns how many. One round trip."""
    head = session_thread(s.prefix, s.key_id(thread_id)).head
    (removed,) = yield from forgetting(s.near, [_user_part_cmd(s, thread_id, "clear")], head=head)
    return int(removed)


# --- values that may be user parts, quotas, looks: what the surfaces (HTTP API, agent tool) call ----

PEEK_VALUE_BYTES = 64 * 1024
"""Values larger than this (stored) are reported by :func:`peek` by size only, unless told otherwise."""


def part_name(field: object) -> str | None:
    """The user part's name if ``field`` is a user-part field (``__user_part_<name>``), else None."""
    if isinstance(field, str) and field.startswith(USER_PART_PREFIX):
        return field[len(USER_PART_PREFIX) :]
    return None


def as_user_part(value: Any) -> UserPart:
    """``value`` as a user part: a part as it is, a str as a text part, any other value as a data part."""
    if isinstance(value, TextPart | ImagePart | DataPart):
        return value
    return TextPart(text=value) if isinstance(value, str) else DataPart(data=value)


def _stored_value(
    s: Settings,
    key: str,
    field: str,
    value: Any,
    ttl: TTL | None,
    expires_at: Deadline | None,
    as_part: Callable[[Any], UserPart] | None,
    written: Any,
) -> tuple[str | None, tuple[bytes, str, int]]:
    """The user part's name (None: a plain field) and the value as stored at ``key``, with how it expires."""
    name = part_name(field)
    if name is None:
        return None, _stored(s, key, value, ttl, expires_at)
    user_part_field(name)  # a bad name raises here, before anything is sent
    part = (as_user_part if as_part is None else as_part)(value)
    return name, _stored(s, key, to_stored(part, written), ttl, expires_at, part=True)


def set_value(
    s: Settings,
    thread_id: str,
    field: str,
    value: Any,
    *,
    ttl: TTL | None = None,
    expires_at: Deadline | None = None,
    as_part: Callable[[Any], UserPart] | None = None,
    written: Any = None,
) -> Operation[None]:
    """Store ``value`` in ``field``, which may name a user part: a field ``__user_part_<name>`` is
    stored as :meth:`set_user_part` stores the part ``name`` (``as_part(value)``; by default a part
    as it is, a str as text, any other value as data; ``written`` as there), any other as :meth:`set`
    stores it. What the HTTP API and the ``session_data`` tool write through. One round trip."""
    name = part_name(field)
    if name is None:
        yield from set_(s, thread_id, field, value, ttl=ttl, expires_at=expires_at)
        return
    part = (as_user_part if as_part is None else as_part)(value)
    yield from set_user_part(s, thread_id, name, part, ttl=ttl, expires_at=expires_at, written=written)


def set_capped(
    s: Settings,
    thread_id: str,
    field: str,
    value: Any,
    *,
    max_fields: int,
    ttl: TTL | None = None,
    expires_at: Deadline | None = None,
    count_user_parts: bool = True,
    as_part: Callable[[Any], UserPart] | None = None,
    written: Any = None,
) -> Operation[bool]:
    """:meth:`set_value`, only if the thread has room: ``field`` exists already, or the thread has
    fewer than ``max_fields`` fields (its pending user parts counted unless ``count_user_parts`` is
    False). True if stored, False if refused. The count and the write are one script call, so
    writers racing to add fields never take the thread past ``max_fields``.

    Cost: one round trip, but the script SCANs the thread's keys to count them (it stops at
    ``max_fields``). On a cluster-mode server that SCAN stays in the thread's slot, so it costs what
    the thread holds; on a standalone server it walks the whole keyspace inside the call, which
    holds the server for that time (measured on a 2-core machine with 100 000 other keys: a new
    field about 45 ms, against 0.3 ms on a cluster-mode server of the same keys): with a big
    keyspace, run the server in cluster mode (the bundled one is). Writing a field that exists
    already counts nothing (0.5 ms there)."""
    if isinstance(max_fields, bool) or not isinstance(max_fields, int) or max_fields < 1:
        raise InvalidArgumentError(f"max_fields must be a positive int, not {max_fields!r}")
    key = session_key(s.prefix, s.key_id(thread_id), field)
    name, (data, expiry, amount) = _stored_value(s, key, field, value, ttl, expires_at, as_part, written)
    thread = session_thread(s.prefix, s.key_id(thread_id))
    skip = "" if count_user_parts else thread.starting(USER_PART_PREFIX)
    command = SESSION_PUT(
        [key, user_parts_key(s.prefix, s.key_id(thread_id))],
        data,
        expiry,
        amount,
        "0" if name is None else "1",
        max_fields,
        thread.pattern,
        s.scan_count,
        skip,
    )
    stored, *_ = yield from forgetting(s.near, [command, *s.stats.due()], [key])
    if stored:
        s.stats.count("session/writes")
    return bool(stored)


def delete_value(s: Settings, thread_id: str, field: str) -> Operation[bool]:
    """Remove ``field``, which may name a user part (``__user_part_<name>``: removed as
    :meth:`delete_user_part` removes it); True if it existed. One round trip."""
    name = part_name(field)
    if name is None:
        return (yield from delete(s, thread_id, field))
    return (yield from delete_user_part(s, thread_id, name))


def clear_fields(s: Settings, thread_id: str, *, keep_user_parts: bool = False) -> Operation[int]:
    """Remove every field of the thread (its pending user parts too, unless ``keep_user_parts``);
    its framework checkpoints stay (:meth:`destroy_thread` removes those too). Returns how many
    fields were removed. One round trip per SCAN step (one on a cluster-mode server)."""
    return (yield from remove_fields(s, thread_id, keep_user_parts=keep_user_parts))


@dataclass(frozen=True, slots=True)
class FieldView:
    """One field of a thread as it is on the server (what :meth:`SessionTier.peek` gives)."""

    field: str
    ttl_ms: int | None
    """Milliseconds left; None: it never expires."""
    value: Any = None
    size: int | None = None
    """Set (bytes stored) when the value was too large to fetch; ``value`` is then None."""
    error: str | None = None
    """Why the value could not be read (``value`` is then None)."""


def _view(field: str, ms: int, raw: Any, sealer: Sealer | None = None, key: str = "") -> FieldView:
    ttl = None if ms < 0 else ms
    if isinstance(raw, int):
        return FieldView(field, ttl, size=raw) if raw >= 0 else FieldView(field, ttl, error="not a string key")
    try:
        return FieldView(field, ttl, codec.decode(codec.opened(raw, sealer, key)))
    except (SerializationError, DecryptionError) as exc:
        return FieldView(field, ttl, error=str(exc))


def peek(
    s: Settings, thread_id: str, *, limit: int | None = None, max_value_bytes: int = PEEK_VALUE_BYTES
) -> Operation[list[FieldView]]:
    """The thread's fields, sorted by name, each with the milliseconds it has left and its value
    (values over ``max_value_bytes`` by size only: 0 gives every field's size and no values). With
    ``limit``, the walk stops once it has found that many (on a larger thread, which ones is the
    SCAN's order). A look, not a read: nothing is refreshed, so looking does not keep a thread
    alive. One round trip per SCAN step (one on a cluster-mode server)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidArgumentError(f"limit must be a positive int or None, not {limit!r}")
    if isinstance(max_value_bytes, bool) or not isinstance(max_value_bytes, int) or not 0 <= max_value_bytes <= 1 << 30:
        raise InvalidArgumentError(f"max_value_bytes must be an int from 0 to 2**30, not {max_value_bytes!r}")
    keys = session_thread(s.prefix, s.key_id(thread_id))
    found: list[FieldView] = []
    cursor: Any = 0
    while True:
        reply = yield from one(SESSION_PEEK([keys.anchor], cursor, keys.pattern, s.scan_count, max_value_bytes))
        cursor, items = reply[0], reply[1:]
        for key, ms, raw in zip(items[::3], items[1::3], items[2::3], strict=True):
            name = keys.field_of(key)
            if name is not None:
                found.append(_view(name, int(ms), raw, s.sealer, key.decode(errors="surrogateescape")))
        if cursor in (b"0", "0", 0) or (limit is not None and len(found) >= limit):
            return sorted(found, key=lambda f: f.field)[:limit]


class SessionTier(Bound[E]):
    """``cache.session``: thread-scoped key-value state with per-field sliding TTLs."""

    TIER = "session"

    set = operation(set_)
    get = operation(get, reads=True)
    delete = operation(delete)
    set_many = operation(set_many)
    get_many = operation(get_many, reads=True)
    delete_many = operation(delete_many)
    ttl = operation(ttl, reads=True)
    get_all = operation(get_all, reads=True)
    touch = operation(touch)
    fields = operation(fields, reads=True)
    destroy_thread = operation(destroy_thread)
    set_user_part = operation(set_user_part)
    user_parts = operation(user_parts, reads=True)
    delete_user_part = operation(delete_user_part)
    clear_user_parts = operation(clear_user_parts)
    set_value = operation(set_value)
    set_capped = operation(set_capped)
    delete_value = operation(delete_value)
    clear_fields = operation(clear_fields)
    peek = operation(peek, reads=True)

    def key(self, thread_id: str, field: str) -> str:
        """The Valkey key that holds ``field`` of ``thread_id`` (for inspection; no I/O)."""
        return session_key(self._settings.prefix, self._settings.key_id(thread_id), field)
