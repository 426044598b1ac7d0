"""What each operation sends, round trip by round trip, checked without a server (``drive``).

The replies are written by hand, so the rare paths that are hard to provoke on a real server are
covered: a write whose index update must be corrected, a create over an active id, a claim whose
round trip failed. The live suite counts the same round trips on real servers (test_round_trips).
"""

from __future__ import annotations

from typing import Any

import pytest

from agentcache import (
    BackendError,
    Message,
    RenewalRefused,
    SessionExists,
    SessionExpired,
)
from agentcache.encoding import codec
from agentcache.encoding.keys import conversation_keys, index_agent, index_all, index_bucket, index_user
from agentcache.options import make_settings
from agentcache.tiers.conversations import ops
from agentcache.tiers.conversations.refs import Ref, Tier
from agentcache.tiers.session import tier as session
from agentcache.tiers.settings import Settings
from agentcache.tiers.tool import tier as tool
from tests.helpers import drive, names

NOW = 1_800_000_000_000  # the server's clock in the replies, ms
MINUTE = 60_000
FIXED: dict[str, Any] = {"timeout": 600, "auto_renew": True, "max_duration": 3600, "warning_threshold": 60}


def settings() -> Settings:
    made, _ = make_settings({"prefix": "p"})
    made.stats.flush_seconds = float("inf")  # statistics never ride along here: batches stay exact
    return made


def tier() -> Tier:
    made, life = make_settings({"prefix": "p"})
    made.stats.flush_seconds = float("inf")
    return Tier(made, life)


def ref(*, auto_renew: bool = True, cap_ms: int = 0) -> Ref:
    return Ref(tier(), "s1", "agent", "user", conversation_keys("p", "s1"), 10 * MINUTE, cap_ms, auto_renew)


def written(
    deadline: int, *, auto: bool = True, timeout: int = 10 * MINUTE, cap: int = 0, result: Any = 1
) -> list[Any]:
    """A ``conv_write`` ok reply."""
    return [b"ok", NOW, deadline, result, timeout, b"1" if auto else b"0", cap]


BUCKET = index_bucket("s1")
OURS = [index_all("p", BUCKET), index_agent("p", "agent", BUCKET), index_user("p", "user", BUCKET)]


# --- the session tier ---------------------------------------------------------------------------


def test_session_point_operations_are_one_command_each() -> None:
    s = settings()
    batches, _ = drive(session.set_(s, "t", "f", {"a": 1}, ttl=60), [[b"OK"]])
    assert names(batches) == [["SET"]]
    key, data, px, ms = batches[0][0].args[1:]
    assert key == "p:session:{t}:f" and (px, ms) == ("PX", 60_000)

    batches, value = drive(session.get(s, "t", "f"), [[data]])  # the cache knows the field slides by 60 s
    assert [c.args for c in batches[0]] == [("GETEX", key, "PX", 60_000)] and value == {"a": 1}
    batches, value = drive(session.get(settings(), "t", "f"), [[data]])  # another cache: the script
    assert names(batches) == [["EVALSHA session_get"]] and value == {"a": 1}
    assert batches[0][0].args[3] == "p:session:{t}:f"
    assert drive(session.get(s, "t", "missing", default="d"), [[None]])[1] == "d"
    batches, removed = drive(session.delete(s, "t", "f"), [[1]])
    assert [c.args for c in batches[0]] == [("UNLINK", key)] and removed is True


def test_thread_wide_operations_take_one_round_trip_per_scan_step() -> None:
    s = settings()
    f, g = "p:session:{t}:f", "p:session:{t}:g"
    one = codec.encode(1, 0, s.max_value_bytes)
    pages = [[[b"17", f.encode(), one]], [[b"0", g.encode(), one]]]
    batches, found = drive(session.get_all(s, "t"), pages)
    assert names(batches) == [["EVALSHA session_scan"]] * 2
    assert [batch[0].args[5] for batch in batches] == [0, b"17"]  # the cursor goes on
    assert found == {"f": 1, "g": 1}
    batches, removed = drive(session.destroy_thread(s, "t"), [[[b"0", 2], 1, 3]])
    # and, in the same round trip, the user-part set and the thread's LangGraph checkpoints
    assert names(batches) == [["EVALSHA session_scan", "UNLINK", "UNLINK"]] and removed == 2 + 3


def test_statistics_ride_along_once_due() -> None:
    s = settings()
    drive(session.get(s, "t", "f"), [[None]])  # a miss counted, not yet shipped
    s.stats.flush_seconds = 0
    batches, _ = drive(session.get(s, "t", "f"), [[None, 1]])
    assert names(batches) == [["EVALSHA session_get", "HINCRBY"]]
    assert batches[0][1].args == ("HINCRBY", "p:stats", "session/misses", 1)
    assert all(c.optional for c in batches[0][1:])  # a failing count never fails the read


# --- conversation writes and their index ---------------------------------------------------------


