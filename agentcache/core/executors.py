"""Executors: drive an operation (``commands.py``) over a sync or an asyncio client.

The protocol logic — sending scripts by SHA and by body only when the server lacks them, and
turning error replies into :class:`BackendError` — lives once, in :func:`_triage` and :func:`_merge`.
The two executors only send a batch (one command directly, several as one non-transactional
pipeline), count round trips, feed the replies back to the operation, and perform its other steps
(pause, call the user's function, list primaries) their own way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import Any, TypeVar

from agentcache.core.clients import (
    CLIENT_ERRORS,
    REPLY_ERRORS,
    backend_error,
    is_noscript,
    recovering,
    send_failed,
)
from agentcache.core.commands import Await, Batch, Call, Command, Next, Open, Operation, Pause, Replies, Step, cmd
from agentcache.core.connect import UrlClient
from agentcache.core.log import debug_enabled, retrying, round_trip_done, round_trip_started, scripts_resent
from agentcache.core.near import NearStore
from agentcache.core.observe import Observer, count_batch
from agentcache.errors import AgentCacheError, BackendError, CacheClosedError, EventLoopError, InvalidArgumentError

T = TypeVar("T")


def _triage(batch: Batch, replies: Replies) -> Batch | None:
    """Raise the first error reply as BackendError, except script calls the server did not know
    (NOSCRIPT): those come back as the batch to resend with the script's body (EVAL). An optional
    command's error reply becomes None."""
    for reply in replies:
        if isinstance(reply, BaseException):
            break
    else:
        return None  # the common case, kept cheap: it runs on every round trip
    unknown: Batch = []
    for i, (command, reply) in enumerate(zip(batch, replies, strict=True)):
        if isinstance(reply, BaseException):
            if is_noscript(reply):
                unknown.append(command)
            elif command.optional:
                replies[i] = None
            else:
                raise backend_error([command], reply) from reply
    return unknown or None


_BACKOFF: Any = None


def retry_pause(deadline: float, failures: int, error: BackendError) -> float | None:
    """Seconds to wait before sending a read's round trip again after ``failures`` connection
    errors (valkey-py's equal-jitter exponential backoff: 10 ms doubling, up to 250 ms), or None to
    give up: not a read, not a connection error, or the deadline would pass."""
    global _BACKOFF
    if not deadline or not error.connection:
        return None
    if _BACKOFF is None:
        from valkey.backoff import EqualJitterBackoff

        _BACKOFF = EqualJitterBackoff(cap=0.25, base=0.01)
    pause = float(_BACKOFF.compute(failures))
    if time.monotonic() + pause > deadline:
        return None
    retrying(error.command, failures)
    return pause


def _merge(batch: Batch, replies: Replies, resent: Batch, again: Replies) -> Replies:
    """The replies of ``batch`` with those of the commands resent as EVAL put in their places."""
    by_command = dict(zip(map(id, resent), again, strict=True))
    merged = [by_command.get(id(command), reply) for command, reply in zip(batch, replies, strict=True)]
    _triage(batch, merged)
    return merged


def plain(execute: Callable[..., Any], command: Command) -> Any:
    """``execute`` (a client's ``execute_command``) called for one command, counted for observers.

    Every batch of one command is sent this way. One that runs no script goes straight from ``run``
    (when round trips are not logged and a failed one is not retried): what ``_round_trip`` and
    ``_send`` add (a retry loop, resending scripts the server lacked) it does not need, and on the
    asyncio facade each would be one more coroutine per call."""
    count_batch([command])
    if command.node is None:  # no keyword dict to build
        return execute(*command.args)
    return execute(*command.args, target_nodes=command.node)


CLUSTER_INFO = cmd("CLUSTER", "INFO")


