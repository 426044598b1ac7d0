"""Reconnecting under load (issue 32): whatever the client library raises while it connects or
sends reaches the caller as a BackendError with ``connection=True``, never as its own exception.

The race: valkey-py's asyncio cluster client, when one task's command fails on its connection,
closes every connection of every node (``ValkeyCluster._reset_for_reinitialize``), also those
other tasks are connecting on at that moment; their handshake then fails with ``AttributeError:
'NoneType' object has no attribute 'writelines'``. The stress test reproduces it with the async
facade on a one-node and a 3-primary cluster (repeated CLIENT KILL of every connection, SIGKILL and
restart of each node in turn, 40 tasks): measured before the fix, each of 10 runs (5 per topology)
let 25 to 241 raw AttributeErrors through; after it, none in 10 (tests/integration/test_serve_faults.py does the
same through ``agentcache serve``). The other tests pin the rule down without a race, on both
facades: reads retry (``retry_reads``), writes do not, a cancellation stays a cancellation, and a
bug in an operation is not taken for a lost connection.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from collections import Counter
from collections.abc import Generator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import valkey
import valkey.asyncio

from agentcache import AgentCache, AgentCacheError, AsyncAgentCache, BackendError, BundledValkey
from agentcache.core.commands import cmd
from agentcache.testing import unique_prefix

TASKS = 40
FAULT_SECONDS = 5.0
RECOVERY_DEADLINE = 30.0  # seconds: a bound on "works again by itself", far above what it takes


class Faults:
    """On a thread of its own, until the ``with`` block ends: CLIENT KILL every normal connection on
    every node every ``every`` seconds, and every ``restart_every``-th time SIGKILL one node (each
    in turn) and start it again on its port. Every node runs again when the block ends."""

    def __init__(self, server: BundledValkey, every: float = 0.03, restart_every: int = 8) -> None:
        self.server = server
        self.every = every
        self.restart_every = restart_every
        self.kills = 0
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faults", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            rounds = 0
            while not self._stop.is_set():
                rounds += 1
                for port in self.server.ports:
                    try:
                        admin = valkey.Valkey(host="127.0.0.1", port=port, socket_timeout=2)
                        self.kills += admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
                        admin.close()
                    except valkey.ValkeyError:
                        pass  # the node is starting again
                time.sleep(self.every)
                if rounds % self.restart_every == 0:
                    nodes = self.server.nodes
                    node = nodes[(rounds // self.restart_every) % len(nodes)]
                    node.kill()  # SIGKILL
                    time.sleep(0.05)
                    node.start()  # same port and directory; returns once it answers PING
                    self.restarts += 1
        except BaseException as exc:  # handed to the test in __exit__
            self._error = exc

    def __enter__(self) -> Faults:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the faults (once the node being restarted, if any, runs again)."""
        self._stop.set()
        self._thread.join(60)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
        if self._error is not None and error is None:
            raise self._error


class Tally:
    """What the load saw: calls that worked, exceptions by type (a BackendError with the type of the
    client's exception it wraps; the first traceback of each type that is not an AgentCacheError),
    and the last acknowledged value of each field."""

    def __init__(self) -> None:
        self.ok = 0
        self.errors: Counter[str] = Counter()
        self.untyped: dict[str, str] = {}
        self.acknowledged: dict[tuple[str, str], int] = {}

    def failed(self, exc: BaseException) -> None:
        cause = f"({type(exc.__cause__).__name__})" if isinstance(exc, BackendError) and exc.__cause__ else ""
        self.errors[type(exc).__name__ + cause] += 1
        if not isinstance(exc, AgentCacheError):
            self.untyped.setdefault(type(exc).__name__, "".join(traceback.format_exception(exc))[-4000:])


