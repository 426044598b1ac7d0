"""Session reads by ``GETEX key PX ms`` (offline): what a cache learns of a field's sliding TTL, the
round trips of a read that knows it, and the repair when another writer changed the field."""

from __future__ import annotations

from agentcache.encoding import codec
from agentcache.options import make_settings
from agentcache.tiers.session import tier as session
from agentcache.tiers.settings import Settings
from tests.helpers import drive, names

KEY = "p:session:{t}:f"


def settings() -> Settings:
    made, _ = make_settings({"prefix": "p"})
    made.stats.flush_seconds = float("inf")
    return made


def sliding(ms: int, value: object = "v") -> bytes:
    return codec.encode(value, ms, 1 << 20)


def test_a_read_by_the_script_teaches_the_ttl_and_the_next_read_is_getex() -> None:
    s = settings()
    batches, value = drive(session.get(s, "t", "f"), [[sliding(5000)]])
    assert names(batches) == [["EVALSHA session_get"]] and value == "v"
    batches, value = drive(session.get(s, "t", "f"), [[sliding(5000, "w")]])
    assert [c.args for c in batches[0]] == [("GETEX", KEY, "PX", 5000)] and value == "w"


def test_a_value_that_does_not_slide_is_read_by_the_script() -> None:
    s = settings()
    for raw in (sliding(0), codec.encode("v", 0, 1 << 20, deadline_ms=2_000_000_000_000)):
        drive(session.get(s, "t", "f"), [[raw]])
        assert KEY not in s.slides
    drive(session.set_(s, "t", "f", "v", expires_at="2030-01-01T00:00:00+00:00"), [[b"OK"]])
    assert KEY not in s.slides


def test_a_header_that_changed_is_repaired_in_one_more_round_trip() -> None:
    s = settings()
    drive(session.set_(s, "t", "f", "v", ttl=60), [[b"OK"]])
    fixed = codec.encode("w", 0, 1 << 20, deadline_ms=2_000_000_000_000)
    batches, value = drive(session.get(s, "t", "f"), [[fixed], [fixed]])
    assert names(batches) == [["GETEX"], ["EVALSHA session_get"]] and value == "w"
    assert batches[1][0].args[2:] == (1, KEY, "repair")
    assert KEY not in s.slides  # a fixed deadline: the script from now on
    drive(session.set_(s, "t", "f", "v", ttl=60), [[b"OK"]])
    batches, _ = drive(session.get(s, "t", "f"), [[sliding(5000)], [sliding(5000)]])
    assert names(batches) == [["GETEX"], ["EVALSHA session_get"]]
    assert s.slides[KEY][0].args == ("GETEX", KEY, "PX", 5000)  # learnt from the repair's reply


def test_a_miss_forgets_and_writes_teach() -> None:
    s = settings()
    drive(session.set_(s, "t", "f", "v", ttl=60), [[b"OK"]])
    assert drive(session.get(s, "t", "f", "gone"), [[None]])[1] == "gone"
    assert KEY not in s.slides
    drive(session.set_many(s, "t", {"f": 1, "g": 2}, ttl=7), [[1]])
    assert s.slides[KEY][0].args == ("GETEX", KEY, "PX", 7000)
    drive(session.delete(s, "t", "f"), [[1]])
    assert KEY not in s.slides


def test_the_memory_is_bounded() -> None:
    s = settings()
    for i in range(session.SLIDES_KEPT + 5):
        session.learn(s.slides, f"k{i}", sliding(1000))
    assert len(s.slides) <= session.SLIDES_KEPT


def test_user_parts_are_never_learnt() -> None:
    s = settings()
    drive(session.get(s, "t", "__user_part_x"), [[sliding(5000)]])
    assert not s.slides
