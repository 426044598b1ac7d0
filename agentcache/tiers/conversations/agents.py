"""Per-agent conversation defaults (``configure_agent``) and the checks of timeout settings."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from agentcache.core.commands import Batch, Operation, Replies, cmd
from agentcache.encoding.keys import (
    agent_config_key,
    check_name,
)
from agentcache.errors import (
    InvalidArgumentError,
    InvalidTimeoutConfig,
    shown,
)
from agentcache.tiers.conversations.lifecycle import Seconds, to_ms
from agentcache.tiers.conversations.refs import Tier
from agentcache.tiers.settings import Settings

# --- settings checks ----------------------------------------------------------------------------


def optional_ms(value: Seconds | None, what: str) -> int | None:
    """``value`` in milliseconds, or None when it is None (a setting left as it is)."""
    return None if value is None else to_ms(value, what)


def check_bool(value: object, what: str) -> bool | None:
    """``value`` if it is True, False or None; InvalidTimeoutConfig naming ``what`` otherwise."""
    if value is not None and not isinstance(value, bool):
        raise InvalidTimeoutConfig(f"{what} must be True or False, not {shown(value)}")
    return value


@dataclass(frozen=True, slots=True)
class TimeoutSettings:
    """The lifecycle settings one conversation is created with, in milliseconds."""

    timeout_ms: int
    auto_renew: bool
    max_duration_ms: int
    warning_ms: int


def _agent_defaults(s: Settings, agent_id: str) -> Generator[Batch, Replies, dict[str, int]]:
    (values,) = yield [
        cmd("HMGET", agent_config_key(s.prefix, s.key_id(agent_id, "agent_id")), "timeout", "auto", "maxdur", "warn")
    ]
    return {
        name: int(v) for name, v in zip(("timeout", "auto", "maxdur", "warn"), values, strict=True) if v is not None
    }


def resolve_settings(
    t: Tier,
    agent_id: str,
    timeout: int | None,
    auto_renew: bool | None,
    max_duration: int | None,
    warning: int | None,
) -> Generator[Batch, Replies, TimeoutSettings]:
    """Per session, then per agent (one round trip, only when something is left open), then the cache's."""
    agent: dict[str, int] = {}
    if None in (timeout, auto_renew, max_duration, warning):
        agent = yield from _agent_defaults(t.settings, agent_id)
    life = t.life
    chosen = timeout if timeout is not None else agent.get("timeout", life.default_timeout_ms)
    return TimeoutSettings(
        timeout_ms=life.check_timeout(chosen),
        auto_renew=auto_renew if auto_renew is not None else bool(agent.get("auto", life.auto_renew)),
        max_duration_ms=max_duration if max_duration is not None else agent.get("maxdur", life.max_duration_ms),
        warning_ms=warning if warning is not None else agent.get("warn", life.warning_threshold_ms),
    )


def configure_agent(
    t: Tier,
    agent_id: str,
    *,
    timeout: Seconds | None = None,
    auto_renew: bool | None = None,
    max_duration: Seconds | None = None,
    warning_threshold: Seconds | None = None,
) -> Operation[None]:
    """Set the defaults of ``agent_id``'s new conversations, for every worker (stored on the server).

    Settings left ``None`` stay as they were. Conversations already created keep their settings.
    One round trip."""
    agent = check_name(agent_id, "agent_id")
    values: list[Any] = []
    timeout_ms = optional_ms(timeout, "timeout")
    if timeout_ms is not None:
        values += ["timeout", t.life.check_timeout(timeout_ms)]
    if check_bool(auto_renew, "auto_renew") is not None:
        values += ["auto", int(bool(auto_renew))]
    duration_ms = optional_ms(max_duration, "max_duration")
    if duration_ms is not None:
        values += ["maxdur", t.life.check_max_duration(duration_ms)]
    warning_ms = optional_ms(warning_threshold, "warning_threshold")
    if warning_ms is not None:
        values += ["warn", warning_ms]
    if not values:
        raise InvalidArgumentError("configure_agent needs at least one setting to change")
    yield [cmd("HSET", agent_config_key(t.settings.prefix, t.settings.key_id(agent, "agent_id")), *values)]


def agent_config(t: Tier, agent_id: str) -> Operation[dict[str, Any]]:
    """The defaults ``configure_agent`` stored for ``agent_id`` (only those that were set). One round trip."""
    stored = yield from _agent_defaults(t.settings, check_name(agent_id, "agent_id"))
    out: dict[str, Any] = {}
    for name, key in (("timeout", "timeout"), ("max_duration", "maxdur"), ("warning_threshold", "warn")):
        if key in stored:
            out[name] = timedelta(milliseconds=stored[key])
    if "auto" in stored:
        out["auto_renew"] = bool(stored["auto"])
    return out
