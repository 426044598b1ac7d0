"""The ``session_data`` tool: lets a model keep key-value notes in its thread's session state.

``session_data(cache, thread_id)`` gives a tool object: its name, description and JSON Schema (as an
OpenAI function tool, an Anthropic tool and an MCP tool definition), and ``tool(arguments)`` that
runs one call, on ``AsyncAgentCache`` awaited. Arguments are ``{"action": ..., "key": ..., "value":
..., "ttl": ...}`` as a dict or a JSON string. The values live in the session tier (the same fields
``cache.session.get_all(thread_id)`` shows); the thread is fixed when the tool is made, so nothing a
model sends can reach another thread or any other key.

A call never raises into the agent loop: every failure is a reply ``{"status": "error", "error":
<code>, "message": <what to do>}``. Codes:

``invalid_arguments`` (not JSON, not an object, a wrong type, an unknown property),
``missing_action``, ``unknown_action``, ``missing_key``, ``invalid_key`` (empty, too long, not text),
``reserved_key`` (``__user_part_...`` when user parts are not allowed), ``missing_value``,
``invalid_value`` (not JSON: NaN, infinities), ``value_too_large``, ``too_many_keys``,
``invalid_ttl``, ``backend_unavailable`` (Valkey could not be reached: try again later).

The per-thread key quota (``max_keys``) is checked when a new key is set, in the same script call
that writes it (``cache.session.set_capped``), so concurrent calls adding different keys never take
a thread past it. Every action is one call of a public ``cache.session`` operation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, overload

from agentcache.core.binding import E
from agentcache.core.executors import AsyncExecutor, SyncExecutor
from agentcache.encoding.keys import check_name
from agentcache.errors import AgentCacheError, BackendError, InvalidArgumentError, InvalidNameError
from agentcache.facade import AgentCache, AsyncAgentCache
from agentcache.tiers.content.parts import USER_PART_PREFIX
from agentcache.tiers.session.tier import FieldView, SessionTier

ACTIONS = ("set", "get", "delete", "list", "clear")
PROPERTIES = ("action", "key", "value", "ttl")
DEFAULT_MAX_KEYS = 100
DEFAULT_MAX_VALUE_BYTES = 64 * 1024
MAX_KEY_CHARS = 256
NOT_AN_OBJECT = 'arguments must be a JSON object, e.g. {"action": "list"}'

DESCRIPTION = (
    "Remember things for the rest of this conversation: a key-value store private to this thread. "
    "action 'set' stores any JSON value under a key (optional ttl in seconds), 'get' reads one key "
    "(found: false when absent), 'delete' removes one key, 'list' shows every key with its remaining "
    "seconds, 'clear' removes them all. Use short snake_case keys such as 'user_name' or 'task_1'."
)


def schema(max_key_chars: int = MAX_KEY_CHARS) -> dict[str, Any]:
    """The JSON Schema of the tool's arguments."""
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": list(ACTIONS), "description": "what to do"},
            "key": {
                "type": "string",
                "minLength": 1,
                "maxLength": max_key_chars,
                "description": "the key (for set, get and delete)",
            },
            "value": {"description": "any JSON value (for set)"},
            "ttl": {"type": "number", "exclusiveMinimum": 0, "description": "seconds until the key expires (set)"},
        },
        "required": ["action"],
        "additionalProperties": False,
    }


