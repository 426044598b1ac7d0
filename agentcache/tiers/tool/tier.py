"""The tool tier: results of tool calls, shared by every worker, computed once when many ask at once.

A result lives at ``<prefix>:tool:<tool>:<digest>``, the digest being that of the call's canonical
arguments (``canonical.py``). While one caller computes a missing result, the key holds that
caller's lock instead (``claim.lua``), so :func:`get_or_compute` is single-flight across threads,
tasks and processes: the others wait with a bounded backoff and then read the result.

TTL of a stored result, first that applies: ``ttl=`` on the call, the tool's policy
(:func:`set_policy`, kept in Valkey), the cache's ``tool_ttl`` option, else none.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import random
import secrets
import time
from collections.abc import Callable, Generator, Iterable
from datetime import UTC, datetime
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload

from agentcache.core.binding import Bound, E, operation
from agentcache.core.commands import Await, Command, Operation, Pause, Replies, Step, cmd, lua, one, scan_all
from agentcache.core.commands import Call as CallStep
from agentcache.core.near import forgetting
from agentcache.encoding import codec
from agentcache.encoding.expiry import TTL, ttl_ms
from agentcache.encoding.keys import encode_name, tool_head, tool_pattern
from agentcache.errors import BackendError, InvalidArgumentError, SerializationError, shown
from agentcache.tiers.settings import Settings, Shelf
from agentcache.tiers.tool.canonical import digest
from agentcache.tiers.tool.flights import Flight
from agentcache.tiers.tool.policies import ToolPolicy, as_policy, encode_policy, policy_ms

M = TypeVar("M")
F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class CachedFunction(Protocol, Generic[P, R_co]):
    """What :meth:`ToolTier.cached` makes of a function: the function, cached, plus its tool name
    and ``invalidate(*args, **kwargs)`` (a bool on AgentCache, awaited on AsyncAgentCache)."""

    tool: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> Any: ...


DEFAULT_LOCK_TIMEOUT = 30.0
FIRST_WAIT = 0.002  # a waiter's first pause (seconds); each next one doubles, up to MAX_WAIT
MAX_WAIT = 0.025  # so a waiter checks at most 40-80 times a second and returns within ~25 ms of the result
CLAIM_MARK = b"\x00"  # first byte of a claim; a stored result starts with the codec's version byte (1)

# A tool-result key holds either a result (a codec envelope: first byte 1) or, while one caller
# computes it, a lock: byte 0 and that caller's token. Readers treat a lock as a miss.
TOOL_CLAIM = lua(__package__, "claim", name="tool_claim")
TOOL_RELEASE = lua(__package__, "release", name="tool_release")
TOOL_INVALIDATE = lua(__package__, "invalidate", name="tool_invalidate")
TOOL_RESTORE = lua(__package__, "restore", name="tool_restore")


class Stored:
    """What a lookup of a stored entry found: ``hit``, when it was stored and how long it has left."""

    __slots__ = ("_expires_ms", "_stored_ms", "hit")

    hit: bool
    _stored_ms: int
    _expires_ms: int

    @property
    def stored_at(self) -> datetime | None:
        """When the entry was stored (the storing worker's clock); None on a miss."""
        return datetime.fromtimestamp(self._stored_ms / 1000, UTC) if self.hit else None

    @property
    def ttl(self) -> float | None:
        """Seconds the entry has left (by the storing worker's clock); None if it never expires or
        on a miss. Valkey expires it on the server's clock."""
        if not (self.hit and self._expires_ms):
            return None
        return max(0.0, (self._expires_ms - time.time() * 1000) / 1000)

    def __bool__(self) -> bool:
        """True on a hit, so ``if tier.check(...):`` reads as it should."""
        return self.hit


class ToolResult(Stored):
    """What :func:`check` found. On a miss only ``hit`` (False) is set."""

    __slots__ = ("cost", "value")

    def __init__(
        self, hit: bool, value: Any = None, stored_ms: int = 0, expires_ms: int = 0, cost: float | None = None
    ) -> None:
        self.hit = hit
        self.value = value
        self.cost = cost
        """The ``cost=`` it was stored with: what a hit saves."""
        self._stored_ms = stored_ms
        self._expires_ms = expires_ms

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ToolResult) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def _fields(self) -> tuple[Any, ...]:
        return (self.hit, self.value, self._stored_ms, self._expires_ms, self.cost)

    def __repr__(self) -> str:
        if not self.hit:
            return "ToolResult(hit=False)"
        return (
            f"ToolResult(hit=True, value={self.value!r}, stored_at={self.stored_at!r}, "
            f"ttl={self.ttl!r}, cost={self.cost!r})"
        )


