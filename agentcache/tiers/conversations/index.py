"""The indexes of live conversations (``list_active``, ``expiring``): the commands that keep them
in step with the lifecycle scripts, the corrections when they were not, and the reads."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Literal

from agentcache.core.commands import Batch, Command, Operation, Replies
from agentcache.encoding.keys import (
    INDEX_BUCKETS,
    check_name,
    conversation_keys,
    index_agent,
    index_all,
    index_user,
)
from agentcache.errors import (
    InvalidArgumentError,
    shown,
)
from agentcache.tiers.conversations.lifecycle import Seconds, to_ms
from agentcache.tiers.conversations.models import DEFAULT_PAGE, SessionInfo, SessionPage
from agentcache.tiers.conversations.refs import Ref, Tier
from agentcache.tiers.conversations.replies import IndexEntries, ReadReply, datetime_of, session_info
from agentcache.tiers.conversations.scripts import CONV_INDEX, CONV_INDEX_READ, CONV_READ


def index_cmd(keys: list[str], *args: object) -> Command:
    """A CONV_INDEX call whose error reply becomes None: the index never fails a write."""
    return CONV_INDEX(keys, *args)._replace(optional=True)


@dataclass(frozen=True, slots=True)
class Move:
    """How a write moves the deadline, and so the index: ``gt`` (extend: never lower) or ``set``
    (absolute), to min(now + timeout, cap) (cap 0: none)."""

    how: Literal["gt", "set"]
    timeout_ms: int
    cap_ms: int


def effective_cap(cap_ms: int) -> float:
    """A deadline cap as a bound to compare: 0 (no cap) is infinity."""
    return cap_ms if cap_ms > 0 else float("inf")


def index_fix(r: Ref, sent: Move | None, did: Move | None, deadline: int) -> Command | None:
    """The correcting index update when the one sent (``sent``, from the handle's settings) is not
    what the script did (``did``, from the settings it read): None when they agree."""
    if sent == did:
        return None
    if did is None:  # the deadline did not move, but the update sent may have raised the score
        return index_cmd(r.indexes, "set", r.id, deadline, "set", 3)
    raised = sent is not None and (
        sent.how == "set" or sent.timeout_ms > did.timeout_ms or effective_cap(sent.cap_ms) > effective_cap(did.cap_ms)
    )
    how = "gt" if did.how == "gt" and not raised else "set"
    return index_cmd(r.indexes, "set", r.id, deadline, how, 3)


def deadline_move(mode: str, auto: bool, timeout_ms: int, cap_ms: int, new_timeout: bool) -> Move | None:
    """How ``mode`` moves the deadline with these settings."""
    if mode == "renew" or (mode in ("append", "attach", "heartbeat") and auto):
        return Move("gt", timeout_ms, cap_ms)
    if mode == "timeout" and new_timeout:
        return Move("set", timeout_ms, cap_ms)
    return None


# --- finding ------------------------------------------------------------------------------------


MAX_COUNT = 2**53  # a count or cursor the server's Lua (doubles) holds exactly


def check_limit(limit: object, what: str = "limit") -> int:
    """``limit`` if it is a positive int the server's Lua holds exactly; InvalidArgumentError otherwise."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_COUNT:
        raise InvalidArgumentError(f"{what} must be a positive int (at most 2**53), not {shown(limit)}")
    return limit


def _verified(
    t: Tier, ids: Sequence[str], keep: Callable[[SessionInfo], bool]
) -> Generator[Batch, Replies, list[SessionInfo]]:
    """Check index entries against the conversations themselves: one round trip."""
    if not ids:
        return []
    replies = yield [
        CONV_READ(conversation_keys(t.settings.prefix, t.settings.key_id(sid, "session_id")).both, "info")
        for sid in ids
    ]
    infos = []
    for sid, raw in zip(ids, replies, strict=True):
        if raw[0] == b"ok":
            reply = ReadReply.parse(raw, "info", sid)
            meta_key = conversation_keys(t.settings.prefix, t.settings.key_id(sid, "session_id")).meta
            info = session_info(sid, reply.fields, reply.now, reply.length, t.settings.sealer, meta_key)
            if info.status in ("active", "near_expiration") and keep(info):
                infos.append(info)
    return infos


def _merged(replies: Replies, limit: int) -> IndexEntries:
    """The entries of every bucket's index in one deadline order (ties by id, as each bucket orders
    them), the first ``limit``."""
    parsed = [IndexEntries.parse(reply) for reply in replies]
    pairs = sorted(
        (
            (float(score), sid, score)
            for entries in parsed
            for sid, score in zip(entries.ids, entries.scores, strict=True)
        ),
        key=lambda pair: (pair[0], pair[1].encode("utf-8", "surrogatepass")),
    )[:limit]
    return IndexEntries([sid for _, sid, _ in pairs], [score for _, _, score in pairs], max(e.now for e in parsed))


def list_active(
    t: Tier,
    agent_id: str | None = None,
    user_id: str | None = None,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> Operation[SessionPage]:
    """Live conversations (of ``agent_id`` and/or ``user_id`` if given), soonest deadline first.

    Reads an index, not the keyspace: two round trips (the index, then each entry checked against
    its conversation). A conversation renewed while you page can show up again on a later page.
    """
    s = t.settings
    agent = None if agent_id is None else check_name(agent_id, "agent_id")
    user = None if user_id is None else check_name(user_id, "user_id")
    check_limit(limit)
    score, after = "", ""
    if cursor is not None:
        if not isinstance(cursor, str) or ":" not in cursor or not cursor.split(":", 1)[0].isdigit():
            raise InvalidArgumentError(f"cursor {shown(cursor)} is not one list_active returned")
        score, after = cursor.split(":", 1)
    buckets = range(INDEX_BUCKETS)
    indexes = [
        index_agent(s.prefix, s.key_id(agent, "agent_id"), b)
        if agent
        else index_user(s.prefix, s.key_id(user, "user_id"), b)
        if user
        else index_all(s.prefix, b)
        for b in buckets
    ]
    found = _merged((yield [CONV_INDEX_READ([index], "list", score, after, limit) for index in indexes]), limit)
    infos = yield from _verified(
        t, found.ids, lambda i: (agent is None or i.agent_id == agent) and (user is None or i.user_id == user)
    )
    last = f"{int(float(found.scores[-1]))}:{found.ids[-1]}" if len(found.ids) >= limit else None
    return SessionPage(infos, last)


def expiring(t: Tier, within: Seconds | None = None, limit: int = DEFAULT_PAGE) -> Operation[list[SessionInfo]]:
    """Live conversations that expire within ``within`` (default: the warning threshold), soonest first.

    For expiration warnings. Two round trips, like :func:`list_active`."""
    within_ms = t.life.warning_threshold_ms if within is None else to_ms(within, "within")
    check_limit(limit)
    indexes = [index_all(t.settings.prefix, b) for b in range(INDEX_BUCKETS)]
    found = _merged((yield [CONV_INDEX_READ([index], "expiring", within_ms, limit) for index in indexes]), limit)
    horizon = datetime_of(found.now + within_ms)
    infos = yield from _verified(t, found.ids, lambda i: i.expires_at <= horizon)
    return sorted(infos, key=lambda i: i.expires_at)
