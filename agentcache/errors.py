"""The errors agentcache raises: one family, rooted at :class:`AgentCacheError`.

Every bad input is rejected with one of these before anything is sent to the server.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


class AgentCacheError(Exception):
    """Base class of every error agentcache raises."""


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 80


def shown(value: object) -> str:
    """``repr(value)`` for an error message, safely: shortened, bounded in depth, and never raising
    (a value nested thousands deep or a broken ``__repr__`` cannot turn a typed error into another)."""
    try:
        return _SHOWN.repr(value)
    except Exception:  # e.g. an int too long for str() (sys.get_int_max_str_digits)
        return f"<{type(value).__qualname__} object>"


def unknown_names(names: Sequence[str], candidates: Sequence[str]) -> str:
    """``names`` as an error lists the unknown ones: each quoted, with the closest of ``candidates``
    when one is close ("'sesion_ttl' (did you mean 'session_ttl'?)")."""
    import difflib

    listed = []
    for name in names:
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        listed.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    return ", ".join(listed)


class InvalidNameError(AgentCacheError, ValueError):
    """A thread id, field name or prefix is empty, too long, or not a ``str``."""


class InvalidArgumentError(AgentCacheError, ValueError):
    """An argument or option has a value agentcache cannot use (a negative TTL, a naive datetime, ...)."""


class InvalidCallError(InvalidArgumentError, TypeError):
    """A method was called with arguments it does not take: a misspelt keyword, one too many, one
    missing. Also a ``TypeError``, as Python's own is; the message names the public method, its
    parameters and, for a misspelt keyword, the one that was meant."""


class InvalidMessageError(InvalidArgumentError):
    """A conversation message or part does not validate (a bad role, a part of the wrong type, ...).

    Raised in place of pydantic's ``ValidationError`` (chained as ``__cause__``); :meth:`errors`
    gives pydantic's structured detail: one dict per problem, with its ``loc``, ``msg`` and ``type``."""

    def __init__(self, message: str, errors: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self._errors = [dict(error) for error in errors]

    def errors(self) -> list[dict[str, Any]]:
        """pydantic's detail, one dict per problem (``loc``, ``msg``, ``type``, ``input``)."""
        return [dict(error) for error in self._errors]


class SerializationError(AgentCacheError, TypeError):
    """A value cannot be encoded (unsupported type) or a stored value cannot be decoded."""


class UnreadableFieldsError(SerializationError):
    """Some fields of a thread hold data that cannot be decoded (written by other means: another
    client, corruption); raised by ``get_all`` / ``get_many`` with everything else they read.

    ``values``: the fields that decoded, as the call would have returned them; ``unreadable``:
    ``{field: why}`` for the others. One bad field never hides the rest of its thread."""

    def __init__(self, thread_id: str, values: Mapping[str, Any], unreadable: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.unreadable = dict(unreadable)
        names = ", ".join(map(shown, list(self.unreadable)[:5])) + (", ..." if len(self.unreadable) > 5 else "")
        super().__init__(
            f"thread {shown(thread_id)}: {len(self.unreadable)} field(s) cannot be decoded ({names}); the "
            f"{len(self.values)} others are in .values, and .unreadable says why for each"
        )


class CanonicalArgsError(SerializationError):
    """Tool arguments or a model request hold a value with no canonical form, so the call cannot be identified."""


class ValueTooLargeError(AgentCacheError, ValueError):
    """An encoded value is larger than the cache's ``max_value_bytes``."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"encoded value is {size} bytes, over max_value_bytes={limit}; "
            "store less, or raise max_value_bytes when you create the cache"
        )
        self.size = size
        self.limit = limit


class FieldNotFoundError(AgentCacheError, KeyError):
    """The session field does not exist (never set, deleted, or expired)."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the sentence.
        return str(self.args[0]) if self.args else ""


class BackendError(AgentCacheError):
    """The server or the connection failed; ``command`` names what was being sent.

    The client's own exception is chained as ``__cause__``. The next call reconnects.
    ``connection`` is True when the connection failed (the command may or may not have run), False
    when the server answered with an error.
    """

    connection: bool = False

    def __init__(self, commands: Sequence[str], cause: BaseException, hint: str = "") -> None:
        self.command = ", ".join(dict.fromkeys(commands)) or "?"
        said = str(cause)
        self.out_of_memory = type(cause).__name__ == "OutOfMemoryError" or "used memory > 'maxmemory'" in said
        """True when the server refused a write because its used memory is over ``maxmemory``
        (``maxmemory-policy noeviction``): nothing of that write was done, reads still work."""
        if not hint and (type(cause).__name__ == "NoPermissionError" or "no permissions to" in said.lower()):
            hint = ACL_HINT
        self.hint = hint
        super().__init__(f"{self.command} failed: {type(cause).__name__}: {said}{hint}")


ACL_HINT = (
    "; the server's ACL refused it: give the Valkey user the rule of the documentation's 'Least privilege' "
    "page, docs/acl.md (with your prefix as its key pattern)"
)


class CacheClosedError(AgentCacheError):
    """The cache was closed with ``close()``; make a new one to go on."""


class EventLoopError(AgentCacheError, RuntimeError):
    """An AsyncAgentCache that wraps a client you made was called from another event loop than the
    one it was first used on: an asyncio client serves one loop. Build the cache with ``from_url``,
    ``embedded`` or ``in_memory`` (a client per loop), make one cache per loop, or use AgentCache."""


class ServerStartError(AgentCacheError):
    """The bundled Valkey server could not be started; the message carries its log."""


class ConversationError(AgentCacheError):
    """Base of the conversation tier's errors; ``status_code`` is the HTTP status an API would answer."""

    status_code: int = 500


class SessionNotFound(ConversationError, LookupError):  # noqa: N818 - the names the API documents
    """No such conversation: it never existed, was deleted, or its grace period after expiry has passed."""

    status_code = 404


class SessionExpired(ConversationError):  # noqa: N818
    """The conversation timed out; ``expired_at`` (aware datetime, server clock) says when."""

    status_code = 410

    def __init__(self, message: str, expired_at: datetime) -> None:
        super().__init__(message)
        self.expired_at = expired_at


class SessionEnded(SessionExpired):
    """The conversation was ended with ``end()``; ``expired_at`` is when it ended. Also 410 (Gone)."""


class SessionExists(ConversationError):  # noqa: N818
    """``create()`` was given the id of a conversation that is still active."""

    status_code = 409


class RenewalRefused(ConversationError):  # noqa: N818
    """A renewal would take the conversation past its ``max_duration``."""

    status_code = 422


class CompactionConflict(ConversationError):  # noqa: N818 - named like the other conversation errors
    """``compact()`` found the history changed under it (messages popped or cleared, another
    compaction written) every time it tried: nothing was written. Messages appended meanwhile never
    cause this. Call ``compact()`` again once the history settles."""

    status_code = 409


class InvalidTimeoutConfig(ConversationError, InvalidArgumentError):  # noqa: N818
    """A timeout setting is outside the configured limits, or the limits themselves are inconsistent."""

    status_code = 400


class DataLostError(AgentCacheError):
    """Stored data that belongs together is partly gone: evicted by the server under a
    ``maxmemory-policy`` that evicts (``allkeys-*``, ``volatile-*``), or deleted outside agentcache.
    agentcache reports it instead of returning less than was stored; retrying does not bring it
    back. See ``docs/memory.md`` for the policy to run agent state under."""


class HistoryLost(DataLostError, ConversationError):  # noqa: N818 - named like the other conversation errors
    """A live conversation's stored history holds fewer messages than its record counts (its message
    list was evicted or deleted; its record stayed). Reading the history raises this rather than
    return a shorter one; ``info()`` still works and shows ``lost_messages``. ``clear()`` starts the
    history over (and ends the error), ``end()`` or ``delete()`` removes the conversation. 500: the
    server lost data, and retrying does not help."""

    status_code = 500

    def __init__(self, message: str, expected: int, found: int) -> None:
        super().__init__(message)
        self.expected = expected
        """How many messages the conversation's record counts."""
        self.found = found
        """How many are stored."""


class CheckpointsLost(DataLostError):  # noqa: N818
    """Part of a thread's checkpoints is gone (some of its keys were evicted or deleted): checkpoints
    listed in the thread's index without their entries or the other way round, pending writes
    without their values, their index or their checkpoints, or checkpoints that had writes with none
    left. Reading the thread raises this rather than return fewer checkpoints or writes;
    ``delete_thread`` (or ``session.destroy_thread``) clears it. A thread with every key gone reads
    as one never written: nothing is left to tell."""

    def __init__(self, message: str, thread_id: str) -> None:
        super().__init__(message)
        self.thread_id = thread_id


class ModelError(AgentCacheError):
    """A model turn failed: the model call raised, its output did not fit the schema, or it still
    asked for tools at the step limit. Nothing was added to the conversation."""


class SemanticSearchUnavailable(AgentCacheError, NotImplementedError):  # noqa: N818
    """A store search was given a natural-language ``query``: ranking by embeddings needs a semantic
    index, which the store does not have yet. Search with a ``filter`` instead."""


class DecryptionError(AgentCacheError):
    """A stored value cannot be decrypted (``encryption=``): it was sealed under a key that is not in
    the cache's key list, it was changed on the server (tampered, truncated), it was copied from
    another key or thread (each value is bound to where it is stored), or it is plaintext where
    only ciphertext is accepted. Nothing is returned in its place. ``key``: the Valkey key;
    ``key_name``: the encryption key's name the value names (None when it names none)."""

    def __init__(self, message: str, key: str = "", key_name: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.key_name = key_name


class MissingExtraError(AgentCacheError, ModuleNotFoundError):
    """A module of agentcache needs an optional dependency that is not installed: the message names
    the extra to install (``pip install "valkey-agentcache[<extra>]"``)."""


def missing_extra(module: str, extra: str, error: ImportError) -> MissingExtraError:
    """The error for ``module`` when importing its dependency failed with ``error``."""
    needed = error.name or "a dependency"
    found = MissingExtraError(
        f'{module} needs the {extra} extra ({needed} is not installed): pip install "valkey-agentcache[{extra}]"'
    )
    found.name = error.name
    return found
