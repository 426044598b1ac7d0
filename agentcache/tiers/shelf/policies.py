"""TTL policies: per name (a tool, a model), stored in Valkey so every worker applies the same one.

A shelf's policies live in one hash, field: the name (``<prefix>:tool-policy`` for tools,
``<prefix>:llm-policy`` for models). Each cache remembers what it last read (``settings.PolicyCache``) for about a
second and re-reads a policy in a batch that is being sent anyway, so storing an entry stays one
round trip.

TTL of a stored entry, first that applies: ``ttl=`` on the call, its name's policy, the shelf's
default (the cache's ``tool_ttl`` or ``llm_ttl``), else none.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from agentcache.core.commands import Command, Operation, cmd, one
from agentcache.encoding.expiry import TTL, ttl_ms
from agentcache.tiers.settings import Shelf


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """How results of one tool (or responses of one model) are kept. ``ttl``: seconds, or None for
    "never expire"."""

    ttl: float | None


def encode_policy(ttl_ms: int) -> bytes:
    """A policy as stored in the policies hash."""
    return msgpack.packb({"ttl_ms": ttl_ms})  # type: ignore[no-any-return]


def policy_ms(raw: bytes | None) -> int | None:
    """The TTL (ms; 0 = never expire) of a stored policy, or None when the name has none."""
    if raw is None:
        return None
    try:
        ttl = msgpack.unpackb(raw)["ttl_ms"]
    except Exception:  # written by something else: ignore it rather than fail every store
        return None
    return ttl if isinstance(ttl, int) and ttl >= 0 else None


def as_policy(ms: int | None) -> ToolPolicy | None:
    """The policy a TTL in ms gives (None: no policy)."""
    return None if ms is None else ToolPolicy(ttl=ms / 1000 if ms else None)


def lifetime(shelf: Shelf, name: str, ttl: TTL | None) -> tuple[int, bool]:
    """The TTL (ms, 0 = none) to store with now, and whether it may be stale (policy not read lately)."""
    if ttl is not None:
        return ttl_ms(ttl), False
    policy, fresh = shelf.policies.known(name)
    return _policy_ttl(shelf, policy), not fresh


def _policy_ttl(shelf: Shelf, policy: int | None) -> int:
    """The TTL (ms, 0 = none) a policy gives, or the shelf's default without one."""
    return shelf.default_ms if policy is None else policy


def policy_read(shelf: Shelf, name: str) -> Command:
    """Read ``name``'s policy alongside a store; if that fails, the store still stands (no policy)."""
    return cmd("HGET", shelf.policies.key, name, optional=True)


def learned(shelf: Shelf, name: str, reply: bytes | None) -> int:
    """Remember the policy read alongside a store (:func:`policy_read`'s reply); the TTL it gives."""
    return _policy_ttl(shelf, shelf.policies.remember(name, policy_ms(reply)))


def put_policy(shelf: Shelf, name: str, ttl: TTL) -> Operation[None]:
    """Store ``name``'s TTL policy for every worker. One round trip."""
    ms = ttl_ms(ttl)
    yield [cmd("HSET", shelf.policies.key, name, encode_policy(ms))]
    shelf.policies.remember(name, ms)


def read_policy(shelf: Shelf, name: str) -> Operation[ToolPolicy | None]:
    """``name``'s policy as stored, or None. One round trip."""
    raw = yield from one(cmd("HGET", shelf.policies.key, name))
    return as_policy(shelf.policies.remember(name, policy_ms(raw)))


def remove_policy(shelf: Shelf, name: str) -> Operation[bool]:
    """Remove ``name``'s policy; True if it had one. One round trip."""
    removed = yield from one(cmd("HDEL", shelf.policies.key, name))
    shelf.policies.remember(name, None)
    return bool(removed)