MISS = ToolResult(hit=False)


def _key(s: Settings, tool: str, args: Any) -> str:
    return tool_head(s.prefix, tool) + digest(args)


def _cost(cost: object) -> float | None:
    if cost is None:
        return None
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        try:
            value = float(cost)
        except OverflowError:  # an int beyond any float
            value = math.inf
        if math.isfinite(value) and value >= 0:
            return value
    raise InvalidArgumentError(f"cost must be a non-negative finite number (what one call costs), not {shown(cost)}")


def _lock_ms(lock_timeout: object) -> int:
    if isinstance(lock_timeout, int | float) and not isinstance(lock_timeout, bool) and 0 < lock_timeout < 1e9:
        return max(1, math.ceil(lock_timeout * 1000))
    raise InvalidArgumentError(
        f"lock_timeout must be a positive number of seconds (longer than the function runs), not {shown(lock_timeout)}"
    )


def _entry(s: Settings, value: Any, cost: float | None, ttl_ms: int) -> bytes:
    """A result as stored: the value, when it was stored and when it expires (ms, this worker's
    clock; 0 = never), and its cost. Carrying the expiry lets :func:`check` be a plain GET."""
    now = int(time.time() * 1000)
    return codec.encode([value, now, now + ttl_ms if ttl_ms else 0, cost], 0, s.max_value_bytes)


def _unpack(raw: bytes, tool: str) -> list[Any]:
    try:
        entry = codec.decode(raw)
        if not (isinstance(entry, list) and len(entry) == 4):
            raise SerializationError("it is not a tool result")
    except SerializationError as exc:
        raise SerializationError(f"cached result of tool {tool!r}: {exc}") from exc
    return entry


def _value(value: Any, tool: str, model: type[M] | None) -> Any:
    if model is None:
        return value
    try:
        return codec.as_model(value, model)
    except SerializationError as exc:
        raise SerializationError(f"cached result of tool {tool!r}: {exc}") from exc


def _set(key: str, data: bytes, ms: int) -> Command:
    return cmd("SET", key, data, "PX", ms) if ms else cmd("SET", key, data)


def _policy_read(shelf: Shelf, name: str) -> Command:
    """Read a policy alongside a store; if that fails, the store still stands (no policy)."""
    return cmd("HGET", shelf.policies.key, name, optional=True)


def _wrote(s: Settings, tool: str) -> None:
    s.stats.count("tool/writes", f"tool/writes/{tool}")


def check(s: Settings, tool: str, args: Any, *, model: type[M] | None = None) -> Operation[ToolResult]:
    """The cached result of ``tool`` called with ``args``, if any. One round trip (a GET)."""
    key = _key(s, tool, args)
    if model is not None:
        codec.check_model(model)
    raw = yield from entry_read(s, key)
    if raw is None:  # missing, or being computed by someone
        s.stats.tool_lookup(tool, False)
        return MISS
    value, stored_ms, expires_ms, cost = _unpack(raw, tool)
    s.stats.tool_lookup(tool, True, cost)
    return ToolResult(True, _value(value, tool, model), stored_ms, expires_ms, cost)


