"""Context assembly: what to send to the model on this turn, read in one round trip. Its
conversion to each model API's message format (no SDK imported) is ``content/requests.py``'s.

The system prompt is the conversation's (or the one passed), followed by the dynamic sections in
this format, one block per section in the order given::

    <system prompt>

    ## <section name>
    <text, or the value as JSON (keys sorted)>

The history is the newest messages, trimmed to ``limit`` messages and then to ``max_chars``
characters (text, data and tool content; images count nothing), never starting with a tool result
whose call was trimmed away. Once the conversation is compacted (``conv.compact``, see
``compaction.py``) the history starts with the summary, as a system message, followed by the
messages after the part it summarises; the summary counts against ``max_chars`` but not ``limit``.
The thread's pending user parts (``cache.session.set_user_part``),
transient ones included, ride along on the last user message; they stay pending (a persistent one
is stored with the next user message; a transient one until it is replaced, removed or expires).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentcache.core.commands import Operation
from agentcache.encoding.keys import session_thread, user_parts_key
from agentcache.errors import InvalidArgumentError, shown
from agentcache.tiers.content.messages import DataPart, Message, Part, TextPart, ToolCallPart, ToolResultPart
from agentcache.tiers.content.requests import anthropic_messages, chat_messages, json_text, responses_input, result_text
from agentcache.tiers.conversations.index import MAX_COUNT, check_limit
from agentcache.tiers.conversations.refs import Ref
from agentcache.tiers.conversations.replies import ContextRead, decode_messages
from agentcache.tiers.conversations.scripts import CONV_READ
from agentcache.tiers.session.tier import USER_PART, parts_of


def render_sections(sections: Mapping[str, Any] | None) -> list[str]:
    """The dynamic sections as ``## <name>`` blocks (see the module docstring); bad ones raise."""
    blocks = []
    for name, value in (sections or {}).items():
        if not isinstance(name, str) or not name or "\n" in name:
            raise InvalidArgumentError(f"a dynamic section's name must be a one-line str, not {shown(name)}")
        text = value if isinstance(value, str) else _json(value, f"dynamic section {name!r}")
        blocks.append(f"## {name}\n{text}")
    return blocks


def render_system(system: str | None, blocks: list[str]) -> str | None:
    """The system prompt with the rendered section blocks after it."""
    if not blocks:
        return system
    return "\n\n".join([system, *blocks] if system else blocks)


def _json(value: Any, what: str) -> str:
    return json_text(value, what)  # as the model APIs get it, so trimming counts what is sent


SUMMARY_HEAD = "Summary of the earlier conversation:\n"
"""What the summary's message starts with, in the context a model is sent."""


def summary_message(summary: str) -> Message:
    """The summary of a compacted conversation as the first message of its context."""
    return Message.system(SUMMARY_HEAD + summary, metadata={"agentcache": "summary"})


def message_chars(message: Message) -> int:
    """The characters ``message`` puts in a request: text, data and tool content (images: none)."""
    total = 0
    for part in message.parts:
        if isinstance(part, TextPart):
            total += len(part.text)
        elif isinstance(part, DataPart):
            total += len(_json(part.data, "data"))
        elif isinstance(part, ToolCallPart):
            total += len(part.name) + len(_json(part.arguments, "tool arguments"))
        elif isinstance(part, ToolResultPart):
            total += len(result_text(part))
    return total


def trim(history: list[Message], max_chars: int | None) -> list[Message]:
    """The newest messages within ``max_chars``, never starting with an orphaned tool result."""
    kept = history
    if max_chars is not None:
        budget, start = max_chars, len(history)
        while start > 0 and message_chars(history[start - 1]) <= budget:
            budget -= message_chars(history[start - 1])
            start -= 1
        kept = history[start:]
    first = 0
    while first < len(kept) and kept[first].role == "tool":  # its call was trimmed away
        first += 1
    return kept[first:]


