"""How an adapter calls a facade from the framework's side: the framework's async methods on
either facade (a sync cache's calls run in a worker thread, so the event loop stays free), its
sync methods on a sync cache only."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from agentcache.errors import InvalidArgumentError
from agentcache.facade import AgentCache, AsyncAgentCache


def checked_cache(cache: object) -> AgentCache | AsyncAgentCache:
    """``cache`` if it is one of the facades, else a typed error saying what to pass."""
    if not isinstance(cache, AgentCache | AsyncAgentCache):
        raise InvalidArgumentError(f"cache must be an AgentCache or AsyncAgentCache, not {type(cache).__name__}")
    return cache


async def awaited(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``method(*args, **kwargs)``: awaited if it is the async facade's, else in a worker thread."""
    if inspect.iscoroutinefunction(method):
        return await method(*args, **kwargs)
    return await asyncio.to_thread(method, *args, **kwargs)


def called(method: Callable[..., Any], *args: Any, hint: str, **kwargs: Any) -> Any:
    """``method(*args, **kwargs)`` of the sync facade; an async facade's method is refused with
    ``hint`` (what to call instead)."""
    if inspect.iscoroutinefunction(method):
        raise InvalidArgumentError(f"this adapter wraps an AsyncAgentCache: {hint}, or give it an AgentCache")
    return method(*args, **kwargs)
