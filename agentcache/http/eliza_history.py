"""A conversation's messages by time, as elizaOS's ``GET /sessions/{id}/messages`` pages them:
newest first, ``limit`` at most 100, ``before``/``after`` as times (ms), exclusive.

The history is a list in the order messages were stored, and a message's time (see
:mod:`.eliza_shapes`) grows along it, so a time bound is a position in the list: found by reading
the newest 100 messages (one round trip, which answers every request whose bounds fall among them)
and, further back, by a galloping then binary search that reads one message per round trip: about
``2 * log2(d)`` round trips per bound ``d`` messages back from the newest, and one to read the
page; the tests count them (10,000 messages, a bound in the middle: 27). Each message returned is
checked against the bounds, so none outside them is ever returned, even where two processes'
clocks left the times slightly out of order (a message out of order at a boundary can then be
missed). A message without a time (stored by the library, not the API) counts as the session's
creation: one more round trip, once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agentcache.http.eliza_shapes import stamp_of
from agentcache.tiers.content.messages import Message

WINDOW = 100
"""Messages read at once from the newest end (at least the largest page)."""

Read = Callable[[int, int | None], Awaitable[tuple[int, list[Message]]]]
"""``read(limit, before)``: the newest ``limit`` messages before position ``before`` (None: the
end), as (position of the first, messages): what ``conv.messages`` gives."""


@dataclass(frozen=True)
class Page:
    """Messages with their positions and times, newest first; ``has_more``: more match beyond them
    in the direction the request pages (older; newer for an ``after``-only request)."""

    entries: list[tuple[int, Message, int]]
    has_more: bool


class Timeline:
    """One conversation's history, read as little as a request needs."""

    def __init__(self, read: Read, unstamped_at: Callable[[], Awaitable[int]]) -> None:
        self._read = read
        self._unstamped_at = unstamped_at
        self._fallback: int | None = None
        self.messages: dict[int, Message] = {}
        self.length = 0
        self.reads = 0
        """Round trips made so far."""

    async def load(self, limit: int, before: int | None) -> None:
        """Read the newest ``limit`` messages before ``before`` (None: the end): one round trip."""
        self.reads += 1
        start, messages = await self._read(limit, before)
        for offset, message in enumerate(messages):
            self.messages[start + offset] = message
        if before is None:
            self.length = start + len(messages)

    async def at(self, index: int) -> int:
        """The time (ms) of the message at ``index``, reading it if it was not read yet."""
        if index not in self.messages:
            await self.load(1, index + 1)
        message = self.messages.get(index)
        stamp = None if message is None else stamp_of(message)
        if stamp is not None:
            return int(stamp["at"])
        if self._fallback is None:
            self.reads += 1
            self._fallback = await self._unstamped_at()
        return self._fallback

    async def first(self, bound: int, strict: bool) -> int:
        """The first position whose time is above ``bound`` (``strict``) or at least ``bound``:
        every message before it is older (the length when there is none)."""

        async def past(index: int) -> bool:
            value = await self.at(index)
            return value > bound if strict else value >= bound

        low, high = 0, self.length  # the answer is in [low, high]
        read_from = min(self.messages, default=self.length)
        if read_from < high:
            if not await past(read_from):
                low = read_from + 1
            else:
                high = read_from
        if low == 0 and high > 0:  # gallop back from what was read, then bisect
            step = 1
            while high > 0:
                probe = max(0, high - step)
                if await past(probe):
                    high = probe
                    step *= 2
                else:
                    low = probe + 1
                    break
        while low < high:
            middle = (low + high) // 2
            if await past(middle):
                high = middle
            else:
                low = middle + 1
        return low

    async def span(self, start: int, stop: int) -> list[tuple[int, Message, int]]:
        """The messages in positions [start, stop) with their times, oldest first."""
        if stop > start and any(index not in self.messages for index in range(start, stop)):
            await self.load(stop - start, stop)
        return [(index, self.messages[index], await self.at(index)) for index in range(start, stop)]


async def page(
    read: Read, unstamped_at: Callable[[], Awaitable[int]], limit: int, before: int | None, after: int | None
) -> tuple[Page, int]:
    """The page elizaOS answers for these bounds, and the round trips it took.

    No bound: the newest ``limit``. ``before``: the newest ``limit`` older than it. ``after``: the
    oldest ``limit`` newer than it (paging forward). Both: the newest ``limit`` between them."""
    timeline = Timeline(read, unstamped_at)
    await timeline.load(max(WINDOW, limit), None)
    low, high = 0, timeline.length
    if after is not None:
        low = await timeline.first(after, strict=True)
    if before is not None:
        high = max(low, await timeline.first(before, strict=False))
    if after is not None and before is None:
        start, stop = low, min(high, low + limit)
        more = stop < high
    else:
        start, stop = max(low, high - limit), high
        more = start > low
    entries = [
        entry
        for entry in await timeline.span(start, stop)
        if (before is None or entry[2] < before) and (after is None or entry[2] > after)
    ]
    return Page(entries[::-1], more), timeline.reads
