"""Entries on the shelf: how they are stored, read, found and removed.

An entry is a codec envelope holding a list: the value, when it was stored and when it expires (ms,
the storing worker's clock; 0 = never), then what its tier adds (a tool result's cost; an LLM
response's cost, tokens and stream chunks). Carrying the expiry lets a check be a plain GET.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable
from datetime import UTC, datetime
from typing import Any

from agentcache.core.commands import Command, Operation, Replies, cmd, scan_all
from agentcache.core.near import forgetting
from agentcache.encoding import codec
from agentcache.encoding.expiry import TTL
from agentcache.errors import SerializationError
from agentcache.tiers.settings import Settings, Shelf
from agentcache.tiers.shelf.policies import learned, lifetime, policy_read
from agentcache.tiers.shelf.scripts import CLAIM_MARK, INVALIDATE, RESTORE


class Stored:
    """What a lookup of a stored entry found: ``hit``, when it was stored and how long it has left."""

    __slots__ = ("_expires_ms", "_stored_ms", "hit")

    def __init__(self, hit: bool, stored_ms: int = 0, expires_ms: int = 0) -> None:
        self.hit = hit
        self._stored_ms = stored_ms
        self._expires_ms = expires_ms

    @property
    def stored_at(self) -> datetime | None:
        """When the entry was stored (the storing worker's clock); None on a miss."""
        return datetime.fromtimestamp(self._stored_ms / 1000, UTC) if self.hit else None

    @property
    def ttl(self) -> float | None:
        """Seconds the entry has left (by the storing worker's clock); None if it never expires or
        on a miss. Valkey expires it on the server's clock."""
        if not (self.hit and self._expires_ms):
            return None
        return max(0.0, (self._expires_ms - time.time() * 1000) / 1000)

    def __bool__(self) -> bool:
        """True on a hit, so ``if tier.check(...):`` reads as it should."""
        return self.hit


def encode_entry(s: Settings, value: Any, ttl_ms: int, *extra: Any) -> bytes:
    """An entry as stored: ``value``, now, when it expires (``ttl_ms`` from now; 0 = never), then
    ``extra`` (what its tier adds)."""
    now = int(time.time() * 1000)
    return codec.encode([value, now, now + ttl_ms if ttl_ms else 0, *extra], 0, s.max_value_bytes)


def decode_entry(raw: bytes, size: int, kind: str) -> list[Any]:
    """The items of a stored entry, which must be ``size`` long; else SerializationError
    ("it is not ``kind``"), for the caller to say whose entry it was."""
    entry = codec.decode(raw)
    if not (isinstance(entry, list) and len(entry) == size):
        raise SerializationError(f"it is not {kind}")
    return entry


def expires_ms(raw: bytes) -> int:
    """A stored entry's expiry (wall clock ms, 0: none), read without decoding the rest (the caller
    decodes the entry once, for its value)."""
    expires = codec.list_item(raw, 2)
    return expires if isinstance(expires, int) else 0


SEEN_MAX = 4096
"""How many keys a cache remembers as holding an entry (:func:`seen_stored`); past that it starts over."""
SEEN_MARGIN_MS = 1000
"""An entry remembered to expire sooner than this is not counted on (clocks of workers differ)."""


def seen_stored(s: Settings, key: str, expires: int) -> None:
    """Remember that ``key`` holds an entry expiring at ``expires`` (wall clock ms, 0: never): a
    single flight there reads it with a plain GET rather than the claim script
    (:func:`~agentcache.tiers.shelf.flight.computed_once`). Only a hint: a wrong one costs a round trip."""
    seen = s.seen
    if len(seen) >= SEEN_MAX:
        seen.clear()
    seen[key] = expires


def likely_stored(s: Settings, key: str) -> bool:
    """Whether this cache lately saw ``key`` holding an entry that has not expired since."""
    expires = s.seen.get(key)
    return expires is not None and (expires == 0 or expires - time.time() * 1000 > SEEN_MARGIN_MS)


def unseen(s: Settings, keys: Iterable[str]) -> None:
    """Forget what :func:`seen_stored` remembered of ``keys`` (removed, or found missing)."""
    for key in keys:
        s.seen.pop(key, None)


def entry_read(s: Settings, key: str) -> Generator[list[Command], Replies, bytes | None]:
    """The entry stored at ``key`` (None: missing, or a claim): from the near cache if it has it,
    else one GET (whose reply the near cache may keep)."""
    near = s.near
    raw: bytes | None
    if near is None:
        raw = (yield [Command(("GET", key)), *s.stats.due()])[0]
        return None if raw is None or raw[:1] == CLAIM_MARK else codec.opened(raw, s.sealer, key)
    local = near.get(key)
    if local is not None:
        return local
    ticket = near.ticket()
    raw = (yield [Command(("GET", key)), *s.stats.due()])[0]
    if raw is None or raw[:1] == CLAIM_MARK:
        return None
    raw = codec.opened(raw, s.sealer, key)  # the near cache holds plain entries, in this process only
    near.admit(key, raw, ticket, expires_ms=expires_ms(raw))
    return raw


def set_entry(key: str, data: bytes, ms: int) -> Command:
    """Store ``data`` at ``key`` for ``ms`` (0: no expiry)."""
    return cmd("SET", key, data, "PX", ms) if ms else cmd("SET", key, data)


def put(
    s: Settings, shelf: Shelf, name: str, key: str, make: Callable[[int], bytes], ttl: TTL | None
) -> Operation[None]:
    """Store the entry ``make(ttl_ms)`` at ``key`` with ``name``'s TTL. One round trip, unless the
    policy was not known and turns out to differ: then a second one fixes this entry's TTL."""
    ms, stale = lifetime(shelf, name, ttl)
    plain = make(ms)
    data = codec.seal(plain, s.sealer, key)  # with encryption=, sealed and bound to its key
    if not stale:
        yield from forgetting(s.near, [set_entry(key, data, ms), *s.stats.due()], [key])
    else:  # read the policy in the same round trip; store again in a second one only if it changed
        batch = [policy_read(shelf, name), set_entry(key, data, ms), *s.stats.due()]
        replies = yield from forgetting(s.near, batch, [key])
        actual = learned(shelf, name, replies[0])
        if actual != ms:  # the policy changed (or this worker had not read it): fix this entry's TTL
            plain = make(actual)
            fixed = codec.seal(plain, s.sealer, key)
            yield from forgetting(s.near, [RESTORE([key], data, fixed, actual)], [key])
    seen_stored(s, key, expires_ms(plain))


def remove(s: Settings, key: str) -> Operation[bool]:
    """Remove the entry at ``key`` (not a claim: a computation in flight stores its entry when it
    finishes); True if there was one. One round trip."""
    unseen(s, [key])
    (removed,) = yield from forgetting(s.near, [INVALIDATE([key])], [key])
    return bool(removed)


def remove_matching(s: Settings, pattern: str) -> Operation[int]:
    """Remove every stored entry (not a claim) whose key matches ``pattern``, on every primary."""

    def remove_keys(keys: list[bytes]) -> Operation[int]:
        names = [k.decode(errors="surrogateescape") for k in keys]
        unseen(s, names)
        return sum((yield from forgetting(s.near, [INVALIDATE([key]) for key in keys], names)))

    return (yield from scan_all(pattern, s.scan_count, remove_keys))