def cluster_enabled(replies: Replies) -> bool:
    """Whether the reply to :data:`CLUSTER_INFO` says the server runs in cluster mode.

    A standalone server answers with an error ("cluster support disabled"). A server whose ACL
    refuses CLUSTER INFO to this user raises a BackendError: taking that for "standalone" would
    send a cluster's keys to one node. CLUSTER INFO, unlike INFO, is outside the ``@dangerous``
    ACL category that restricted users lack.
    """
    reply = replies[0]
    if type(reply).__name__ == "NoPermissionError":  # a refusal must not pass for "standalone"
        raise BackendError(["CLUSTER INFO"], reply, DETECT_HINT) from reply
    return not isinstance(reply, BaseException)


DETECT_HINT = (
    " (asked to learn whether the server runs in cluster mode); grant the Valkey user +cluster|info "
    "(see the least-privilege rule in docs/acl.md) or say cluster=True or cluster=False"
)


def primaries(client: Any) -> list[Any]:
    """The primary nodes of a cluster client, or ``[None]`` for a client of one server."""
    if not hasattr(client, "get_primaries"):
        return [None]
    nodes = list(client.get_primaries())
    if not nodes:
        raise BackendError(["cluster discovery"], RuntimeError("the cluster client knows no primary node"))
    return nodes


def _not_awaitable(result: Any) -> Any:
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()  # never awaited: close it so Python does not warn
        raise InvalidArgumentError(
            "the function returned an awaitable: the sync AgentCache cannot await it; "
            "use AsyncAgentCache for coroutine functions"
        )
    return result


def promoted(promote: Callable[[], Any]) -> Any:
    """The cluster client, made by ``promote``; its discovery failing is a BackendError."""
    try:
        return recovering(promote())
    except CLIENT_ERRORS as exc:
        raise BackendError(["cluster discovery"], exc) from exc


CONNECT_HINT = (
    " (while connecting: agentcache first asks the server whether it runs in cluster mode); check "
    "that the server is up and reachable at the URL's address, and the user and password in the URL"
)


def first_call_failed(step: Step, exc: BackendError) -> BackendError:
    """The error of a first call whose connection check failed, named for the user's operation."""
    names = [c.name for c in step] if type(step) is list else [type(step).__name__]
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return BackendError(names, cause, exc.hint or CONNECT_HINT)


def closed(what: str) -> CacheClosedError:
    return CacheClosedError(f"this {what} was closed; make a new one (close() ends its connections for good)")


