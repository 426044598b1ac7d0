"""How facades are made from operations, without writing any method twice.

A tier class lists its operations as ``name = operation(fn)``. Reading the attribute on a tier bound
to a :class:`SyncExecutor` gives a function returning the result; on one bound to an
:class:`AsyncExecutor`, a coroutine function. The signature and docstring are the operation's.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from agentcache.core.commands import Operation
from agentcache.core.executors import AsyncExecutor, SyncExecutor
from agentcache.core.observe import Observer, begin, end
from agentcache.errors import InvalidCallError, unknown_names

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", SyncExecutor, AsyncExecutor)


class Bound(Generic[E]):
    """A group of operations bound to one executor and one cache's settings."""

    TIER = "cache"
    """What observers call this group's operations' tier (``session``, ``tool``, ...)."""

    def __init__(self, executor: E, settings: Any) -> None:
        self._executor: E = executor
        self._settings: Any = settings  # the tier's settings (``tiers/settings.py``): the core knows no tier

    @property
    def asynchronous(self) -> bool:
        """Whether this runs on the asyncio facade (its methods are then coroutine functions)."""
        return isinstance(self._executor, AsyncExecutor)

    def _context(self) -> Any:
        """What this group's operations receive as their first argument: the settings, by default."""
        return self._settings


def bind_beside(group: Bound[E], other: Bound[E]) -> None:
    """Bind ``group`` to the executor and settings of ``other`` (e.g. a store made from a cache)."""
    Bound.__init__(group, other._executor, other._settings)


def observed(run: Any, observers: tuple[Observer, ...], tier: str, name: str, asynchronous: bool) -> Any:
    """``run`` (an executor's, called as ``run(op, retry=...)``) inside an observed record (see
    ``core/observe.py``)."""
    if asynchronous:

        async def arun(op: Any, *, retry: bool = False) -> Any:
            started = begin(observers, tier, name)
            if started is None:
                return await run(op, retry=retry)
            try:
                result = await run(op, retry=retry)
            except BaseException as exc:
                end(started, exc)
                raise
            end(started, None)
            return result

        return arun

    def srun(op: Any, *, retry: bool = False) -> Any:
        started = begin(observers, tier, name)
        if started is None:
            return run(op, retry=retry)
        try:
            result = run(op, retry=retry)
        except BaseException as exc:
            end(started, exc)
            raise
        end(started, None)
        return result

    return srun


def miscalled(
    where: str, signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any], error: TypeError
) -> TypeError:
    """What to raise for a ``TypeError`` from calling an operation function: :class:`InvalidCallError`
    naming the public method (``SessionTier.set``) if the arguments do not fit its signature (an
    operation's body only runs once sent, so this is the call itself), else ``error`` as it was."""
    try:
        signature.bind(*args, **kwargs)
    except TypeError as wrong:
        takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        unknown = [] if takes_any else [k for k in kwargs if k not in signature.parameters]
        why = f"unknown keyword(s) {unknown_names(unknown, list(signature.parameters))}" if unknown else str(wrong)
        bare = signature.replace(parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()])
        return InvalidCallError(f"{where}(): {why}; call it as {where}{bare}")
    return error


class operation(Generic[P, T]):  # noqa: N801 - used like a decorator
    """Descriptor that binds an operation function to a tier's executor."""

    then: Callable[[Any, Any], Any] | None = None

    def __init__(self, fn: Callable[Concatenate[Any, P], Operation[T]], *, reads: bool = False) -> None:
        self.fn = fn
        self.reads = reads
        """Whether the operation only reads, so a round trip that failed on the connection may be
        sent again (the ``retry_reads`` option)."""
        self.name = fn.__name__.rstrip("_")
        signature = inspect.signature(fn)
        self.signature = signature.replace(
            parameters=list(signature.parameters.values())[1:], return_annotation=inspect.Signature.empty
        )

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> operation[P, T]: ...
    @overload
    def __get__(self, obj: Bound[SyncExecutor], owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: Bound[AsyncExecutor], owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, obj: Bound[Any] | None, owner: type) -> Any:
        if obj is None:
            return self
        fn, run, settings, then, retry = self.fn, obj._executor.run, obj._context(), self.then, self.reads
        where, signature = f"{type(obj).__name__}.{self.name}", self.signature
        observers = obj._executor.observers
        if observers:  # only then is anything measured: without observers, the plain methods below
            run = observed(run, observers, type(obj).TIER, self.name, isinstance(obj._executor, AsyncExecutor))
        bound: Any
        if isinstance(obj._executor, AsyncExecutor):
            if then is None:

                @functools.wraps(fn)
                async def bound(*args: P.args, **kwargs: P.kwargs) -> Any:  # a coroutine function, as it should look
                    try:
                        op = fn(settings, *args, **kwargs)
                    except TypeError as exc:
                        raise miscalled(where, signature, args, kwargs, exc) from None
                    return await run(op, retry=retry)

            else:

                @functools.wraps(fn)
                async def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
                    try:
                        op = fn(settings, *args, **kwargs)
                    except TypeError as exc:
                        raise miscalled(where, signature, args, kwargs, exc) from None
                    return then(obj, await run(op, retry=retry))

        elif then is None:

            @functools.wraps(fn)
            def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
                try:
                    op = fn(settings, *args, **kwargs)
                except TypeError as exc:
                    raise miscalled(where, signature, args, kwargs, exc) from None
                return run(op, retry=retry)

        else:

            @functools.wraps(fn)
            def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
                try:
                    op = fn(settings, *args, **kwargs)
                except TypeError as exc:
                    raise miscalled(where, signature, args, kwargs, exc) from None
                return then(obj, run(op, retry=retry))

        bound.__name__ = bound.__qualname__ = self.name
        bound.__signature__ = self.signature
        del bound.__wrapped__
        obj.__dict__[self.name] = bound  # later reads skip this descriptor
        return bound


class opening(operation[P, Any], Generic[P, T, R]):  # noqa: N801 - used like a decorator
    """An operation whose result the bound method hands to ``then(owner, result)``: how a handle
    class builds handles (a ``Conversation``) from the plain data an operation returns."""

    def __init__(
        self, fn: Callable[Concatenate[Any, P], Operation[T]], then: Callable[[Any, T], R], *, reads: bool = False
    ) -> None:
        super().__init__(fn, reads=reads)
        self.then = then

    @overload
    def __get__(self, obj: None, owner: type) -> opening[P, T, R]: ...
    @overload
    def __get__(self, obj: Bound[SyncExecutor], owner: type) -> Callable[P, R]: ...
    @overload
    def __get__(self, obj: Bound[AsyncExecutor], owner: type) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __get__(self, obj: Bound[Any] | None, owner: type) -> Any:
        return super().__get__(obj, owner)
