"""The checkpoint tier: a thread's framework checkpoints (LangGraph's), ordered, with pending writes.

A thread's checkpoints live in five keys under the thread's hash tag (``encoding/keys.py``), so one
script reads or changes them atomically on a cluster too, and ``cache.session.destroy_thread``
removes them with the thread's session state. Checkpoints are ordered by id within a namespace (ids
are time-ordered, as LangGraph's uuid6 ids are); each carries the serializer's own ``(type, bytes)``
pairs, which this tier stores as they are and never interprets (no pickle: the adapter chooses the
serializer). An optional TTL applies to the whole thread: every write sets it, and a read sets it
again when asked to (sliding).

With ``encryption=`` each checkpoint entry and each pending write is sealed (``codec.seal_bytes``):
an entry is bound to its hash field (the checkpoint's member) in the thread's ``cp`` key, a write to
its checkpoint's member in the thread's ``w`` key, and a checkpoint whose writes hold one task's
write twice (one copied over another) is refused. The scripts only move the entries, never read
them. What stays visible: the members (namespaces and checkpoint ids), the write fields (task ids
and indexes), the run ids, the counts and sizes.

Round trips: put 1, put_writes 1, get 1, list 1 per 100 checkpoints, delete_thread 1,
copy_thread 2, prune 1 for any number of threads; delete_runs and threads walk the keyspace (one
SCAN step per round trip on each primary).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from agentcache.core.binding import Bound, E, operation
from agentcache.core.commands import Operation, cmd, lua, one, scan_all
from agentcache.encoding import codec
from agentcache.encoding.expiry import TTL, ttl_ms
from agentcache.encoding.keys import (
    check_name,
    checkpoint_index_pattern,
    checkpoint_keys,
    checkpoint_member,
    checkpoint_part,
    checkpoint_thread_of,
)
from agentcache.errors import (
    CheckpointsLost,
    DecryptionError,
    InvalidArgumentError,
    SerializationError,
    ValueTooLargeError,
)
from agentcache.tiers.settings import Settings

CHECKPOINT_PUT = lua(__package__, "put", name="checkpoint_put", prelude="prelude")
CHECKPOINT_WRITES = lua(__package__, "writes", name="checkpoint_writes", prelude="prelude")
CHECKPOINT_READ = lua(__package__, "read", name="checkpoint_read", prelude="prelude")
CHECKPOINT_DROP = lua(__package__, "drop", name="checkpoint_drop", prelude="prelude")
CHECKPOINT_COPY = lua(__package__, "copy", name="checkpoint_copy", prelude="prelude")

PAGE = 100  # checkpoints per round trip when listing
WRITES_MARK = "#writes"
"""The field of a thread's entries hash that marks pending writes (``prelude.lua``): no entry."""
Typed = tuple[str, bytes]
"""What a serializer's ``dumps_typed`` makes: a type tag and the bytes."""


@dataclass(frozen=True, slots=True)
class StoredWrite:
    """One pending write of a task on a checkpoint."""

    task_id: str
    idx: int
    """The write's index within the task; negative for the special channels, which replace."""
    channel: str
    value: Typed
    task_path: str = ""


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """One checkpoint as stored, with its pending writes in ``(task_path, task_id, idx)`` order."""

    thread_id: str
    namespace: str
    checkpoint_id: str
    checkpoint: Typed
    metadata: Typed
    parent_id: str | None
    writes: list[StoredWrite]


def _typed(value: object, what: str) -> Typed:
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], bytes | bytearray | memoryview)
    ):
        raise SerializationError(f"{what} must be a serializer's (type, bytes) pair, not {type(value).__name__}")
    return value[0], bytes(value[1])


def _ms(ttl: TTL | None) -> int:
    return 0 if ttl is None else ttl_ms(ttl)