def entry_read(s: Settings, key: str) -> Generator[list[Command], Replies, bytes | None]:
    """The entry stored at ``key`` (None: missing, or a claim): from the near cache if it has it,
    else one GET (whose reply the near cache may keep)."""
    near = s.near
    raw: bytes | None
    if near is None:
        raw = (yield [Command(("GET", key)), *s.stats.due()])[0]
        return None if raw is None or raw[:1] == CLAIM_MARK else raw
    local = near.get(key)
    if local is not None:
        return local
    ticket = near.ticket()
    raw = (yield [Command(("GET", key)), *s.stats.due()])[0]
    if raw is None or raw[:1] == CLAIM_MARK:
        return None
    near.admit(key, raw, ticket, expires_ms=_expires_ms(raw))
    return raw


def _expires_ms(raw: bytes) -> int:
    """A stored entry's expiry (wall clock ms, 0: none): the third item of tool and LLM entries alike,
    read without decoding the rest (the caller decodes the entry once, for its value)."""
    expires = codec.list_item(raw, 2)
    return expires if isinstance(expires, int) else 0


def lifetime(shelf: Shelf, name: str, ttl: TTL | None) -> tuple[int, bool]:
    """The TTL (ms, 0 = none) to store with now, and whether it may be stale (policy not read lately)."""
    if ttl is not None:
        return ttl_ms(ttl), False
    policy, fresh = shelf.policies.known(name)
    return _policy_ttl(shelf, policy), not fresh


def _policy_ttl(shelf: Shelf, policy: int | None) -> int:
    """The TTL (ms, 0 = none) a policy gives, or the shelf's default without one."""
    return shelf.default_ms if policy is None else policy


def _learned(shelf: Shelf, name: str, reply: bytes | None) -> int:
    """Remember the policy read alongside a store; the TTL it gives."""
    return _policy_ttl(shelf, shelf.policies.remember(name, policy_ms(reply)))


def put(
    s: Settings, shelf: Shelf, name: str, key: str, make: Callable[[int], bytes], ttl: TTL | None
) -> Operation[None]:
    """Store the entry ``make(ttl_ms)`` at ``key`` with ``name``'s TTL. One round trip, unless the
    policy was not known and turns out to differ: then a second one fixes this entry's TTL."""
    ms, stale = lifetime(shelf, name, ttl)
    data = make(ms)
    if not stale:
        yield from forgetting(s.near, [_set(key, data, ms), *s.stats.due()], [key])
    else:  # read the policy in the same round trip; store again in a second one only if it changed
        batch = [_policy_read(shelf, name), _set(key, data, ms), *s.stats.due()]
        replies = yield from forgetting(s.near, batch, [key])
        actual = _learned(shelf, name, replies[0])
        if actual != ms:  # the policy changed (or this worker had not read it): fix this entry's TTL
            yield from forgetting(s.near, [TOOL_RESTORE([key], data, make(actual), actual)], [key])


def store(
    s: Settings, tool: str, args: Any, value: Any, *, ttl: TTL | None = None, cost: float | None = None
) -> Operation[None]:
    """Cache ``value`` as the result of ``tool`` called with ``args``. One round trip.

    ``cost`` (any unit: dollars, tokens, ms) is what a later hit saves, summed in :func:`stats`.
    """
    key = _key(s, tool, args)
    cost = _cost(cost)
    yield from put(s, s.tool_shelf, tool, key, lambda ms: _entry(s, value, cost, ms), ttl)
    _wrote(s, tool)


