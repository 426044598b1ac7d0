"""Conversation lifecycle limits: where the defaults come from, validated once when a cache is made.

Precedence, highest first: what a conversation is created with, the agent's defaults
(``configure_agent``, stored on the server and shared by every worker), then these process-wide
limits. Each limit comes from :class:`ConversationConfig` if the code gives it, else from the
environment (minutes), else from the built-in default:

=========================  ==================================  =======
option                     environment variable                default
=========================  ==================================  =======
``default_timeout``        ``SESSION_DEFAULT_TIMEOUT_MINUTES``  30 min
``min_timeout``            ``SESSION_MIN_TIMEOUT_MINUTES``      5 min
``max_timeout``            ``SESSION_MAX_TIMEOUT_MINUTES``      1440 min
``max_duration``           ``SESSION_MAX_DURATION_MINUTES``     720 min
``warning_threshold``      ``SESSION_WARNING_THRESHOLD_MINUTES``  5 min
``grace``                  (none)                               60 min
=========================  ==================================  =======

A bad value in the environment (not a number, not positive, ``min > max``, a default outside
``min..max``) raises :class:`InvalidTimeoutConfig` naming the variable when the cache is created,
not later on some request.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from agentcache.encoding.expiry import MAX_TTL_MS
from agentcache.errors import InvalidTimeoutConfig, shown

Seconds = float | int | timedelta

ENV = {
    "default_timeout": "SESSION_DEFAULT_TIMEOUT_MINUTES",
    "min_timeout": "SESSION_MIN_TIMEOUT_MINUTES",
    "max_timeout": "SESSION_MAX_TIMEOUT_MINUTES",
    "max_duration": "SESSION_MAX_DURATION_MINUTES",
    "warning_threshold": "SESSION_WARNING_THRESHOLD_MINUTES",
}
BUILT_IN_MINUTES = {
    "default_timeout": 30.0,
    "min_timeout": 5.0,
    "max_timeout": 1440.0,
    "max_duration": 720.0,
    "warning_threshold": 5.0,
}
DEFAULT_GRACE_S = 3600.0


@dataclass(frozen=True, slots=True)
class ConversationConfig:
    """Process-wide conversation limits, in seconds (or timedeltas); ``None`` = environment, then default.

    Pass as ``conversation_config=`` to any way of making a cache. ``auto_renew`` is the default for
    conversations whose agent does not set one. ``grace`` is how long an expired or ended
    conversation stays readable as such (``SessionExpired``) before Valkey reclaims it and it reads
    as ``SessionNotFound``.
    """

    default_timeout: Seconds | None = None
    min_timeout: Seconds | None = None
    max_timeout: Seconds | None = None
    max_duration: Seconds | None = None
    warning_threshold: Seconds | None = None
    auto_renew: bool = True
    grace: Seconds = DEFAULT_GRACE_S


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The resolved limits, in milliseconds."""

    default_timeout_ms: int
    min_timeout_ms: int
    max_timeout_ms: int
    max_duration_ms: int
    warning_threshold_ms: int
    auto_renew: bool
    grace_ms: int

    def check_max_duration(self, max_duration_ms: int, what: str = "max_duration") -> int:
        """``max_duration_ms`` if it is at least ``min_timeout``, else InvalidTimeoutConfig (400): a
        conversation capped below the shortest allowed timeout would be born (all but) expired."""
        if max_duration_ms < self.min_timeout_ms:
            raise InvalidTimeoutConfig(
                f"{what} of {max_duration_ms / 1000:g} s is below the minimum timeout of "
                f"{self.min_timeout_ms / 1000:g} s, so the conversation would expire as soon as it starts; "
                "give at least that (the limit is SESSION_MIN_TIMEOUT_MINUTES or ConversationConfig.min_timeout)"
            )
        return max_duration_ms

    def check_timeout(self, timeout_ms: int, what: str = "timeout") -> int:
        """``timeout_ms`` if it lies within ``min_timeout..max_timeout``, else InvalidTimeoutConfig (400)."""
        if not self.min_timeout_ms <= timeout_ms <= self.max_timeout_ms:
            raise InvalidTimeoutConfig(
                f"{what} of {timeout_ms / 1000:g} s is outside the allowed "
                f"{self.min_timeout_ms / 1000:g}..{self.max_timeout_ms / 1000:g} s; choose a value in that range "
                "(the limits are SESSION_MIN/MAX_TIMEOUT_MINUTES or ConversationConfig)"
            )
        return timeout_ms


