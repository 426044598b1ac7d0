"""A conversation used as a plain log: what the framework adapters (OpenAI Agents SDK sessions,
LangChain chat histories) store their items in.

A log names a conversation and the settings to start it with. It is opened on first use (one
round trip to read it), started when it does not exist, and started again, empty, when it timed
out or was ended: the conversation tier's lifecycle (inactivity timeout, auto-renew, max duration)
decides how long a history lives. After the first call each call is one round trip; reading a log
that does not exist sends nothing more and returns nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentcache.core.commands import Operation
from agentcache.errors import SessionExists, SessionExpired, SessionNotFound
from agentcache.tiers.content.messages import Message
from agentcache.tiers.conversations.ops import (
    Tail,
    add_messages,
    clear,
    create,
    get,
    messages,
    pop_last,
    replace_after,
    tail,
)
from agentcache.tiers.conversations.refs import Ref, Tier

_GONE = (SessionNotFound, SessionExpired)
_PRUNE_PAGE = 100  # messages read per round trip while looking for prunable ones


@dataclass(slots=True)
class Log:
    """One log: its conversation's id, how to start it, and the conversation once opened."""

    tier: Tier
    session_id: str
    start: dict[str, Any]
    """``create`` keywords (agent_id, user_id, timeout, ...)."""
    ref: Ref | None = field(default=None, repr=False)


def _open(log: Log) -> Operation[Ref | None]:
    """The log's conversation if it is live, else None (and forgotten)."""
    if log.ref is None:
        try:
            log.ref = (yield from get(log.tier, log.session_id)).ref
        except _GONE:
            return None
    return log.ref


def append(log: Log, items: Sequence[Message]) -> Operation[int]:
    """Append messages, starting the conversation (with them) if it is not live; returns the
    history's length. One round trip once open (two the first time, three when starting it)."""
    for _ in range(3):  # a lost race to start it, or a timeout between two calls, is retried
        ref = yield from _open(log)
        try:
            if ref is None:
                opened = yield from create(log.tier, session_id=log.session_id, messages=list(items), **log.start)
                log.ref = opened.ref
                return len(items)
            return (yield from add_messages(ref, items, attach_user_parts=False))
        except (*_GONE, SessionExists):
            log.ref = None
    raise SessionExists(f"conversation {log.session_id!r} kept changing while it was being appended to; try again")


def read(log: Log, limit: int | None = None) -> Operation[list[Message]]:
    """The newest ``limit`` messages (all if None), oldest first; none if the log is not live."""
    if limit is not None and limit <= 0:
        return []
    ref = yield from _open(log)
    if ref is None:
        return []
    try:
        return list((yield from messages(ref, limit)))
    except _GONE:
        log.ref = None
        return []


def pop(log: Log) -> Operation[Message | None]:
    """Remove and return the newest message; None if there is none (or the log is not live)."""
    ref = yield from _open(log)
    if ref is None:
        return None
    try:
        return (yield from pop_last(ref))
    except _GONE:
        log.ref = None
        return None


def clear_log(log: Log) -> Operation[int]:
    """Remove every message (the conversation stays); returns how many."""
    ref = yield from _open(log)
    if ref is None:
        return 0
    try:
        return (yield from clear(ref))
    except _GONE:
        log.ref = None
        return 0


def read_tail(log: Log, limit: int) -> Operation[Tail | None]:
    """The newest ``limit`` messages with what :func:`replace_tail` checks; None if the log is not live."""
    ref = yield from _open(log)
    if ref is None:
        return None
    try:
        return (yield from tail(ref, limit))
    except _GONE:
        log.ref = None
        return None


def replace_tail(
    log: Log, read: Tail, start: int, items: Sequence[Message], prune: Callable[[Message], bool] | None = None
) -> Operation[bool]:
    """Replace the messages of ``read`` from its ``start``-th on by ``items``, only if the history
    is still the one read (False, nothing written, otherwise: see ``replace_after``). With
    ``prune``, the oldest messages before them for which it is true, up to the first for which it
    is not, are removed in the same write (read first, a page at a time: one round trip a page)."""
    if not isinstance(start, int) or isinstance(start, bool) or not 0 <= start < len(read.messages):
        return False
    ref = yield from _open(log)
    if ref is None:
        return False
    keep = read.start + start
    try:
        drop = 0 if prune is None else (yield from _prunable(ref, keep, prune))
        return (yield from replace_after(ref, keep, items, read, drop=drop))
    except _GONE:
        log.ref = None
        return False


def _prunable(ref: Ref, end: int, prune: Callable[[Message], bool]) -> Operation[int]:
    """How many of the first ``end`` messages ``prune`` is true for, counted from the oldest up to
    the first it is false for. A change in between is caught by the write's check, not here."""
    count = 0
    while count < end:
        want = min(_PRUNE_PAGE, end - count)
        page = yield from messages(ref, want, count + want)  # messages [count, count + want)
        for message in page:
            if not prune(message):
                return count
            count += 1
        if len(page) < want:  # the history changed: the write's check refuses it
            break
    return count


def replace_all(log: Log, items: Sequence[Message]) -> Operation[bool]:
    """Replace every message by ``items`` in one script call (starting the log if it is not live)."""
    ref = yield from _open(log)
    if ref is not None:
        try:
            return (yield from replace_after(ref, 0, items))
        except _GONE:
            log.ref = None
    if items:
        yield from append(log, items)
    return True