def put(
    s: Settings,
    thread_id: str,
    namespace: str,
    checkpoint_id: str,
    checkpoint: Typed,
    metadata: Typed,
    *,
    parent_id: str | None = None,
    run_id: str | None = None,
    ttl: TTL | None = None,
) -> Operation[None]:
    """Store a checkpoint (replacing one of the same id). One round trip."""
    keys = checkpoint_keys(s.prefix, s.key_id(thread_id))
    member = checkpoint_member(namespace, checkpoint_id)
    if parent_id is not None:
        checkpoint_part(parent_id, "parent checkpoint_id")
    if run_id is not None and not isinstance(run_id, str):
        raise InvalidArgumentError(f"run_id must be a str, not {type(run_id).__name__}")
    c, m = _typed(checkpoint, "checkpoint"), _typed(metadata, "metadata")
    entry = msgpack.packb([namespace, checkpoint_id, c[0], c[1], m[0], m[1], parent_id])
    _fits(s, len(entry))
    entry = codec.seal_bytes(entry, s.sealer, codec.hash_where(keys.cp, member))
    yield from one(CHECKPOINT_PUT(keys.all, member, entry, run_id or "", _ms(ttl)))


def put_writes(
    s: Settings,
    thread_id: str,
    namespace: str,
    checkpoint_id: str,
    writes: Sequence[StoredWrite],
    *,
    ttl: TTL | None = None,
) -> Operation[int]:
    """Store pending writes on a checkpoint: a write of a task and index already there is kept,
    except for negative indexes (special channels), which replace. Returns how many were stored.
    One round trip (none for no writes). The writes belong to a checkpoint stored with :func:`put`:
    a thread holding writes and no checkpoint reads as :class:`CheckpointsLost` (its checkpoints
    were evicted), and a ``ttl`` left out here gives the new keys the thread's own TTL."""
    keys = checkpoint_keys(s.prefix, s.key_id(thread_id))
    member = checkpoint_member(namespace, checkpoint_id)
    args: list[object] = []
    for w in writes:
        if not isinstance(w, StoredWrite) or type(w.idx) is not int:
            raise InvalidArgumentError("writes must be StoredWrite with an int idx")
        check_name(w.channel, "channel")
        value = _typed(w.value, "write value")
        packed = msgpack.packb([w.task_id, w.idx, w.channel, value[0], value[1], w.task_path])
        _fits(s, len(packed))
        packed = codec.seal_bytes(packed, s.sealer, codec.hash_where(keys.w, member))
        args += [f"{member}\x00{checkpoint_part(w.task_id, 'task_id')}\x00{w.idx}", packed, "1" if w.idx < 0 else "0"]
    if not args:
        return 0
    return int((yield from one(CHECKPOINT_WRITES(keys.all, _ms(ttl), *args))))


def get(
    s: Settings, thread_id: str, namespace: str, checkpoint_id: str | None = None, *, refresh: TTL | None = None
) -> Operation[StoredCheckpoint | None]:
    """The checkpoint ``checkpoint_id`` of the namespace, or its newest without one; None if there
    is none. ``refresh`` sets the thread's TTL again (sliding). One round trip."""
    keys = checkpoint_keys(s.prefix, s.key_id(thread_id))
    member = "" if checkpoint_id is None else checkpoint_member(namespace, checkpoint_id)
    head = checkpoint_member(namespace, "")
    reply = yield from one(CHECKPOINT_READ(keys.all, _ms(refresh), "get", member, head))
    return None if not reply else _entry(s, thread_id, _whole(thread_id, reply))


def list_(
    s: Settings,
    thread_id: str,
    namespace: str | None = None,
    *,
    before: str | None = None,
    limit: int | None = None,
    refresh: TTL | None = None,
) -> Operation[list[StoredCheckpoint]]:
    """The thread's checkpoints newest first (by namespace, then id, for all namespaces), only those
    with an id below ``before`` if given, at most ``limit``. One round trip per 100 checkpoints."""
    if limit is not None and (type(limit) is not int or limit < 0):
        raise InvalidArgumentError(f"limit must be an int >= 0 or None, not {limit!r}")
    keys = checkpoint_keys(s.prefix, s.key_id(thread_id))
    before_part = "" if before is None else checkpoint_part(before, "before checkpoint_id")
    if namespace is None:
        low, high, filter_before = b"-", b"+", before_part
    else:  # a lex range: bytes, so the bound past every id is the byte 0xff (never in UTF-8)
        head = checkpoint_member(namespace, "").encode()
        low, high, filter_before = b"[" + head, b"(" + head + (before_part.encode() or b"\xff"), ""
    found: list[StoredCheckpoint] = []
    while limit is None or len(found) < limit:
        want = PAGE if limit is None else min(PAGE, limit - len(found))
        page = _whole(
            thread_id, (yield from one(CHECKPOINT_READ(keys.all, _ms(refresh), "list", low, high, filter_before, want)))
        )
        found += [_entry(s, thread_id, e) for e in page]
        if len(page) < want:
            break
        high = b"(" + page[-1][0]
    return found


