"""The semantic tier: a prompt that means the same as one already answered gets the stored answer.

``cache.semantic`` keeps model responses like ``cache.llm`` does, but finds them by meaning: the
request's prompt (its last user message, ``scope.py``) is embedded, and a stored entry of the same
scope whose prompt's embedding has a cosine similarity of at least the threshold is served, with
that similarity. Everything but the prompt must match exactly (the scope: model, system prompt,
tools, earlier messages, sampling parameters, the API, the embedder), and so must the caller's own
``scope=`` (tenant, user): two tenants never see each other's answers.

A candidate must also pass the *guard* (``guard=``, on by default:
:func:`agentcache.embedders.agrees`): its prompt and the request's must agree on numbers, negation,
opposites, units, times, names and direction, which embeddings do not see ("order #48213" and
"#48231" are the same vector to a static embedder). A candidate the guard refuses is not served;
the next best one (up to :data:`GUARDED` are read by the same lookup) may be, else the lookup is a
miss whose ``refused`` says why. A best match a little below the threshold (``uncertain=``, the
band's width) that passes the guard is reported as uncertain, not served; a ``judge=`` callback,
given the two prompts and the similarity, may accept it. :func:`get_or_compute` goes to the exact
LLM tier first (the same key as ``cache.llm``), then the semantic index, then the model, under the
exact tier's single flight; what the model answers is stored in both.

Sampled requests (temperature above 0 or unset) follow the exact tier's rule
(``llm_cache_sampled``). TTL of an entry, first that applies: ``ttl=``, the model's LLM policy
(``cache.llm.set_policy``), the cache's ``llm_ttl``, else none. A scope keeps at most
``max_entries`` (least recently used go first). A text's embedding is computed once: kept in this
process (the last :data:`LOCAL_VECTORS` texts) and in Valkey for ``embedding_ttl``.

Round trips: :func:`check` is one (the index script) when this process embedded the text lately,
else two (the embedding's GET first); :func:`store` one; a :func:`get_or_compute` exact hit one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentcache.core.binding import Bound, E, operation
from agentcache.core.commands import Call as CallStep
from agentcache.core.commands import Command, Operation, cmd, scan_all
from agentcache.core.near import forgetting
from agentcache.core.observe import count_lookup
from agentcache.embedders.guard import disagreement
from agentcache.encoding import codec
from agentcache.encoding.expiry import TTL, ttl_ms
from agentcache.encoding.keys import (
    llm_head,
    semantic_caller_pattern,
    semantic_embedding_key,
    semantic_head,
    semantic_model_pattern,
)
from agentcache.errors import AgentCacheError, BackendError, InvalidArgumentError, ModelError, SerializationError, shown
from agentcache.tiers.llm.request import canonical_request, ignored, request_digest, samples
from agentcache.tiers.llm.tier import LlmResult, tokens_of
from agentcache.tiers.llm.tier import check as llm_check
from agentcache.tiers.llm.tier import fetch_or_compute as llm_fetch_or_compute
from agentcache.tiers.llm.tier import store as llm_store
from agentcache.tiers.semantic import index
from agentcache.tiers.semantic.scope import (
    caller_digest,
    caller_scope,
    scope_digest,
    split_prompt,
    text_digest,
)
from agentcache.tiers.semantic.scripts import DROP, LOOKUP, REMOVE, STORE
from agentcache.tiers.settings import Settings
from agentcache.tiers.shelf.entries import Stored, decode_entry, encode_entry
from agentcache.tiers.shelf.flight import DEFAULT_LOCK_TIMEOUT, lock_timeout_ms
from agentcache.tiers.shelf.policies import learned, lifetime, policy_read
from agentcache.tiers.shelf.scripts import CLAIM_MARK, INVALIDATE

DEFAULT_THRESHOLD = 0.9
"""The similarity a hit needs when neither the call, the configuration, the embedder (its
``threshold`` attribute) nor, for the local default embedder, ``agentcache.embedders.DEFAULT_THRESHOLD``
(measured on the labelled pairs) gives one. Measure your own embedder's."""
GUARDED = 4
"""Candidates one lookup returns at most, best first, for the guard to choose from (1 without a guard)."""
DEFAULT_UNCERTAIN = 0.05
"""Width of the uncertain band below the threshold."""
DEFAULT_MAX_ENTRIES = 10_000
"""Entries one scope keeps at most; past that the least recently used go."""
DEFAULT_EMBEDDING_TTL = 86_400.0
"""Seconds a text's embedding is kept in Valkey (0 or None: not kept there)."""
LOCAL_VECTORS = 1024
"""Texts whose embeddings one cache keeps in process memory."""

Guard = Callable[[str, str], bool]
"""``guard(prompt, cached_prompt) -> bool``: whether a candidate's answer may be served for the
prompt at all (on top of the similarity). The default is :func:`agentcache.embedders.agrees`."""

Judge = Callable[[str, str, float], Any]
"""``judge(prompt, cached_prompt, similarity) -> bool`` (or an awaitable of it on the async facade):
whether an uncertain match may be served."""


