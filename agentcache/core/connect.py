"""Building clients: from a URL (standalone or cluster, detected), or in memory (fakeredis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from agentcache.errors import AgentCacheError, InvalidArgumentError

SCHEMES = ("valkey://", "valkeys://", "redis://", "rediss://", "unix://")


def _check_url(url: object) -> str:
    if not isinstance(url, str) or not url.lower().startswith(SCHEMES):
        raise InvalidArgumentError(f"url must start with one of {', '.join(SCHEMES)}; got {url!r}")
    if not url.lower().startswith("unix://"):
        try:
            path = urlsplit(url).path
        except ValueError as exc:
            raise InvalidArgumentError(f"url {url!r} is malformed: {exc}") from None
        db = path.strip("/")
        if db and not db.isdecimal():
            raise InvalidArgumentError(
                f"url {url!r} names database {db!r}; the path after the address must be a database number "
                "(e.g. valkey://host:6379/0) or nothing"
            )
    return url


class UrlClient(NamedTuple):
    """What a URL gives a facade: a client to start with, and (``promote``) a maker of the cluster
    client to switch to on the first call, once the server is found to run in cluster mode
    (``detect``) or taken to (``cluster=True``). Nothing is sent before the first call."""

    client: Any
    promote: Callable[[], Any] | None
    detect: bool


def url_client(url: str, *, asynchronous: bool, cluster: bool | None, options: dict[str, Any]) -> UrlClient:
    """The clients for ``url`` (see :class:`UrlClient`)."""
    _check_url(url)
    if options.get("decode_responses"):
        raise InvalidArgumentError("agentcache stores bytes: do not pass decode_responses=True")
    if asynchronous:
        from valkey.asyncio import Valkey, ValkeyCluster
    else:
        from valkey import Valkey, ValkeyCluster  # type: ignore[assignment]
    try:
        client = Valkey.from_url(url, **options)  # connects on its first command, not here
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"cannot connect with url {url!r}: {exc}") from exc
    if url.lower().startswith("unix://") or cluster is False:
        return UrlClient(client, None, False)
    if cluster and client.get_connection_kwargs().get("db", 0) not in (0, "0"):
        raise InvalidArgumentError(f"url {url!r} names a database; a Valkey Cluster has only database 0")
    return UrlClient(client, lambda: ValkeyCluster.from_url(url, **options), cluster is None)


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