def get_or_compute(
    s: Settings,
    tool: str,
    args: Any,
    fn: Callable[[], Any],
    *,
    ttl: TTL | None = None,
    cost: float | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    model: type[M] | None = None,
) -> Operation[Any]:
    """The cached result of ``tool`` with ``args``, or ``fn()``'s, computed once however many ask.

    A hit is one round trip. On a miss one caller (in any thread, task or process) runs ``fn`` and
    stores its result; the others wait and return that result: callers in the same process wait for
    the first one and are woken as soon as it has the result (no round trip of their own); callers
    in other processes check Valkey again after a backoff growing from 2 ms to 25 ms. If ``fn``
    raises, its caller gets the exception, nothing is cached, and one of the waiters runs ``fn``
    next. If the computing caller dies, its claim lapses after ``lock_timeout``
    seconds and a waiter takes over: make ``lock_timeout`` longer than ``fn`` ever runs.

    Every caller gets the value as the cache returns it (msgpack types: a tuple comes back as a
    list; pass ``model=`` for a pydantic model), the computing caller included.
    """
    if not callable(fn):
        raise InvalidArgumentError(f"fn must be a callable taking no arguments, not {fn!r}")
    key = _key(s, tool, args)
    cost = _cost(cost)
    lock_ms = _lock_ms(lock_timeout)
    codec.check_model(model)
    data, computed = yield from computed_once(
        s, s.tool_shelf, tool, key, CallStep(fn), lambda value, ms: _entry(s, value, cost, ms), ttl, lock_ms
    )
    value, _, _, stored_cost = _unpack(data, tool)
    s.stats.tool_lookup(tool, not computed, stored_cost)
    if computed:
        _wrote(s, tool)
    return _value(value, tool, model)


def computed_once(
    s: Settings,
    shelf: Shelf,
    name: str,
    key: str,
    compute: CallStep,
    make: Callable[[Any, int], bytes],
    ttl: TTL | None,
    lock_ms: int,
) -> Generator[Step, Any, tuple[bytes, bool]]:
    """The entry stored at ``key``, or the one ``make(compute's result, ttl ms)`` builds, computed
    once however many ask (the single flight shared by the tool and LLM tiers); and whether this
    caller computed it. Callers in this process wait for the first one (no round trip of their
    own); callers in other processes meet its claim in Valkey and wait for the result there."""
    ms, stale = lifetime(shelf, name, ttl)
    if s.near is not None:
        local = s.near.get(key)
        if local is not None:
            return local, False
    flight: Flight | None
    flight, leader = s.flights.join(key)
    if not leader:  # another caller in this process is on it: wait for it, no round trip
        yield Await(flight, lock_ms / 1000)
        if flight.data is not None:
            return flight.data, False
        flight = None  # it failed or took too long: go to Valkey, where one caller claims the key
    data: bytes | None = None
    try:
        data, computed = yield from _fetch_or_compute(s, shelf, name, key, compute, make, ms, stale, lock_ms)
    finally:
        if flight is not None:
            s.flights.land(key, flight, data)
    return data, computed


def _fetch_or_compute(
    s: Settings,
    shelf: Shelf,
    name: str,
    key: str,
    compute: CallStep,
    make: Callable[[Any, int], bytes],
    ms: int,
    stale: bool,
    lock_ms: int,
) -> Generator[Step, Any, tuple[bytes, bool]]:
    """The stored entry for ``key`` and whether this caller computed it: claim the key in Valkey or
    wait for whoever holds the claim (in any process), backing off between checks."""
    lock = CLAIM_MARK + secrets.token_bytes(16)
    wait = FIRST_WAIT
    mine = False  # whether the key may hold this caller's claim
    try:
        while True:
            batch = [TOOL_CLAIM([key], lock, lock_ms)]
            if stale:
                batch.append(_policy_read(shelf, name))
            mine = True  # if this round trip fails, the script may still have claimed
            ticket = None if s.near is None else s.near.ticket()
            try:
                replies = yield batch + s.stats.due()
            except BackendError as exc:
                if not exc.out_of_memory:
                    raise
                # A server out of memory refuses the claim script before it runs, even on a hit
                # (it may write): a stored result is still served, by a plain GET; a miss fails
                # before fn runs, since its result could not be stored.
                mine = False
                raw = (yield [cmd("GET", key)])[0]
                if raw is None or raw[:1] == CLAIM_MARK:
                    raise
                return raw, False
            if stale:
                ms, stale = _learned(shelf, name, replies[1]), False
            state = replies[0]
            if state is None:  # claimed: this caller computes
                break
            mine = False
            if isinstance(state, bytes):  # a hit
                if s.near is not None:
                    s.near.admit(key, state, ticket, expires_ms=_expires_ms(state))
                return state, False
            pause = wait * random.uniform(0.5, 1.0)  # someone else computes: wait, not past their claim lapsing
            yield Pause(min(pause, max(state, 1) / 1000) if state >= 0 else pause)
            wait = min(wait * 2, MAX_WAIT)
        data = make((yield compute), ms)
        yield from forgetting(s.near, [_set(key, data, ms), *s.stats.due()], [key])
    except GeneratorExit:
        raise
    except BaseException:  # fn raised, a round trip failed, the caller was cancelled or interrupted
        if mine:  # let a waiter compute now rather than after lock_timeout (only our own claim goes)
            with contextlib.suppress(BackendError):  # if this fails too, the claim lapses by itself
                yield [TOOL_RELEASE([key], lock)]
        raise
    return data, True


