"""What agentcache needs to know about a valkey-py or redis-py client: its errors and its kind."""

from __future__ import annotations

import inspect
from typing import Any

from .commands import Batch
from .errors import BackendError, InvalidArgumentError


def _error_classes() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    import valkey.exceptions as vx

    client: list[type[BaseException]] = [vx.ValkeyError, vx.ValkeyClusterException, OSError]
    reply: list[type[BaseException]] = [vx.ResponseError]
    try:
        import redis.exceptions as rx
    except ImportError:
        pass
    else:
        client += [rx.RedisError, rx.RedisClusterException]
        reply.append(rx.ResponseError)
    return tuple(client), tuple(reply)


CLIENT_ERRORS, REPLY_ERRORS = _error_classes()
"""Exceptions a client raises for a failed server or connection; those that are one command's reply."""


def backend_error(batch: Batch, exc: BaseException) -> BackendError:
    return BackendError([c.name for c in batch], exc)


def is_noscript(reply: object) -> bool:
    return type(reply).__name__ == "NoScriptError"


def is_async(client: Any) -> bool:
    return inspect.iscoroutinefunction(getattr(client, "execute_command", None))


def check_client(client: Any, *, want_async: bool) -> Any:
    """Reject a client agentcache cannot drive, before anything is sent."""
    if not callable(getattr(client, "execute_command", None)) or not callable(getattr(client, "pipeline", None)):
        raise InvalidArgumentError(
            f"expected a valkey-py or redis-py client, not {type(client).__name__}; "
            "or use AgentCache.from_url(...), .embedded() or .in_memory()"
        )
    if is_async(client) != want_async:
        raise InvalidArgumentError(
            f"{type(client).__name__} is {'an async' if is_async(client) else 'a sync'} client: use "
            f"{'AsyncAgentCache' if is_async(client) else 'AgentCache'} with it"
        )
    if client.get_encoder().decode_responses:
        raise InvalidArgumentError(
            "the client decodes responses (decode_responses=True); agentcache stores bytes: "
            "pass a client made with decode_responses=False"
        )
    return client
