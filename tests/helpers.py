"""Helpers shared by the test files: caches on both facades, raw looks behind a cache, round-trip
counting, hostile values, and :func:`drive`, which runs an operation without a server."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import pytest

from agentcache import AgentCache, AgentCacheError, AsyncAgentCache
from agentcache.core.binding import Bound
from agentcache.core.commands import PRIMARIES, Await, Batch, Call, Operation, Pause, Replies
from agentcache.testing import unique_prefix

T = TypeVar("T")


def drive(
    op: Operation[T],
    replies: Iterable[Replies | BaseException],
    batches: list[Batch] | None = None,
    *,
    primaries: list[Any] | None = None,
) -> tuple[list[Batch], T]:
    """Run ``op`` without a server: returns the batches it sent (one per round trip) and its result.

    Each batch is answered by the next item of ``replies``: a list with one reply per command, as
    the executor hands them over (an optional command's error already ``None``), or an exception,
    thrown in at the ``yield`` as the executor throws a failed round trip. A :class:`Call` runs its
    function, :class:`Pause` and :class:`Await` pass at once, and ``PRIMARIES`` is ``primaries``
    (default ``[None]``: one server). Fails if a reply list does not match its batch or if replies are left over. Pass
    ``batches`` to keep what was sent when the operation raises."""
    answers = iter(replies)
    batches = [] if batches is None else batches
    sent: Any = None
    throw: BaseException | None = None
    try:
        while True:
            step = op.throw(throw) if throw is not None else op.send(sent)
            throw, sent = None, None
            if isinstance(step, list):
                batches.append(step)
                answer = next(answers, None)
                assert answer is not None, f"no reply given for round trip {len(batches)}: {step}"
                if isinstance(answer, BaseException):
                    throw = answer
                else:
                    assert len(answer) == len(step), f"{len(answer)} replies for {len(step)} commands: {step}"
                    sent = answer
            elif isinstance(step, Call):
                try:
                    sent = step.fn()
                except Exception as exc:
                    throw = exc
            elif isinstance(step, Pause | Await):
                sent = None
            elif step is PRIMARIES:
                sent = [None] if primaries is None else primaries
            else:
                raise AssertionError(f"an operation yielded {step!r}")
    except StopIteration as stop:
        left = list(answers)
        assert not left, f"{len(left)} replies left over: {left}"
        return batches, stop.value


def names(batches: list[Batch]) -> list[list[str]]:
    """What each round trip sent, by command name (scripts by their name): for short assertions."""
    return [[command.name for command in batch] for batch in batches]


class Synced:
    """Drives an async facade (or one of its tiers) from sync test code, so each test body covers
    both facades. It only awaits what the async facade returns; the client is real."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if isinstance(attr, Bound):
            return Synced(attr, self._loop)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            result = self._loop.run_until_complete(result) if inspect.isawaitable(result) else result
            return Synced(result, self._loop) if isinstance(result, Bound) else result  # e.g. a Conversation

        return call


def make_cache(
    topology: str, facade: str, url_of: Callable[[str], str], **options: Any
) -> tuple[Any, Callable[[], None]]:
    """A cache (sync, or async behind :class:`Synced`) and the function that closes it."""
    options.setdefault("prefix", unique_prefix())
    if facade == "sync":
        cache: Any = (
            AgentCache.in_memory(**options)
            if topology == "memory"
            else AgentCache.from_url(url_of(topology), **options)
        )
        return cache, cache.close
    loop = asyncio.new_event_loop()
    acache = (
        AsyncAgentCache.in_memory(**options)
        if topology == "memory"
        else AsyncAgentCache.from_url(url_of(topology), **options)
    )

    def close() -> None:
        loop.run_until_complete(acache.close())
        loop.close()

    return Synced(acache, loop), close


def command(cache: Any, *args: Any) -> Any:
    """Run one raw command on the cache's own client (sync or async), to look behind the cache."""
    cache.ping()  # settles the client (cluster or not) of a cache made from a URL
    result = cache.client.execute_command(*args)
    return cache._loop.run_until_complete(result) if inspect.isawaitable(result) else result


def cost(cache: Any, call: Callable[..., Any]) -> int:
    """Round trips ``call()`` made on ``cache``."""
    before = cache.round_trips
    call()
    return int(cache.round_trips - before)


def refused(cache: Any, error: type[BaseException], call: Callable[..., Any]) -> pytest.ExceptionInfo[Any]:
    """``call()`` raises ``error`` (an AgentCacheError) and sends nothing (``cache.round_trips`` is unchanged)."""
    before = cache.round_trips
    with pytest.raises(error) as caught:
        call()
    assert isinstance(caught.value, AgentCacheError)
    assert cache.round_trips == before, "a refused call must send nothing"
    return caught


def every_page(cache: Any, limit: int, **filters: Any) -> list[str]:
    """The ids ``list_active`` gives, page after page of ``limit``, until its cursor runs out."""
    seen: list[str] = []
    cursor = None
    while True:
        page = cache.conversations.list_active(limit=limit, cursor=cursor, **filters)
        seen += [info.id for info in page]
        cursor = page.cursor
        if cursor is None:
            return seen


def new(cache: Any, *, agent_id: str = "agent", user_id: str = "user", **kwargs: Any) -> Any:
    """A conversation of agent ``agent`` and user ``user`` unless told otherwise."""
    return cache.conversations.create(agent_id=agent_id, user_id=user_id, **kwargs)


def nested_list(depth: int) -> Any:
    """``[[[...1...]]]``, ``depth`` levels deep."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@dataclasses.dataclass
class Unset:
    """A dataclass whose ``later`` field is never assigned: reading it raises AttributeError."""

    a: int = 1
    later: int = dataclasses.field(init=False, repr=False)  # repr=False: printable in reports
