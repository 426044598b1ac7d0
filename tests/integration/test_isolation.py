"""No operation on one thread ever reads, refreshes or deletes another thread's fields, whatever
the two ids are — checked on real servers with adversarial ids (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import command, make_cache

IDS = st.text(alphabet="a:*?[]\\{}%", min_size=1, max_size=6)
FIELDS = st.lists(st.text(alphabet="a:*?{}%", min_size=1, max_size=4), min_size=1, max_size=4, unique=True)


@pytest.fixture(params=["standalone", "cluster", "cluster3", "memory"])
def shared(request: pytest.FixtureRequest, server_urls: Any) -> Any:
    made, close = make_cache(request.param, "sync", server_urls)
    yield made
    close()


class Sneaky(str):
    """A str subclass, as StrEnum, numpy.str_ or markupsafe.Markup are: it must be escaped like a str."""


@pytest.mark.parametrize("thread", ["victim}:injected", "vic*", "*", "victim", "{victim}"])
def test_str_subclasses_cannot_reach_another_thread(shared: Any, thread: str) -> None:
    session = shared.session
    session.set("victim", "secret", "v", ttl=100)
    session.set(Sneaky(thread), "x", "attacker data")
    mine = {"x": "attacker data"} if thread != "victim" else {"secret": "v", "x": "attacker data"}
    assert session.get_all(Sneaky(thread)) == session.get_all(thread) == mine  # same thread as the plain str
    if thread != "victim":
        assert session.get_all("victim") == {"secret": "v"}
        assert session.touch(Sneaky(thread)) == 1
        assert session.destroy_thread(Sneaky(thread)) == 1
        assert session.get_all("victim") == {"secret": "v"}
    assert session.key(Sneaky(thread), "f") == session.key(thread, "f")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=IDS, b=IDS, fields_a=FIELDS, fields_b=FIELDS)
def test_threads_are_isolated(shared: Any, a: str, b: str, fields_a: list[str], fields_b: list[str]) -> None:
    if a == b:
        return
    session = shared.session
    session.destroy_thread(a)
    session.destroy_thread(b)
    for f in fields_a:
        session.set(a, f, ["a", f])
    for f in fields_b:
        session.set(b, f, ["b", f], ttl=100)
    assert session.get_all(a) == {f: ["a", f] for f in sorted(fields_a)}
    assert session.fields(b) == sorted(fields_b)
    from agentcache.encoding.keys import session_thread

    for f in fields_b:  # touch(a) must not refresh b's fields
        command(shared, "PEXPIRE", session_thread(shared.settings.prefix, b).field(f), 50_000)
    assert session.touch(a) == len(fields_a)
    assert all(session.ttl(b, f) <= 50 for f in fields_b)
    assert session.destroy_thread(a) == len(fields_a)
    assert session.get_all(b) == {f: ["b", f] for f in sorted(fields_b)}
    assert session.destroy_thread(b) == len(fields_b)
