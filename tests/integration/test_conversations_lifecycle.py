"""Conversation lifecycle on short timeouts (seconds), on every topology: expiry, auto-renew, manual renew,
max duration, the warning window, the grace period; configuration precedence and bad environments."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentcache import (
    AgentCache,
    ConversationConfig,
    InvalidArgumentError,
    InvalidTimeoutConfig,
    Message,
    RenewalRefused,
    SessionEnded,
    SessionExpired,
    SessionNotFound,
)
from agentcache.tiers.conversations.lifecycle import ENV, resolve
from tests.conftest import FACADES, TOPOLOGIES
from tests.helpers import make_cache, new

FAST = ConversationConfig(
    default_timeout=1.2, min_timeout=0.2, max_timeout=60, max_duration=30, warning_threshold=0.6, grace=30
)
# Active for 0.6 s, then near expiration for 0.6 s: each check that something has *not yet* happened
# has about 0.5 s to spare on a loaded machine. A wait for something to happen polls the server's view
# (its clock decides statuses), so it ends as soon as that has happened, never after a fixed sleep.
POLL_S, PATIENCE_S = 0.02, 30.0


def until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` (a read of the server's view) until it holds; fail after PATIENCE_S."""
    deadline = time.monotonic() + PATIENCE_S
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {PATIENCE_S} s"
        time.sleep(POLL_S)


def has_expired(conv: Any) -> Callable[[], bool]:
    """A check: the server says the conversation has expired (read during its grace period)."""
    return lambda: bool(conv.info().status == "expired")


def is_gone(conv: Any) -> Callable[[], bool]:
    """A check: the conversation is not found (Valkey reclaimed it after the grace period)."""

    def check() -> bool:
        try:
            conv.info()
        except SessionNotFound:
            return True
        return False

    return check


def left_active(conv: Any) -> Any:
    """The conversation's info once its status is no longer ``active`` (polled)."""
    deadline = time.monotonic() + PATIENCE_S
    while (info := conv.info()).status == "active":
        assert time.monotonic() < deadline, f"{conv.id} still active after {PATIENCE_S} s"
        time.sleep(POLL_S)
    return info