def invalidate(s: Settings, tool: str, args: Any) -> Operation[bool]:
    """Remove the cached result of ``tool`` with ``args``; True if there was one. One round trip."""
    key = _key(s, tool, args)
    (removed,) = yield from forgetting(s.near, [TOOL_INVALIDATE([key])], [key])
    return bool(removed)


def invalidate_tool(s: Settings, tool: str) -> Operation[int]:
    """Remove every cached result of ``tool``; returns how many. Walks the whole keyspace of every
    primary with SCAN (results of one tool are spread over all slots), two round trips per step."""
    return (yield from remove_matching(s, tool_pattern(s.prefix, tool)))


def remove_matching(s: Settings, pattern: str) -> Operation[int]:
    """Remove every stored entry (not a claim) whose key matches ``pattern``, on every primary."""

    def remove(keys: list[bytes]) -> Operation[int]:
        names = [k.decode(errors="surrogateescape") for k in keys]
        return sum((yield from forgetting(s.near, [TOOL_INVALIDATE([key]) for key in keys], names)))

    return (yield from scan_all(pattern, s.scan_count, remove))


def set_policy(s: Settings, tool: str, *, ttl: TTL) -> Operation[None]:
    """Store ``tool``'s TTL policy in Valkey, for every worker (seconds, timedelta or NO_EXPIRY).

    Applies to results stored from now on without their own ``ttl=``; other workers pick it up
    within about a second."""
    yield from put_policy(s.tool_shelf, _tool_name(tool), ttl)


def get_policy(s: Settings, tool: str) -> Operation[ToolPolicy | None]:
    """``tool``'s policy as stored in Valkey, or None. One round trip."""
    return (yield from read_policy(s.tool_shelf, _tool_name(tool)))


def clear_policy(s: Settings, tool: str) -> Operation[bool]:
    """Remove ``tool``'s policy; True if it had one."""
    return (yield from remove_policy(s.tool_shelf, _tool_name(tool)))


def _tool_name(tool: str) -> str:
    encode_name(tool, "tool name")  # a bad name is refused before anything is sent
    return tool


def put_policy(shelf: Shelf, name: str, ttl: TTL) -> Operation[None]:
    ms = ttl_ms(ttl)
    yield [cmd("HSET", shelf.policies.key, name, encode_policy(ms))]
    shelf.policies.remember(name, ms)


def read_policy(shelf: Shelf, name: str) -> Operation[ToolPolicy | None]:
    raw = yield from one(cmd("HGET", shelf.policies.key, name))
    return as_policy(shelf.policies.remember(name, policy_ms(raw)))


def remove_policy(shelf: Shelf, name: str) -> Operation[bool]:
    removed = yield from one(cmd("HDEL", shelf.policies.key, name))
    shelf.policies.remember(name, None)
    return bool(removed)


def _binder(fn: Callable[..., Any], ignore: Iterable[str]) -> Callable[..., dict[str, Any]]:
    """Maps a call of ``fn`` to its arguments by name (defaults applied, ``ignore`` left out)."""
    signature = inspect.signature(fn)
    ignored = frozenset(ignore)
    unknown = sorted(ignored - set(signature.parameters))
    if unknown:
        raise InvalidArgumentError(f"ignore names {unknown}, which {fn.__qualname__} has no parameter for")

    def arguments(*args: Any, **kwargs: Any) -> dict[str, Any]:
        bound = signature.bind(*args, **kwargs)  # a wrong call raises TypeError, as it would uncached
        bound.apply_defaults()
        return {name: value for name, value in bound.arguments.items() if name not in ignored}

    return arguments