def to_ms(value: object, what: str) -> int:
    """Milliseconds for a positive number of seconds or a timedelta; InvalidTimeoutConfig otherwise.

    Rounds up (4.03 s is 4030 ms, not 4031), so a positive duration is at least 1 ms, never 0."""
    too_long = f"{what} is too long; the limit is {MAX_TTL_MS // 1000} s"
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond any float
            raise InvalidTimeoutConfig(too_long) from None
    else:
        raise InvalidTimeoutConfig(f"{what} must be seconds (int or float) or a timedelta, not {type(value).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidTimeoutConfig(f"{what} must be a positive number of seconds, not {shown(value)}")
    if seconds > MAX_TTL_MS / 1000:  # before multiplying: 1e308 s would become an infinite number of ms
        raise InvalidTimeoutConfig(f"{what} of {seconds:g} s is too long; the limit is {MAX_TTL_MS // 1000} s")
    return max(1, math.ceil(round(seconds * 1000, 6)))


def _from_env(name: str, environ: Mapping[str, str]) -> int | None:
    variable = ENV[name]
    text = environ.get(variable)
    if text is None or not text.strip():
        return None
    try:
        minutes = float(text)
    except ValueError:
        raise InvalidTimeoutConfig(
            f"environment variable {variable}={text!r} is not a number; set it to a positive number of minutes"
        ) from None
    if not math.isfinite(minutes) or minutes <= 0:
        raise InvalidTimeoutConfig(
            f"environment variable {variable}={text!r} must be a positive number of minutes; fix or unset it"
        )
    return to_ms(minutes * 60, variable)


def resolve(config: ConversationConfig | None = None, environ: Mapping[str, str] | None = None) -> Lifecycle:
    """The limits in force: each from ``config``, else the environment, else the built-in default."""
    config = config if config is not None else ConversationConfig()
    if not isinstance(config, ConversationConfig):
        raise InvalidTimeoutConfig(f"conversation_config must be a ConversationConfig, not {type(config).__name__}")
    environ = os.environ if environ is None else environ
    ms: dict[str, int] = {}
    source: dict[str, str] = {}
    for name, variable in ENV.items():
        given = getattr(config, name)
        if given is not None:
            ms[name], source[name] = to_ms(given, f"ConversationConfig.{name}"), f"ConversationConfig.{name}"
            continue
        from_env = _from_env(name, environ)
        if from_env is not None:
            ms[name], source[name] = from_env, variable
        else:
            ms[name], source[name] = round(BUILT_IN_MINUTES[name] * 60_000), f"the built-in {name}"
    if ms["min_timeout"] > ms["max_timeout"]:
        raise InvalidTimeoutConfig(
            f"the minimum timeout ({source['min_timeout']}, {ms['min_timeout'] / 1000:g} s) is above the maximum "
            f"({source['max_timeout']}, {ms['max_timeout'] / 1000:g} s); make min <= max"
        )
    if not ms["min_timeout"] <= ms["default_timeout"] <= ms["max_timeout"]:
        raise InvalidTimeoutConfig(
            f"the default timeout ({source['default_timeout']}, {ms['default_timeout'] / 1000:g} s) is outside "
            f"{ms['min_timeout'] / 1000:g}..{ms['max_timeout'] / 1000:g} s; bring it within the limits"
        )
    if ms["max_duration"] < ms["min_timeout"]:
        raise InvalidTimeoutConfig(
            f"the maximum duration ({source['max_duration']}, {ms['max_duration'] / 1000:g} s) is below the minimum "
            f"timeout ({source['min_timeout']}, {ms['min_timeout'] / 1000:g} s): every conversation would expire "
            "as soon as it starts; make max_duration >= min_timeout"
        )
    if not isinstance(config.auto_renew, bool):
        raise InvalidTimeoutConfig(f"ConversationConfig.auto_renew must be a bool, not {config.auto_renew!r}")
    return Lifecycle(
        default_timeout_ms=ms["default_timeout"],
        min_timeout_ms=ms["min_timeout"],
        max_timeout_ms=ms["max_timeout"],
        max_duration_ms=ms["max_duration"],
        warning_threshold_ms=ms["warning_threshold"],
        auto_renew=config.auto_renew,
        grace_ms=to_ms(config.grace, "ConversationConfig.grace"),
    )
