"""The options every tier shares, validated once when a cache is created."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import InvalidArgumentError
from .expiry import TTL, ttl_ms
from .flights import Flights
from .names import check_prefix
from .policies import PolicyCache
from .stats import StatsBuffer

DEFAULT_PREFIX = "agentcache"
DEFAULT_SESSION_TTL = 1800.0
DEFAULT_MAX_VALUE_BYTES = 8 * 1024 * 1024
DEFAULT_SCAN_COUNT = 1000


@dataclass(frozen=True, slots=True)
class Settings:
    prefix: str
    session_ttl_ms: int  # 0: fields never expire unless a call says otherwise
    max_value_bytes: int
    scan_count: int  # keys a server examines per SCAN step (per round trip) on thread-wide operations
    tool_ttl_ms: int  # tool results' TTL when neither the call nor the tool's policy gives one; 0: none
    # In-process state the operations share (not options): counts not yet shipped, policies last read,
    stats: StatsBuffer = field(compare=False, repr=False)
    policies: PolicyCache = field(compare=False, repr=False)
    flights: Flights = field(compare=False, repr=False)  # tool results being fetched in this process


def settings_from(options: dict[str, object]) -> Settings:
    """:func:`make_settings` from keyword options, refusing unknown ones with a typed error."""
    known = [name for name in make_settings.__annotations__ if name != "return"]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InvalidArgumentError(f"unknown option(s) {', '.join(unknown)}; the options are {', '.join(known)}")
    return make_settings(**options)  # type: ignore[arg-type]


def make_settings(
    prefix: str = DEFAULT_PREFIX,
    session_ttl: TTL = DEFAULT_SESSION_TTL,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    scan_count: int = DEFAULT_SCAN_COUNT,
    tool_ttl: TTL | None = None,
) -> Settings:
    """Validate the cache options; raise :class:`InvalidArgumentError` or ``InvalidNameError``."""
    for name, number in (("max_value_bytes", max_value_bytes), ("scan_count", scan_count)):
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise InvalidArgumentError(f"{name} must be a positive int, not {number!r}")
    prefix = check_prefix(prefix)
    return Settings(
        prefix,
        ttl_ms(session_ttl, "session_ttl"),
        max_value_bytes,
        scan_count,
        0 if tool_ttl is None else ttl_ms(tool_ttl, "tool_ttl"),
        StatsBuffer(f"{prefix}:stats"),
        PolicyCache(f"{prefix}:tool-policy"),
        Flights(),
    )
