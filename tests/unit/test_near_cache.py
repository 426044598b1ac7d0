"""The near cache's settings and entries, without a server (invalidation by a server:
tests/integration/test_near_cache.py)."""

from __future__ import annotations

import pytest

from agentcache import AgentCache, InvalidArgumentError, NearCache


def test_an_entrys_expiry_is_read_without_decoding_the_rest() -> None:
    from agentcache.encoding import codec

    raw = codec.encode([{"big": "x" * 1000}, 1700, 1900, None], 0, 1 << 20)
    assert codec.list_item(raw, 2) == 1900
    assert codec.list_item(raw, 7) is None
    assert codec.list_item(codec.encode({"not": "a list"}, 0, 1 << 20), 0) is None
    assert codec.list_item(b"foreign", 0) is None


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="max_entries"):
        NearCache(max_entries=0)
    with pytest.raises(InvalidArgumentError, match="session_window"):
        NearCache(session_window=1.5)
    with pytest.raises(InvalidArgumentError, match="NearCache"):
        AgentCache.in_memory(near_cache="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="in-memory"):
        AgentCache.in_memory(near_cache=NearCache())
