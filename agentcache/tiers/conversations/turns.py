"""Model-driven turns on a conversation: ``conv.run``, ``conv.json`` and ``conv.stream``.

A turn reads the context (history, system prompt with dynamic sections, pending user parts: one
round trip), asks the model, and when the model asks for tools calls them through the tool tier
(cached by tool name and arguments) and asks again, until the model answers without tool calls or
``max_steps`` model calls have been made. Only then is the turn stored: the user message, every
assistant message and every tool result, appended together in one script (one round trip). A turn
that fails (the model call raises, a stream is cut, the structured output does not validate, the
step limit is reached) or is cancelled adds nothing.

With ``compact_at`` a turn compacts the conversation (``compaction.py``): before the model is
called when the context passes a character budget, after the turn is stored when the model
reported more input tokens than a token budget.

With ``llm_cache=True`` (the default) every model request goes through the LLM tier: a request
seen before (same history, prompt, tools and parameters, as in a retried turn or a fork) is served
from Valkey, and concurrent identical requests reach the model once.

``run`` and ``json`` are operations like any other. ``stream`` is written once too, as a generator
that yields operations, model-stream steps (:class:`~agentcache.core.commands.Open`, ``Next``) and
events for the caller; the executor's ``stream`` (sync or async) performs the first two and hands
the events on.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from pydantic import BaseModel, ValidationError

from agentcache.core.commands import Call, Next, Open, Operation
from agentcache.core.log import LOG
from agentcache.errors import AgentCacheError, CompactionConflict, InvalidArgumentError, ModelError, shown
from agentcache.tiers.content.formats import ToolCall, assemble, finished, reply_of, text_delta
from agentcache.tiers.content.messages import Message, Part, TextPart, ToolCallPart
from agentcache.tiers.conversations.compaction import SUMMARY_INSTRUCTIONS, CompactAt, check_model, compact_history
from agentcache.tiers.conversations.context import Context, gather, message_chars
from agentcache.tiers.conversations.ops import add_messages
from agentcache.tiers.conversations.refs import Ref
from agentcache.tiers.llm import tier as llm
from agentcache.tiers.llm.models import ChatModel, OutputSchema, ToolSpec, tool_spec
from agentcache.tiers.llm.request import API_KEY
from agentcache.tiers.tool import tier as tool

DEFAULT_MAX_STEPS = 8

P = ParamSpec("P")
R = TypeVar("R")
Tools = Sequence[Callable[..., Any]] | Mapping[str, Callable[..., Any]]  # functions, or name -> function


# --- what a turn gives back ---------------------------------------------------------------------


@dataclass(frozen=True)
class TurnResult:
    """What a turn did: the final ``text``, the messages it added (user message first), the
    validated ``output`` of :meth:`json`, tokens, and how many model calls the LLM tier served."""

    text: str
    messages: list[Message]
    output: Any = None
    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    """Requests that reached the model."""
    cached_calls: int = 0
    """Requests the LLM tier answered."""
    length: int = 0
    """The history's length after the turn."""
    compacted: int = 0
    """Messages the turn's compaction (``compact_at``) folded into the summary."""


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply's text, as it streams."""

    text: str
    type: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True)
class ToolCallEvent:
    """The model asked for a tool; its result goes back to the model in the next step."""

    id: str
    name: str
    arguments: dict[str, Any]
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True)
class Done:
    """The turn is stored; ``result`` is what :meth:`run` would have returned."""

    result: TurnResult
    type: Literal["done"] = "done"


Event = TextDelta | ToolCallEvent | Done


# --- one turn -----------------------------------------------------------------------------------


