"""History compaction: ``conv.compact`` folds the older part of a conversation into a summary made
by a model, and ``conv.run(..., compact_at=...)`` does it when the context passes a budget.

The summary is stored with the conversation (its meta hash: ``summary``, and ``sumto``, how many
messages at the head of the history it covers). :func:`~agentcache.tiers.conversations.context.context`
and every turn then send the summary (a system message) followed by the messages after it; the
originals stay readable by paging (``conv.messages``), or are removed with ``drop=True``.

A compaction reads the history (one round trip), asks the model for the summary through the LLM
tier (so a summary request seen before is served from Valkey, and workers compacting the same
range at once call the model once), and writes it with one script (``compact.lua``) that first
checks the history is still the one the summary was made from. Messages appended meanwhile land
after the summarised range: they are neither lost nor summarised. A pop, a clear or another
compaction meanwhile makes the script refuse; the compaction then reads again and retries (a
retry over the same range is an LLM cache hit), and raises :class:`~agentcache.CompactionConflict`
after :data:`ATTEMPTS` refusals. With ``encryption=`` the summary is stored sealed (bound to the meta
hash and its field): the script stores it without reading it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentcache.core.commands import Call, Operation
from agentcache.encoding import codec
from agentcache.errors import AgentCacheError, CompactionConflict, InvalidArgumentError, ModelError, shown
from agentcache.tiers.content.formats import reply_of
from agentcache.tiers.content.messages import DataPart, ImagePart, Message, TextPart, ToolCallPart, ToolResultPart
from agentcache.tiers.content.requests import json_text, result_text
from agentcache.tiers.conversations.context import Context, message_chars
from agentcache.tiers.conversations.index import MAX_COUNT
from agentcache.tiers.conversations.refs import Ref
from agentcache.tiers.conversations.replies import CompactReply, ContextRead, decode_messages
from agentcache.tiers.conversations.scripts import CONV_COMPACT, CONV_READ
from agentcache.tiers.llm import tier as llm
from agentcache.tiers.llm.models import ChatModel
from agentcache.tiers.llm.request import API_KEY

ATTEMPTS = 4
"""How many times :func:`compact` reads and summarises again after its write was refused."""

DEFAULT_KEEP_LAST = 10
"""Messages a token-triggered compaction keeps after the summary when told nothing else."""

SUMMARY_INSTRUCTIONS = (
    "You condense a conversation so that it can go on without its earlier messages. Write a concise "
    "summary of everything below (the summary so far, if there is one, and the messages after it): "
    "who the user is, what they asked and want, the facts, names, numbers and decisions given, what "
    "tools returned, and what is still open. Leave out greetings and repetition. Reply with the "
    "summary only, in the language of the conversation."
)
"""The summariser's system prompt (``instructions=`` replaces it)."""


def check_model(model: object) -> ChatModel:
    """``model`` if it is a :class:`ChatModel` (by its methods); InvalidArgumentError otherwise."""
    if not all(hasattr(model, name) for name in ("api", "model", "request", "call", "call_async")):
        raise InvalidArgumentError(
            f"model must be a ChatModel (OpenAIChatModel, AnthropicModel or your own), not {shown(model)}"
        )
    return model  # type: ignore[return-value]