class SemanticResult(Stored):
    """What a semantic lookup found. ``hit``: served; ``similarity``: of the match served, or on a
    miss of the best match found (None if none came close); ``uncertain``: the match was in the band
    below the threshold (its response is here, not served unless a judge accepted it); ``refused``:
    on a miss, why the guard refused the best candidate (``"numbers"``, ``"negations"``, ...; ``"guard"``
    for a guard of your own), else None; ``exact``: served by the exact LLM tier; ``chunks``: the
    recorded stream of the entry, if it was stored from a streamed call (else None)."""

    __slots__ = (
        "chunks",
        "cost",
        "exact",
        "input_tokens",
        "output_tokens",
        "prompt",
        "refused",
        "response",
        "similarity",
        "uncertain",
    )

    def __init__(
        self,
        hit: bool,
        response: Any = None,
        similarity: float | None = None,
        *,
        uncertain: bool = False,
        exact: bool = False,
        prompt: str | None = None,
        refused: str | None = None,
        cost: float | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        stored_ms: int = 0,
        expires_ms: int = 0,
        chunks: list[Any] | None = None,
    ) -> None:
        super().__init__(hit, stored_ms, expires_ms)
        self.response = response
        """The stored response (the API's JSON data); on a miss, the model's if it was computed."""
        self.similarity = similarity
        self.uncertain = uncertain
        self.exact = exact
        self.prompt = prompt
        """The stored entry's prompt (what it answered)."""
        self.refused = refused
        self.cost = cost
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.chunks = chunks

    def __repr__(self) -> str:
        kind = "exact" if self.exact else f"similarity={self.similarity!r}"
        refused = f", refused={self.refused!r}" if self.refused else ""
        return f"SemanticResult(hit={self.hit}, {kind}, uncertain={self.uncertain}{refused}, prompt={self.prompt!r})"


@dataclass(frozen=True, slots=True)
class SemanticConfig:
    """How one cache's semantic tier works (:meth:`SemanticTier.configure`)."""

    embedder: Any = None
    """An :class:`~agentcache.embedders.Embedder` (or async one); None: ``agentcache.embedders.local()``."""
    threshold: float | None = None
    thresholds: Mapping[str, float] | None = None
    """Per model."""
    uncertain: float = DEFAULT_UNCERTAIN
    max_entries: int = DEFAULT_MAX_ENTRIES
    embedding_ttl_ms: int = int(DEFAULT_EMBEDDING_TTL * 1000)
    guard: bool | Guard = True
    """True: :func:`agentcache.embedders.agrees`; False: none (the similarity alone); or your own."""


class SemanticContext:
    """What the semantic operations receive: the cache's settings, this tier's configuration, and
    the embeddings this process computed or read lately. Thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = SemanticConfig()
        self._embedder: Any = None
        self._vectors: OrderedDict[tuple[str, bytes], Any] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Any:
        """The embedder in use (the local default is loaded on first use)."""
        chosen = self.config.embedder
        if chosen is not None:
            return chosen
        if self._embedder is None:
            from agentcache.embedders import local

            self._embedder = local()
        return self._embedder

    def threshold(self, model: str, given: object) -> float:
        if given is not None:
            return _fraction(given, "threshold")
        per_model = self.config.thresholds or {}
        if model in per_model:
            return per_model[model]
        if self.config.threshold is not None:
            return self.config.threshold
        embedder = self.embedder
        default = getattr(embedder, "threshold", None)
        if isinstance(default, int | float):
            return float(default)
        if self.config.embedder is None:  # the local default: the threshold measured for it
            from agentcache.embedders import DEFAULT_THRESHOLD as MEASURED
            from agentcache.embedders import DEFAULT_THRESHOLD_EMBEDDER

            if getattr(embedder, "name", None) == DEFAULT_THRESHOLD_EMBEDDER:
                return float(MEASURED)
        return DEFAULT_THRESHOLD

    def remembered(self, key: tuple[str, bytes]) -> Any:
        with self._lock:
            found = self._vectors.get(key)
            if found is not None:
                self._vectors.move_to_end(key)
            return found

    def remember(self, key: tuple[str, bytes], value: Any) -> None:
        with self._lock:
            self._vectors[key] = value
            while len(self._vectors) > LOCAL_VECTORS:
                self._vectors.popitem(last=False)


def _fraction(value: object, what: str, *, low: float = 0.0, inclusive: bool = False) -> float:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (low <= value if inclusive else low < value)
        and value <= 1
    ):
        return float(value)
    bound = "[" if inclusive else "("
    raise InvalidArgumentError(f"{what} must be a number in {bound}{low}, 1], not {shown(value)}")


def _guard(guard: object, what: str = "guard") -> bool | Guard:
    """``guard`` checked: True, False or a callable ``(prompt, cached_prompt) -> bool``."""
    if isinstance(guard, bool) or callable(guard):
        return guard
    raise InvalidArgumentError(
        f"{what} must be True (agentcache.embedders.agrees), False (none) or a callable "
        f"(prompt, cached_prompt) -> bool, not {shown(guard)}"
    )


def _refusal(guard: bool | Guard, prompt: str, cached: str) -> str | None:
    """Why ``guard`` refuses serving ``cached``'s answer for ``prompt`` (a short kind), or None."""
    if guard is False:
        return None
    if guard is True:
        reason = disagreement(prompt, cached)
        return None if reason is None else reason.split(" ", 1)[0]
    return None if guard(prompt, cached) is True else "guard"


