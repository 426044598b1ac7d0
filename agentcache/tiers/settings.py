"""What every operation receives first: the cache's frozen options and the tiers' run-time state."""

from __future__ import annotations

from dataclasses import dataclass

from agentcache.encoding.keys import policies_key, stats_key
from agentcache.stats import StatsBuffer
from agentcache.tiers.tool.flights import Flights
from agentcache.tiers.tool.policies import PolicyCache


@dataclass(frozen=True, slots=True)
class Options:
    """The checked options, in server units."""

    prefix: str
    session_ttl_ms: int  # 0: fields never expire unless a call says otherwise
    max_value_bytes: int
    scan_count: int  # keys a server examines per SCAN step (per round trip) on thread-wide operations
    tool_ttl_ms: int  # tool results' TTL when neither the call nor the tool's policy gives one; 0: none
    retry_s: float = 0.0  # how long a read may keep retrying after connection errors; 0: never


@dataclass(frozen=True, slots=True)
class Settings:
    """One cache's options (frozen) and the in-process state its tiers share (not options)."""

    options: Options
    stats: StatsBuffer = None  # type: ignore[assignment]
    """Counts not yet shipped to the server."""
    policies: PolicyCache = None  # type: ignore[assignment]
    """Tool policies as last read from the server."""
    flights: Flights = None  # type: ignore[assignment]
    """Tool results being computed in this process."""

    def __post_init__(self) -> None:
        prefix = self.options.prefix
        if self.stats is None:
            object.__setattr__(self, "stats", StatsBuffer(stats_key(prefix)))
        if self.policies is None:
            object.__setattr__(self, "policies", PolicyCache(policies_key(prefix)))
        if self.flights is None:
            object.__setattr__(self, "flights", Flights())

    @property
    def prefix(self) -> str:
        return self.options.prefix

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
