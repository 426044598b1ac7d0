"""Use after close: every call on a closed cache raises CacheClosedError, on both facades and every
topology, before anything is sent; a second close() does nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from agentcache import AgentCache, AgentCacheError, AsyncAgentCache, CacheClosedError, Message
from agentcache.testing import unique_prefix
from tests.conftest import FACADES, TOPOLOGIES
from tests.helpers import Synced


def open_cache(topology: str, facade: str, url_of: Callable[[str], str]) -> tuple[Any, Callable[[], None]]:
    """A cache whose close() the test calls itself (the loop of an async one outlives it)."""
    cls: Any = AgentCache if facade == "sync" else AsyncAgentCache
    prefix = unique_prefix()
    made = cls.in_memory(prefix=prefix) if topology == "memory" else cls.from_url(url_of(topology), prefix=prefix)
    if facade == "sync":
        return made, lambda: None
    loop = asyncio.new_event_loop()
    return Synced(made, loop), loop.close


CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "ping": lambda c, conv: c.ping(),
    "session.set": lambda c, conv: c.session.set("t", "f", 1),
    "session.get": lambda c, conv: c.session.get("t", "f"),
    "session.get_all": lambda c, conv: c.session.get_all("t"),
    "session.destroy_thread": lambda c, conv: c.session.destroy_thread("t"),
    "tool.store": lambda c, conv: c.tool.store("search", {"q": 1}, "r"),
    "tool.check": lambda c, conv: c.tool.check("search", {"q": 1}),
    "tool.invalidate": lambda c, conv: c.tool.invalidate("search", {"q": 1}),
    "conversations.create": lambda c, conv: c.conversations.create(agent_id="a", user_id="u"),
    "conversations.get": lambda c, conv: c.conversations.get(conv.id),
    "conversation.add_message": lambda c, conv: conv.add_message(Message.user("hi")),
    "conversation.messages": lambda c, conv: conv.messages(),
}


@pytest.mark.parametrize("topology,facade", [(t, f) for t in TOPOLOGIES for f in FACADES])
def test_every_call_after_close_is_refused(topology: str, facade: str, server_urls: Callable[[str], str]) -> None:
    cache, end = open_cache(topology, facade, server_urls)
    try:
        cache.session.set("t", "f", 1)
        conv = cache.conversations.create(agent_id="a", user_id="u")
        sent = cache.round_trips
        cache.close()
        cache.close()  # a second close does nothing
        sent_by_close = cache.round_trips
        assert sent_by_close - sent <= 1  # the statistics flush, at most
        for name, call in CALLS.items():
            with pytest.raises(CacheClosedError, match="closed") as caught:
                call(cache, conv)
            assert isinstance(caught.value, AgentCacheError), name
        assert cache.round_trips == sent_by_close  # nothing was sent after close
        cache.close()
    finally:
        end()


def test_a_closed_cache_is_closed_in_its_with_block_too(server_urls: Callable[[str], str]) -> None:
    with AgentCache.from_url(server_urls("cluster"), prefix=unique_prefix()) as cache:
        cache.ping()
    with pytest.raises(CacheClosedError):
        cache.ping()