class Prepared:
    """A request made ready: its model, prompt, scope and keys, and whether the tier takes it."""

    __slots__ = ("caller", "digest", "embedder", "llm_key", "meta", "model", "prompt", "taken")

    def __init__(self, ctx: SemanticContext, request: object, scope: object, ignore: Iterable[str] | None) -> None:
        s = ctx.settings
        canonical = canonical_request(request, ignored(ignore))
        self.model: str = canonical["model"]
        caller = caller_scope(scope)
        self.caller = caller_digest(caller)
        self.llm_key = llm_head(s.prefix, self.model) + request_digest(canonical)
        split = split_prompt(canonical)
        self.taken = split is not None and (s.options.llm_cache_sampled or not samples(canonical))
        self.prompt = "" if split is None else split[0]
        self.digest = text_digest(self.prompt)
        self.embedder = ctx.embedder if self.taken else None
        if split is None or self.embedder is None:
            self.meta = ""
            return
        name, dims = _described(self.embedder)
        whole = scope_digest(split[1], caller, name, dims, index.LAYOUT)
        self.meta = semantic_head(s.prefix, self.model, self.caller, whole) + "m"


def _described(embedder: Any) -> tuple[str, int]:
    name, dims = getattr(embedder, "name", None), getattr(embedder, "dimensions", None)
    if not (isinstance(name, str) and name and isinstance(dims, int) and not isinstance(dims, bool) and dims > 0):
        raise InvalidArgumentError(
            f"{embedder!r} is not an embedder: it needs name (str), dimensions (int) and embed() or aembed()"
        )
    return name, dims


class Vector:
    """A prompt's embedding, packed for the server, with its band codes and lookup probes."""

    __slots__ = ("codes", "packed", "probes")

    def __init__(self, vector: Any) -> None:
        self.packed = index.pack(vector)
        self.codes, self.probes = index.codes(vector)


def _embed_step(embedder: Any, text: str) -> CallStep:
    embed: Callable[[list[str]], Any] | None = getattr(embedder, "embed", None)
    aembed: Callable[[list[str]], Any] | None = getattr(embedder, "aembed", None)
    if aembed is not None:
        asynchronous = aembed
        sync = embed or asynchronous  # on the sync facade an async-only embedder fails when awaited
        return CallStep(lambda: sync([text]), lambda: asynchronous([text]))
    if embed is not None:
        plain = embed
        return CallStep(lambda: plain([text]))
    raise InvalidArgumentError(f"{embedder!r} is not an embedder: it has neither embed() nor aembed()")


def _vector(
    ctx: SemanticContext, p: Prepared, fetched: object = None, *, fetch: bool = True
) -> Operation[tuple[Vector, list[Command]]]:
    """The prompt's :class:`Vector` and the commands that keep it in Valkey (to send with the next
    batch): from this process's memory, else from Valkey (``fetched``: the GET's reply if the
    caller sent it; else one round trip unless ``fetch`` is False), else embedded now."""
    name, dims = _described(p.embedder)
    key = (name, p.digest)
    local = ctx.remembered(key)
    if local is not None:
        return local, []
    s = ctx.settings
    ttl = ctx.config.embedding_ttl_ms
    stored_at = semantic_embedding_key(s.prefix, name, p.digest.hex())
    raw = fetched
    if raw is None and fetch and ttl:
        raw = (yield [cmd("GET", stored_at), *s.stats.due()])[0]
    if isinstance(raw, bytes) and s.sealer is not None:
        raw = codec.opened_bytes(raw, s.sealer, stored_at)  # with encryption=, sealed (client-side only)
    if isinstance(raw, bytes) and len(raw) == 4 * dims:
        found = Vector(index.unpack(raw))
        ctx.remember(key, found)
        return found, []
    out = yield _embed_step(p.embedder, p.prompt)
    if not isinstance(out, Sequence) or len(out) != 1:
        raise InvalidArgumentError(
            f"the embedder {name!r} returned {shown(out)} for one text; embed() returns one vector per text"
        )
    made = Vector(index.as_vector(out[0], dims, f"the embedder {name!r}'s vector"))
    ctx.remember(key, made)
    keep = [cmd("SET", stored_at, codec.seal_bytes(made.packed, s.sealer, stored_at), "PX", ttl)] if ttl else []
    return made, keep


def entries_key(meta: str) -> str:
    """The hash of a scope's entries (``<head>r``, see ``prelude.lua``), given its meta key: what
    each entry's seal is bound to with ``encryption=``."""
    return meta[:-1] + "r"


