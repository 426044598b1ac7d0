"""``agentcache rekey``: seal every stored value again under the cache's current encryption key.

One step is one SCAN step on one primary (``count`` keys examined), then one round trip to read
what the keys found hold, then one to write back, compare-and-set, what was sealed under an older
key (or stored as plaintext) and nothing else: a value already under the current key is left as it
is, so a run can stop anywhere and start again from the cursor it printed, and running it twice
writes nothing the second time. A value a worker changed between the read and the write is left
alone (the worker sealed it with its own current key). TTLs are kept.

What it walks: session fields and user parts, tool results, LLM responses, conversation snapshots
(string keys); a conversation's messages (a list) and its meta hash's sealed fields (``meta``,
``system``, ``summary``); a thread's checkpoint entries and pending writes (the checkpoint tier's
``cp`` and ``w`` hashes, every field); a store item's value (field ``v`` of its hash); a semantic
scope's entries (its ``<head>r`` hash, every field) and cached embeddings (``sem-emb`` keys). A
semantic scope's vectors and band codes are not encrypted (its lookup script reads them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentcache.core.commands import PRIMARIES, Command, Operation, cmd, lua, one, scanned
from agentcache.encoding import codec
from agentcache.encoding.encryption import Sealer, key_name
from agentcache.encoding.keys import prefix_pattern, sealed_kind
from agentcache.errors import DecryptionError, InvalidArgumentError
from agentcache.tiers.settings import Settings

REKEY = lua(__package__, "rekey")
DEFAULT_COUNT = 500
META_FIELDS = ("meta", "system", "summary")
"""The sealed fields of a conversation's meta hash (``meta`` an envelope, the others bare text)."""
WRITES_MARK = b"#writes"
"""The checkpoint entries hash's mark of pending writes (no entry; see ``checkpoints/prelude.lua``)."""
HASH_KINDS = ("meta", "checkpoints", "writes", "item", "semantic")


def write_member(field: str) -> str:
    """The checkpoint member (``<ns> NUL <id>``) a pending write's field belongs to: what its seal
    is bound to (the checkpoint tier's ``write_member``: the tiers of one level do not import each
    other, and a unit test holds the two the same)."""
    return "\x00".join(field.split("\x00", 2)[:2])


@dataclass(frozen=True, slots=True)
class RekeyStep:
    """What one step of :meth:`RekeyTier.step` did."""

    cursor: str | None
    """Where the next step starts (pass it back as ``cursor``); None: the walk is done."""
    examined: int
    """Keys the SCAN step returned."""
    rewritten: int
    """Values sealed again under the current key (or sealed for the first time, from plaintext)."""
    current: int
    """Values already under the current key, left alone."""
    changed: int
    """Values a worker changed between this step's read and its write, left alone."""
    unreadable: list[str]
    """Keys whose values no key of the list opens (left alone; each is listed once)."""
    plaintext: list[str]
    """Keys holding values stored before encryption was on, left as they are unless the cache's
    ``Encryption(allow_plaintext=True)`` (each is listed once)."""


def _cursor(cursor: object) -> tuple[int, int]:
    if cursor is None or cursor == "":
        return 0, 0
    node, sep, position = str(cursor).partition(":")
    if not (sep and node.isdigit() and position.isdigit()):
        raise InvalidArgumentError(f"cursor must be what a previous step gave (node:position), not {cursor!r}")
    return int(node), int(position)


def _node_name(node: Any) -> str:
    return "" if node is None else str(getattr(node, "name", node))


def _sealed_current(blobs: list[bytes], sealer: Sealer) -> bool:
    """Whether a value's sealed pieces (``codec.sealed_blobs``) are all under the current key."""
    current = sealer.current.encode()
    return bool(blobs) and all(key_name(blob) == current for blob in blobs)