def _tools(tools: object) -> tuple[list[ToolSpec], dict[str, Callable[..., Any]]]:
    if isinstance(tools, Mapping):
        named = dict(tools)
    elif isinstance(tools, Iterable) and not isinstance(tools, str | bytes):
        named = {getattr(fn, "__name__", repr(fn)): fn for fn in tools}
    else:
        raise InvalidArgumentError(
            f"tools must be a list of functions (or a dict name -> function), not {shown(tools)}"
        )
    specs = []
    for name, fn in named.items():
        spec = tool_spec(fn)
        specs.append(ToolSpec(name, spec.description, spec.parameters) if name != spec.name else spec)
    return specs, named


def _prompt(prompt: object) -> Message:
    if isinstance(prompt, str):
        return Message.user(prompt)
    if isinstance(prompt, Message) and prompt.role == "user":
        return prompt
    raise InvalidArgumentError(f"prompt must be a str or a user Message, not {shown(prompt)}")


def _output(schema: object) -> tuple[type[BaseModel], OutputSchema]:
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise InvalidArgumentError(f"schema must be a pydantic model class, not {shown(schema)}")
    return schema, OutputSchema(schema.__name__, schema.model_json_schema())


@dataclass(frozen=True, kw_only=True)
class TurnOptions:
    """The options of a turn, as :func:`run`, :func:`json_` and ``Conversation.stream`` take them
    (keywords, the model parameters last): a new option is a field here (checked in
    ``__post_init__``) and a keyword of :func:`run` and :func:`json_`."""

    model: ChatModel
    system: str | None = None
    tools: Tools = ()
    max_steps: int = DEFAULT_MAX_STEPS
    llm_cache: bool = True
    dynamic_sections: Mapping[str, Any] | None = None
    stamp: Callable[[Message], Message] | None = None
    compact_at: int | CompactAt | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    """The model parameters (``temperature``, ``max_tokens``...): the keywords that are not options."""

    def __post_init__(self) -> None:
        max_steps, llm_cache, stamp = self.max_steps, self.llm_cache, self.stamp
        if not isinstance(max_steps, int) or isinstance(max_steps, bool) or not 1 <= max_steps <= 1000:
            raise InvalidArgumentError(f"max_steps must be an int from 1 to 1000, not {shown(max_steps)}")
        if not isinstance(llm_cache, bool):
            raise InvalidArgumentError(f"llm_cache must be True or False, not {shown(llm_cache)}")
        if stamp is not None and not callable(stamp):
            raise InvalidArgumentError(f"stamp must be a function Message -> Message, not {shown(stamp)}")
        CompactAt.of(self.compact_at)
        for reserved in (API_KEY, "stream", "messages", "model", "tools"):
            if reserved in self.params:
                raise InvalidArgumentError(f"{reserved!r} is set by the turn; pass the model parameters only")

    @classmethod
    def from_keywords(cls, keywords: Mapping[str, Any]) -> TurnOptions:
        """The options of a call's keywords: those named like a field, and the rest as ``params``."""
        names = {f.name for f in fields(cls)} - {"params"}
        options = {name: value for name, value in keywords.items() if name in names}
        return cls(**options, params={name: value for name, value in keywords.items() if name not in names})


