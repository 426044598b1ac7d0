"""Posting a message and reading where the conversation stands, in one round trip.

What the Sessions API's send answers needs both: the append (with its auto-renewal, its index
update and the thread's pending user parts) and the conversation's info afterwards (its deadline,
renewal count, status). :func:`post_message` runs :func:`~.ops.add_messages` and :func:`~.ops.info`
side by side, so the info read rides in the append's round trip, after the append on the same
connection (the conversation's keys share one slot). One round trip, plus one only when the append's
reply or the info shows the handle was stale (its settings changed elsewhere, or the id now names a
conversation of another agent or user, whose indexes are then corrected).
"""

from __future__ import annotations

from dataclasses import dataclass

from agentcache.core.commands import Operation, together
from agentcache.tiers.content.messages import Message
from agentcache.tiers.conversations.index import index_cmd
from agentcache.tiers.conversations.models import SessionInfo
from agentcache.tiers.conversations.ops import add_messages, info
from agentcache.tiers.conversations.refs import Ref, index_keys


@dataclass(frozen=True, slots=True)
class Posted:
    """What :func:`post_message` returns: the history's new length and the conversation's info
    right after the message."""

    length: int
    info: SessionInfo


def post_message(r: Ref, message: Message, *, attach_user_parts: bool = True) -> Operation[Posted]:
    """Append ``message`` (as :meth:`~agentcache.Conversation.add_message`: activity, auto-renewal,
    the thread's pending user parts) and read the conversation's info after it, in one round trip.

    Raises what ``add_message`` raises (:class:`SessionNotFound`, :class:`SessionExpired`,
    :class:`SessionEnded`) when the conversation is not live. One more round trip only when the
    handle was stale (see the module's docstring)."""
    length, after = yield from together([add_messages(r, [message], attach_user_parts=attach_user_parts), info(r)])
    assert isinstance(after, SessionInfo)
    if (after.agent_id, after.user_id) != (r.agent_id, r.user_id):  # the id was created again, by others
        fresh = index_keys(r.tier.settings, after.agent_id, after.user_id, r.id)
        stale = [key for key in r.indexes if key not in fresh]
        deadline = round(after.expires_at.timestamp() * 1000)
        fixes = [index_cmd(fresh, "set", r.id, deadline, "gt", 3)]
        yield [index_cmd(stale, "remove", r.id), *fixes] if stale else fixes
        r.agent_id, r.user_id = after.agent_id, after.user_id
    return Posted(int(length), after)
