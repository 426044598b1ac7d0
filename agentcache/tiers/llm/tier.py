"""The LLM tier: model responses, cached by their canonical request and computed once when many ask.

A response lives at ``<prefix>:llm:<model>:<digest>``, the digest being that of the canonical
request (``request.py``), as an entry on the shared shelf (``tiers/shelf/``), like a tool result, and
with the same single flight: while one caller computes a missing response the key holds that
caller's claim, so :func:`get_or_compute` calls the model once however many threads, tasks and
processes ask.

An entry holds the response (the API's JSON data), the chunks of the stream it came from if it was
streamed (so a streamed request replays the same chunks), its token counts, and its cost from the
cache's price table (``llm_prices``): a hit adds those to the tokens and cost saved in
``cache.stats()``.

TTL of a stored response, first that applies: ``ttl=`` on the call, the model's policy
(:func:`set_policy`, kept in Valkey and shared by every worker), the cache's ``llm_ttl``, else none.

Requests that sample (``temperature`` above 0 or not given: the providers default to 1) are cached
like any other: a hit returns one earlier sample, which is what retries, replays and tests want.
With the cache option ``llm_cache_sampled=False`` they always go to the model and nothing is stored
(no round trip either): then only ``temperature=0`` requests are cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agentcache.core.binding import Bound, E, operation
from agentcache.core.commands import Call as CallStep
from agentcache.core.commands import Operation
from agentcache.encoding.expiry import TTL
from agentcache.encoding.keys import encode_name, llm_head, llm_pattern
from agentcache.errors import InvalidArgumentError, SerializationError, shown
from agentcache.tiers.llm.request import canonical_request, ignored, request_digest, samples
from agentcache.tiers.settings import Settings
from agentcache.tiers.shelf.entries import Stored, decode_entry, encode_entry, entry_read, put, remove, remove_matching
from agentcache.tiers.shelf.flight import DEFAULT_LOCK_TIMEOUT, computed_once, lock_timeout_ms
from agentcache.tiers.shelf.policies import ToolPolicy, put_policy, read_policy, remove_policy


class LlmResult(Stored):
    """What :func:`check` found (``stored_at``, ``ttl`` as for a tool result). On a miss only
    ``hit`` (False) is set."""

    __slots__ = ("chunks", "cost", "input_tokens", "output_tokens", "response")

    def __init__(
        self,
        hit: bool,
        response: Any = None,
        chunks: list[Any] | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost: float | None = None,
        stored_ms: int = 0,
        expires_ms: int = 0,
    ) -> None:
        super().__init__(hit, stored_ms, expires_ms)
        self.response = response
        """The response as stored (the API's JSON data)."""
        self.chunks = chunks
        """The chunks of the stream it was stored from, or None if it was not streamed."""
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost = cost
        """What the response cost by the cache's price table (None without a price): what a hit saves."""

    def __repr__(self) -> str:
        if not self.hit:
            return "LlmResult(hit=False)"
        streamed = "" if self.chunks is None else f", chunks={len(self.chunks)}"
        return (
            f"LlmResult(hit=True, response={self.response!r}{streamed}, input_tokens={self.input_tokens}, "
            f"output_tokens={self.output_tokens}, cost={self.cost!r})"
        )


MISS = LlmResult(hit=False)


class Request:
    """A request made ready: its model, key, and whether the cache takes it."""

    __slots__ = ("cached", "key", "model")

    def __init__(self, s: Settings, request: object, ignore: Iterable[str] | None) -> None:
        canonical = canonical_request(request, ignored(ignore))
        self.model: str = canonical["model"]
        self.key = llm_head(s.prefix, self.model) + request_digest(canonical)
        self.cached = s.options.llm_cache_sampled or not samples(canonical)


def tokens_of(response: Any) -> tuple[int, int]:
    """(input, output) tokens in a response's ``usage`` (OpenAI Chat Completions, Responses or
    Anthropic Messages shapes); (0, 0) if it has none."""
    usage = response.get("usage") if isinstance(response, Mapping) else None
    if not isinstance(usage, Mapping):
        return 0, 0
    counts = []
    for names in (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens")):
        value = next((usage[name] for name in names if isinstance(usage.get(name), int)), 0)
        counts.append(max(0, value))
    return counts[0], counts[1]


def _tokens(tokens: object, response: Any) -> tuple[int, int]:
    if tokens is None:
        return tokens_of(response)
    if (
        isinstance(tokens, tuple | list)
        and len(tokens) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**53 for n in tokens)
    ):
        return int(tokens[0]), int(tokens[1])
    raise InvalidArgumentError(f"tokens must be (input_tokens, output_tokens), two ints >= 0, not {shown(tokens)}")


def _chunks(chunks: object) -> list[Any] | None:
    if chunks is None or isinstance(chunks, list):
        return chunks
    raise InvalidArgumentError(f"chunks must be a list of the stream's chunks, or None, not {shown(chunks)}")


def _entry(s: Settings, model: str, response: Any, chunks: list[Any] | None, tokens: tuple[int, int], ms: int) -> bytes:
    """A response as stored: the shelf's entry (response, when stored, when it expires), then its
    cost, tokens and stream chunks."""
    price = s.options.llm_prices.get(model)
    cost = None if price is None else price.cost(*tokens)
    return encode_entry(s, response, ms, cost, tokens[0], tokens[1], chunks)


def _result(raw: bytes, model: str) -> LlmResult:
    try:
        entry = decode_entry(raw, 7, "an LLM response")
    except SerializationError as exc:
        raise SerializationError(f"cached response of model {model!r}: {exc}") from exc
    response, stored_ms, expires_ms, cost, input_tokens, output_tokens, chunks = entry
    return LlmResult(True, response, chunks, input_tokens, output_tokens, cost, stored_ms, expires_ms)


def _counted(s: Settings, model: str, result: LlmResult) -> LlmResult:
    s.stats.llm_lookup(model, result.hit, result.cost, result.input_tokens, result.output_tokens)
    return result


def check(s: Settings, request: Mapping[str, Any], *, ignore: Iterable[str] | None = None) -> Operation[LlmResult]:
    """The cached response to ``request`` (a model call's keyword arguments), if any. One round trip
    (a GET); none for a request the cache does not take (``llm_cache_sampled=False``)."""
    req = Request(s, request, ignore)
    if not req.cached:
        return MISS
    raw = yield from entry_read(s, req.key)
    if raw is None:  # missing, or being computed by someone
        return _counted(s, req.model, MISS)
    return _counted(s, req.model, _result(raw, req.model))


def store(
    s: Settings,
    request: Mapping[str, Any],
    response: Any,
    *,
    chunks: list[Any] | None = None,
    tokens: tuple[int, int] | None = None,
    ttl: TTL | None = None,
    ignore: Iterable[str] | None = None,
) -> Operation[bool]:
    """Cache ``response`` (JSON-like data) for ``request``; ``chunks``: the stream it came from, to
    replay. ``tokens`` (input, output) default to the response's ``usage``. Returns False, sending
    nothing, for a request the cache does not take. One round trip."""
    req = Request(s, request, ignore)
    counts = _tokens(tokens, response)
    chunks = _chunks(chunks)
    if not req.cached:
        return False
    yield from put(
        s, s.llm_shelf, req.model, req.key, lambda ms: _entry(s, req.model, response, chunks, counts, ms), ttl
    )
    s.stats.count("llm/writes", f"llm/writes/{req.model}")
    return True


def fetch_or_compute(
    s: Settings,
    request: Mapping[str, Any],
    compute: CallStep,
    *,
    ttl: TTL | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ignore: Iterable[str] | None = None,
) -> Operation[LlmResult]:
    """:func:`get_or_compute` for a :class:`~agentcache.core.commands.Call` (a sync and an async
    form of the model call); the whole :class:`LlmResult` (``hit``: whether it was cached)."""
    req = Request(s, request, ignore)
    claim_ms = lock_timeout_ms(lock_timeout)
    if not req.cached:
        response = yield compute
        counts = tokens_of(response)
        return LlmResult(False, response, None, *counts)

    def make(response: Any, ms: int) -> bytes:
        return _entry(s, req.model, response, None, tokens_of(response), ms)

    data, computed = yield from computed_once(s, s.llm_shelf, req.model, req.key, compute, make, ttl, claim_ms)
    result = _result(data, req.model)
    if computed:
        s.stats.count("llm/writes", f"llm/writes/{req.model}")
        result.hit = False
    return _counted(s, req.model, result)


def get_or_compute(
    s: Settings,
    request: Mapping[str, Any],
    fn: Callable[[], Any],
    *,
    ttl: TTL | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ignore: Iterable[str] | None = None,
) -> Operation[Any]:
    """The cached response to ``request``, or ``fn()``'s (the model call, returning the response as
    JSON-like data), called once however many ask: the shelf's single flight (callers in this
    process wait for the first; callers in other processes wait on its claim in Valkey). If ``fn``
    raises, nothing is cached and the next caller calls it. A hit is one round trip."""
    if not callable(fn):
        raise InvalidArgumentError(f"fn must be a callable taking no arguments, not {fn!r}")
    result = yield from fetch_or_compute(s, request, CallStep(fn), ttl=ttl, lock_timeout=lock_timeout, ignore=ignore)
    return result.response


def invalidate(s: Settings, request: Mapping[str, Any], *, ignore: Iterable[str] | None = None) -> Operation[bool]:
    """Remove the cached response to ``request``; True if there was one. One round trip."""
    return (yield from remove(s, Request(s, request, ignore).key))


def invalidate_model(s: Settings, model: str) -> Operation[int]:
    """Remove every cached response of ``model``; returns how many (a SCAN of every primary)."""
    return (yield from remove_matching(s, llm_pattern(s.prefix, model)))


def _model(model: str) -> str:
    encode_name(model, "model")  # a bad name is refused before anything is sent
    return model


def set_policy(s: Settings, model: str, *, ttl: TTL) -> Operation[None]:
    """Store ``model``'s TTL policy in Valkey for every worker; applies to responses stored from now on."""
    yield from put_policy(s.llm_shelf, _model(model), ttl)


def get_policy(s: Settings, model: str) -> Operation[ToolPolicy | None]:
    """``model``'s policy as stored in Valkey, or None. One round trip."""
    return (yield from read_policy(s.llm_shelf, _model(model)))


def clear_policy(s: Settings, model: str) -> Operation[bool]:
    """Remove ``model``'s policy; True if it had one."""
    return (yield from remove_policy(s.llm_shelf, _model(model)))


class LlmTier(Bound[E]):
    """``cache.llm``: model responses cached by their canonical request, computed once when many ask."""

    TIER = "llm"

    check = operation(check, reads=True)
    store = operation(store)
    get_or_compute = operation(get_or_compute)
    fetch_or_compute = operation(fetch_or_compute)
    invalidate = operation(invalidate)
    invalidate_model = operation(invalidate_model)
    set_policy = operation(set_policy)
    get_policy = operation(get_policy, reads=True)
    clear_policy = operation(clear_policy)

    def key(self, request: Mapping[str, Any], *, ignore: Iterable[str] | None = None) -> str:
        """The Valkey key that holds the response to ``request`` (for inspection; no I/O)."""
        return Request(self._settings, request, ignore).key

    def takes(self, request: Mapping[str, Any], *, ignore: Iterable[str] | None = None) -> bool:
        """Whether the cache keeps responses to ``request`` (see ``llm_cache_sampled``)."""
        return Request(self._settings, request, ignore).cached