class Turn:
    """One turn's state between its steps; every step that talks to Valkey is an operation."""

    def __init__(self, r: Ref, prompt: object, options: TurnOptions, schema: object = None) -> None:
        self.r = r
        self.user = _prompt(prompt)
        self.model = check_model(options.model)
        self.specs, self.functions = _tools(options.tools)
        self.schema: type[BaseModel] | None = None
        self.output: OutputSchema | None = None
        if schema is not None:
            self.schema, self.output = _output(schema)
        self.system_arg = options.system
        self.sections = options.dynamic_sections
        self.max_steps = options.max_steps
        self.cache = options.llm_cache
        self.params = dict(options.params)
        self.stamp = options.stamp
        self.compact_at = CompactAt.of(options.compact_at)
        self.compacted = 0
        self.last_input = 0  # input tokens the model reported for the latest request
        self.system: str | None = None
        self.history: list[Message] = []
        self.parts: list[Part] = []
        self.added: list[Message] = []  # after the user message
        self.text = ""
        self.tokens = [0, 0]
        self.calls = [0, 0]  # [reached the model, served by the LLM tier]
        self.model.request(Context(None, [self.user]), self.specs, self.output, self.params)  # fails before any I/O

    def begin(self) -> Operation[None]:
        self.system, self.history, self.parts = yield from gather(
            self.r, system=self.system_arg, dynamic_sections=self.sections
        )
        at = self.compact_at
        if at is not None and at.chars is not None and self.size() > at.chars:
            yield from self.compact(at)
            self.system, self.history, self.parts = yield from gather(
                self.r, system=self.system_arg, dynamic_sections=self.sections
            )

    def size(self) -> int:
        """The characters of the context the next request would send (as ``max_chars`` counts them)."""
        messages = [*self.history, self.user, *self.added]
        return len(self.system or "") + sum(message_chars(m) for m in messages)

    def compact(self, at: CompactAt) -> Operation[None]:
        """Compact the conversation as ``at`` says (its model, else the turn's)."""
        keep_last, keep_chars = at.keeping()
        model = self.model if at.model is None else at.model
        prompt = SUMMARY_INSTRUCTIONS if at.instructions is None else at.instructions
        done = yield from compact_history(self.r, model, keep_last, keep_chars, at.drop, prompt, self.cache, {})
        self.compacted += done.summarized

    def request(self) -> dict[str, Any]:
        """The model request of the next step."""
        user = self.user.model_copy(update={"parts": [*self.user.parts, *self.parts]}) if self.parts else self.user
        context = Context(self.system, [*self.history, user, *self.added])
        return self.model.request(context, self.specs, self.output, self.params)

    def keyed(self, request: dict[str, Any]) -> dict[str, Any]:
        return {**request, API_KEY: self.model.api}

    def respond(self, request: dict[str, Any]) -> Operation[dict[str, Any]]:
        """The model's response to ``request``: from the LLM tier, or from the model."""
        model = self.model
        step = Call(lambda: model.call(request), lambda: model.call_async(request))
        try:
            if not self.cache:
                self.calls[0] += 1
                response: dict[str, Any] = yield step
                return response
            found = yield from llm.fetch_or_compute(self.r.tier.settings, self.keyed(request), step)
        except AgentCacheError:
            raise
        except Exception as exc:
            raise ModelError(f"the model call failed ({type(exc).__name__}: {exc}); nothing was added") from exc
        self.calls[1 if found.hit else 0] += 1
        return dict(found.response)

    def answered(self, response: Mapping[str, Any]) -> list[ToolCall]:
        """Take in one step's response; the tool calls it asks for (none: the turn is over)."""
        reply = reply_of(self.model.api, response)
        self.last_input = reply.input_tokens
        self.tokens[0] += reply.input_tokens
        self.tokens[1] += reply.output_tokens
        calls = [ToolCallPart(id=c.id, name=c.name, arguments=c.arguments) for c in reply.tool_calls]
        content: list[Any] = [TextPart(text=reply.text)] if reply.text else []
        self.added.append(Message.assistant(*content, tool_calls=calls))
        self.text = reply.text
        steps = sum(1 for message in self.added if message.role == "assistant")
        if reply.tool_calls and steps >= self.max_steps:
            raise ModelError(
                f"the model still asked for tools after {steps} steps (max_steps={self.max_steps}); nothing was added"
            )
        return reply.tool_calls

    def run_tool(self, call: ToolCall) -> Operation[None]:
        """Call the tool the model asked for through the tool tier; its result (or error) joins the turn."""
        fn = self.functions.get(call.name)
        if fn is None:
            self.added.append(Message.tool(call.id, f"there is no tool named {call.name!r}", is_error=True))
            return
        try:
            result = yield from tool.get_or_compute(
                self.r.tier.settings, call.name, call.arguments, lambda: fn(**call.arguments)
            )
        except AgentCacheError:
            raise
        except Exception as exc:  # the tool failed: the model is told, and may try otherwise
            self.added.append(Message.tool(call.id, f"{type(exc).__name__}: {exc}", is_error=True))
            return
        self.added.append(Message.tool(call.id, result))

    def finish(self) -> Operation[TurnResult]:
        """Check the structured output, then append the whole turn in one round trip."""
        output = None
        if self.schema is not None:
            try:
                output = self.schema.model_validate_json(self.text)
            except ValidationError as exc:
                raise ModelError(
                    f"the model's reply is not a valid {self.schema.__name__}: {exc.errors(include_url=False)[:3]}; "
                    f"reply: {self.text[:200]!r}; nothing was added"
                ) from None
        messages = [self.user, *self.added]
        if self.stamp is not None:
            messages = [self._stamped(message) for message in messages]
        length = yield from add_messages(self.r, messages)
        at = self.compact_at
        if at is not None and at.tokens is not None and self.last_input >= at.tokens:
            try:  # the turn is stored: a failed compaction leaves the history whole, to compact later
                yield from self.compact(at)
            except (ModelError, CompactionConflict) as exc:
                LOG.warning("conversation %r: compaction after the turn failed: %s", self.r.id, exc)
        return TurnResult(
            self.text,
            [m.persisted() for m in messages],
            output,
            input_tokens=self.tokens[0],
            output_tokens=self.tokens[1],
            model_calls=self.calls[0],
            cached_calls=self.calls[1],
            length=length,
            compacted=self.compacted,
        )

    def _stamped(self, message: Message) -> Message:
        assert self.stamp is not None
        stamped = self.stamp(message)
        if not isinstance(stamped, Message):
            raise InvalidArgumentError(f"stamp must return a Message, not {shown(stamped)}; nothing was added")
        return stamped