def _result(s: Settings, raw: bytes, similarity: float | None, model: str, meta: str) -> SemanticResult:
    if s.sealer is not None:  # with encryption=, sealed by the client; opened here only
        raw = codec.opened(raw, s.sealer, entries_key(meta))
    try:
        entry = codec.decode(raw)
    except SerializationError as exc:
        raise SerializationError(f"semantic entry of model {model!r}: {exc}") from exc
    if not (isinstance(entry, list) and len(entry) in (7, 8)):  # 8: with the chunks of a streamed call
        raise SerializationError(f"semantic entry of model {model!r}: it is not a semantic entry")
    response, stored_ms, expires_ms, cost, input_tokens, output_tokens, prompt = entry[:7]
    chunks = entry[7] if len(entry) == 8 and isinstance(entry[7], list) else None
    return SemanticResult(
        True,
        response,
        similarity,
        prompt=prompt,
        cost=cost,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        stored_ms=stored_ms,
        expires_ms=expires_ms,
        chunks=chunks,
    )


MISS = SemanticResult(False)


def _lookup(
    ctx: SemanticContext,
    p: Prepared,
    vector: Vector,
    pending: list[Command],
    bar: float,
    judge: Judge | None,
    guard: bool | Guard | None = None,
    streamed: bool = False,
) -> Operation[SemanticResult]:
    """The lookup script's candidates, judged. ``streamed``: only entries stored from a stream
    (with chunks to replay) are candidates; the others are passed over."""
    s = ctx.settings
    low = max(bar - ctx.config.uncertain, 1e-9)
    chosen = ctx.config.guard if guard is None else guard
    _, dims = _described(p.embedder)
    call = LOOKUP(
        [p.meta],
        vector.packed,
        vector.probes,
        p.digest,
        repr(low),
        index.VERIFIED,
        index.BANDS,
        1 + index.FLIPS,
        dims,
        GUARDED if chosen is not False or streamed else 1,
    )
    try:
        replies = yield [call, *pending, *s.stats.due()]
    except BackendError as exc:
        if not exc.out_of_memory:
            raise
        # A server out of memory refuses the lookup script before it runs (it marks entries used):
        # the lookup misses, and the model is asked, as it would be without the cache.
        return _counted(s, p.model, MISS, None)
    reply = replies[0]
    if len(reply) < 3:
        return _counted(s, p.model, MISS, None)
    refused: SemanticResult | None = None  # the best candidate the guard refused
    found: SemanticResult | None = None
    for at in range(1, len(reply) - 1, 2):
        candidate = _result(s, reply[at + 1], float(reply[at]), p.model, p.meta)
        if streamed and candidate.chunks is None:  # stored by a plain call: no stream to replay
            continue
        cached = candidate.prompt if isinstance(candidate.prompt, str) else ""
        why = _refusal(chosen, p.prompt, cached)
        if why is None:
            found = candidate
            break
        if refused is None:
            refused = SemanticResult(False, None, candidate.similarity, prompt=cached, refused=why)
    if found is None and refused is not None:
        s.stats.count("semantic/refused", f"semantic/refused/{p.model}")
        return _counted(s, p.model, refused, refused.similarity)
    if found is None:
        return _counted(s, p.model, MISS, None)
    if found.similarity is not None and found.similarity >= bar:
        return _counted(s, p.model, found, found.similarity)
    found.hit, found.uncertain = False, True
    if judge is not None:
        cached = found.prompt if isinstance(found.prompt, str) else ""
        sim = float(found.similarity or 0.0)
        verdict = yield CallStep(lambda: judge(p.prompt, cached, sim))
        found.hit = verdict is True
    return _counted(s, p.model, found, found.similarity)


def _judge(judge: object) -> None:
    if judge is not None and not callable(judge):
        raise InvalidArgumentError(
            f"judge must be a callable (prompt, cached_prompt, similarity) -> bool, not {judge!r}"
        )


def _counted(s: Settings, model: str, result: SemanticResult, similarity: float | None) -> SemanticResult:
    count_lookup(result.hit)
    s.stats.semantic_lookup(model, result.hit, result.uncertain, similarity, result.cost if result.hit else None)
    return result


def check(
    s: SemanticContext,
    request: Mapping[str, Any],
    *,
    scope: Mapping[str, str] | None = None,
    threshold: float | None = None,
    judge: Judge | None = None,
    guard: bool | Guard | None = None,
    ignore: Iterable[str] | None = None,
) -> Operation[SemanticResult]:
    """The stored response whose prompt means the same as ``request``'s, in its scope, with its
    similarity. ``guard`` for this call (None: the configured one, by default
    :func:`agentcache.embedders.agrees`). No round trip for a request the tier does not take (no
    user text last, or sampled with ``llm_cache_sampled=False``)."""
    p = Prepared(s, request, scope, ignore)
    bar = s.threshold(p.model, threshold)
    _judge(judge)
    if guard is not None:
        _guard(guard)
    if not p.taken:
        return MISS
    vector, pending = yield from _vector(s, p)
    return (yield from _lookup(s, p, vector, pending, bar, judge, guard))