def rekey(s: Settings, cursor: str | None = None, *, count: int = DEFAULT_COUNT) -> Operation[RekeyStep]:
    """Seal what is stored again under the current encryption key (``encryption=``, the new key
    first), one step of the walk: one SCAN step (``count`` keys) on one primary from ``cursor``
    (None: the start), then at most two round trips. Call again with the returned ``cursor`` until
    it is None (``agentcache rekey`` does, printing each). Values already under the current key are
    left alone, so a walk resumes anywhere and a second one writes nothing; TTLs are kept."""
    sealer = s.sealer
    if sealer is None:
        raise InvalidArgumentError("rekey needs a cache opened with encryption= (the keys, the new one first)")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidArgumentError(f"count must be a positive int, not {count!r}")
    index, position = _cursor(cursor)
    nodes = sorted((yield PRIMARIES), key=_node_name)
    if index >= len(nodes):
        raise InvalidArgumentError(f"cursor {cursor!r} names node {index}, but there are {len(nodes)} primaries")
    scan = cmd("SCAN", position, "MATCH", prefix_pattern(s.prefix), "COUNT", count, node=nodes[index])
    position, found = scanned((yield from one(scan)))
    following = f"{index}:{position}" if position else (f"{index + 1}:0" if index + 1 < len(nodes) else None)
    keys = [k.decode(errors="surrogateescape") for k in found]
    kinds = [(k, kind) for k in keys if (kind := sealed_kind(s.prefix, k)) is not None]
    if not kinds:
        return RekeyStep(following, len(keys), 0, 0, 0, [], [])
    reads = [_read(key, kind) for key, kind in kinds]
    replies = yield reads
    writes: list[Command] = []
    current, sent, unreadable, plaintext = 0, 0, [], []
    for (key, kind), reply in zip(kinds, replies, strict=True):
        pending: list[Any] = []
        for where, raw in _values(key, kind, reply):
            blobs = codec.sealed_blobs(raw)
            if _sealed_current(blobs, sealer):
                current += 1
                continue
            if not blobs and not sealer.allow_plaintext:
                plaintext.append(key)
                continue
            at, bare = _bound(key, kind, where)
            try:
                new = codec.resealed(raw, sealer, at, part=kind == "part", message=kind == "messages", bare=bare)
            except DecryptionError:
                unreadable.append(key)
                continue
            pending += [where, raw, new]
            sent += 1
        if pending:
            mode = "hash" if kind in HASH_KINDS else "messages" if kind == "messages" else "value"
            writes.append(REKEY([key], mode, *pending))
    rewritten = int(sum((yield writes))) if writes else 0
    unread, plain = sorted(set(unreadable)), sorted(set(plaintext))
    return RekeyStep(following, len(keys), rewritten, current, sent - rewritten, unread, plain)


def _bound(key: str, kind: str, where: Any) -> tuple[str, bool]:
    """What the value at ``where`` of ``key`` is bound to, and whether it is bare bytes
    (``codec.seal_bytes``) rather than an envelope."""
    if kind in ("value", "part", "messages", "semantic"):
        return key, False  # a semantic entry is bound to its scope's entries hash (tier.entries_key)
    if kind == "embedding":
        return key, True
    field = where.decode(errors="surrogateescape") if isinstance(where, bytes) else str(where)
    if kind == "meta":
        return codec.hash_where(key, field), field != "meta"
    if kind == "item":
        return codec.hash_where(key, field), False
    return codec.hash_where(key, write_member(field) if kind == "writes" else field), True


def _read(key: str, kind: str) -> Command:
    if kind == "messages":
        return cmd("LRANGE", key, 0, -1)
    if kind == "meta":
        return cmd("HMGET", key, *META_FIELDS)
    if kind == "item":
        return cmd("HGET", key, "v")
    if kind in ("checkpoints", "writes", "semantic"):
        return cmd("HGETALL", key)
    return cmd("GET", key)


def _values(key: str, kind: str, reply: Any) -> list[tuple[Any, bytes]]:
    """(where, stored bytes) of each sealed value ``reply`` holds (a claim, a missing key: none)."""
    if reply is None or isinstance(reply, int):
        return []
    if kind == "messages":
        return [(i, raw) for i, raw in enumerate(reply) if isinstance(raw, bytes)]
    if kind == "meta":
        return [(f, raw) for f, raw in zip(META_FIELDS, reply, strict=True) if isinstance(raw, bytes)]
    if kind == "item":
        return [("v", reply)] if isinstance(reply, bytes) else []
    if kind == "embedding":
        return [("", reply)] if isinstance(reply, bytes) else []
    if kind in ("checkpoints", "writes", "semantic"):
        pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
        return [(f, raw) for f, raw in pairs if f != WRITES_MARK and isinstance(raw, bytes)]
    if not isinstance(reply, bytes) or reply[:1] not in (bytes((codec.VERSION,)), bytes((codec.FIXED,))):
        return []  # a claim of the single flight (first byte 0), or data agentcache did not write
    return [("", reply)]