def _count(value: object, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise InvalidArgumentError(f"{name} must be an int >= 0, not {shown(value)}")
    return value


@dataclass(frozen=True)
class Compacted:
    """What :meth:`~agentcache.Conversation.compact` did."""

    summary: str | None
    """The summary now stored (None: the conversation has none, nothing was old enough)."""
    summarized: int
    """Messages this call folded into the summary (0: nothing to compact, no model call)."""
    kept: int
    """Messages after the summary: what the context sends besides it."""
    dropped: int = 0
    """Messages removed from the stored history (``drop=True``)."""
    model_calls: int = 0
    """Summary requests that reached the model."""
    cached_calls: int = 0
    """Summary requests the LLM tier answered."""
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class CompactAt:
    """When a turn (``conv.run``, ``json``, ``stream``) compacts the conversation, and what it keeps.

    ``chars``: before the model is called, when the context the turn would send (system prompt,
    summary, history and the new prompt, counted as :func:`context` counts) holds more characters.
    ``tokens``: after the turn is stored, when the model reported at least this many input tokens
    for the turn's last request (its usage: no tokenizer). Either or both. What is kept after the
    summary: ``keep_last`` messages, or ``keep_chars`` characters of the newest messages; by default
    half of ``chars`` (with ``chars``), else :data:`DEFAULT_KEEP_LAST` messages. ``model``: the
    summariser (default: the turn's model); ``drop``: remove the summarised messages;
    ``instructions``: the summariser's prompt. ``compact_at=20_000`` is ``CompactAt(chars=20_000)``.
    """

    chars: int | None = None
    tokens: int | None = None
    keep_last: int | None = None
    keep_chars: int | None = None
    model: ChatModel | None = None
    drop: bool = False
    instructions: str | None = None

    def __post_init__(self) -> None:
        chars, tokens = _count(self.chars, "compact_at chars"), _count(self.tokens, "compact_at tokens")
        if chars is None and tokens is None:
            raise InvalidArgumentError("compact_at needs chars or tokens (e.g. CompactAt(chars=20_000))")
        if self.keep_last is not None and self.keep_chars is not None:
            raise InvalidArgumentError("compact_at takes keep_last or keep_chars, not both")
        _count(self.keep_last, "compact_at keep_last")
        _count(self.keep_chars, "compact_at keep_chars")
        if self.model is not None:
            check_model(self.model)
        if not isinstance(self.drop, bool):
            raise InvalidArgumentError(f"compact_at drop must be True or False, not {shown(self.drop)}")
        if self.instructions is not None and not isinstance(self.instructions, str):
            raise InvalidArgumentError(f"compact_at instructions must be a str, not {shown(self.instructions)}")

    @classmethod
    def of(cls, value: object) -> CompactAt | None:
        """``compact_at`` as a turn takes it: None, a character budget (int) or a CompactAt."""
        if value is None or isinstance(value, CompactAt):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(chars=value)
        raise InvalidArgumentError(f"compact_at must be a number of characters or a CompactAt, not {shown(value)}")

    def keeping(self) -> tuple[int | None, int | None]:
        """(keep_last, keep_chars) with the defaults filled in."""
        if self.keep_last is not None or self.keep_chars is not None:
            return self.keep_last, self.keep_chars
        if self.chars is not None:
            return None, self.chars // 2
        return DEFAULT_KEEP_LAST, None


# --- the operation ------------------------------------------------------------------------------


def _piece(part: object) -> str:
    if isinstance(part, TextPart):
        return part.text
    if isinstance(part, DataPart):
        return json_text(part.data, "data")
    if isinstance(part, ToolCallPart):
        return f"[calls {part.name} {json_text(part.arguments, 'tool arguments')}]"
    if isinstance(part, ToolResultPart):
        return f"[{'error' if part.is_error else 'result'}: {result_text(part)}]"
    if isinstance(part, ImagePart):
        return "[image]"
    return ""  # pragma: no cover - every part type is above


def transcript(summary: str | None, messages: list[Message]) -> str:
    """What the summariser is asked to condense: the summary so far, then one line per message."""
    lines = [f"{m.role}: {' '.join(p for p in map(_piece, m.parts) if p)}" for m in messages]
    body = "Conversation:\n" + "\n".join(lines)
    return body if summary is None else f"Summary so far:\n{summary}\n\n{body}"


def cut_at(history: list[Message], keep_last: int | None, keep_chars: int | None) -> int:
    """How many of ``history``'s oldest messages to summarise, keeping the newest ``keep_last``
    messages or those within ``keep_chars`` characters; a kept tool result keeps its call."""
    cut = len(history)
    if keep_last is not None:
        cut = max(0, len(history) - keep_last)
    elif keep_chars is not None:
        budget = keep_chars
        while cut > 0 and message_chars(history[cut - 1]) <= budget:
            budget -= message_chars(history[cut - 1])
            cut -= 1
    while 0 < cut < len(history) and history[cut].role == "tool":
        cut -= 1
    return cut


def _summarise(
    r: Ref, model: ChatModel, request: dict[str, Any], cache: bool, calls: list[int]
) -> Operation[dict[str, Any]]:
    step = Call(lambda: model.call(request), lambda: model.call_async(request))
    try:
        if not cache:
            calls[0] += 1
            response: dict[str, Any] = yield step
            return response
        keyed = {**request, API_KEY: model.api}
        found = yield from llm.fetch_or_compute(r.tier.settings, keyed, step)
    except AgentCacheError:
        raise
    except Exception as exc:
        raise ModelError(f"the summary call failed ({type(exc).__name__}: {exc}); nothing was changed") from exc
    calls[1 if found.hit else 0] += 1
    return dict(found.response)


def compact(
    r: Ref,
    /,
    *,
    model: ChatModel,
    keep_last: int | None = None,
    max_chars: int | None = None,
    drop: bool = False,
    instructions: str | None = None,
    llm_cache: bool = True,
    **params: Any,
) -> Operation[Compacted]:
    """Summarise the older part of the history with ``model`` and store the summary; the context
    (:meth:`context`, every turn) is then the summary followed by the messages after it.

    Keeps the newest ``keep_last`` messages, or the newest messages within ``max_chars`` characters
    (one of the two), and folds everything before them, with the summary already stored, into a new
    summary. The originals stay readable with :meth:`messages` unless ``drop=True`` removes them.
    ``instructions`` replaces the summariser's prompt; ``params`` go to the model. With
    ``llm_cache`` (default) the summary request goes through the LLM tier. Nothing old enough: no
    model call, nothing written. Messages appended while the summary is made are kept after it;
    a pop, clear or other compaction meanwhile makes it read and try again
    (:class:`~agentcache.CompactionConflict` after a few tries). Raises
    :class:`~agentcache.ModelError` (changing nothing) when the model call fails or gives no text.
    Round trips: 1 (read) + 2 for the model call (1 on an LLM cache hit) + 1 (write)."""
    chosen = check_model(model)
    keep_last, max_chars = _count(keep_last, "keep_last"), _count(max_chars, "max_chars")
    if (keep_last is None) == (max_chars is None):
        raise InvalidArgumentError("compact takes keep_last or max_chars (one of them)")
    if not isinstance(drop, bool):
        raise InvalidArgumentError(f"drop must be True or False, not {shown(drop)}")
    if not isinstance(llm_cache, bool):
        raise InvalidArgumentError(f"llm_cache must be True or False, not {shown(llm_cache)}")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidArgumentError(f"instructions must be a str or None, not {shown(instructions)}")
    for reserved in (API_KEY, "stream", "messages", "model", "tools"):
        if reserved in params:
            raise InvalidArgumentError(f"{reserved!r} is set by the compaction; pass the model parameters only")
    prompt = SUMMARY_INSTRUCTIONS if instructions is None else instructions
    chosen.request(Context(prompt, [Message.user("")]), [], None, params)  # bad params fail before any I/O
    return (yield from compact_history(r, chosen, keep_last, max_chars, drop, prompt, llm_cache, params))


def compact_history(
    r: Ref,
    model: ChatModel,
    keep_last: int | None,
    keep_chars: int | None,
    drop: bool,
    instructions: str,
    cache: bool,
    params: Mapping[str, Any],
) -> Operation[Compacted]:
    """:func:`compact` with its arguments checked (what a turn's ``compact_at`` runs)."""
    calls, tokens = [0, 0], [0, 0]
    for _ in range(ATTEMPTS):
        (raw,) = yield [CONV_READ(r.keys.both, "context", "")]
        read = ContextRead.parse(raw, r.id, r.tier.settings.sealer, r.keys.meta)
        history = decode_messages(read.messages, r.id, r.tier.settings.sealer, r.keys.msgs)
        cut = cut_at(history, keep_last, keep_chars)
        if cut == 0:
            return Compacted(read.summary, 0, len(history), 0, calls[0], calls[1], tokens[0], tokens[1])
        context = Context(instructions, [Message.user(transcript(read.summary, history[:cut]))])
        response = yield from _summarise(r, model, model.request(context, [], None, dict(params)), cache, calls)
        reply = reply_of(model.api, response)
        tokens[0] += reply.input_tokens
        tokens[1] += reply.output_tokens
        summary = reply.text.strip()
        if not summary:
            raise ModelError("the model gave an empty summary; nothing was changed")
        stored = codec.seal_text(summary, r.tier.settings.sealer, codec.hash_where(r.keys.meta, "summary"))
        args = (r.tier.life.grace_ms, read.created, read.epoch, read.sumto, read.sumto + cut, stored)
        (written,) = yield [CONV_COMPACT(r.keys.both, *args, "1" if drop else "0")]
        done = CompactReply.parse(written)
        if done.status == b"ok":
            kept = done.length - done.sumto
            return Compacted(summary, cut, kept, done.dropped, calls[0], calls[1], tokens[0], tokens[1])
        if done.status != b"conflict":
            done.raise_gone(r.id)
    raise CompactionConflict(
        f"conversation {r.id!r} kept changing (messages popped or cleared, or compacted elsewhere) while it "
        f"was being compacted ({ATTEMPTS} tries); nothing was written. Call compact() again"
    )