def threads(s: Settings) -> Operation[list[str]]:
    """Every thread that has checkpoints, sorted (a walk of the keyspace on every primary). Not
    under ``Encryption(id_key=...)``: key names then hold hashes, and a hash names no thread."""
    if s.ids is not None:
        raise InvalidArgumentError(
            "threads() reads thread ids from key names, which hold their keyed hashes under "
            "Encryption(id_key=...): keep a list of your thread ids, or open the cache without id_key"
        )
    found: set[str] = set()

    def collect(keys: list[bytes]) -> Operation[int]:
        found.update(t for t in (checkpoint_thread_of(s.prefix, k) for k in keys) if t is not None)
        return 0
        yield  # an operation that sends nothing

    yield from scan_all(checkpoint_index_pattern(s.prefix), s.scan_count, collect)
    return sorted(found)


def delete_thread(s: Settings, thread_id: str) -> Operation[int]:
    """Remove the thread's checkpoints and writes; returns how many keys went. One round trip."""
    return int((yield from one(cmd("UNLINK", *checkpoint_keys(s.prefix, s.key_id(thread_id)).all))))


def copy_thread(s: Settings, source_thread_id: str, target_thread_id: str, *, ttl: TTL | None = None) -> Operation[int]:
    """Copy every checkpoint and write of one thread to another (added to what the target has);
    returns how many checkpoints were copied. Two round trips: a read of the source, then one script
    call that writes the target whole (or, a server out of memory refusing it, not at all). The
    threads may sit on different nodes, so a concurrent write to the source may or may not be copied."""
    source = checkpoint_keys(s.prefix, s.key_id(source_thread_id))
    target = checkpoint_keys(s.prefix, s.key_id(target_thread_id))
    members, entries, runs, writes, fields = yield [
        cmd("ZRANGE", source.idx, 0, -1),
        cmd("HGETALL", source.cp),
        cmd("HGETALL", source.runs),
        cmd("HGETALL", source.w),
        cmd("ZRANGE", source.widx, 0, -1),
    ]
    if not members:
        return 0
    if s.sealer is not None:  # each value is bound to its thread's keys: open, then seal for the target
        entries = _moved(s, entries, source.cp, target.cp, lambda field: field)
        writes = _moved(s, writes, source.w, target.w, write_member)
    lists = [_flat(entries), _flat(runs), _flat(writes), list(members), list(fields)]
    yield [CHECKPOINT_COPY(target.all, _ms(ttl), *map(len, lists), *(x for each in lists for x in each))]
    return len(members)


def write_member(field: str) -> str:
    """The checkpoint member a pending write's field (``<member> NUL <task> NUL <idx>``) belongs to:
    what a sealed write is bound to."""
    return "\x00".join(field.split("\x00", 2)[:2])


def _moved(s: Settings, reply: Any, source: str, target: str, where: Any) -> dict[bytes, bytes]:
    """A hash's fields (HGETALL) opened as stored in ``source``, sealed for ``target`` (the mark
    ``#writes`` of the entries hash is no sealed value: it goes as it is)."""
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    out: dict[bytes, bytes] = {}
    for field, raw in pairs:
        name = field.decode(errors="surrogateescape") if isinstance(field, bytes) else str(field)
        if name == WRITES_MARK:
            out[field] = raw
            continue
        plain = codec.opened_bytes(raw, s.sealer, codec.hash_where(source, where(name)))
        out[field] = codec.seal_bytes(plain, s.sealer, codec.hash_where(target, where(name)))
    return out


def _flat(reply: Any) -> list[Any]:
    return [x for pair in reply.items() for x in pair] if isinstance(reply, dict) else list(reply)


