"""``agentcache demo``: one agent loop on the bundled Valkey, step by step: session state, a
cached tool call, and a screenshot attached to the user's next message.

Each step prints what it did, the keys it touched and the round trips it cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from agentcache.encoding.keys import session_thread, stats_key
from agentcache.errors import shown
from agentcache.facade import AgentCache
from agentcache.tiers.content.messages import ImagePart, Message

T = TypeVar("T")


class _Resends(logging.Handler):
    """Counts the scripts sent again by their body (the log's INFO record: the server had not seen
    them), so a step's note says so when it happened, and only then."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.INFO and record.getMessage().startswith("script "):
            self.count += 1


def _step(cache: AgentCache, title: str, action: Callable[[], T], keys: list[str]) -> T:
    resends, log = _Resends(), logging.getLogger("agentcache")
    level, propagate = log.level, log.propagate
    lowered = log.getEffectiveLevel() > logging.INFO
    if lowered:  # to see the INFO records, which the application's own handlers then do not get
        log.setLevel(logging.INFO)
        log.propagate = False
    log.addHandler(resends)
    try:
        before = cache.round_trips
        started = time.perf_counter()
        result = action()
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        log.removeHandler(resends)
        if lowered:
            log.setLevel(level)
            log.propagate = propagate
    note = ""
    if resends.count:
        scripts = "a script" if resends.count == 1 else f"{resends.count} scripts"
        note = f"  <- counts resending {scripts} new to this server by body (EVALSHA said NOSCRIPT)"
    print(f"\n> {title}")
    print(f"  result      : {shown(result)}")
    for key in keys:
        print(f"  key         : {key}")
    print(f"  round trips : {cache.round_trips - before}   ({elapsed:.2f} ms){note}")
    return result


def search_flights(origin: str, destination: str) -> list[str]:
    """A slow, paid tool call (simulated)."""
    time.sleep(0.3)
    return [f"{origin}-{destination} 09:10 129 EUR", f"{origin}-{destination} 18:40 88 EUR"]


def tools(cache: AgentCache) -> None:
    """The tool tier: the first call runs the tool, the next ones are served from Valkey."""
    tool = cache.tool
    args = {"origin": "SOF", "destination": "VIE"}
    key = [tool.key("search_flights", args)]
    _step(
        cache,
        "tool: search flights (a miss: claim the key, run the 0.3 s tool, store its result)",
        lambda: tool.get_or_compute("search_flights", args, lambda: search_flights(**args), ttl=600, cost=0.01),
        key,
    )
    _step(
        cache,
        "tool: the same search from another turn (argument order does not matter: a hit)",
        lambda: tool.get_or_compute(
            "search_flights", {"destination": "VIE", "origin": "SOF"}, lambda: search_flights(**args), ttl=600
        ),
        key,
    )
    stats = _step(
        cache, "stats: shared by every process on this server", cache.stats, [stats_key(cache.settings.prefix)]
    )
    flights = stats.tools["search_flights"]
    print(f"  search_flights: hit rate {flights.hit_rate:.0%}, cost saved {flights.cost_saved:g}")


def user_parts(cache: AgentCache) -> None:
    """A screenshot the app attaches to the user's next message, and the context sent to the model."""
    conv = cache.conversations.create(agent_id="travel-bot", user_id="user-42", system="You book flights.")
    shot = ImagePart(data=b"\x89PNG" + bytes(2000), mime_type="image/png", name="form.png")
    _step(
        cache,
        "app: attach a screenshot to the user's next message (a session field, gzip-compressed)",
        lambda: cache.session.set_user_part(conv.id, "screenshot", shot),
        [cache.session.key(conv.id, "__user_part_screenshot")],
    )
    _step(
        cache,
        "user: 'Why does the form fail?' (the message takes the pending parts in the same script)",
        lambda: conv.add_message(Message.user("Why does the form fail?")),
        [],
    )
    context = _step(
        cache,
        "model: assemble this turn's context (history, system prompt with a dynamic section)",
        lambda: conv.context(dynamic_sections={"page": "checkout, step 2 of 3"}),
        [],
    )
    print(f"  last message: {[part.type for part in context.messages[-1].parts]} (text + the screenshot)")
    print(f"  as OpenAI chat: {[m['role'] for m in context.to_openai_chat()]}")
    conv.delete()


def run(cache: AgentCache) -> None:
    """Walk one agent loop over ``cache``: write state, read it, refresh it, end the thread."""
    s = cache.session
    thread = "user-42/thread-1"
    key = s.key
    print(f"agentcache demo on {cache.client!r}, prefix {cache.settings.prefix!r}")
    s.destroy_thread(thread)  # what an earlier run left: the thread, the tool's results (its first call
    _forget_tool_and_stats(cache)  # then misses) and the statistics

    _step(
        cache,
        "turn 1: remember the intent (tier default TTL, 30 min sliding)",
        lambda: s.set(thread, "intent", "book_flight"),
        [key(thread, "intent")],
    )
    _step(
        cache,
        "turn 1: cache search results for 5 s only",
        lambda: s.set(thread, "prices", {"SOF": 129.0, "VIE": 88.5}, ttl=5),
        [key(thread, "prices")],
    )
    _step(
        cache,
        "turn 1: keep the user's seat preference for 30 days",
        lambda: s.set(thread, "seat", "aisle", ttl=30 * 86400),
        [key(thread, "seat")],
    )

    print("\n  ... 1 s later ...")
    time.sleep(1)
    _step(
        cache,
        "turn 2: read the prices (the read slides them back to 5 s, not 30 min)",
        lambda: s.get(thread, "prices"),
        [key(thread, "prices")],
    )
    _step(cache, "turn 2: remaining seconds on prices", lambda: s.ttl(thread, "prices"), [key(thread, "prices")])
    _step(
        cache,
        "turn 2: load the whole thread (one SCAN step + reads, refreshing each field)",
        lambda: s.get_all(thread),
        [session_thread(cache.settings.prefix, thread).pattern + "  (SCAN MATCH)"],
    )
    _step(
        cache,
        "turn 3: keep every field alive at the start of the turn",
        lambda: s.touch(thread),
        [key(thread, f) for f in s.fields(thread)],
    )
    tools(cache)
    user_parts(cache)
    _step(cache, "end: the conversation is over, remove its state", lambda: s.destroy_thread(thread), [])
    _step(cache, "after: nothing left", lambda: s.get_all(thread), [])
    _forget_tool_and_stats(cache)
    print("  (the demo's tool results and statistics are removed too)")


def _forget_tool_and_stats(cache: AgentCache) -> None:
    """Remove what the demo stores under its prefix besides the thread (which its last steps end)."""
    cache.tool.invalidate_tool("search_flights")
    cache.reset_stats()


def main(url: str | None = None) -> int:
    """The demo on the bundled server (started and stopped here), or on the server at ``url``."""
    if url is not None:
        with AgentCache.from_url(url, prefix="demo") as cache:
            run(cache)
        print("\nThat was the session and tool tiers and user parts; see README.md for the rest.")
        return 0
    print("starting the bundled Valkey (one node in cluster mode) ...")
    started = time.perf_counter()
    with AgentCache.embedded(prefix="demo") as cache:
        print(f"started in {time.perf_counter() - started:.1f} s on {cache.server!r}")
        run(cache)
    print("\nserver stopped. That was the session and tool tiers and user parts; see README.md for the rest.")
    return 0
