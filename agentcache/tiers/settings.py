"""What every operation receives first: the cache's frozen options and the tiers' run-time state."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentcache.core.commands import Command
from agentcache.core.flights import Flights
from agentcache.core.near import NearStore
from agentcache.encoding.encryption import Sealer
from agentcache.encoding.keys import HashedIds, llm_policies_key, policies_key, stats_key
from agentcache.stats import StatsBuffer

REFRESH_SECONDS = 1.0
"""How long a cache trusts a TTL policy it read: a policy change reaches every worker within about that
long (at once in the worker that made it)."""


@dataclass(frozen=True, slots=True)
class Options:
    """The checked options, in server units."""

    prefix: str
    session_ttl_ms: int  # 0: fields never expire unless a call says otherwise
    max_value_bytes: int
    scan_count: int  # keys a server examines per SCAN step (per round trip) on thread-wide operations
    tool_ttl_ms: int  # tool results' TTL when neither the call nor the tool's policy gives one; 0: none
    retry_s: float = 0.0  # how long a read may keep retrying after connection errors; 0: never
    llm_ttl_ms: int = 0  # LLM responses' TTL when neither the call nor the model's policy gives one; 0: none
    llm_cache_sampled: bool = True  # whether requests that sample (temperature > 0 or unset) are cached
    llm_prices: Mapping[str, ModelPrice] = field(default_factory=dict)  # per model, for cost saved
    observers: tuple[Any, ...] = ()  # what sees every operation (core/observe.py): tracing, metrics


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """What a model costs, in any currency, per million tokens: the LLM tier's cost saved uses it."""

    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1_000_000


class PolicyCache:
    """The TTL policies (of tools, of models) one cache last read, with when it read them; the
    shelf's policies (``tiers/shelf/policies.py``) read and write them. Thread-safe."""

    def __init__(self, key: str, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.key = key
        self.refresh_seconds = refresh_seconds
        self._known: dict[str, tuple[int | None, float]] = {}
        self._lock = threading.Lock()

    def known(self, name: str) -> tuple[int | None, bool]:
        """The policy TTL (ms, 0 = never; None = no policy) last read, and whether it is fresh."""
        entry = self._known.get(name)
        if entry is None:
            return None, False
        return entry[0], time.monotonic() - entry[1] < self.refresh_seconds

    def remember(self, name: str, ms: int | None) -> int | None:
        """Note ``name``'s policy TTL as just read (or written); returns it."""
        with self._lock:
            self._known[name] = (ms, time.monotonic())
        return ms


@dataclass(frozen=True, slots=True)
class Shelf:
    """One kind of entry on the shared shelf (``tiers/shelf/``: tool results, LLM responses): where
    their TTL policies live and the TTL without one."""

    policies: PolicyCache
    default_ms: int


@dataclass(frozen=True, slots=True)
class Settings:
    """One cache's options (frozen) and the in-process state its tiers share (not options)."""

    options: Options
    stats: StatsBuffer = None  # type: ignore[assignment]
    """Counts not yet shipped to the server."""
    policies: PolicyCache = None  # type: ignore[assignment]
    """Tool policies as last read from the server."""
    flights: Flights = None  # type: ignore[assignment]
    """Tool results and LLM responses being computed in this process."""
    llm_policies: PolicyCache = None  # type: ignore[assignment]
    """Per-model LLM TTL policies as last read from the server."""
    tool_shelf: Shelf = None  # type: ignore[assignment]
    llm_shelf: Shelf = None  # type: ignore[assignment]
    near: NearStore | None = None
    """The near cache (``near_cache=`` option), else None."""
    seen: dict[str, int] = None  # type: ignore[assignment]
    """Shelf keys this cache lately saw holding an entry, with its expiry (``shelf/entries.py``)."""
    slides: dict[str, tuple[Command, bytes]] = None  # type: ignore[assignment]
    """Session keys this cache lately saw holding a sliding field: the read that refreshes it by
    that TTL (``GETEX key PX ms``) and the header it expects back (``tiers/session/tier.py``)."""
    sealer: Sealer | None = None
    """Encryption at rest (``encryption=`` option, ``encoding/encryption.py``), else None."""
    ids: HashedIds | None = None
    """What replaces users' ids in key names (``Encryption(id_key=...)``), else None: see :meth:`key_id`."""

    def __post_init__(self) -> None:
        prefix = self.options.prefix
        if self.stats is None:
            object.__setattr__(self, "stats", StatsBuffer(stats_key(prefix)))
        if self.policies is None:
            object.__setattr__(self, "policies", PolicyCache(policies_key(prefix)))
        if self.flights is None:
            object.__setattr__(self, "flights", Flights())
        if self.llm_policies is None:
            object.__setattr__(self, "llm_policies", PolicyCache(llm_policies_key(prefix)))
        if self.seen is None:
            object.__setattr__(self, "seen", {})
        if self.slides is None:
            object.__setattr__(self, "slides", {})
        object.__setattr__(self, "tool_shelf", Shelf(self.policies, self.options.tool_ttl_ms))
        object.__setattr__(self, "llm_shelf", Shelf(self.llm_policies, self.options.llm_ttl_ms))

    @property
    def prefix(self) -> str:
        return self.options.prefix

    def key_id(self, value: str, what: str = "thread_id") -> str:
        """A thread, conversation, agent or user id as the key helpers (``encoding/keys.py``) get
        it: the id itself, which they check and escape, or under ``Encryption(id_key=...)`` its
        keyed hash. Every key built from such an id passes through here."""
        ids = self.ids
        return value if ids is None else ids(value, what)

    @property
    def session_ttl_ms(self) -> int:
        return self.options.session_ttl_ms

    @property
    def max_value_bytes(self) -> int:
        return self.options.max_value_bytes

    @property
    def scan_count(self) -> int:
        return self.options.scan_count

    @property
    def tool_ttl_ms(self) -> int:
        return self.options.tool_ttl_ms
