"""Building clients: from a URL (standalone or cluster, detected), or in memory (fakeredis)."""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from agentcache.core.commands import lua, without_shebang
from agentcache.errors import InvalidArgumentError, missing_extra, unknown_names

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


@functools.cache
def client_option_names() -> frozenset[str]:
    """Every keyword the valkey-py clients, pools and connections (sync and asyncio) accept."""
    import valkey
    import valkey.asyncio as aio
    from valkey import connection as sync_conn
    from valkey.asyncio import connection as aio_conn

    takers: list[Any] = [valkey.Valkey, valkey.ValkeyCluster, aio.Valkey, aio.ValkeyCluster]
    for module in (sync_conn, aio_conn):
        takers += [module.AbstractConnection, module.Connection, module.SSLConnection]
        takers += [module.UnixDomainSocketConnection, module.ConnectionPool]
    names = {
        name
        for taker in takers
        for name, parameter in inspect.signature(taker.__init__).parameters.items()
        if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL) and name != "self"
    }
    return frozenset(names)


def check_client_options(options: Iterable[str], cache_options: Iterable[str]) -> None:
    """Refuse a keyword that is neither a cache option nor one the client takes (a misspelt
    ``sesion_ttl`` would otherwise reach the first connection as a raw TypeError)."""
    known = client_option_names()
    ours = sorted(cache_options)
    unknown = [name for name in options if name not in known]
    if not unknown:
        return
    raise InvalidArgumentError(
        f"unknown option(s) {unknown_names(unknown, [*ours, *sorted(known)])}: the cache's options are "
        f"{', '.join(ours)}; "
        "any other keyword must be one the valkey-py client takes (e.g. socket_timeout, ssl_ca_certs)"
    )


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


def memory_client(*, asynchronous: bool, like: Any = None) -> Any:
    """A fresh in-memory fakeredis server with Lua scripting (``like``: another client of the
    server of that client, for another event loop)."""
    try:
        import fakeredis
        import lupa  # noqa: F401  (fakeredis runs scripts with it)
    except ImportError as exc:
        raise missing_extra("the in-memory backend", "memory", exc) from None
    server = fakeredis.FakeServer() if like is None else like.connection_pool.connection_kwargs["server"]
    client = fakeredis.FakeAsyncValkey(server=server) if asynchronous else fakeredis.FakeValkey(server=server)
    pool = client.connection_pool
    pool.connection_class = _reading_flags_as_comments(pool.connection_class)
    return client


_PLAIN_SHA: dict[str, str] = {}
"""SHA1 of a script with its flags line -> SHA1 of the body the in-memory backend was sent instead."""


def _plain(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A command as the in-memory backend can run it. fakeredis's Lua cannot parse a script's
    flags line (``#!lua flags=...``), so a script body goes with that line turned into a comment,
    and a call by the SHA of the body with the flags line goes by the SHA of what was sent."""
    name = (args[0].decode() if isinstance(args[0], bytes) else str(args[0])).upper()
    if name == "SCRIPT" and len(args) > 2:  # SCRIPT LOAD <body> as separate words
        return (args[0], *_plain(args[1:]))
    if name in ("EVAL", "LOAD", "SCRIPT LOAD") and len(args) > 1:
        body = args[1] if isinstance(args[1], str) else bytes(args[1]).decode()
        if body.startswith("#!"):
            plain = without_shebang(body)
            _PLAIN_SHA[hashlib.sha1(body.encode()).hexdigest()] = hashlib.sha1(plain.encode()).hexdigest()
            return (args[0], plain, *args[2:])
    elif name == "EVALSHA" and len(args) > 1:
        sha = args[1].decode() if isinstance(args[1], bytes) else str(args[1])
        if sha in _PLAIN_SHA:
            return (args[0], _PLAIN_SHA[sha], *args[2:])
    elif name == "GETEX" and len(args) == 4 and str(args[2]).upper() == "PX":  # fakeredis: PX in whole seconds
        return ("EVAL", without_shebang(GETEX_PX.source), 1, args[1], args[3])
    return args


GETEX_PX = lua(__package__, "getex_px")


def _reading_flags_as_comments(base: Any) -> Any:
    """A subclass of the fakeredis connection class ``base`` that sends every command :func:`_plain`.
    The one Lua source serves both backends: the server reads the flags, fakeredis skips them."""

    class PlainScripts(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            packer = getattr(self, "_command_packer", None)  # what the sync connection packs with
            if packer is not None:
                self._command_packer = _PlainPacker(packer)

        def pack_command(self, *args: Any) -> Any:  # what the asyncio connection packs with
            return super().pack_command(*_plain(args))

    return PlainScripts


class _PlainPacker:
    def __init__(self, packer: Any) -> None:
        self._packer = packer

    def pack(self, *args: Any) -> Any:
        return self._packer.pack(*_plain(args))