class ToolTier(Bound[E]):
    """``cache.tool``: results of tool calls, shared by every worker, computed once when many ask."""

    TIER = "tool"

    check = operation(check, reads=True)
    store = operation(store)
    get_or_compute = operation(get_or_compute)
    invalidate = operation(invalidate)
    invalidate_tool = operation(invalidate_tool)
    set_policy = operation(set_policy)
    get_policy = operation(get_policy, reads=True)
    clear_policy = operation(clear_policy)

    @overload
    def cached(self, name: Callable[P, R], /) -> CachedFunction[P, R]: ...

    @overload
    def cached(
        self,
        name: str | None = None,
        *,
        ttl: TTL | None = None,
        cost: float | None = None,
        ignore: Iterable[str] = (),
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        model: type[Any] | None = None,
    ) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...

    def cached(
        self,
        name: str | Callable[..., Any] | None = None,
        *,
        ttl: TTL | None = None,
        cost: float | None = None,
        ignore: Iterable[str] = (),
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        model: type[Any] | None = None,
    ) -> Any:
        """Decorator: cache a function's results through :meth:`get_or_compute`.

        Sync functions on ``AgentCache``, coroutine functions on ``AsyncAgentCache``. The tool name
        is ``name`` or the function's module and qualified name (a function defined inside another
        one needs ``name``: closures made there share a qualified name). Arguments are bound by signature
        (``f(1, b=2)`` and ``f(a=1, b=2)`` are one entry, defaults included); parameters named in
        ``ignore`` (say ``self`` or a client) do not count. ``wrapper.invalidate(*args, **kwargs)``
        removes one call's result. Usable bare (``@cache.tool.cached``) or with arguments.
        """
        if callable(name):
            return self.cached()(name)
        if name is not None:
            encode_name(name, "tool name")
        _cost(cost)
        _lock_ms(lock_timeout)
        codec.check_model(model)
        if ttl is not None:
            ttl_ms(ttl)
        asynchronous = self.asynchronous

        def decorate(fn: F) -> F:
            if inspect.iscoroutinefunction(fn) != asynchronous:
                raise InvalidArgumentError(
                    f"{fn.__qualname__} is {'not ' if asynchronous else ''}a coroutine function: "
                    "cache sync functions on AgentCache and coroutine functions on AsyncAgentCache"
                )
            if name is None and "<locals>" in fn.__qualname__:
                raise InvalidArgumentError(
                    f"{fn.__qualname__} is defined inside a function, so other functions made there share its "
                    "name and would share its results: give it one, cached(name=...)"
                )
            tool = name or f"{fn.__module__}.{fn.__qualname__}"
            arguments = _binder(fn, ignore)
            options: dict[str, Any] = {"ttl": ttl, "cost": cost, "lock_timeout": lock_timeout, "model": model}
            compute, forget = self.get_or_compute, self.invalidate

            def call(*args: Any, **kwargs: Any) -> Any:
                return compute(tool, arguments(*args, **kwargs), lambda: fn(*args, **kwargs), **options)

            wrapper: Any = functools.wraps(fn)(call)
            if asynchronous:

                async def acall(*args: Any, **kwargs: Any) -> Any:
                    return await call(*args, **kwargs)

                wrapper = functools.wraps(fn)(acall)
            wrapper.tool = tool
            wrapper.invalidate = lambda *args, **kwargs: forget(tool, arguments(*args, **kwargs))
            return wrapper  # type: ignore[no-any-return]

        return decorate

    def key(self, tool: str, args: Any) -> str:
        """The Valkey key that holds ``tool``'s result for ``args`` (for inspection; no I/O)."""
        return _key(self._settings, tool, args)
