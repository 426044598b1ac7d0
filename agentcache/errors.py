"""The errors agentcache raises: one family, rooted at :class:`AgentCacheError`.

Every bad input is rejected with one of these before anything is sent to the server.
"""

from __future__ import annotations

from collections.abc import Sequence


class AgentCacheError(Exception):
    """Base class of every error agentcache raises."""


class InvalidNameError(AgentCacheError, ValueError):
    """A thread id, field name or prefix is empty, too long, or not a ``str``."""


class InvalidArgumentError(AgentCacheError, ValueError):
    """An argument or option has a value agentcache cannot use (a negative TTL, a naive datetime, ...)."""


class SerializationError(AgentCacheError, TypeError):
    """A value cannot be encoded (unsupported type) or a stored value cannot be decoded."""


class CanonicalArgsError(SerializationError):
    """Tool arguments hold a value with no canonical form, so the call cannot be identified."""


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
    """

    def __init__(self, commands: Sequence[str], cause: BaseException) -> None:
        self.command = ", ".join(dict.fromkeys(commands)) or "?"
        super().__init__(f"{self.command} failed: {type(cause).__name__}: {cause}")


class ServerStartError(AgentCacheError):
    """The bundled Valkey server could not be started; the message carries its log."""