def _entry(
    s: Settings,
    meta: str,
    model: str,
    prompt: str,
    response: Any,
    tokens: tuple[int, int],
    ms: int,
    chunks: list[Any] | None = None,
) -> bytes:
    """An entry as stored: the shelf's entry, its cost, tokens and prompt, then the stream's chunks
    if it came from a streamed call (an entry without them has 7 items, as before)."""
    price = s.options.llm_prices.get(model)
    cost = None if price is None else price.cost(*tokens)
    extra = () if chunks is None else (chunks,)
    plain = encode_entry(s, response, ms, cost, tokens[0], tokens[1], prompt, *extra)
    return codec.seal(plain, s.sealer, entries_key(meta))  # with encryption=: response and prompt sealed


def _put(
    ctx: SemanticContext,
    p: Prepared,
    vector: Vector,
    pending: list[Command],
    response: Any,
    tokens: tuple[int, int],
    ttl: TTL | None,
    chunks: list[Any] | None = None,
) -> Operation[None]:
    s = ctx.settings
    ms, stale = lifetime(s.llm_shelf, p.model, ttl)

    def store_call(ms: int) -> Command:
        data = _entry(s, p.meta, p.model, p.prompt, response, tokens, ms, chunks)
        return STORE([p.meta], vector.packed, vector.codes, p.digest, data, ms, ctx.config.max_entries, index.BANDS)

    batch = [store_call(ms), *pending, *s.stats.due()]
    if stale:
        batch.append(policy_read(s.llm_shelf, p.model))
    replies = yield batch
    if stale:
        actual = learned(s.llm_shelf, p.model, replies[-1])
        if actual != ms:  # the model's policy was not known here: store again with it (same text: replaced)
            yield [store_call(actual)]
    s.stats.count("semantic/writes", f"semantic/writes/{p.model}")


def _checked_tokens(tokens: object, response: Any) -> tuple[int, int]:
    if tokens is None:
        return tokens_of(response)
    if (
        isinstance(tokens, tuple | list)
        and len(tokens) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**53 for n in tokens)
    ):
        return int(tokens[0]), int(tokens[1])
    raise InvalidArgumentError(f"tokens must be (input_tokens, output_tokens), two ints >= 0, not {shown(tokens)}")


def store(
    s: SemanticContext,
    request: Mapping[str, Any],
    response: Any,
    *,
    scope: Mapping[str, str] | None = None,
    tokens: tuple[int, int] | None = None,
    ttl: TTL | None = None,
    ignore: Iterable[str] | None = None,
) -> Operation[bool]:
    """Keep ``response`` (JSON-like data) for ``request``'s prompt in its scope (replacing the
    entry of the same prompt text). Returns False, sending nothing, for a request the tier does not
    take. One round trip when this process embedded the prompt lately (a check did), else two."""
    p = Prepared(s, request, scope, ignore)
    counts = _checked_tokens(tokens, response)
    if ttl is not None:
        ttl_ms(ttl)  # a bad TTL is refused before anything is sent
    if not p.taken:
        return False
    vector, pending = yield from _vector(s, p, fetch=False)
    yield from _put(s, p, vector, pending, response, counts, ttl)
    return True


def fetch_or_compute(
    s: SemanticContext,
    request: Mapping[str, Any],
    compute: CallStep,
    *,
    scope: Mapping[str, str] | None = None,
    threshold: float | None = None,
    judge: Judge | None = None,
    guard: bool | Guard | None = None,
    ttl: TTL | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ignore: Iterable[str] | None = None,
) -> Operation[SemanticResult]:
    """:func:`get_or_compute` for a :class:`~agentcache.core.commands.Call` (a sync and an async
    form of the model call), returning the whole :class:`SemanticResult`."""
    p = Prepared(s, request, scope, ignore)
    bar = s.threshold(p.model, threshold)
    _judge(judge)
    if guard is not None:
        _guard(guard)
    lock_timeout_ms(lock_timeout)
    if ttl is not None:
        ttl_ms(ttl)
    settings = s.settings
    if not p.taken:  # the exact tier alone (it decides on sampled requests the same way)
        exact = yield from llm_fetch_or_compute(
            settings, request, compute, ttl=ttl, lock_timeout=lock_timeout, ignore=ignore
        )
        return _from_exact(exact)
    raw, fetched = yield from _first_read(s, p)
    if raw is not None:  # the exact tier has this very request
        return _exact_hit(settings, p.model, raw)
    vector, pending = yield from _vector(s, p, fetched, fetch=False)
    found = yield from _lookup(s, p, vector, pending, bar, judge, guard)
    if found.hit:
        return found
    exact = yield from llm_fetch_or_compute(
        settings, request, compute, ttl=ttl, lock_timeout=lock_timeout, ignore=ignore
    )
    if not exact.hit:  # this caller called the model: keep the answer for prompts like this one
        yield from _put(s, p, vector, [], exact.response, (exact.input_tokens, exact.output_tokens), ttl)
    result = _from_exact(exact)
    result.uncertain = found.uncertain
    if not exact.hit:
        result.similarity = found.similarity
        result.refused = found.refused
    return result