class SyncExecutor:
    """Runs operations over a sync valkey-py or redis-py client (standalone or cluster).

    With ``promote``, the first call checks whether the server runs in cluster mode (``detect``) or
    takes that as given, and switches to the cluster client ``promote`` makes."""

    def __init__(self, client: Any, promote: Callable[[], Any] | None = None, *, detect: bool = True) -> None:
        self.client = recovering(client)
        """The client every round trip goes through (the cluster client, once ``promote`` has made one)."""
        self.round_trips = 0
        """Batches sent so far (each is one round trip; to a 3-primary cluster, one per node touched)."""
        self._promote = promote  # builds a cluster client if the first call finds a cluster server
        self._detect = detect
        self._lock = threading.Lock()
        self.closed = False
        """Set by :meth:`close`: every later call raises CacheClosedError."""
        self.retry_s = 0.0
        """How long a read may keep retrying after connection errors (the ``retry_reads`` option)."""
        self.observers: tuple[Observer, ...] = ()
        """What sees each operation (the ``observers`` option); set before any method is bound."""
        self.near: NearStore | None = None
        """The near cache, started on the first call (once the client is settled)."""

    def run(self, op: Operation[T], *, retry: bool = False) -> T:
        """Run ``op`` to its result; ``retry``: it only reads, so a round trip that failed on the
        connection is sent again, with backoff, for up to ``retry_s`` seconds."""
        deadline = time.monotonic() + self.retry_s if retry and self.retry_s else 0.0
        if self.closed:
            op.close()
            raise closed("AgentCache")
        try:
            step = next(op)  # bad input fails here, before anything is sent
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if self._promote is not None:
            try:
                self._resolve()
            except BackendError as exc:
                op.close()
                raise first_call_failed(step, exc) from exc.__cause__
        if self.near is not None and not self.near.started:
            self.near.start(self.client)  # its listeners, now that the client is settled
        try:
            while True:
                try:
                    if type(step) is not list:
                        result = self._perform(step)
                    elif len(step) == 1 and step[0].script is None and not deadline and not debug_enabled():
                        command = step[0]  # the common case, without _round_trip and _send: see plain()
                        self.round_trips += 1
                        try:
                            result = [plain(self.client.execute_command, command)]
                        except REPLY_ERRORS as exc:
                            result = [exc]
                            _triage(step, result)  # raises, or None for an optional command
                        except AgentCacheError:
                            raise
                        except Exception as exc:  # not BaseException: an interrupt stays one
                            raise send_failed(step, exc) from exc
                    else:
                        result = self._round_trip(step, deadline)
                except BaseException as exc:  # a failed round trip, the user's error, an interrupt:
                    step = op.throw(exc)  # thrown in at the yield, so the operation can clean up
                else:
                    step = op.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def stream(self, steps: Generator[Any, Any, None]) -> Iterator[Any]:
        """Drive a stream's steps: run the operations it yields, open and pull its iterators
        (:class:`Open`, :class:`Next`), and hand everything else (its events) to the caller.
        An error is thrown into the steps; leaving early closes them and the iterators."""
        value: Any = None
        error: BaseException | None = None
        opened: list[Any] = []
        try:
            while True:
                try:
                    item = steps.send(value) if error is None else steps.throw(error)
                except StopIteration:
                    return
                value, error = None, None
                try:
                    if isinstance(item, Generator):
                        value = self.run(item)
                    elif isinstance(item, Open):
                        value = iter(item.fn())
                        opened.append(value)
                    elif isinstance(item, Next):
                        value = next(item.handle, None)
                    else:
                        yield item
                except Exception as exc:
                    error = exc
        finally:
            steps.close()
            for handle in opened:
                if hasattr(handle, "close"):
                    handle.close()

    def _round_trip(self, batch: Batch, deadline: float = 0.0) -> Replies:
        started = round_trip_started()
        failures = 0
        while True:
            try:
                replies = self._send(batch)
                break
            except BackendError as exc:
                failures += 1
                pause = retry_pause(deadline, failures, exc)
                if pause is None:
                    raise
                time.sleep(pause)
        resend = _triage(batch, replies)
        if resend is not None:
            scripts_resent(resend)
            replies = _merge(batch, replies, resend, self._send([c.as_eval() for c in resend]))
        round_trip_done(batch, started)
        return replies

    def _perform(self, step: Step) -> Any:
        if isinstance(step, Call):
            return _not_awaitable(step.fn())
        if isinstance(step, Pause):
            time.sleep(step.seconds)
            return None
        if isinstance(step, Await):
            step.flight.wait(step.timeout)
            return None
        return primaries(self.client)

    def _send(self, batch: Batch) -> Replies:
        self.round_trips += 1
        assert len(batch) == 1 or all(c.node is None for c in batch), "a command for a given node goes alone"
        try:  # only the client's calls: whatever it raises while connecting or sending is a lost connection
            if len(batch) == 1:
                try:
                    return [plain(self.client.execute_command, batch[0])]
                except REPLY_ERRORS as exc:
                    return [exc]
            count_batch(batch)  # for observers; one context-variable read otherwise
            pipe = self.client.pipeline(transaction=False)
            for command in batch:
                pipe.execute_command(*command.args)
            return list(pipe.execute(raise_on_error=False))
        except AgentCacheError:
            raise
        except Exception as exc:  # not BaseException: an interrupt stays one
            raise send_failed(batch, exc) from exc

    def _resolve(self) -> None:
        with self._lock:
            if self._promote is None:
                return
            # a failure here leaves the check for the next call
            if not self._detect or cluster_enabled(self._send([CLUSTER_INFO])):
                old, self.client = self.client, promoted(self._promote)
                old.close()
            self._promote = None

    def close(self) -> None:
        """Close the client for good: every later call raises CacheClosedError (a second close does nothing)."""
        if not self.closed:
            self.closed = True
            self.client.close()