async def load(cache: AsyncAgentCache, tally: Tally, faults: Faults, seconds: float) -> None:
    """TASKS tasks, each setting then reading its own thread's fields in turn for ``seconds`` under
    ``faults``; then, the faults stopped, each goes on until one set and one get of its own have
    worked (the cache recovers by itself)."""
    until = time.monotonic() + seconds

    async def worker(n: int) -> None:
        thread, j, clean = f"thread-{n}", 0, False
        while time.monotonic() < until or not clean:
            assert time.monotonic() < until + RECOVERY_DEADLINE, f"no recovery; errors so far {tally.errors}"
            j += 1
            field = f"f{j % 4}"
            clean = True
            try:
                await cache.session.set(thread, field, j)
                tally.acknowledged[(thread, field)] = j
                tally.ok += 1
            except Exception as exc:
                tally.failed(exc)
                clean = False
            try:
                await cache.session.get(thread, field)
                tally.ok += 1
            except Exception as exc:
                tally.failed(exc)
                clean = False
            if not clean:
                await asyncio.sleep(0.001)

    async def stop_faults() -> None:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(faults.stop)

    await asyncio.gather(stop_faults(), *(worker(n) for n in range(TASKS)))


def lost_writes(url: str, prefix: str, acknowledged: dict[tuple[str, str], int]) -> list[tuple[str, str, Any, int]]:
    """Acknowledged writes not found afterwards (a field holds its last acknowledged value, or a
    later one whose write failed on the connection after it was applied)."""
    with AgentCache.from_url(url, prefix=prefix, retry_reads=10) as check:
        found = {(thread, field): check.session.get(thread, field) for thread, field in acknowledged}
    return [(t, f, found[(t, f)], v) for (t, f), v in acknowledged.items() if not (found[(t, f)] or 0) >= v]


@pytest.mark.parametrize("primaries", [1, 3], ids=["cluster", "cluster3"])
def test_only_typed_errors_while_the_async_cluster_client_reconnects(primaries: int, tmp_path: Path) -> None:
    prefix, tally = unique_prefix(), Tally()
    # appendfsync=always: a write acknowledged before a SIGKILL is on disk, so "nothing lost" is testable
    with BundledValkey("cluster", primaries=primaries, data_dir=tmp_path, appendfsync="always") as server:

        async def main() -> None:
            async with AsyncAgentCache.from_url(server.url, prefix=prefix, retry_reads=0.5) as cache:
                await cache.session.set("warm-up", "f", 1)
                with Faults(server) as faults:
                    await load(cache, tally, faults, FAULT_SECONDS)
                print(
                    f"\n{server!r}: {tally.ok} calls ok, exceptions {dict(tally.errors)}, "
                    f"{faults.kills} connections killed, {faults.restarts} SIGKILL + restart"
                )
                assert faults.restarts >= 2 and tally.errors, "the faults did not bite"

        asyncio.run(main())
        assert not tally.untyped, "\n".join(tally.untyped.values())
        assert lost_writes(server.url, prefix, tally.acknowledged) == []


# --- the rule without a race: a real client whose handshake raises what the race raises ----------


class FailingHandshakes:
    """A ``valkey_connect_func`` (the client's own hook, run in place of its handshake) that, on the
    first ``times`` connections, leaves what the race leaves (a connection closed again) and raises
    ``error``; then it does the usual handshake."""

    def __init__(self, error: BaseException, times: int) -> None:
        self.error = error
        self.left = times

    def sync(self, connection: Any) -> None:
        if self.left:
            self.left -= 1
            connection.disconnect()
            raise self.error
        connection.on_connect()

    async def asynchronous(self, connection: Any) -> None:
        if self.left:
            self.left -= 1
            await connection.disconnect()
            raise self.error
        await connection.on_connect()


# what the race raises; what a write to a transport the peer closed raises on Python 3.12 to 3.14.0
# (redis-py issue 4287); what asyncio streams raise when two tasks read one connection, or it ends
ERRORS = [
    AttributeError("'NoneType' object has no attribute 'writelines'"),
    TypeError("'NoneType' object is not callable"),
    RuntimeError("readuntil() called while another coroutine is already waiting for incoming data"),
    asyncio.IncompleteReadError(b"", 1),
]