def _first_read(s: SemanticContext, p: Prepared) -> Operation[tuple[bytes | None, object]]:
    """One round trip: the exact LLM tier's entry for this very request (None: none, or a claim)
    and, unless this process has it, the prompt's embedding kept in Valkey (None if not read)."""
    settings = s.settings
    name, _ = _described(p.embedder)
    local = s.remembered((name, p.digest))
    batch = [cmd("GET", p.llm_key)]
    if local is None and s.config.embedding_ttl_ms:
        batch.append(cmd("GET", semantic_embedding_key(settings.prefix, name, p.digest.hex())))
    replies = yield [*batch, *settings.stats.due()]
    raw = replies[0]
    exact = None if raw is None or raw[:1] == CLAIM_MARK else codec.opened(raw, settings.sealer, p.llm_key)
    return exact, replies[1] if len(batch) > 1 else None


def _exact_hit(s: Settings, model: str, raw: bytes) -> SemanticResult:
    """The exact LLM tier's entry read by the first round trip, counted as its hit."""
    found = _exact_entry(model, raw)
    s.stats.llm_lookup(model, True, found.cost, found.input_tokens, found.output_tokens)
    return found


def _exact_entry(model: str, raw: bytes) -> SemanticResult:
    """The exact LLM tier's entry read by the first round trip (not counted)."""
    try:
        response, stored_ms, expires_ms, cost, input_tokens, output_tokens, chunks = decode_entry(
            raw, 7, "an LLM response"
        )
    except SerializationError as exc:
        raise SerializationError(f"cached response of model {model!r}: {exc}") from exc
    return SemanticResult(
        True,
        response,
        1.0,
        exact=True,
        cost=cost,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        stored_ms=stored_ms,
        expires_ms=expires_ms,
        chunks=chunks,
    )


def _from_exact(exact: LlmResult) -> SemanticResult:
    return SemanticResult(
        exact.hit,
        exact.response,
        1.0 if exact.hit else None,
        exact=exact.hit,
        cost=exact.cost,
        input_tokens=exact.input_tokens,
        output_tokens=exact.output_tokens,
        stored_ms=exact._stored_ms,
        expires_ms=exact._expires_ms,
        chunks=exact.chunks,
    )


def get_or_compute(
    s: SemanticContext,
    request: Mapping[str, Any],
    fn: Callable[[], Any],
    *,
    scope: Mapping[str, str] | None = None,
    threshold: float | None = None,
    judge: Judge | None = None,
    guard: bool | Guard | None = None,
    ttl: TTL | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ignore: Iterable[str] | None = None,
) -> Operation[Any]:
    """The response to ``request``: the exact LLM tier's if it has this very request, else the
    semantic match's, else ``fn()``'s (the model call, returning JSON-like data), called once
    however many ask the same request (the exact tier's single flight) and then stored in both.
    Concurrent requests that only mean the same each call ``fn``."""
    if not callable(fn):
        raise InvalidArgumentError(f"fn must be a callable taking no arguments, not {fn!r}")
    result = yield from fetch_or_compute(
        s,
        request,
        CallStep(fn),
        scope=scope,
        threshold=threshold,
        judge=judge,
        guard=guard,
        ttl=ttl,
        lock_timeout=lock_timeout,
        ignore=ignore,
    )
    return result.response


def stream_check(
    s: SemanticContext,
    request: Mapping[str, Any],
    *,
    scope: Mapping[str, str] | None = None,
    threshold: float | None = None,
    judge: Judge | None = None,
    guard: bool | Guard | None = None,
    ignore: Iterable[str] | None = None,
) -> Operation[SemanticResult]:
    """For a streamed call: a recorded stream to replay (the result's ``chunks``; a hit has them).

    The exact LLM tier's entry for this very request first, then a semantic match (threshold,
    guard, uncertain band and judge as in :func:`fetch_or_compute`) among the entries stored from a
    stream: an entry stored by a plain call holds a response but no stream, and is passed over, as
    the exact tier does. A miss (counted in both tiers) leaves the model to the caller, who keeps
    the stream with :func:`stream_store` once it has ended. A request the tier does not take goes
    to the exact tier alone. One round trip for an exact hit, two for a
    semantic lookup (three if the prompt's embedding is neither in this process nor in Valkey)."""
    p = Prepared(s, request, scope, ignore)
    bar = s.threshold(p.model, threshold)
    _judge(judge)
    if guard is not None:
        _guard(guard)
    settings = s.settings
    if not p.taken:  # the exact tier alone, as without semantic=
        return _from_exact((yield from llm_check(settings, request, ignore=ignore)))
    raw, fetched = yield from _first_read(s, p)
    if raw is not None:
        exact = _exact_entry(p.model, raw)
        if exact.chunks is not None:  # this very request, streamed before
            settings.stats.llm_lookup(p.model, True, exact.cost, exact.input_tokens, exact.output_tokens)
            return exact
    vector, pending = yield from _vector(s, p, fetched, fetch=False)
    found = yield from _lookup(s, p, vector, pending, bar, judge, guard, streamed=True)
    if not found.hit:  # the model streams: the exact tier missed too
        settings.stats.llm_lookup(p.model, False, None, 0, 0)
    return found