def prune(s: Settings, thread_ids: Iterable[str], *, keep_latest: bool = True) -> Operation[int]:
    """Keep only the newest checkpoint of each namespace of each thread (``keep_latest``), or remove
    them all; returns how many checkpoints (keep_latest) or keys went. One round trip."""
    threads_ = _names(thread_ids, "thread_ids")
    if not threads_:
        return 0
    keys = [checkpoint_keys(s.prefix, s.key_id(t)).all for t in threads_]
    batch = [CHECKPOINT_DROP(k, "keep_latest") if keep_latest else cmd("UNLINK", *k) for k in keys]
    return int(sum((yield batch)))


def delete_runs(s: Settings, run_ids: Iterable[str]) -> Operation[int]:
    """Remove every checkpoint (with its writes) that one of these runs made, in every thread;
    returns how many. Walks the keyspace: one SCAN step per round trip on each primary, each
    followed by one round trip for the threads it found."""
    runs = _names(run_ids, "run_ids")
    if not runs:
        return 0

    def drop(keys: list[bytes]) -> Operation[int]:
        # the threads as key names show them (hashed under Encryption(id_key=...)): no key_id again
        found = [t for t in (checkpoint_thread_of(s.prefix, k) for k in keys) if t is not None]
        batch = [CHECKPOINT_DROP(checkpoint_keys(s.prefix, t).all, "runs", *runs) for t in found]
        return int(sum((yield batch))) if batch else 0

    return (yield from scan_all(checkpoint_index_pattern(s.prefix), s.scan_count, drop))


def _names(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, str | bytes):
        raise InvalidArgumentError(f"{what} must be a list of str, not one {type(values).__name__}")
    out = list(values)
    for v in out:
        check_name(v, what[:-1])
    return out


def _fits(s: Settings, size: int) -> None:
    if size > s.max_value_bytes:
        raise ValueTooLargeError(size, s.max_value_bytes)


def _whole(thread_id: str, reply: Any) -> Any:
    """The read script's reply, unless it says part of the thread is gone (then CheckpointsLost)."""
    if isinstance(reply, bytes):
        raise CheckpointsLost(
            f"checkpoints of thread {thread_id!r}: {reply.decode(errors='replace')} (some of the thread's keys "
            "were evicted under an evicting maxmemory-policy, see docs/memory.md, or deleted); reading on would "
            "return fewer checkpoints or writes than were stored. delete_thread() clears the rest",
            thread_id,
        )
    return reply


def _entry(s: Settings, thread_id: str, reply: list[Any]) -> StoredCheckpoint:
    member = reply[0].decode(errors="surrogateescape")
    keys = checkpoint_keys(s.prefix, s.key_id(thread_id))
    entry = codec.opened_bytes(reply[1], s.sealer, codec.hash_where(keys.cp, member))
    bound = codec.hash_where(keys.w, member)
    try:
        ns, cid, ctype, cdata, mtype, mdata, parent = msgpack.unpackb(entry)
        stored = [msgpack.unpackb(codec.opened_bytes(w, s.sealer, bound)) for w in reply[2:]]
        writes = [StoredWrite(t, i, ch, (vt, vb), path) for t, i, ch, vt, vb, path in stored]
    except DecryptionError:
        raise
    except Exception as exc:  # msgpack raises several unrelated types; a wrong shape is a ValueError
        raise SerializationError(f"a checkpoint of thread {thread_id!r} cannot be read: {exc}") from exc
    if s.sealer is not None and len({(w.task_id, w.idx) for w in writes}) != len(writes):
        raise DecryptionError(  # a write is bound to its checkpoint: one copied over another shows twice
            f"a checkpoint of thread {thread_id!r} holds one pending write twice: a sealed write was copied "
            "over another on the server",
            keys.w,
        )
    writes.sort(key=lambda w: (w.task_path, w.task_id, w.idx))
    return StoredCheckpoint(thread_id, ns, cid, (ctype, cdata), (mtype, mdata), parent, writes)


class CheckpointTier(Bound[E]):
    """``cache.checkpoints``: a thread's framework checkpoints with pending writes (LangGraph's
    checkpointer, ``agentcache.integrations.langgraph``, stores through this)."""

    TIER = "checkpoints"

    put = operation(put)
    put_writes = operation(put_writes)
    get = operation(get, reads=True)
    list = operation(list_, reads=True)
    threads = operation(threads, reads=True)
    delete_thread = operation(delete_thread)
    copy_thread = operation(copy_thread)
    prune = operation(prune)
    delete_runs = operation(delete_runs)