class AsyncExecutor:
    """Runs operations over an asyncio valkey-py or redis-py client (standalone or cluster).

    ``promote`` and ``detect`` as for :class:`SyncExecutor`."""

    def __init__(self, client: Any, promote: Callable[[], Any] | None = None, *, detect: bool = True) -> None:
        self.client = recovering(client)
        """The client every round trip goes through (the cluster client, once ``promote`` has made one)."""
        self.round_trips = 0
        """Batches sent so far (each is one round trip; to a 3-primary cluster, one per node touched)."""
        self._promote = promote
        self._detect = detect
        self._lock = asyncio.Lock()
        self.closed = False
        """Set by :meth:`close`: every later call raises CacheClosedError."""
        self.retry_s = 0.0
        """How long a read may keep retrying after connection errors (the ``retry_reads`` option)."""
        self.observers: tuple[Observer, ...] = ()
        """What sees each operation (the ``observers`` option); set before any method is bound."""
        self.near: NearStore | None = None
        """The near cache, started on the first call (once the client is settled)."""
        self.fresh: Callable[[], UrlClient] | None = None
        """Makes another client like this one, for another event loop (set by the facade that made
        the client); None: the user's client, which serves only the loop it is first used on."""
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop the client serves: the first that runs an operation."""
        self._others: dict[asyncio.AbstractEventLoop, AsyncExecutor] = {}  # by loop: executors with their own client
        self._home: AsyncExecutor | None = None  # of one of those: the executor it serves a loop for
        self._watch: AsyncGenerator[None, None] | None = None  # closes the client when the loop shuts down

    async def run(self, op: Operation[T], *, retry: bool = False) -> T:
        """As :meth:`SyncExecutor.run`. On another event loop than the client's, the operation runs
        on that loop's own client (see :func:`on_loop`)."""
        deadline = time.monotonic() + self.retry_s if retry and self.retry_s else 0.0
        if self.closed:
            op.close()
            raise closed("AsyncAgentCache")
        here = asyncio.get_running_loop()
        if here is not self.loop:
            if self.loop is not None:
                return await on_loop(self, here, op).run(op, retry=retry)
            serve(self, here)
        try:
            step = next(op)  # bad input fails here, before anything is sent
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if self._promote is not None:
            try:
                await self._resolve()
            except BackendError as exc:
                op.close()
                raise first_call_failed(step, exc) from exc.__cause__
        if self.near is not None and not self.near.started:
            self.near.start(self.client)  # its listeners, now that the client is settled
        try:
            while True:
                try:
                    if type(step) is not list:
                        result = await self._perform(step)
                    elif len(step) == 1 and step[0].script is None and not deadline and not debug_enabled():
                        command = step[0]  # the common case, without a coroutine of ours: see plain()
                        (self._home or self).round_trips += 1
                        try:
                            result = [await plain(self.client.execute_command, command)]
                        except REPLY_ERRORS as exc:
                            result = [exc]
                            _triage(step, result)  # raises, or None for an optional command
                        except AgentCacheError:
                            raise
                        except Exception as exc:  # not BaseException: a cancellation stays one
                            raise send_failed(step, exc) from exc
                    else:
                        result = await self._round_trip(step, deadline)
                except BaseException as exc:  # a failed round trip, the user's error, a cancellation:
                    step = op.throw(exc)  # thrown in at the yield, so the operation can clean up
                else:
                    step = op.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def stream(self, steps: Generator[Any, Any, None]) -> AsyncIterator[Any]:
        """As :meth:`SyncExecutor.stream`; :class:`Open` starts ``afn()``, an async iterator."""
        value: Any = None
        error: BaseException | None = None
        opened: list[Any] = []
        try:
            while True:
                try:
                    item = steps.send(value) if error is None else steps.throw(error)
                except StopIteration:
                    return
                value, error = None, None
                try:
                    if isinstance(item, Generator):
                        value = await self.run(item)
                    elif isinstance(item, Open):
                        value = aiter(item.afn())
                        opened.append(value)
                    elif isinstance(item, Next):
                        value = await anext(item.handle, None)
                    else:
                        yield item
                except Exception as exc:
                    error = exc
        finally:
            steps.close()
            for handle in opened:
                if hasattr(handle, "aclose"):
                    await handle.aclose()

    async def _round_trip(self, batch: Batch, deadline: float = 0.0) -> Replies:
        started = round_trip_started()
        failures = 0
        while True:
            try:
                replies = await self._send(batch)
                break
            except BackendError as exc:
                failures += 1
                pause = retry_pause(deadline, failures, exc)
                if pause is None:
                    raise
                await asyncio.sleep(pause)
        resend = _triage(batch, replies)
        if resend is not None:
            scripts_resent(resend)
            replies = _merge(batch, replies, resend, await self._send([c.as_eval() for c in resend]))
        round_trip_done(batch, started)
        return replies

    async def _perform(self, step: Step) -> Any:
        if isinstance(step, Call):
            result = step.fn() if step.afn is None else step.afn()
            return (await result) if inspect.isawaitable(result) else result
        if isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
            return None
        if isinstance(step, Await):
            await step.flight.wait_async(step.timeout)
            return None
        if hasattr(self.client, "initialize"):  # an asyncio cluster client learns its nodes lazily
            try:
                await self.client.initialize()
            except AgentCacheError:
                raise
            except Exception as exc:  # anything the client raises while connecting (see send_failed)
                raise BackendError(["cluster discovery"], exc) from exc
        return primaries(self.client)

    async def _send(self, batch: Batch) -> Replies:
        (self._home or self).round_trips += 1  # one count for the cache, whichever loop sends
        assert len(batch) == 1 or all(c.node is None for c in batch), "a command for a given node goes alone"
        try:  # only the client's calls: whatever it raises while connecting or sending is a lost connection
            if len(batch) == 1:
                try:
                    return [await plain(self.client.execute_command, batch[0])]
                except REPLY_ERRORS as exc:
                    return [exc]
            count_batch(batch)  # for observers; one context-variable read otherwise
            pipe = self.client.pipeline(transaction=False)
            for command in batch:
                pipe.execute_command(*command.args)
            return list(await pipe.execute(raise_on_error=False))
        except AgentCacheError:
            raise
        except Exception as exc:  # not BaseException: a cancellation stays one
            raise send_failed(batch, exc) from exc

    async def _resolve(self) -> None:
        async with self._lock:
            if self._promote is None:
                return
            # a failure leaves the check for the next call
            if not self._detect or cluster_enabled(await self._send([CLUSTER_INFO])):
                old, self.client = self.client, promoted(self._promote)
                await old.aclose()
            self._promote = None

    async def close(self) -> None:
        """Close the client for good, and those of other event loops: every later call raises
        CacheClosedError (a second close does nothing)."""
        if not self.closed:
            self.closed = True
            others, self._others = list(self._others.values()), {}
            here = asyncio.get_running_loop()
            for executor in [self, *others]:
                if executor.loop in (None, here):
                    executor.closed = True
                    await _closing(executor)
                else:
                    let_go(executor)