@pytest.fixture(params=[(t, f) for t in TOPOLOGIES for f in FACADES], ids=lambda p: f"{p[0]}-{p[1]}")
def fast(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> Iterator[Any]:
    """A cache whose conversations time out in about a second."""
    topology, facade = request.param
    made, close = make_cache(topology, facade, server_urls, conversation_config=FAST)
    yield made
    close()


def test_expiry_auto_renew_manual_renew_max_duration_and_warnings(fast: Any) -> None:
    plain = new(fast, auto_renew=False)
    assert plain.info().status == "active"  # 1.2 s left, warning at 0.6 s
    auto = new(fast, auto_renew=True)
    manual = new(fast, auto_renew=False)
    capped = new(fast, auto_renew=True, max_duration=1.75)
    assert left_active(capped).status == "near_expiration"  # the last made: all four are in the window

    assert plain.info().status == "near_expiration"
    assert {i.id for i in fast.conversations.expiring(within=0.6)} == {plain.id, auto.id, manual.id, capped.id}
    auto.add_message(Message.user("still here"))  # activity renews: deadline now + 1.2 s
    renewed_at = manual.renew()
    assert manual.info().renewal_count == 1 and manual.info().expires_at == renewed_at
    # renews, but only up to created + 1.75 s: capped is 0.6 s old or more, so now + 1.2 s is later
    capped.add_message(Message.user("x"))
    capped_info = capped.info()
    assert capped_info.expires_at == capped_info.created_at + capped_info.max_duration
    with pytest.raises(RenewalRefused) as refused:
        capped.renew()
    assert refused.value.status_code == 422
    assert [i.id for i in fast.conversations.expiring(within=0.6)] == [plain.id]
    assert auto.info().status == "active"
    until(has_expired(plain), "plain expired")  # 1.2 s after it was made

    with pytest.raises(SessionExpired) as caught:
        fast.conversations.get(plain.id)
    assert caught.value.status_code == 410
    info = plain.info()  # still readable as expired during the grace period
    assert info.status == "expired" and caught.value.expired_at == info.expires_at
    assert info.time_remaining.total_seconds() == 0
    for call in (plain.messages, plain.heartbeat, plain.renew, lambda: plain.add_message(Message.user("late"))):
        with pytest.raises(SessionExpired):
            call()
    assert left_active(manual).status == "near_expiration"  # 0.6 s after its renewal; 0.6 s to spare
    assert fast.conversations.get(manual.id).info().status == "near_expiration"
    assert fast.conversations.get(auto.id).length() == 1  # renewed just before manual: still live
    active = {i.id for i in fast.conversations.list_active()}
    assert plain.id not in active and {auto.id, manual.id} <= active


def test_heartbeat_and_update_timeout(fast: Any) -> None:
    conv = new(fast, auto_renew=True)
    quiet = new(fast, auto_renew=False)
    time.sleep(0.05)  # a clock tick (ms) between creation and the heartbeats; 1.15 s from expiry
    before = conv.info().expires_at
    assert conv.heartbeat() > before  # auto-renew: a heartbeat renews
    quiet_deadline = quiet.info().expires_at
    assert quiet.heartbeat() == quiet_deadline  # no auto-renew: activity is recorded, expiry stays
    assert quiet.info().last_activity > quiet.info().created_at
    longer = quiet.update_timeout(5, auto_renew=True, warning_threshold=1)
    info = quiet.info()
    assert info.timeout.total_seconds() == 5 and info.auto_renew and info.expires_at == longer
    assert info.warning_threshold.total_seconds() == 1
    with pytest.raises(InvalidTimeoutConfig) as caught:
        quiet.update_timeout(120)  # over max_timeout (60 s)
    assert caught.value.status_code == 400
    shorter = quiet.update_timeout(0.3)
    assert shorter < longer
    until(has_expired(quiet), "expired 0.3 s after update_timeout(0.3)")
    with pytest.raises(SessionExpired):
        quiet.add_message(Message.user("x"))
    assert quiet.id not in {i.id for i in fast.conversations.list_active()}


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_expired_and_ended_read_as_such_until_the_grace_period_passes(topology: str, server_urls: Any) -> None:
    config = ConversationConfig(default_timeout=0.3, min_timeout=0.1, grace=0.8)
    cache, close = make_cache(topology, "sync", server_urls, conversation_config=config)
    try:
        expired = new(cache)
        reused = new(cache)
        reused.state.set("secret", "the previous owner's")
        ended = new(cache, timeout=30)
        for conv in (expired, reused):  # 0.3 s after they were made; then readable for 0.8 s
            until(has_expired(conv), f"{conv.id} expired")
        ended.end()  # readable as ended for 0.8 s from now
        with pytest.raises(SessionEnded):
            cache.conversations.get(ended.id)
        with pytest.raises(SessionExpired):
            cache.conversations.get(expired.id)
        # an expired conversation replaced by a new one under its id takes its state along
        again = cache.conversations.create(agent_id="agent", user_id="someone else", session_id=reused.id)
        assert again.state.get_all() == {} and cache.session.get(reused.id, "secret") is None
        for conv in (expired, ended):  # Valkey reclaims them once the grace period has passed
            until(is_gone(conv), f"{conv.id} reclaimed")
            with pytest.raises(SessionNotFound):
                cache.conversations.get(conv.id)
        # an expired id can be used again
        assert new(cache, session_id=expired.id).length() == 0
    finally:
        close()


# --- configuration ------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in ENV.values():
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_built_in_defaults(clean_env: pytest.MonkeyPatch) -> None:
    life = resolve()
    assert (life.default_timeout_ms, life.min_timeout_ms, life.max_timeout_ms) == (1_800_000, 300_000, 86_400_000)
    assert (life.max_duration_ms, life.warning_threshold_ms, life.auto_renew) == (43_200_000, 300_000, True)


def test_environment_then_options_then_agent_then_session(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SESSION_DEFAULT_TIMEOUT_MINUTES", "10")
    clean_env.setenv("SESSION_MIN_TIMEOUT_MINUTES", "1")
    clean_env.setenv("SESSION_MAX_TIMEOUT_MINUTES", "120")
    clean_env.setenv("SESSION_MAX_DURATION_MINUTES", "240")
    clean_env.setenv("SESSION_WARNING_THRESHOLD_MINUTES", "2.5")
    with AgentCache.in_memory() as cache:
        life = cache.conversations.lifecycle
        assert (life.default_timeout_ms, life.min_timeout_ms, life.max_timeout_ms) == (600_000, 60_000, 7_200_000)
        assert (life.max_duration_ms, life.warning_threshold_ms) == (14_400_000, 150_000)
        info = new(cache).info()
        assert info.timeout.total_seconds() == 600 and info.max_duration.total_seconds() == 14_400
        assert info.warning_threshold.total_seconds() == 150
        cache.conversations.configure_agent("agent", timeout=1200, warning_threshold=60)
        info = new(cache).info()
        assert info.timeout.total_seconds() == 1200 and info.warning_threshold.total_seconds() == 60
        assert info.max_duration.total_seconds() == 14_400  # the agent did not set it: the environment's
        info = new(cache, timeout=90, warning_threshold=30).info()
        assert info.timeout.total_seconds() == 90 and info.warning_threshold.total_seconds() == 30
        with pytest.raises(InvalidTimeoutConfig):
            new(cache, timeout=30)  # under the environment's 1-minute minimum
    config = ConversationConfig(default_timeout=20, min_timeout=10)  # options beat the environment
    with AgentCache.in_memory(conversation_config=config) as cache:
        life = cache.conversations.lifecycle
        assert (life.default_timeout_ms, life.min_timeout_ms, life.max_timeout_ms) == (20_000, 10_000, 7_200_000)


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("SESSION_DEFAULT_TIMEOUT_MINUTES", "thirty", "is not a number"),
        ("SESSION_MIN_TIMEOUT_MINUTES", "-5", "positive"),
        ("SESSION_MAX_TIMEOUT_MINUTES", "0", "positive"),
        ("SESSION_MAX_DURATION_MINUTES", "nan", "positive"),
        ("SESSION_WARNING_THRESHOLD_MINUTES", "5m", "is not a number"),
        ("SESSION_MIN_TIMEOUT_MINUTES", "2000", "SESSION_MIN_TIMEOUT_MINUTES"),  # above the 1440 maximum
        ("SESSION_DEFAULT_TIMEOUT_MINUTES", "2", "SESSION_DEFAULT_TIMEOUT_MINUTES"),  # below the 5 minimum
    ],
)
def test_bad_environment_fails_when_the_cache_is_made(
    clean_env: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(InvalidTimeoutConfig) as caught:
        AgentCache.in_memory()
    assert variable in str(caught.value) and complaint in str(caught.value)
    assert isinstance(caught.value, InvalidArgumentError)
    with pytest.raises(InvalidTimeoutConfig):
        AgentCache.from_url("valkey://127.0.0.1:1")  # before any client is made


def test_bad_options_are_refused(clean_env: pytest.MonkeyPatch) -> None:
    for config in (
        ConversationConfig(min_timeout=10, max_timeout=5),
        ConversationConfig(default_timeout=-1),
        ConversationConfig(grace=0),
        ConversationConfig(auto_renew="yes"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidTimeoutConfig):
            AgentCache.in_memory(conversation_config=config)
    with pytest.raises(InvalidTimeoutConfig):
        AgentCache.in_memory(conversation_config={"default_timeout": 5})  # type: ignore[arg-type]
