"""Name encoding: injective, reversible, and free of anything that changes a key's meaning."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcache import InvalidNameError
from agentcache.encoding.keys import check_prefix, decode_name, encode_name, session_thread

ADVERSARIAL = st.text(alphabet="ab:*?[]\\{}%^-!\x00\n é", min_size=1, max_size=12)
NAMES = st.one_of(ADVERSARIAL, st.text(min_size=1, max_size=40))


def usable(name: str) -> bool:
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


@given(NAMES)
def test_encoding_round_trips_and_has_no_special_characters(name: str) -> None:
    if not usable(name):
        return
    encoded = encode_name(name, "x")
    assert decode_name(encoded) == name
    assert not set(encoded) & set("{}*?[]\\") and all(ord(c) >= 32 and c != "\x7f" for c in encoded)


@given(NAMES, NAMES, NAMES, NAMES)
def test_no_two_thread_field_pairs_share_a_key(t1: str, f1: str, t2: str, f2: str) -> None:
    if not all(map(usable, (t1, f1, t2, f2))):
        return
    k1 = session_thread("p", t1).field(f1)
    k2 = session_thread("p", t2).field(f2)
    assert (k1 == k2) == ((t1, f1) == (t2, f2))


@given(ADVERSARIAL, ADVERSARIAL, ADVERSARIAL)
def test_a_threads_pattern_matches_no_other_threads_keys(t1: str, t2: str, field: str) -> None:
    """Valkey's MATCH is a glob; with every glob character escaped the pattern is a plain prefix."""
    mine, other = session_thread("p", t1), session_thread("p", t2)
    assert fnmatch.fnmatchcase(mine.field(field), mine.pattern)
    assert fnmatch.fnmatchcase(other.field(field), mine.pattern) == (t1 == t2)
    assert mine.field_of(other.field(field).encode()) == (field if t1 == t2 else None)


@settings(max_examples=50)
@given(ADVERSARIAL)
def test_the_hash_tag_is_the_whole_thread_and_nothing_else(thread: str) -> None:
    keys = session_thread("p", thread)
    tag = keys.head[keys.head.index("{") + 1 : keys.head.index("}")]
    assert decode_name(tag) == thread
    assert keys.pattern.index("*") == len(keys.pattern) - 1  # the only wildcard is the last character


@pytest.mark.parametrize("prefix", ["", "a*", "a{b", "a}", "a?", "a[b]", "a\\b", "a\nb", 5, None])
def test_bad_prefixes_are_refused(prefix: object) -> None:
    with pytest.raises(InvalidNameError):
        check_prefix(prefix)


@pytest.mark.parametrize("prefix", ["agentcache", "my-app:v2", "app.prod", "ünï"])
def test_good_prefixes_are_kept(prefix: str) -> None:
    assert check_prefix(prefix) == prefix
