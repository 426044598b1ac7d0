"""Building clients: from a URL (standalone or cluster, detected), or in memory (fakeredis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import AgentCacheError, InvalidArgumentError

SCHEMES = ("valkey://", "valkeys://", "redis://", "rediss://", "unix://")


def _check_url(url: object) -> str:
    if not isinstance(url, str) or not url.lower().startswith(SCHEMES):
        raise InvalidArgumentError(f"url must start with one of {', '.join(SCHEMES)}; got {url!r}")
    return url


def url_client(
    url: str, *, asynchronous: bool, cluster: bool | None, options: dict[str, Any]
) -> tuple[Any, Callable[[], Any] | None]:
    """A client for ``url``, and (when ``cluster`` is None) a maker of the cluster client to switch to
    if the server turns out to run in cluster mode; the check happens on the first call."""
    _check_url(url)
    if options.get("decode_responses"):
        raise InvalidArgumentError("agentcache stores bytes: do not pass decode_responses=True")
    if asynchronous:
        from valkey.asyncio import Valkey, ValkeyCluster
    else:
        from valkey import Valkey, ValkeyCluster  # type: ignore[assignment]
    try:
        if cluster:
            return ValkeyCluster.from_url(url, **options), None
        client = Valkey.from_url(url, **options)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"cannot connect with url {url!r}: {exc}") from exc
    if cluster is None and not url.lower().startswith("unix://"):
        return client, lambda: ValkeyCluster.from_url(url, **options)
    return client, None


def memory_client(*, asynchronous: bool) -> Any:
    """A fresh in-memory fakeredis server with Lua scripting."""
    try:
        import fakeredis
        import lupa  # noqa: F401  (fakeredis runs scripts with it)
    except ImportError:
        raise AgentCacheError(
            'the in-memory backend needs the memory extra: pip install "valkey-agentcache[memory]"'
        ) from None
    server = fakeredis.FakeServer()
    return fakeredis.FakeAsyncValkey(server=server) if asynchronous else fakeredis.FakeValkey(server=server)