def on_loop(home: AsyncExecutor, loop: asyncio.AbstractEventLoop, op: Operation[Any]) -> AsyncExecutor:
    """The executor that runs ``home``'s operations on ``loop``, another event loop than its client's
    (another thread's, or a new one after ``asyncio.run`` ended the first): made on the first call
    from that loop, with a client of its own. An asyncio client belongs to the loop it connected on;
    used from another it fails or hangs. Executors of loops closed since are let go here."""
    other = home._others.get(loop)
    if other is not None:
        return other
    if home.fresh is None:
        op.close()
        raise EventLoopError(
            "this AsyncAgentCache wraps a client you made, which serves the event loop it was first used "
            "on, and was called from another loop (another thread, or a new asyncio.run); make the cache "
            "with AsyncAgentCache.from_url(...) (a client per loop), make one cache per loop, or use "
            "AgentCache, which any thread may call"
        )
    for gone in [seen for seen in list(home._others) if seen.is_closed()]:  # list(): other threads add theirs
        dropped = home._others.pop(gone, None)
        if dropped is not None:
            let_go(dropped)
    made = home.fresh()
    other = AsyncExecutor(made.client, made.promote, detect=made.detect)
    other._home = home
    other.retry_s, other.observers, other.near = home.retry_s, home.observers, home.near
    home._others[loop] = other
    serve(other, loop)
    return other