def stream_store(
    s: SemanticContext,
    request: Mapping[str, Any],
    response: Any,
    *,
    chunks: list[Any],
    scope: Mapping[str, str] | None = None,
    ttl: TTL | None = None,
    ignore: Iterable[str] | None = None,
) -> Operation[bool]:
    """Keep a finished stream (its ``chunks`` and the ``response`` they add up to) in the exact LLM
    tier, as ``cache.llm.store`` does, and in the semantic tier for its prompt, so that later
    similar prompts, streamed or not, are served from it. Returns whether the exact tier took it.
    Two round trips (one per tier; one if the semantic tier does not take the request)."""
    p = Prepared(s, request, scope, ignore)
    if not isinstance(chunks, list):
        raise InvalidArgumentError(f"chunks must be a list of the stream's chunks, not {shown(chunks)}")
    counts = _checked_tokens(None, response)
    stored = yield from llm_store(s.settings, request, response, chunks=chunks, ttl=ttl, ignore=ignore)
    if p.taken:
        try:  # the vector is usually remembered from the check before the stream; else embedded again
            vector, pending = yield from _vector(s, p, fetch=False)
        except AgentCacheError:
            raise
        except Exception as exc:  # the embedder's own error, after the caller had the whole stream
            raise ModelError(
                f"the finished stream was cached exactly, not by meaning: embedding failed: {exc}"
            ) from exc
        yield from _put(s, p, vector, pending, response, counts, ttl, chunks)
    return stored


def invalidate(
    s: SemanticContext,
    request: Mapping[str, Any],
    *,
    scope: Mapping[str, str] | None = None,
    ignore: Iterable[str] | None = None,
) -> Operation[bool]:
    """Remove the entry stored for ``request``'s prompt in its scope, and the exact LLM tier's entry
    for this very request; True if either was there. One round trip."""
    p = Prepared(s, request, scope, ignore)
    settings = s.settings
    batch = [INVALIDATE([p.llm_key])]
    if p.meta:
        batch.append(REMOVE([p.meta], p.digest, index.BANDS))
    settings.seen.pop(p.llm_key, None)
    replies = yield from forgetting(settings.near, batch, [p.llm_key])
    return any(bool(reply) for reply in replies)


def _drop_all(s: SemanticContext, pattern: str) -> Operation[int]:
    def drop(keys: list[bytes]) -> Operation[int]:
        replies = yield [DROP([key], index.BANDS) for key in keys]
        return sum(int(n) for n in replies)

    return (yield from scan_all(pattern, s.settings.scan_count, drop))


def invalidate_model(s: SemanticContext, model: str) -> Operation[int]:
    """Remove every semantic entry of ``model`` (every scope); returns how many. A SCAN of every
    primary. The exact tier's entries stay: ``cache.llm.invalidate_model`` removes those."""
    return (yield from _drop_all(s, semantic_model_pattern(s.settings.prefix, model)))


def invalidate_scope(s: SemanticContext, scope: Mapping[str, str]) -> Operation[int]:
    """Remove every semantic entry stored with the caller's ``scope`` (e.g. ``{"tenant": "acme"}``),
    of every model and request scope; returns how many. A SCAN of every primary."""
    digest = caller_digest(caller_scope(scope))
    return (yield from _drop_all(s, semantic_caller_pattern(s.settings.prefix, digest)))


_UNSET: Any = object()


