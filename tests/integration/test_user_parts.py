"""User parts: content the application attaches to a thread's next user message (session fields
named ``__user_part_<name>``), on every topology and both facades, and across processes."""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any

import pytest

from agentcache import (
    NO_EXPIRY,
    AgentCache,
    DataPart,
    ImagePart,
    InvalidArgumentError,
    Message,
    TextPart,
    ValueTooLargeError,
)
from agentcache.testing import unique_prefix
from tests.helpers import command, cost, new

PNGISH = b"\x89PNG\r\n\x1a\n" + b"\x00\x10pixels" * 400  # compressible, over 1 KiB
NOISE = os.urandom(4000)  # incompressible


def test_set_list_delete_and_clear(cache: Any) -> None:
    s = cache.session
    s.set_user_part("t", "note", "clicked submit")  # a str is a text part
    s.set_user_part("t", "shot", ImagePart(data=PNGISH, mime_type="image/png", name="s.png"), ttl=60)
    s.set_user_part("t", "link", ImagePart(url="https://example.com/a.png", mime_type="image/png"))
    s.set_user_part("t", "dom", DataPart(data={"url": "https://example.com", "nodes": [1, 2]}))
    s.set("t", "plain", 1)
    parts = s.user_parts("t")
    assert list(parts) == ["dom", "link", "note", "shot"]  # sorted by name, plain fields left out
    assert parts["note"] == TextPart(text="clicked submit")
    assert parts["shot"] == ImagePart(data=PNGISH, mime_type="image/png", name="s.png")
    assert parts["dom"].data == {"url": "https://example.com", "nodes": [1, 2]}
    assert set(s.fields("t")) == {
        "__user_part_dom",
        "__user_part_link",
        "__user_part_note",
        "__user_part_shot",
        "plain",
    }
    assert 59 < (s.ttl("t", "__user_part_shot") or 0) <= 60  # the session tier's TTL rules
    assert s.delete_user_part("t", "note") is True and s.delete_user_part("t", "note") is False
    assert s.clear_user_parts("t") == 3
    assert s.user_parts("t") == {} and s.fields("t") == ["plain"]
    s.set_user_part("t", "again", "x")
    assert s.destroy_thread("t") == 2  # destroy_thread removes user parts with the rest


def test_user_parts_of_threads_never_mix(cache: Any) -> None:
    cache.session.set_user_part("a", "p", "for a")
    cache.session.set_user_part("a:b", "p", "for a:b")
    cache.session.set_user_part("a*", "p", "for a*")
    assert cache.session.user_parts("a") == {"p": TextPart(text="for a")}
    assert cache.session.clear_user_parts("a") == 1
    assert cache.session.user_parts("a:b") == {"p": TextPart(text="for a:b")}


def test_image_bytes_are_stored_compressed_and_that_size_counts(cache: Any) -> None:
    if cache.topology == "memory":
        pytest.skip("looks at the stored bytes with a raw command")
    s = cache.session
    s.set_user_part("t", "shot", ImagePart(data=PNGISH, mime_type="image/png"))
    stored = command(cache, "GET", s.key("t", "__user_part_shot"))
    assert len(stored) < len(PNGISH) // 5  # gzip
    s.set_user_part("t", "noise", ImagePart(data=NOISE, mime_type="image/png"))
    stored = command(cache, "GET", s.key("t", "__user_part_noise"))
    assert len(stored) > len(NOISE)  # kept as it was: gzip would not make it smaller
    assert s.user_parts("t")["noise"].data == NOISE


def test_the_stored_size_is_what_counts_against_max_value_bytes() -> None:
    with AgentCache.in_memory(max_value_bytes=1500) as cache:
        cache.session.set_user_part("t", "shot", ImagePart(data=PNGISH, mime_type="image/png"))  # 3.6 KB raw
        with pytest.raises(ValueTooLargeError):
            cache.session.set_user_part("t", "noise", ImagePart(data=NOISE, mime_type="image/png"))


# --- attaching to the next user message ------------------------------------------------------------


def test_the_next_user_message_takes_the_pending_persistent_parts(cache: Any) -> None:
    conv = new(cache)
    s = cache.session
    s.set_user_part(conv.id, "b-shot", ImagePart(data=PNGISH, mime_type="image/png"))
    s.set_user_part(conv.id, "a-note", "clicked submit")
    s.set_user_part(conv.id, "scratch", TextPart(text="for the model only", save=False))
    conv.add_message(Message.assistant("What next?"))  # not a user message: takes nothing
    assert len(s.user_parts(conv.id)) == 3
    conv.add_message(Message.user("Fix the form"))
    message = conv.messages()[-1]
    assert message.parts == [
        TextPart(text="Fix the form"),
        TextPart(text="clicked submit"),  # in name order
        ImagePart(data=PNGISH, mime_type="image/png"),
    ]
    assert list(s.user_parts(conv.id)) == ["scratch"]  # transient parts are never stored with a message
    conv.add_message(Message.user("and again"))
    assert conv.messages()[-1].parts == [TextPart(text="and again")]  # each part lands once


def test_attaching_can_be_turned_off_per_call(cache: Any) -> None:
    conv = new(cache)
    cache.session.set_user_part(conv.id, "note", "later")
    conv.add_message(Message.user("not now"), attach_user_parts=False)
    assert conv.messages()[-1].parts == [TextPart(text="not now")]
    conv.add_messages([Message.user("first"), Message.assistant("ok"), Message.user("now")])
    history = conv.messages()
    assert history[-1].parts == [TextPart(text="now"), TextPart(text="later")]  # the last user message
    assert history[-3].parts == [TextPart(text="first")]


