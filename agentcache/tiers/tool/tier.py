"""The tool tier: results of tool calls, shared by every worker, computed once when many ask at once.

A result lives at ``<prefix>:tool:<tool>:<digest>``, the digest being that of the call's canonical
arguments (``canonical.py``), as an entry on the shared shelf (``tiers/shelf/``). While one caller
computes a missing result, the key holds that caller's claim instead, so :func:`get_or_compute` is
single-flight across threads, tasks and processes: the others wait with a bounded backoff and then
read the result.

TTL of a stored result, first that applies: ``ttl=`` on the call, the tool's policy
(:func:`set_policy`, kept in Valkey), the cache's ``tool_ttl`` option, else none.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload

from agentcache.core.binding import Bound, E, operation
from agentcache.core.commands import Call as CallStep
from agentcache.core.commands import Operation
from agentcache.encoding import codec
from agentcache.encoding.expiry import TTL, ttl_ms
from agentcache.encoding.keys import encode_name, tool_head, tool_pattern
from agentcache.errors import InvalidArgumentError, SerializationError, shown
from agentcache.tiers.settings import Settings
from agentcache.tiers.shelf.entries import Stored, decode_entry, encode_entry, entry_read, put, remove, remove_matching
from agentcache.tiers.shelf.flight import DEFAULT_LOCK_TIMEOUT, computed_once, lock_timeout_ms
from agentcache.tiers.shelf.policies import ToolPolicy, put_policy, read_policy, remove_policy
from agentcache.tiers.tool.canonical import digest

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


class ToolResult(Stored):
    """What :func:`check` found. On a miss only ``hit`` (False) is set."""

    __slots__ = ("cost", "value")

    def __init__(
        self, hit: bool, value: Any = None, stored_ms: int = 0, expires_ms: int = 0, cost: float | None = None
    ) -> None:
        super().__init__(hit, stored_ms, expires_ms)
        self.value = value
        self.cost = cost
        """The ``cost=`` it was stored with: what a hit saves."""

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


def _entry(s: Settings, value: Any, cost: float | None, ttl_ms: int) -> bytes:
    """A result as stored: the shelf's entry (value, when stored, when it expires), then its cost."""
    return encode_entry(s, value, ttl_ms, cost)


def _unpack(raw: bytes, tool: str) -> list[Any]:
    try:
        return decode_entry(raw, 4, "a tool result")
    except SerializationError as exc:
        raise SerializationError(f"cached result of tool {tool!r}: {exc}") from exc


def _value(value: Any, tool: str, model: type[M] | None) -> Any:
    if model is None:
        return value
    try:
        return codec.as_model(value, model)
    except SerializationError as exc:
        raise SerializationError(f"cached result of tool {tool!r}: {exc}") from exc


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
    claim_ms = lock_timeout_ms(lock_timeout)
    codec.check_model(model)
    data, computed = yield from computed_once(
        s, s.tool_shelf, tool, key, CallStep(fn), lambda value, ms: _entry(s, value, cost, ms), ttl, claim_ms
    )
    value, _, _, stored_cost = _unpack(data, tool)
    s.stats.tool_lookup(tool, not computed, stored_cost)
    if computed:
        _wrote(s, tool)
    return _value(value, tool, model)


def invalidate(s: Settings, tool: str, args: Any) -> Operation[bool]:
    """Remove the cached result of ``tool`` with ``args``; True if there was one. One round trip."""
    return (yield from remove(s, _key(s, tool, args)))


def invalidate_tool(s: Settings, tool: str) -> Operation[int]:
    """Remove every cached result of ``tool``; returns how many. Walks the whole keyspace of every
    primary with SCAN (results of one tool are spread over all slots), two round trips per step."""
    return (yield from remove_matching(s, tool_pattern(s.prefix, tool)))


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
        lock_timeout_ms(lock_timeout)
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
