"""Executors: drive an operation (``commands.py``) over a sync or an asyncio client.

All the protocol logic — sending scripts by SHA and by body only when the server lacks them, and
turning error replies into :class:`BackendError` — lives once, in :func:`_guarded`. The two executors
only send a batch (one command directly, several as one non-transactional pipeline) and count round
trips.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .clients import CLIENT_ERRORS, REPLY_ERRORS, backend_error, is_noscript
from .commands import Batch, Operation, Replies, cmd, one

T = TypeVar("T")


def _guarded(op: Operation[T]) -> Operation[T]:
    """Wrap ``op``: resend unknown scripts as EVAL, and raise error replies as BackendError."""
    try:
        batch = next(op)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    while True:
        replies = list((yield batch))
        missing = [i for i, r in enumerate(replies) if is_noscript(r)]
        if missing:
            again = yield [batch[i].as_eval() for i in missing]
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for command, reply in zip(batch, replies, strict=True):
            if isinstance(reply, BaseException):
                raise backend_error([command], reply) from reply
        try:
            batch = op.send(replies)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def is_cluster_server() -> Operation[bool]:
    """Whether the server runs in cluster mode (``cluster-enabled yes``)."""
    info = yield from one(cmd("INFO", "cluster"))
    if isinstance(info, bytes | str):
        return "cluster_enabled:1" in (info.decode() if isinstance(info, bytes) else info)
    return str(info.get("cluster_enabled")) == "1"


class SyncExecutor:
    """Runs operations over a sync valkey-py or redis-py client (standalone or cluster)."""

    def __init__(self, client: Any, promote: Callable[[], Any] | None = None) -> None:
        self.client = client
        self.round_trips = 0
        """Batches sent so far (each is one round trip; to a 3-primary cluster, one per node touched)."""
        self._promote = promote  # builds a cluster client if the first call finds a cluster server
        self._lock = threading.Lock()

    def run(self, op: Operation[T]) -> T:
        ops = _guarded(op)
        try:
            batch = next(ops)  # bad input fails here, before anything is sent
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if self._promote is not None:
            self._resolve()
        return self._drive(ops, batch)

    def _drive(self, ops: Operation[T], batch: Batch) -> T:
        try:
            while True:
                batch = ops.send(self._send(batch))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _send(self, batch: Batch) -> Replies:
        self.round_trips += 1
        try:
            if len(batch) == 1:
                try:
                    return [self.client.execute_command(*batch[0].args)]
                except REPLY_ERRORS as exc:
                    return [exc]
            pipe = self.client.pipeline(transaction=False)
            for command in batch:
                pipe.execute_command(*command.args)
            return list(pipe.execute(raise_on_error=False))
        except CLIENT_ERRORS as exc:
            raise backend_error(batch, exc) from exc

    def _resolve(self) -> None:
        with self._lock:
            if self._promote is None:
                return
            probe = _guarded(is_cluster_server())
            if self._drive(probe, next(probe)):  # a failure here leaves the check for the next call
                old, self.client = self.client, self._promote()
                old.close()
            self._promote = None

    def close(self) -> None:
        self.client.close()


class AsyncExecutor:
    """Runs operations over an asyncio valkey-py or redis-py client (standalone or cluster)."""

    def __init__(self, client: Any, promote: Callable[[], Any] | None = None) -> None:
        self.client = client
        self.round_trips = 0
        """Batches sent so far (each is one round trip; to a 3-primary cluster, one per node touched)."""
        self._promote = promote
        self._lock = asyncio.Lock()

    async def run(self, op: Operation[T]) -> T:
        ops = _guarded(op)
        try:
            batch = next(ops)  # bad input fails here, before anything is sent
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if self._promote is not None:
            await self._resolve()
        return await self._drive(ops, batch)

    async def _drive(self, ops: Operation[T], batch: Batch) -> T:
        try:
            while True:
                batch = ops.send(await self._send(batch))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def _send(self, batch: Batch) -> Replies:
        self.round_trips += 1
        try:
            if len(batch) == 1:
                try:
                    return [await self.client.execute_command(*batch[0].args)]
                except REPLY_ERRORS as exc:
                    return [exc]
            pipe = self.client.pipeline(transaction=False)
            for command in batch:
                pipe.execute_command(*command.args)
            return list(await pipe.execute(raise_on_error=False))
        except CLIENT_ERRORS as exc:
            raise backend_error(batch, exc) from exc

    async def _resolve(self) -> None:
        async with self._lock:
            if self._promote is None:
                return
            probe = _guarded(is_cluster_server())
            if await self._drive(probe, next(probe)):  # a failure here leaves the check for the next call
                old, self.client = self.client, self._promote()
                await old.aclose()
            self._promote = None

    async def close(self) -> None:
        await self.client.aclose()