def serve(executor: AsyncExecutor, loop: asyncio.AbstractEventLoop) -> None:
    """Bind ``executor``'s client to ``loop``, the running one, until that loop shuts down.

    ``asyncio.run``, ``asyncio.Runner`` and the like end a loop's use with
    ``loop.shutdown_asyncgens()``, which closes the async generators started on it:
    :func:`_until_shutdown`, started here, is one, so the client is closed there while the loop can
    still run it. Its finalizer is ours (the loop's would schedule on a loop that may be closed by
    then): see :func:`_finalize`. A client the user gave is only bound, never closed here."""
    executor.loop = loop
    if executor.fresh is None and executor._home is None:
        return
    watch = _until_shutdown(executor)
    firstiter, finalizer = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter, functools.partial(_finalize, loop))
    try:
        _finish(watch.asend(None))  # runs it to its yield: the loop has registered it
    finally:
        sys.set_asyncgen_hooks(firstiter, finalizer)
    executor._watch = watch


async def _until_shutdown(executor: AsyncExecutor) -> AsyncGenerator[None, None]:
    """Waits at its ``yield`` while the loop is in use. Closed on the loop (its shutdown, or close()),
    it closes the client: an executor of another loop is dropped (that loop's next call, if the loop
    is used again, makes a new one); the cache's own is unbound, with a new client for whichever
    loop calls next. Closed off the loop (which can run nothing more), it does nothing."""
    try:
        yield
    finally:
        loop, home = executor.loop, executor._home
        if loop is not None and _running() is loop:
            old = executor.client
            if executor.closed:
                pass
            elif home is not None:
                if home._others.get(loop) is executor:
                    home._others.pop(loop, None)
                executor.closed = True
            elif executor.fresh is not None:
                made = executor.fresh()
                executor.client, executor._promote = recovering(made.client), made.promote
                executor._detect = made.detect
                executor.loop, executor._watch, executor._lock = None, None, asyncio.Lock()
            with contextlib.suppress(Exception):  # a server that is gone must not fail the loop's shutdown
                await old.aclose()


def let_go(executor: AsyncExecutor) -> None:
    """Close an executor that serves another loop than the running one, without waiting: its client
    is closed on its loop if that loop runs (in another thread); a loop that does not run can run
    nothing, so its client's sockets are closed when the garbage collector takes it."""
    executor.closed = True
    loop, watch = executor.loop, executor._watch
    if loop is not None and loop.is_running():
        with contextlib.suppress(RuntimeError):  # closed meanwhile
            asyncio.run_coroutine_threadsafe(_closing(executor), loop)
            return
    if watch is not None:
        _finish(watch.aclose())


async def _closing(executor: AsyncExecutor) -> None:
    if executor._watch is not None:
        await executor._watch.aclose()  # which closes the client
    else:
        await executor.client.aclose()


async def _closing_watch(watch: AsyncGenerator[None, None]) -> None:
    await watch.aclose()


def _finalize(loop: asyncio.AbstractEventLoop, watch: AsyncGenerator[None, None]) -> None:
    """A watcher collected unclosed (its cache was never closed): closed on its loop if the loop can
    still run something (as asyncio's own hook does), else at once."""
    with contextlib.suppress(RuntimeError):  # the loop is closed
        loop.call_soon_threadsafe(loop.create_task, _closing_watch(watch))
        return
    _finish(watch.aclose())


def _finish(step: Any) -> None:
    """Run one step of an async generator (asend or aclose) that awaits nothing on the way."""
    with contextlib.suppress(StopIteration, StopAsyncIteration, RuntimeError):
        step.send(None)


def _running() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