class _RefusedError(Exception):
    """A bad call: becomes an error reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class _Config:
    thread_id: str
    allow_user_parts: bool
    max_keys: int
    max_value_bytes: int


def _error(code: str, message: str) -> dict[str, Any]:
    return {"status": "error", "error": code, "message": message}


def _unavailable() -> dict[str, Any]:
    return _error("backend_unavailable", "the session store could not be reached; try again in a moment")


def _parse(arguments: object) -> dict[str, Any]:
    if isinstance(arguments, str | bytes | bytearray):
        try:
            arguments = json.loads(arguments)
        except (ValueError, UnicodeDecodeError):
            raise _RefusedError(
                "invalid_arguments", 'arguments must be a JSON object, e.g. {"action": "list"}'
            ) from None
    if not isinstance(arguments, dict):
        raise _RefusedError("invalid_arguments", 'arguments must be a JSON object, e.g. {"action": "list"}')
    unknown = sorted(str(name) for name in arguments if name not in PROPERTIES)
    if unknown:
        raise _RefusedError("invalid_arguments", f"unknown properties {unknown}: use only {list(PROPERTIES)}")
    return arguments


def _key(c: _Config, args: dict[str, Any]) -> str:
    if "key" not in args or args["key"] is None:
        raise _RefusedError("missing_key", f"action '{args['action']}' needs a 'key' (a short string)")
    key = args["key"]
    if not isinstance(key, str) or not key:
        raise _RefusedError("invalid_key", "key must be a non-empty string")
    if len(key) > MAX_KEY_CHARS:
        raise _RefusedError("invalid_key", f"key is longer than {MAX_KEY_CHARS} characters: use a shorter one")
    try:
        check_name(key, "key")
    except InvalidNameError as exc:
        raise _RefusedError("invalid_key", f"{exc}; use another key") from None
    if key.startswith(USER_PART_PREFIX) and not c.allow_user_parts:
        raise _RefusedError("reserved_key", f"keys starting with {USER_PART_PREFIX!r} are reserved: use another key")
    return key


def _value(c: _Config, args: dict[str, Any]) -> Any:
    if "value" not in args:
        raise _RefusedError("missing_value", "action 'set' needs a 'value' (any JSON value)")
    try:
        text = json.dumps(args["value"], allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise _RefusedError("invalid_value", f"value must be plain JSON ({exc})") from None
    if len(text.encode()) > c.max_value_bytes:
        raise _RefusedError("value_too_large", f"value is over {c.max_value_bytes} bytes as JSON: store less")
    return json.loads(text)  # what is stored is exactly what JSON carries (tuples become lists...)


def _ttl(args: dict[str, Any]) -> float | None:
    ttl = args.get("ttl")
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise _RefusedError("invalid_ttl", "ttl must be a positive number of seconds, or left out")
    return float(ttl)


def _visible(c: _Config, field: str) -> bool:
    return c.allow_user_parts or not field.startswith(USER_PART_PREFIX)


@dataclass(frozen=True)
class _Step:
    """An action as one call of a public session operation, and the reply made of its result (which
    may still refuse: a full thread)."""

    call: Callable[[], Any]
    reply: Callable[[Any], dict[str, Any]]


def _plan(session: SessionTier[Any], c: _Config, arguments: object) -> _Step:
    """The step one call of the tool takes; raises :class:`_RefusedError` for a bad call (nothing sent)."""
    args = _parse(arguments)
    action = args.get("action")
    if action is None:
        raise _RefusedError("missing_action", f"give an 'action': one of {list(ACTIONS)}")
    if action not in ACTIONS:
        raise _RefusedError("unknown_action", f"action must be one of {list(ACTIONS)}, not {str(action)[:40]!r}")
    return _ACTIONS[action](session, c, args)


def _failure(exc: Exception) -> dict[str, Any]:
    """The error reply for what a call raised."""
    if isinstance(exc, _RefusedError):
        return _error(exc.code, str(exc))
    if isinstance(exc, BackendError):
        return _unavailable()
    return _error("invalid_arguments", str(exc)[:300])  # any other refusal of the tier: still data for the model


def _set(session: SessionTier[Any], c: _Config, args: dict[str, Any]) -> _Step:
    key, value, ttl = _key(c, args), _value(c, args), _ttl(args)

    def reply(stored: bool) -> dict[str, Any]:
        if not stored:
            raise _RefusedError(
                "too_many_keys", f"this thread holds {c.max_keys} keys, the most allowed: delete some first"
            )
        return {"status": "success", "message": f"Stored data for key '{key}'", "key": key, "value": value}

    # a user part: a str becomes a text part, other JSON a data part (the tier's default)
    return _Step(
        lambda: session.set_capped(
            c.thread_id, key, value, max_fields=c.max_keys, ttl=ttl, count_user_parts=c.allow_user_parts
        ),
        reply,
    )


_MISSING = object()


def _get(session: SessionTier[Any], c: _Config, args: dict[str, Any]) -> _Step:
    key = _key(c, args)

    def reply(value: Any) -> dict[str, Any]:
        if value is _MISSING:
            return {
                "status": "success",
                "key": key,
                "value": None,
                "found": False,
                "message": f"No data for key '{key}'",
            }
        return {"status": "success", "key": key, "value": value, "found": True}

    return _Step(lambda: session.get(c.thread_id, key, _MISSING), reply)


def _delete(session: SessionTier[Any], c: _Config, args: dict[str, Any]) -> _Step:
    key = _key(c, args)

    def reply(removed: bool) -> dict[str, Any]:
        message = f"Deleted key '{key}'" if removed else f"No data for key '{key}'"
        return {"status": "success", "key": key, "deleted": removed, "message": message}

    return _Step(lambda: session.delete_value(c.thread_id, key), reply)


def _list(session: SessionTier[Any], c: _Config, args: dict[str, Any]) -> _Step:
    def reply(views: list[FieldView]) -> dict[str, Any]:
        keys = [
            {"key": v.field, "ttl": None if v.ttl_ms is None else round(v.ttl_ms / 1000, 3)}
            for v in views
            if _visible(c, v.field)
        ]
        return {"status": "success", "keys": keys, "count": len(keys), "message": f"{len(keys)} keys"}

    return _Step(lambda: session.peek(c.thread_id, max_value_bytes=0), reply)  # names and TTLs: no values


def _clear(session: SessionTier[Any], c: _Config, args: dict[str, Any]) -> _Step:
    def reply(removed: int) -> dict[str, Any]:
        return {"status": "success", "removed": removed, "message": f"Removed {removed} keys"}

    # never a graph's checkpoints; the application's user parts stay unless the model may see them
    return _Step(lambda: session.clear_fields(c.thread_id, keep_user_parts=not c.allow_user_parts), reply)


_ACTIONS: dict[str, Callable[[SessionTier[Any], _Config, dict[str, Any]], _Step]] = {
    "set": _set,
    "get": _get,
    "delete": _delete,
    "list": _list,
    "clear": _clear,
}


class SessionDataTool(Generic[E]):
    """The ``session_data`` tool for one thread (see the module docstring); make it with
    :func:`session_data`. Calling it runs one action; on ``AsyncAgentCache`` the call is awaited."""

    name = "session_data"
    description = DESCRIPTION

    def __init__(self, session: SessionTier[E], config: _Config) -> None:
        self._session: SessionTier[E] = session
        self._config = config
        self.thread_id = config.thread_id
        self.parameters = schema()
        """The JSON Schema of the arguments."""

    @property
    def asynchronous(self) -> bool:
        """Whether calls are awaited (the tool is on ``AsyncAgentCache``)."""
        return self._session.asynchronous

    def __call__(self, arguments: dict[str, Any] | str) -> Any:
        """Run one call: ``tool({"action": "get", "key": "user_name"})``; a dict reply (awaitable on
        the async facade). It never raises: bad calls and backend failures (a cache's first call may
        fail while connecting) are error replies."""
        if self.asynchronous:
            return self._call_async(arguments)
        try:
            step = _plan(self._session, self._config, arguments)
            return step.reply(step.call())
        except (_RefusedError, AgentCacheError) as exc:
            return _failure(exc)

    async def _call_async(self, arguments: dict[str, Any] | str) -> dict[str, Any]:
        try:
            step = _plan(self._session, self._config, arguments)
            result: Awaitable[Any] = step.call()
            return step.reply(await result)
        except (_RefusedError, AgentCacheError) as exc:
            return _failure(exc)

    def openai_tool(self) -> dict[str, Any]:
        """The OpenAI function tool definition (Chat Completions ``tools=[...]``)."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def anthropic_tool(self) -> dict[str, Any]:
        """The Anthropic tool definition (Messages ``tools=[...]``)."""
        return {"name": self.name, "description": self.description, "input_schema": self.parameters}

    def mcp_tool(self) -> dict[str, Any]:
        """The MCP tool definition (``tools/list``)."""
        return {"name": self.name, "description": self.description, "inputSchema": self.parameters}


