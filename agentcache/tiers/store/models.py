"""What the store tier takes and gives: items, and the four kinds of operation a batch holds
(``GetItem``, ``PutItem``, ``SearchItems``, ``ListNamespaces``), checked before anything is sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from agentcache.encoding.expiry import TTL
from agentcache.encoding.keys import check_store_namespace
from agentcache.errors import InvalidArgumentError, SemanticSearchUnavailable, shown

Namespace = tuple[str, ...]
MatchType = Literal["prefix", "suffix"]
WILDCARD = "*"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StoredItem:
    """One item of the store: its value, where it lives, and when it was created and last written
    (the server's clock, UTC)."""

    namespace: Namespace
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class GetItem:
    """Read the item ``key`` of ``namespace``; ``refresh`` sets its TTL again (if it has one)."""

    namespace: Namespace
    key: str
    refresh: bool = True


@dataclass(frozen=True, slots=True)
class PutItem:
    """Store ``value`` (a dict) as the item ``key`` of ``namespace``, or remove the item with
    ``value=None``. ``ttl``: seconds or a timedelta (refreshed by reads that ask), None: never expires."""

    namespace: Namespace
    key: str
    value: Mapping[str, Any] | None
    ttl: TTL | None = None


@dataclass(frozen=True, slots=True)
class SearchItems:
    """The items of ``namespace_prefix`` and every namespace below it whose value passes ``filter``
    (see ``store/filters.py``), in namespace order and then in the order they were first stored, the
    page ``[offset, offset + limit)``; ``refresh`` sets the TTLs of those returned again.
    ``query`` (semantic search) needs an index of embeddings, which the store does not have."""

    namespace_prefix: Namespace = ()
    filter: Mapping[str, Any] | None = None
    limit: int = 10
    offset: int = 0
    refresh: bool = True
    query: str | None = None


@dataclass(frozen=True, slots=True)
class ListNamespaces:
    """Namespaces that have items, in tuple order, matching every condition (``("prefix", path)``
    or ``("suffix", path)``, ``"*"`` matching any one label), cut to ``max_depth`` labels (and
    then without repeats), the page ``[offset, offset + limit)``."""

    conditions: tuple[tuple[MatchType, Namespace], ...] = field(default_factory=tuple)
    max_depth: int | None = None
    limit: int = 100
    offset: int = 0


StoreOp = GetItem | PutItem | SearchItems | ListNamespaces


def check_count(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise InvalidArgumentError(f"{what} must be an int >= 0, not {shown(value)}")
    return value


def check_key(key: object) -> str:
    if not isinstance(key, str):
        raise InvalidArgumentError(f"key must be a str, not {type(key).__name__}")
    return key


def check_value(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"an item's value must be a dict, not {type(value).__name__}")
    return dict(value)


def check_query(query: object) -> None:
    if query is not None and query != "":  # LangGraph treats an empty query as none
        raise SemanticSearchUnavailable(
            "search(query=...) ranks items by the similarity of their embeddings, which needs a "
            "semantic index of embeddings: agentcache's store has none yet (it comes with the semantic "
            "cache, which has not landed). Search with filter=... instead, or leave query out"
        )


def check_conditions(conditions: object) -> tuple[tuple[MatchType, Namespace], ...]:
    if isinstance(conditions, str) or not isinstance(conditions, tuple | list):
        raise InvalidArgumentError("conditions must be a tuple of (match type, path) pairs")
    out: list[tuple[MatchType, Namespace]] = []
    for condition in conditions:
        if not (isinstance(condition, tuple | list) and len(condition) == 2):
            raise InvalidArgumentError(f"a condition is a (match type, path) pair, not {shown(condition)}")
        kind, path = condition
        if kind not in ("prefix", "suffix"):
            raise InvalidArgumentError(f'a condition\'s match type is "prefix" or "suffix", not {shown(kind)}')
        out.append((kind, check_store_namespace(path, f"{kind} path", empty=True)))
    return tuple(out)


def matches(conditions: tuple[tuple[MatchType, Namespace], ...], namespace: Namespace) -> bool:
    """Whether ``namespace`` meets every condition ("*" stands for any one label)."""
    for kind, path in conditions:
        if len(namespace) < len(path):
            return False
        part = namespace[: len(path)] if kind == "prefix" else namespace[len(namespace) - len(path) :]
        if any(p != WILDCARD and n != p for n, p in zip(part, path, strict=True)):
            return False
    return True


def literal_prefix(conditions: tuple[tuple[MatchType, Namespace], ...]) -> Namespace:
    """The longest run of labels before a wildcard at the start of a prefix condition: every
    namespace that matches lies below it."""
    best: Namespace = ()
    for kind, path in conditions:
        if kind == "prefix":
            run = path[: path.index(WILDCARD)] if WILDCARD in path else path
            if len(run) > len(best):
                best = run
    return best


def timestamp(micros: bytes | str | None) -> datetime:
    """A stored time (microseconds since the epoch, the server's clock) as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=int(micros or 0))
