"""What every route module of the HTTP API is built with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentcache.facade import AsyncAgentCache
from agentcache.tiers.conversations.messages import to_json_value


@dataclass(frozen=True)
class Api:
    """The cache the routes serve, and the dependencies that check a user or an admin key."""

    cache: AsyncAgentCache
    user: Any  # fastapi.Depends(...) of the user scope
    admin: Any  # and of the admin scope


def json_value(value: Any) -> Any:
    """A stored value as JSON data (bytes tagged, see :func:`to_json_value`)."""
    return to_json_value(value, "value")