@overload
def session_data(
    cache: AgentCache,
    thread_id: str,
    *,
    allow_user_parts: bool = False,
    max_keys: int = DEFAULT_MAX_KEYS,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
) -> SessionDataTool[SyncExecutor]: ...
@overload
def session_data(
    cache: AsyncAgentCache,
    thread_id: str,
    *,
    allow_user_parts: bool = False,
    max_keys: int = DEFAULT_MAX_KEYS,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
) -> SessionDataTool[AsyncExecutor]: ...
def session_data(
    cache: AgentCache | AsyncAgentCache,
    thread_id: str,
    *,
    allow_user_parts: bool = False,
    max_keys: int = DEFAULT_MAX_KEYS,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
) -> SessionDataTool[Any]:
    """The ``session_data`` tool bound to ``cache`` and one thread.

    ``allow_user_parts``: whether the model may also set, read and delete ``__user_part_<name>``
    keys (content for the next user message; a str becomes a text part, other JSON a data part).
    ``max_keys`` caps the keys of the thread the tool counts; ``max_value_bytes`` caps one value
    as JSON."""
    check_name(thread_id, "thread_id")
    for name, limit in (("max_keys", max_keys), ("max_value_bytes", max_value_bytes)):
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidArgumentError(f"{name} must be a positive int, not {limit!r}")
    limit = min(max_value_bytes, cache.settings.max_value_bytes)
    return SessionDataTool(cache.session, _Config(thread_id, bool(allow_user_parts), max_keys, limit))