def _with_parts(history: list[Message], parts: list[Part]) -> list[Message]:
    if not parts:
        return history
    for i in range(len(history) - 1, -1, -1):
        if history[i].role == "user":
            joined = history[i].model_copy(update={"parts": [*history[i].parts, *parts]})
            return [*history[:i], joined, *history[i + 1 :]]
    return [*history, Message(role="user", parts=parts)]  # no user message yet: they start one


def context(
    r: Ref,
    *,
    system: str | None = None,
    dynamic_sections: Mapping[str, Any] | None = None,
    limit: int | None = None,
    max_chars: int | None = None,
) -> Operation[Context]:
    """What to send to the model on this turn: the system prompt with ``dynamic_sections`` rendered
    into it (``system`` replaces the conversation's own), the newest history within ``limit``
    messages and ``max_chars`` characters, and the thread's pending user parts on the last user
    message; a compacted conversation's summary first. Reading is not activity. One round trip."""
    prompt, history, parts = yield from gather(
        r, system=system, dynamic_sections=dynamic_sections, limit=limit, max_chars=max_chars
    )
    return Context(prompt, _with_parts(history, parts))


def gather(
    r: Ref,
    *,
    system: str | None = None,
    dynamic_sections: Mapping[str, Any] | None = None,
    limit: int | None = None,
    max_chars: int | None = None,
) -> Operation[tuple[str | None, list[Message], list[Part]]]:
    """:func:`context`'s pieces apart: the rendered system prompt, the trimmed history and the
    pending user parts (a model turn puts them on its own new user message). One round trip."""
    if limit is not None:
        check_limit(limit)
    if max_chars is not None and (
        not isinstance(max_chars, int) or isinstance(max_chars, bool) or not 0 <= max_chars <= MAX_COUNT
    ):
        raise InvalidArgumentError(f"max_chars must be an int >= 0, not {shown(max_chars)}")
    if system is not None and not isinstance(system, str):
        raise InvalidArgumentError(f"system must be a str or None, not {type(system).__name__}")
    if dynamic_sections is not None and not isinstance(dynamic_sections, Mapping):
        raise InvalidArgumentError(f"dynamic_sections must be a dict, not {type(dynamic_sections).__name__}")
    blocks = render_sections(dynamic_sections)  # bad sections fail before anything is sent
    s = r.tier.settings
    raw, items = yield [
        CONV_READ(r.keys.both, "context", "" if limit is None else limit),
        USER_PART([user_parts_key(s.prefix, s.key_id(r.id))], "list"),
    ]
    read = ContextRead.parse(raw, r.id, s.sealer, r.keys.meta)
    parts = list(parts_of(items, session_thread(s.prefix, s.key_id(r.id)), r.id, s.sealer).values())
    chosen = system if system is not None else read.system
    head = [] if read.summary is None else [summary_message(read.summary)]
    if head and max_chars is not None:
        max_chars = max(0, max_chars - message_chars(head[0]))
    history = [*head, *trim(decode_messages(read.messages, r.id, s.sealer, r.keys.msgs), max_chars)]
    return render_system(chosen, blocks), history, parts


@dataclass(frozen=True)
class Context:
    """The system prompt and messages of one turn; ``to_*`` give each model API's format (plain
    dicts, so no SDK is imported)."""

    system: str | None
    messages: list[Message] = field(default_factory=list)

    def to_dicts(self) -> dict[str, Any]:
        """``{"system": ..., "messages": [message JSON data, ...]}`` (see :meth:`Message.to_json_data`)."""
        return {"system": self.system, "messages": [m.to_json_data() for m in self.messages]}

    def to_openai_chat(self) -> list[dict[str, Any]]:
        """OpenAI Chat Completions ``messages`` (system first; images as data URLs)."""
        return chat_messages(self)

    def to_openai_responses(self) -> list[dict[str, Any]]:
        """OpenAI Responses ``input`` items (the system prompt as a system message first)."""
        return responses_input(self)

    def to_anthropic(self) -> dict[str, Any]:
        """Anthropic Messages ``{"system": ..., "messages": [...]}``: system messages of the history
        join the system prompt, tool results go in user turns, and consecutive turns of one role
        merge (the API wants them alternating)."""
        return anthropic_messages(self)