class SemanticTier(Bound[E]):
    """``cache.semantic``: model responses found by the meaning of their prompt, within a scope."""

    TIER = "semantic"

    def __init__(self, executor: E, settings: Settings) -> None:
        Bound.__init__(self, executor, settings)
        self._semantic = SemanticContext(settings)

    def _context(self) -> SemanticContext:
        return self._semantic

    check = operation(check)
    store = operation(store)
    get_or_compute = operation(get_or_compute)
    fetch_or_compute = operation(fetch_or_compute)
    _stream_check = operation(stream_check)  # the client wrappers' streamed calls (SemanticFront)
    _stream_store = operation(stream_store)
    invalidate = operation(invalidate)
    invalidate_model = operation(invalidate_model)
    invalidate_scope = operation(invalidate_scope)

    def configure(
        self,
        *,
        embedder: Any = _UNSET,
        threshold: float | None = _UNSET,
        thresholds: Mapping[str, float] | None = _UNSET,
        uncertain: float = _UNSET,
        max_entries: int = _UNSET,
        embedding_ttl: TTL | None = _UNSET,
        guard: bool | Guard = _UNSET,
    ) -> SemanticConfig:
        """Set how this cache's semantic tier works (no I/O; what is not passed stays): the
        ``embedder`` (default: ``agentcache.embedders.local()``), the similarity a hit needs
        (``threshold``; ``thresholds`` per model), the ``uncertain`` band's width below it, the
        ``max_entries`` one scope keeps, and how long a text's embedding is kept in Valkey
        (``embedding_ttl`` seconds; 0 or None: not kept there), and the ``guard`` every candidate
        must pass (True, the default: :func:`agentcache.embedders.agrees`; False: none, the
        similarity alone; or a callable ``(prompt, cached_prompt) -> bool``). Returns the configuration."""
        ctx = self._semantic
        old = ctx.config
        changes: dict[str, Any] = {}
        if embedder is not _UNSET:
            if embedder is not None:
                _described(embedder)
            changes["embedder"] = embedder
        if threshold is not _UNSET:
            changes["threshold"] = None if threshold is None else _fraction(threshold, "threshold")
        if thresholds is not _UNSET:
            if thresholds is not None and not isinstance(thresholds, Mapping):
                raise InvalidArgumentError(f"thresholds must be a dict of model to threshold, not {shown(thresholds)}")
            changes["thresholds"] = (
                None
                if thresholds is None
                else {str(m): _fraction(t, f"threshold of {m!r}") for m, t in thresholds.items()}
            )
        if uncertain is not _UNSET:
            changes["uncertain"] = _fraction(uncertain, "uncertain", inclusive=True) if uncertain else 0.0
        if max_entries is not _UNSET:
            if not isinstance(max_entries, int) or isinstance(max_entries, bool) or not 1 <= max_entries < 2**31:
                raise InvalidArgumentError(f"max_entries must be a positive int, not {shown(max_entries)}")
            changes["max_entries"] = max_entries
        if embedding_ttl is not _UNSET:
            changes["embedding_ttl_ms"] = 0 if not embedding_ttl else ttl_ms(embedding_ttl, "embedding_ttl")
        if guard is not _UNSET:
            changes["guard"] = _guard(guard)
        ctx.config = SemanticConfig(**{**{f: getattr(old, f) for f in SemanticConfig.__dataclass_fields__}, **changes})
        return ctx.config

    def key(
        self, request: Mapping[str, Any], *, scope: Mapping[str, str] | None = None, ignore: Iterable[str] | None = None
    ) -> str | None:
        """The meta key of ``request``'s scope (for inspection; no I/O), or None if not taken."""
        p = Prepared(self._semantic, request, scope, ignore)
        return p.meta or None

    def takes(self, request: Mapping[str, Any], *, ignore: Iterable[str] | None = None) -> bool:
        """Whether the tier keeps responses to ``request`` (a user's text last; see ``llm_cache_sampled``)."""
        canonical = canonical_request(request, ignored(ignore))
        return split_prompt(canonical) is not None and (
            self._semantic.settings.options.llm_cache_sampled or not samples(canonical)
        )


@dataclass(frozen=True, slots=True)
class SemanticOptions:
    """The model wrappers' ``semantic=`` option (``cached_openai``, ``cached_anthropic``): the
    caller's ``scope`` (tenant, user), a ``threshold`` for this client, a ``judge`` for
    uncertain matches, and a ``guard`` (None: the cache's, see :meth:`SemanticTier.configure`).
    ``semantic=True`` is ``SemanticOptions()``."""

    scope: Mapping[str, str] | None = None
    threshold: float | None = None
    judge: Judge | None = None
    guard: bool | Guard | None = None

    def __post_init__(self) -> None:
        caller_scope(self.scope)  # a bad scope or threshold is refused when the client is wrapped
        if self.threshold is not None:
            _fraction(self.threshold, "threshold")
        if self.judge is not None and not callable(self.judge):
            raise InvalidArgumentError(
                f"judge must be a callable (prompt, cached_prompt, similarity), not {self.judge!r}"
            )
        if self.guard is not None:
            _guard(self.guard)


class SemanticFront:
    """What a wrapped client calls for ``semantic=``, with the same three methods as ``cache.llm``:
    a plain call goes to the exact LLM tier, then the semantic tier, then the model
    (:func:`get_or_compute`); a streamed call looks for a recorded stream the same way
    (:func:`stream_check`: ``check``) and keeps a finished one in both tiers (:func:`stream_store`:
    ``store``)."""

    def __init__(self, cache: Any, options: SemanticOptions) -> None:
        self._semantic = cache.semantic
        self._options = options
        self.asynchronous: bool = cache.llm.asynchronous

    def get_or_compute(self, request: Mapping[str, Any], fn: Callable[[], Any], **kwargs: Any) -> Any:
        o = self._options
        return self._semantic.get_or_compute(
            request, fn, scope=o.scope, threshold=o.threshold, judge=o.judge, guard=o.guard, **kwargs
        )

    def check(self, request: Mapping[str, Any], **kwargs: Any) -> Any:
        o = self._options
        return self._semantic._stream_check(
            request, scope=o.scope, threshold=o.threshold, judge=o.judge, guard=o.guard, **kwargs
        )

    def store(self, request: Mapping[str, Any], response: Any, **kwargs: Any) -> Any:
        return self._semantic._stream_store(request, response, scope=self._options.scope, **kwargs)


def front(cache: Any, semantic: bool | SemanticOptions | None) -> Any:
    """What a client wrapper caches through: ``cache.llm``, or with ``semantic=`` a
    :class:`SemanticFront` over it and ``cache.semantic``."""
    if semantic is None or semantic is False:
        return cache.llm
    if semantic is True:
        semantic = SemanticOptions()
    if not isinstance(semantic, SemanticOptions):
        raise InvalidArgumentError(f"semantic must be True or a SemanticOptions(...), not {shown(semantic)}")
    return SemanticFront(cache, semantic)