@pytest.fixture(scope="module")
def standalone() -> Generator[BundledValkey, None, None]:
    with BundledValkey("standalone") as server:
        yield server


def cache_with(server: BundledValkey, facade: str, hook: FailingHandshakes, **options: Any) -> Any:
    if facade == "sync":
        return AgentCache(valkey.Valkey(port=server.ports[0], valkey_connect_func=hook.sync), **options)
    return AsyncAgentCache(
        valkey.asyncio.Valkey(port=server.ports[0], valkey_connect_func=hook.asynchronous), **options
    )


async def call(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("facade", ["sync", "async"])
def test_a_write_that_fails_while_connecting_is_a_connection_backend_error(
    standalone: BundledValkey, facade: str, error: BaseException
) -> None:
    async def main() -> None:
        cache = cache_with(standalone, facade, FailingHandshakes(error, 1), prefix=unique_prefix(), retry_reads=5)
        try:
            with pytest.raises(BackendError) as failed:
                await call(cache.session.set("t", "f", 1))  # a write is never sent again
            assert failed.value.connection
            assert failed.value.__cause__ is error
            assert "SET" in failed.value.command
            await call(cache.session.set("t", "f", 2))  # and the next call connects afresh
            assert await call(cache.session.get("t", "f")) == 2
        finally:
            await call(cache.close())

    asyncio.run(main())


@pytest.mark.parametrize("facade", ["sync", "async"])
def test_a_read_that_fails_while_connecting_is_retried(standalone: BundledValkey, facade: str) -> None:
    async def main() -> None:
        prefix = unique_prefix()
        with AgentCache.from_url(standalone.url, prefix=prefix) as writer:
            writer.session.set("t", "f", 1)
        hook = FailingHandshakes(AttributeError("'NoneType' object has no attribute 'writelines'"), 3)
        cache = cache_with(standalone, facade, hook, prefix=prefix, retry_reads=5)
        try:
            assert await call(cache.session.get("t", "f")) == 1  # after three failed handshakes
            assert hook.left == 0
        finally:
            await call(cache.close())
        hook = FailingHandshakes(AttributeError("'NoneType' object has no attribute 'writelines'"), 1)
        cache = cache_with(standalone, facade, hook, prefix=prefix)  # no retry_reads: fails at once
        try:
            with pytest.raises(BackendError) as failed:
                await call(cache.session.get("t", "f"))
            assert failed.value.connection and isinstance(failed.value.__cause__, AttributeError)
        finally:
            await call(cache.close())

    asyncio.run(main())


def test_a_cancellation_while_connecting_stays_a_cancellation(standalone: BundledValkey) -> None:
    entered = asyncio.Event()

    async def hang(connection: Any) -> None:
        entered.set()
        await asyncio.sleep(3600)

    async def main() -> None:
        cache = AsyncAgentCache(
            valkey.asyncio.Valkey(port=standalone.ports[0], valkey_connect_func=hang), retry_reads=5
        )
        try:
            task = asyncio.ensure_future(cache.session.get("t", "f"))
            await asyncio.wait_for(entered.wait(), 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            await cache.close()

    asyncio.run(main())


@pytest.mark.parametrize("facade", ["sync", "async"])
def test_a_bug_in_an_operation_is_not_a_lost_connection(standalone: BundledValkey, facade: str) -> None:
    """Only the client's call is covered: an operation's own error passes through as it is."""

    def broken() -> Generator[Any, Any, None]:
        replies = yield [cmd("PING")]
        replies[0].no_such_attribute  # noqa: B018 - the bug

    async def main() -> None:
        cache = cache_with(standalone, facade, FailingHandshakes(RuntimeError(), 0))
        try:
            with pytest.raises(AttributeError, match="no_such_attribute"):
                await call(cache._executor.run(broken()))
        finally:
            await call(cache.close())

    asyncio.run(main())
