"""Tool policies: a per-tool TTL stored in Valkey so every worker applies the same one.

Policies live in one hash, ``<prefix>:tool-policy`` (field: the tool name). Each cache remembers
what it last read for ``REFRESH_SECONDS`` and re-reads a policy in a batch that is being sent anyway,
so storing a result stays one round trip; a policy change reaches every worker within about that
long (at once in the worker that made it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import msgpack

REFRESH_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """How results of one tool are kept. ``ttl``: seconds, or None for "never expire"."""

    ttl: float | None


def encode_policy(ttl_ms: int) -> bytes:
    return msgpack.packb({"ttl_ms": ttl_ms})  # type: ignore[no-any-return]


def policy_ms(raw: bytes | None) -> int | None:
    """The TTL (ms; 0 = never expire) of a stored policy, or None when the tool has none."""
    if raw is None:
        return None
    try:
        ttl = msgpack.unpackb(raw)["ttl_ms"]
    except Exception:  # written by something else: ignore it rather than fail every store
        return None
    return ttl if isinstance(ttl, int) and ttl >= 0 else None


def as_policy(ms: int | None) -> ToolPolicy | None:
    return None if ms is None else ToolPolicy(ttl=ms / 1000 if ms else None)


class PolicyCache:
    """The policies one cache last read, with when it read them. Thread-safe."""

    def __init__(self, key: str, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.key = key
        self.refresh_seconds = refresh_seconds
        self._known: dict[str, tuple[int | None, float]] = {}
        self._lock = threading.Lock()

    def known(self, tool: str) -> tuple[int | None, bool]:
        """The policy TTL (ms, 0 = never; None = no policy) last read, and whether it is fresh."""
        entry = self._known.get(tool)
        if entry is None:
            return None, False
        return entry[0], time.monotonic() - entry[1] < self.refresh_seconds

    def remember(self, tool: str, ms: int | None) -> int | None:
        with self._lock:
            self._known[tool] = (ms, time.monotonic())
        return ms
