"""In-process single flight: callers of one cache that want the same missing result share one call.

The first caller for a key (``tiers/shelf/flight.py``: tool results, LLM responses) leads a
:class:`Flight`; later callers in the same process (threads of a sync cache, tasks of an async one)
yield :class:`~agentcache.core.commands.Await` on it instead of polling Valkey, and each executor
waits its own way until the leader lands the result. Across processes the claim in Valkey does the
same job. A flight carries the stored entry's bytes, so each caller decodes its own copy: no two
callers share a mutable result.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Flight:
    """One result being fetched or computed by a leader; the others wait for it."""

    __slots__ = ("_lock", "_waiters", "data", "done")

    def __init__(self) -> None:
        self.data: bytes | None = None
        """The entry as stored, once the leader has it; None if the leader failed."""
        self.done = threading.Event()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._lock = threading.Lock()

    def land(self, data: bytes | None) -> None:
        """Record the outcome and wake every waiter, in any thread or event loop."""
        self.data = data
        with self._lock:
            self.done.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits there any more
                loop.call_soon_threadsafe(_wake, future)

    def wait(self, timeout: float) -> None:
        self.done.wait(timeout)

    async def wait_async(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self.done.is_set():
                return
            self._waiters.append((loop, future))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, timeout)


class Flights:
    """The flights of one cache, by key. Thread-safe."""

    def __init__(self) -> None:
        self._by_key: dict[str, Flight] = {}
        self._lock = threading.Lock()

    def join(self, key: str) -> tuple[Flight, bool]:
        """The flight for ``key`` and whether this caller leads it (it did not exist yet)."""
        with self._lock:
            flight = self._by_key.get(key)
            if flight is not None:
                return flight, False
            flight = self._by_key[key] = Flight()
            return flight, True

    def land(self, key: str, flight: Flight, data: bytes | None) -> None:
        """End the leader's flight with its outcome; the next caller for ``key`` starts a new one."""
        with self._lock:
            if self._by_key.get(key) is flight:
                del self._by_key[key]
        flight.land(data)

    def __len__(self) -> int:
        return len(self._by_key)