def _run(turn: Turn) -> Operation[TurnResult]:
    yield from turn.begin()
    while True:
        calls = turn.answered((yield from turn.respond(turn.request())))
        if not calls:
            return (yield from turn.finish())
        for call in calls:
            yield from turn.run_tool(call)


def run(
    r: Ref,
    /,
    prompt: str | Message,
    *,
    model: ChatModel,
    system: str | None = None,
    tools: Tools = (),
    max_steps: int = DEFAULT_MAX_STEPS,
    llm_cache: bool = True,
    dynamic_sections: Mapping[str, Any] | None = None,
    stamp: Callable[[Message], Message] | None = None,
    compact_at: int | CompactAt | None = None,
    **params: Any,
) -> Operation[TurnResult]:
    """Send ``prompt`` with the conversation's context to ``model`` and store the turn.

    ``system`` replaces the conversation's system prompt for this turn; ``params`` go to the model
    (``temperature``, ``max_tokens``...). ``tools``: functions the model may call (sync on
    AgentCache, sync or async on AsyncAgentCache), described to it by their signature and docstring;
    their results are cached by the tool tier. Raises :class:`~agentcache.ModelError` (adding
    nothing) when the model call fails or the model still asks for tools after ``max_steps`` calls.
    ``stamp``: called on each message of the turn (the user message first) just before the turn is
    stored, returning the message to store (e.g. with an id and a time in its metadata).
    ``compact_at``: compact the conversation when its context passes a budget (a number of
    characters, or a :class:`~agentcache.CompactAt`; see :meth:`compact`).
    Round trips: 1 (context) + 2 per model call (LLM tier claim and store; 1 on a hit) + 1 per tool
    call + 1 (append)."""
    options = TurnOptions(
        model=model,
        system=system,
        tools=tools,
        max_steps=max_steps,
        llm_cache=llm_cache,
        dynamic_sections=dynamic_sections,
        stamp=stamp,
        compact_at=compact_at,
        params=params,
    )
    return (yield from _run(Turn(r, prompt, options)))