def test_attached_parts_survive_snapshots_forks_and_pops(cache: Any) -> None:
    conv = new(cache)
    cache.session.set_user_part(conv.id, "shot", ImagePart(data=PNGISH, mime_type="image/png"))
    conv.add_message(Message.user("look"))
    expected = conv.messages()[-1]
    assert len(expected.parts) == 2
    assert conv.fork().messages()[-1] == expected
    restored = cache.conversations.restore(conv.to_dict(), session_id=f"{conv.id}-restored")
    assert restored.messages()[-1] == expected
    assert conv.pop_last() == expected


def test_every_user_part_operation_and_a_user_message_cost_one_round_trip(cache: Any) -> None:
    conv = new(cache)
    s = cache.session
    conv.add_message(Message.user("warm"))  # the scripts are known to the server from here on
    s.set_user_part(conv.id, "warm", "x")
    s.user_parts(conv.id)
    s.clear_user_parts(conv.id)
    s.destroy_thread(conv.id)
    assert cost(cache, lambda: s.set_user_part(conv.id, "note", "x")) == 1
    assert cost(cache, lambda: s.user_parts(conv.id)) == 1
    assert cost(cache, lambda: conv.add_message(Message.user("hi"))) == 1  # takes the part: same script
    assert cost(cache, lambda: conv.add_message(Message.assistant("hello"))) == 1
    s.set_user_part(conv.id, "note", "x")
    assert cost(cache, lambda: s.delete_user_part(conv.id, "note")) == 1
    assert cost(cache, lambda: s.clear_user_parts(conv.id)) == 1
    spent = cost(cache, lambda: s.destroy_thread(conv.id))  # its user-part set goes in the first trip
    assert spent == 1 or cache.topology == "standalone"  # there: one per SCAN step of the keyspace


def test_user_part_fields_are_only_written_as_user_parts(cache: Any) -> None:
    before = cache.round_trips
    with pytest.raises(InvalidArgumentError, match="set_user_part"):
        cache.session.set("t", "__user_part_x", "text")
    with pytest.raises(InvalidArgumentError, match="set_user_part"):
        cache.session.set_many("t", {"a": 1, "__user_part_x": "text"})
    assert cache.round_trips == before


def test_the_set_of_part_keys_lives_as_long_as_its_longest_part(cache: Any) -> None:
    if cache.topology == "memory":
        pytest.skip("looks at the set with a raw command")
    from agentcache.encoding.keys import user_parts_key

    s, prefix = cache.session, cache.settings.prefix
    s.set_user_part("t", "a", "x", ttl=60)
    s.set_user_part("t", "b", "y", ttl=600)
    s.set_user_part("t", "c", "z", ttl=30)
    assert 590_000 < command(cache, "PTTL", user_parts_key(prefix, "t")) <= 600_000
    s.set_user_part("t", "d", "w", ttl=NO_EXPIRY)
    assert command(cache, "PTTL", user_parts_key(prefix, "t")) == -1
    assert s.destroy_thread("t") == 4
    assert command(cache, "EXISTS", user_parts_key(prefix, "t")) == 0


def setter(url: str, prefix: str, session_id: str, count: int, started: Any) -> None:
    started.wait(60)  # the adders are adding by now
    with AgentCache.from_url(url, prefix=prefix) as cache:
        for i in range(count):
            cache.session.set_user_part(session_id, f"p{i:04d}", f"part {i}")
            time.sleep(0.002)


def adder(url: str, prefix: str, session_id: str, worker: int, started: Any, stop: Any) -> None:
    with AgentCache.from_url(url, prefix=prefix) as cache:
        conv = cache.conversations.get(session_id)
        i = 0
        while not stop.is_set():
            conv.add_message(Message.user(f"w{worker}:{i}"))
            started.set()
            i += 1


@pytest.mark.parametrize("topology", ["standalone", "cluster3"])
def test_each_part_lands_on_exactly_one_message_across_processes(topology: str, server_urls: Any) -> None:
    url, prefix, parts = server_urls(topology), unique_prefix(), 300
    with AgentCache.from_url(url, prefix=prefix) as cache:
        conv = cache.conversations.create(agent_id="a", user_id="u")
        context = multiprocessing.get_context("spawn")
        started, stop = context.Event(), context.Event()
        setting = context.Process(target=setter, args=(url, prefix, conv.id, parts, started))
        adders = [context.Process(target=adder, args=(url, prefix, conv.id, w, started, stop)) for w in range(3)]
        for process in [setting, *adders]:
            process.start()
        setting.join(120)
        stop.set()
        for process in [setting, *adders]:
            process.join(120)
            assert process.exitcode == 0
        conv.add_message(Message.user("sweep"))  # takes whatever arrived after the last worker's message
        landed = [part.text for m in conv.messages() for part in m.parts[1:] if isinstance(part, TextPart)]
        assert sorted(landed) == sorted(f"part {i}" for i in range(parts))  # every part once: none lost, none twice
        carriers = sum(1 for m in conv.messages() if len(m.parts) > 1)
        assert carriers > 10  # the parts were spread over many messages of several workers
        assert cache.session.user_parts(conv.id) == {}