def test_a_write_and_its_index_update_share_one_round_trip() -> None:
    r = ref()
    reply = [written(NOW + 10 * MINUTE), [NOW, 0, 0, 0]]
    batches, length = drive(ops.add_message(r, Message.assistant("hi")), [reply])
    assert names(batches) == [["EVALSHA conv_write", "EVALSHA conv_index"]] and length == 1
    assert batches[0][1].optional  # the index never fails a write
    assert batches[0][1].args[3:6] == tuple(OURS)


def test_a_user_message_takes_user_parts_in_the_same_script() -> None:
    reply = [written(NOW + 10 * MINUTE), [NOW, 0, 0, 0]]
    batches, _ = drive(ops.add_message(ref(), Message.user("hi")), [reply])
    assert names(batches) == [["EVALSHA conv_write", "EVALSHA conv_index"]]
    write = batches[0][0].args
    assert write[2:6] == (3, "p:conv:{s1}:meta", "p:conv:{s1}:msgs", "p:parts:{s1}")  # the part-key set
    assert write[6:9] == ("attach", tier().life.grace_ms, 1)  # message 1 takes the parts
    batches, _ = drive(ops.add_message(ref(), Message.user("hi"), attach_user_parts=False), [reply])
    assert batches[0][0].args[5] == "append"


def test_settings_changed_elsewhere_correct_the_index_in_a_second_round_trip() -> None:
    """The handle thought auto-renew was on and moved the index; the script read it off (another
    worker changed it), so the deadline did not move: the index entry is set back to it."""
    r = ref(auto_renew=True)
    deadline = NOW + 5 * MINUTE
    batches, _ = drive(ops.heartbeat(r), [[written(deadline, auto=False), [NOW + 10 * MINUTE, 1, 1, 1]], [1]])
    assert names(batches) == [["EVALSHA conv_write", "EVALSHA conv_index"], ["EVALSHA conv_index"]]
    assert batches[1][0].args[-5:] == ("set", "s1", deadline, "set", 3)
    assert r.auto_renew is False  # and the handle learns the settings


def test_settings_that_agree_need_no_correction() -> None:
    r = ref(auto_renew=True)
    batches, _ = drive(ops.heartbeat(r), [[written(NOW + 10 * MINUTE), [NOW + 10 * MINUTE, 0, 0, 0]]])
    assert len(batches) == 1


def test_a_failed_index_update_is_not_corrected() -> None:
    """The index command's error reply (None once the executor has it) means nothing moved there."""
    r = ref(auto_renew=True)
    batches, _ = drive(ops.heartbeat(r), [[written(NOW + 5 * MINUTE, auto=False), None]])
    assert len(batches) == 1


def test_a_write_to_an_expired_conversation_takes_back_its_index_entry() -> None:
    batches: list[Any] = []
    with pytest.raises(SessionExpired):
        drive(ops.heartbeat(ref()), [[[b"expired", NOW - 1], [NOW + 1, 1, 1, 1]], [1]], batches)
    assert [b[0].args[-3:] for b in batches[1:]] == [("drop", "s1", NOW + 1)]  # only if the score is still ours


def test_a_refused_renewal_lowers_an_index_entry_past_the_cap() -> None:
    r = ref(cap_ms=0)  # the handle does not know the cap yet
    cap = NOW + MINUTE
    batches: list[Any] = []
    with pytest.raises(RenewalRefused):
        drive(ops.renew(r), [[[b"refused", cap, cap], [NOW + 10 * MINUTE, 1, 1, 1]], [1]], batches)
    assert names(batches) == [["EVALSHA conv_write", "EVALSHA conv_index"], ["EVALSHA conv_index"]]
    assert batches[1][0].args[-5:] == ("set", "s1", cap, "set", 3)
    assert r.cap_ms == cap


# --- creating -----------------------------------------------------------------------------------


def test_create_is_one_round_trip_when_every_setting_is_given() -> None:
    batches, opened = drive(
        ops.create(tier(), agent_id="agent", user_id="user", session_id="s1", **FIXED),
        [[[b"ok", NOW, NOW + 10 * MINUTE, 0, 0], [NOW + 10 * MINUTE, 1, 1, 1]]],
    )
    assert names(batches) == [["EVALSHA conv_create", "EVALSHA conv_index"]]
    assert batches[0][1].args[-5:-1] == ("add", "s1", 10 * MINUTE, 0) and batches[0][1].args[-1] == "nx"
    assert opened.ref.id == "s1" and opened.ref.cap_ms == NOW + 3600_000


def test_create_without_settings_reads_the_agents_defaults_first() -> None:
    batches, _ = drive(
        ops.create(tier(), agent_id="agent", user_id="user", session_id="s1"),
        [[[b"900000", None, None, None]], [[b"ok", NOW, NOW + 15 * MINUTE, 0, 0], [NOW, 1, 1, 1]]],
    )
    assert names(batches) == [["HMGET"], ["EVALSHA conv_create", "EVALSHA conv_index"]]
    assert batches[1][1].args[-3] == 15 * MINUTE  # the agent's timeout, read in the first round trip