def json_(
    r: Ref,
    /,
    prompt: str | Message,
    *,
    schema: type[BaseModel],
    model: ChatModel,
    system: str | None = None,
    tools: Tools = (),
    max_steps: int = DEFAULT_MAX_STEPS,
    llm_cache: bool = True,
    dynamic_sections: Mapping[str, Any] | None = None,
    stamp: Callable[[Message], Message] | None = None,
    compact_at: int | CompactAt | None = None,
    **params: Any,
) -> Operation[TurnResult]:
    """:meth:`run` asking for a reply that follows ``schema`` (a pydantic model); the validated
    instance is ``result.output``. A reply that does not validate raises
    :class:`~agentcache.ModelError` and adds nothing."""
    options = TurnOptions(
        model=model,
        system=system,
        tools=tools,
        max_steps=max_steps,
        llm_cache=llm_cache,
        dynamic_sections=dynamic_sections,
        stamp=stamp,
        compact_at=compact_at,
        params=params,
    )
    return (yield from _run(Turn(r, prompt, options, schema)))


def signature_of(
    template: Callable[Concatenate[Any, P], Any],
) -> Callable[[Callable[..., R]], Callable[Concatenate[Any, P], R]]:
    """A decorator giving a function taking ``(first, *args, **keywords)`` the parameters of
    ``template`` after its first, for type checkers and :func:`inspect.signature` alike: how
    ``Conversation.stream`` takes exactly :func:`run`'s arguments without repeating them."""

    def give(fn: Callable[..., R]) -> Callable[Concatenate[Any, P], R]:
        own, shared = inspect.signature(fn), inspect.signature(template)
        first = next(iter(own.parameters.values()))
        fn.__signature__ = shared.replace(  # type: ignore[attr-defined]
            parameters=[first, *list(shared.parameters.values())[1:]], return_annotation=own.return_annotation
        )
        return fn

    return give


StreamStep = Operation[Any] | Open | Next | Event


def _opened(model: ChatModel, request: dict[str, Any]) -> Open:
    return Open(lambda: model.stream(request), lambda: model.stream_async(request))


def streamed(r: Ref, prompt: object, options: TurnOptions) -> Generator[StreamStep, Any, None]:
    """The steps of a streamed turn, for an executor's ``stream``: operations to run, streams to
    open and pull, and the events for the caller. Bad arguments raise here, before any I/O."""
    return _streamed(r, Turn(r, prompt, options))


def _streamed(r: Ref, turn: Turn) -> Generator[StreamStep, Any, None]:
    """A cached response replays its stored chunks; a streamed miss is stored once it has ended."""
    yield turn.begin()
    s, api = r.tier.settings, turn.model.api
    while True:
        request = turn.request()
        found = (yield llm.check(s, turn.keyed(request))) if turn.cache else llm.MISS
        chunks: list[Any]
        if found.chunks is not None:
            chunks = found.chunks
            turn.calls[1] += 1
            for chunk in chunks:
                delta = text_delta(api, chunk)
                if delta:
                    yield TextDelta(delta)
        else:
            chunks = []
            turn.calls[0] += 1
            try:
                handle = yield _opened(turn.model, request)
                while (chunk := (yield Next(handle))) is not None:
                    chunks.append(chunk)
                    delta = text_delta(api, chunk)
                    if delta:
                        yield TextDelta(delta)
            except AgentCacheError:
                raise
            except Exception as exc:
                raise ModelError(f"the model's stream failed ({type(exc).__name__}: {exc}); nothing was added") from exc
            if not finished(api, chunks):
                raise ModelError("the model's stream ended before its last event; nothing was added")
            if turn.cache:
                yield llm.store(s, turn.keyed(request), assemble(api, chunks), chunks=chunks)
        calls = turn.answered(assemble(api, chunks))
        for call in calls:
            yield ToolCallEvent(call.id, call.name, call.arguments)
        if not calls:
            break
        for call in calls:
            yield turn.run_tool(call)
    yield Done((yield turn.finish()))
