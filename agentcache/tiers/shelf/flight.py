"""The single flight: an entry missing from the shelf is computed once, however many ask at once.

Callers in this process wait for the first one (``core/flights.py``: no round trip of their own);
callers in other processes meet its claim in Valkey (``claim.lua``) and check again after a backoff
growing from 2 ms to 25 ms. A key this cache lately saw holding an entry (stored or read here) is
read with a plain GET first, which is all a hit needs; only if the entry has gone since does the
caller claim it (one round trip more, on a miss). If the computation fails, its claim is released
(``release.lua``) and a waiter computes next; if the computing caller dies, its claim lapses after
its lock timeout.
"""

from __future__ import annotations

import contextlib
import math
import random
import secrets
from collections.abc import Callable, Generator
from typing import Any

from agentcache.core.commands import Await, Call, Pause, Step, cmd
from agentcache.core.flights import Flight
from agentcache.core.near import forgetting
from agentcache.encoding import codec
from agentcache.encoding.expiry import TTL
from agentcache.errors import BackendError, InvalidArgumentError, shown
from agentcache.tiers.settings import Settings, Shelf
from agentcache.tiers.shelf.entries import expires_ms, likely_stored, seen_stored, set_entry, unseen
from agentcache.tiers.shelf.policies import learned, lifetime, policy_read
from agentcache.tiers.shelf.scripts import CLAIM, CLAIM_MARK, RELEASE

DEFAULT_LOCK_TIMEOUT = 30.0
FIRST_WAIT = 0.002  # a waiter's first pause (seconds); each next one doubles, up to MAX_WAIT
MAX_WAIT = 0.025  # so a waiter checks at most 40-80 times a second and returns within ~25 ms of the result


def lock_timeout_ms(lock_timeout: object) -> int:
    """A ``lock_timeout=`` (seconds) in ms, checked: how long a claim holds if its caller dies."""
    if isinstance(lock_timeout, int | float) and not isinstance(lock_timeout, bool) and 0 < lock_timeout < 1e9:
        return max(1, math.ceil(lock_timeout * 1000))
    raise InvalidArgumentError(
        f"lock_timeout must be a positive number of seconds (longer than the function runs), not {shown(lock_timeout)}"
    )


def computed_once(
    s: Settings,
    shelf: Shelf,
    name: str,
    key: str,
    compute: Call,
    make: Callable[[Any, int], bytes],
    ttl: TTL | None,
    lock_ms: int,
) -> Generator[Step, Any, tuple[bytes, bool]]:
    """The entry stored at ``key``, or the one ``make(compute's result, ttl ms)`` builds, computed
    once however many ask (the single flight shared by the tool and LLM tiers); and whether this
    caller computed it. Callers in this process wait for the first one (no round trip of their
    own); callers in other processes meet its claim in Valkey and wait for the result there."""
    ms, stale = lifetime(shelf, name, ttl)
    if s.near is not None:
        local = s.near.get(key)
        if local is not None:
            return local, False
    flight: Flight | None
    flight, leader = s.flights.join(key)
    if not leader:  # another caller in this process is on it: wait for it, no round trip
        yield Await(flight, lock_ms / 1000)
        if flight.data is not None:
            return flight.data, False
        flight = None  # it failed or took too long: go to Valkey, where one caller claims the key
    data: bytes | None = None
    try:
        data, computed = yield from _fetch_or_compute(s, shelf, name, key, compute, make, ms, stale, lock_ms)
    finally:
        if flight is not None:
            s.flights.land(key, flight, data)
    return data, computed


def _fetch_or_compute(
    s: Settings,
    shelf: Shelf,
    name: str,
    key: str,
    compute: Call,
    make: Callable[[Any, int], bytes],
    ms: int,
    stale: bool,
    lock_ms: int,
) -> Generator[Step, Any, tuple[bytes, bool]]:
    """The stored entry for ``key`` and whether this caller computed it: claim the key in Valkey or
    wait for whoever holds the claim (in any process), backing off between checks. ``ms``: the TTL
    to store with, unless ``stale`` (then the policy is read in the first round trip)."""
    if likely_stored(s, key):  # seen here lately: read it plainly (a hit needs no claim, no script)
        ticket = None if s.near is None else s.near.ticket()
        raw = (yield [cmd("GET", key), *s.stats.due()])[0]
        if raw is not None and raw[:1] != CLAIM_MARK:
            raw = codec.opened(raw, s.sealer, key)  # plain from here on (near cache, flights): this process only
            if s.near is not None:
                s.near.admit(key, raw, ticket, expires_ms=expires_ms(raw))
            return raw, False
        unseen(s, [key])  # gone since (removed elsewhere, evicted): claim it as any miss does
    lock = CLAIM_MARK + secrets.token_bytes(16)
    wait = FIRST_WAIT
    mine = False  # whether the key may hold this caller's claim
    try:
        while True:
            batch = [CLAIM([key], lock, lock_ms)]
            if stale:
                batch.append(policy_read(shelf, name))
            mine = True  # if this round trip fails, the script may still have claimed
            ticket = None if s.near is None else s.near.ticket()
            try:
                replies = yield batch + s.stats.due()
            except BackendError as exc:
                if not exc.out_of_memory:
                    raise
                # A server out of memory refuses the claim script before it runs, even on a hit
                # (it may write): a stored entry is still served, by a plain GET; a miss fails
                # before the computation runs, since its result could not be stored.
                mine = False
                raw = (yield [cmd("GET", key)])[0]
                if raw is None or raw[:1] == CLAIM_MARK:
                    raise
                return codec.opened(raw, s.sealer, key), False
            if stale:
                ms, stale = learned(shelf, name, replies[1]), False
            state = replies[0]
            if state is None:  # claimed: this caller computes
                break
            mine = False
            if isinstance(state, bytes):  # a hit
                state = codec.opened(state, s.sealer, key)
                expires = expires_ms(state)
                if s.near is not None:
                    s.near.admit(key, state, ticket, expires_ms=expires)
                seen_stored(s, key, expires)
                return state, False
            pause = wait * random.uniform(0.5, 1.0)  # someone else computes: wait, not past their claim lapsing
            yield Pause(min(pause, max(state, 1) / 1000) if state >= 0 else pause)
            wait = min(wait * 2, MAX_WAIT)
        data = make((yield compute), ms)
        stored = codec.seal(data, s.sealer, key)  # with encryption=, sealed and bound to its key
        yield from forgetting(s.near, [set_entry(key, stored, ms), *s.stats.due()], [key])
        seen_stored(s, key, expires_ms(data))
    except GeneratorExit:
        raise
    except BaseException:  # the computation raised, a round trip failed, the caller was cancelled or interrupted
        if mine:  # let a waiter compute now rather than after the lock timeout (only our own claim goes)
            with contextlib.suppress(BackendError):  # if this fails too, the claim lapses by itself
                yield [RELEASE([key], lock)]
        raise
    return data, True