def test_create_over_an_active_id_of_another_owner_takes_back_the_entries_it_added() -> None:
    """The index update (an entry only where there was none) added the id to our agent's and user's
    indexes: those are not the live conversation's, so they are taken back; the shared index keeps
    the entry, at the live deadline."""
    live = NOW + 7 * MINUTE
    batches: list[Any] = []
    with pytest.raises(SessionExists):
        drive(
            ops.create(tier(), agent_id="agent", user_id="user", session_id="s1", **FIXED),
            [[[b"exists", live, b"other-agent", b"other-user"], [NOW + 10 * MINUTE, 1, 1, 1]], [1]],
            batches,
        )
    assert names(batches) == [["EVALSHA conv_create", "EVALSHA conv_index"], ["EVALSHA conv_index"]]
    fix = batches[1][0].args
    assert fix[3:6] == tuple(OURS)  # keep the shared index first, then drop our agent's and user's
    assert fix[6:] == ("set", "s1", live, "set", 1)


def test_create_over_an_active_id_of_the_same_owner_changes_nothing() -> None:
    batches: list[Any] = []
    with pytest.raises(SessionExists):
        drive(
            ops.create(tier(), agent_id="agent", user_id="user", session_id="s1", **FIXED),
            [[[b"exists", NOW + MINUTE, b"agent", b"user"], [NOW + 10 * MINUTE, 0, 0, 0]]],
            batches,
        )
    assert len(batches) == 1


def test_create_where_an_index_entry_was_left_sets_it() -> None:
    batches, _ = drive(
        ops.create(tier(), agent_id="agent", user_id="user", session_id="s1", **FIXED),
        [[[b"ok", NOW, NOW + 10 * MINUTE, 0, 0], [NOW + 10 * MINUTE, 1, 0, 1]], [1]],
    )
    assert batches[1][0].args[-5:] == ("set", "s1", NOW + 10 * MINUTE, "set", 3)


def test_create_replacing_an_ended_conversation_removes_its_state() -> None:
    batches, _ = drive(
        ops.create(tier(), agent_id="agent", user_id="user", session_id="s1", **FIXED),
        [[[b"ok", NOW, NOW + 10 * MINUTE, 0, 1], [NOW, 1, 1, 1]], [[b"0", 3], 1]],
    )
    assert names(batches)[1] == ["EVALSHA session_scan", "UNLINK"]
    assert batches[1][0].args[4] == "unlink" and batches[1][0].args[3] == "p:session:{s1}:"


# --- the tool tier: claims ------------------------------------------------------------------------


def _miss(s: Settings, value: Any = "v") -> tuple[list[Any], Any]:
    return drive(tool.get_or_compute(s, "search", {"q": 1}, lambda: value, ttl=60), [[None], [b"OK"]])


def test_a_miss_claims_computes_and_stores_and_a_hit_is_one_round_trip() -> None:
    s = settings()
    batches, value = _miss(s)
    assert names(batches) == [["EVALSHA tool_claim"], ["SET"]] and value == "v"
    key, data = batches[1][0].args[1:3]
    assert batches[0][0].args[3] == key and batches[1][0].args[3:] == ("PX", 60_000)
    hit_batches, hit = drive(tool.get_or_compute(settings(), "search", {"q": 1}, lambda: "other", ttl=60), [[data]])
    assert len(hit_batches) == 1 and hit == "v"


def test_a_claim_held_elsewhere_is_waited_for_then_read() -> None:
    data = _miss(settings())[0][1][0].args[2]
    batches, value = drive(tool.get_or_compute(settings(), "search", {"q": 1}, lambda: "mine", ttl=60), [[250], [data]])
    assert names(batches) == [["EVALSHA tool_claim"]] * 2 and value == "v"


def test_a_failing_function_releases_its_claim() -> None:
    def fail() -> None:
        raise ValueError("tool down")

    batches: list[Any] = []
    with pytest.raises(ValueError, match="tool down"):
        drive(tool.get_or_compute(settings(), "search", {"q": 1}, fail, ttl=60), [[None], [1]], batches)
    assert names(batches) == [["EVALSHA tool_claim"], ["EVALSHA tool_release"]]
    assert batches[0][0].args[4] == batches[1][0].args[4]  # only its own lock is released


def test_a_failed_claim_round_trip_still_releases_what_it_may_have_claimed() -> None:
    batches: list[Any] = []
    failed = BackendError(["EVALSHA tool_claim"], ConnectionError("reset"))
    with pytest.raises(BackendError):
        drive(
            tool.get_or_compute(settings(), "search", {"q": 1}, lambda: 1, ttl=60),
            [failed, [0]],
            batches,
        )
    assert names(batches) == [["EVALSHA tool_claim"], ["EVALSHA tool_release"]]


def test_drive_refuses_replies_that_do_not_fit() -> None:
    with pytest.raises(AssertionError, match="2 replies for 1 commands"):
        drive(session.get(settings(), "t", "f"), [[None, None]])
    with pytest.raises(AssertionError, match="left over"):
        drive(session.get(settings(), "t", "f"), [[None], [None]])
    with pytest.raises(AssertionError, match="no reply given"):
        drive(session.get(settings(), "t", "f"), [])
