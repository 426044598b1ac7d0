"""The store tier: long-term memory shared across threads (what LangGraph calls a store).

Items are dicts in hierarchical namespaces (tuples of labels). Each item is one key with its own
TTL, refreshed by reads that ask; a namespace is one hash tag, so its index, its items and the
script that filters them share one slot on a cluster (``encoding/keys.py``). A registry per first
label lists the namespaces under it, so a search or a listing under a prefix finds its namespaces
with one command, never a SCAN.

Round trips: get 1 (any number in one batch); put or delete 1 (a put that starts a namespace 3: it
then enters the registry); search 1 when nothing lies below its prefix, or when the prefix's own
namespace fills the page, else 1 more per 16-256 namespaces read below it (and per 1000 items
looked at in one namespace), and 1 to refresh what came from those; list_namespaces 2 (3 without a
prefix). One more round trip for a search or a listing without any prefix label. A batch runs its
reads side by side (their round trips shared), then its writes, so its reads see the store as it
was before the batch. Namespaces found dead (their items all expired) cost 2-3 more round trips
once: they leave the registry.

With ``encryption=`` each item's value is sealed (bound to its item key and field ``v``); its
header, its timestamps, its key and its namespace stay readable. The search script then cannot read
the values, so a search with a filter has the server send every item of the namespaces it walks (up
to the page's end, 1000 per call) and this process decrypts and judges them: more bytes on the wire
and more work here than the server-side filter, and the same round trips. A search without a filter
pages on the server as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentcache.core.binding import Bound, E, operation
from agentcache.core.commands import Batch, Command, Operation, Replies, cmd, lua, together
from agentcache.encoding import codec
from agentcache.encoding.expiry import TTL, ttl_ms
from agentcache.encoding.keys import (
    StoreNamespaceKeys,
    check_store_namespace,
    store_key_of,
    store_member,
    store_namespace_keys,
    store_registry,
    store_registry_member,
    store_registry_namespace,
    store_roots,
)
from agentcache.errors import InvalidArgumentError, SerializationError
from agentcache.tiers.settings import Settings
from agentcache.tiers.store.filters import Filter, check_filter
from agentcache.tiers.store.models import (
    GetItem,
    ListNamespaces,
    Namespace,
    PutItem,
    SearchItems,
    StoredItem,
    StoreOp,
    check_conditions,
    check_count,
    check_key,
    check_query,
    check_value,
    literal_prefix,
    matches,
    timestamp,
)

STORE_PUT = lua(__package__, "put", name="store_put", prelude="prelude")
STORE_GET = lua(__package__, "get", name="store_get", prelude="prelude")
STORE_DELETE = lua(__package__, "delete", name="store_delete", prelude="prelude")
STORE_SEARCH = lua(__package__, "search", name="store_search", prelude="prelude")
STORE_TOUCH = lua(__package__, "touch", name="store_touch", prelude="prelude")
STORE_ALIVE = lua(__package__, "alive", name="store_alive", prelude="prelude")
STORE_MARK = lua(__package__, "mark", name="store_mark")

FIRST_CHUNK, LAST_CHUNK = 16, 256  # namespaces read per round trip below a search's prefix (growing)
SEARCH_BUDGET = 1000  # items one search script call looks at, at most (then the next round trip goes on)
REGISTRY_PAGE = 1000  # namespaces read from a registry per round trip


# --- running several operations side by side ---------------------------------------------------


# --- checked operations --------------------------------------------------------------------------


def _keys(s: Settings, namespace: Namespace) -> StoreNamespaceKeys:
    if s.ids is not None:  # Encryption(id_key=...): each label as its keyed hash (the registry keeps the labels)
        namespace = tuple(s.key_id(label, "namespace label") for label in namespace)
    return store_namespace_keys(s.prefix, namespace)


def _registry(s: Settings, root: str) -> str:
    return store_registry(s.prefix, s.key_id(root, "namespace label"))


def _item(s: Settings, namespace: Namespace, member: bytes | str, reply: Sequence[Any]) -> StoredItem:
    key = store_key_of(member)
    raw = reply[0]
    if s.sealer is not None or codec.is_sealed(raw):
        text = member.decode(errors="surrogateescape") if isinstance(member, bytes) else member
        raw = codec.opened(raw, s.sealer, codec.hash_where(_keys(s, namespace).item(text), "v"))
    try:
        value = codec.decode(raw)
    except SerializationError as exc:
        raise SerializationError(f"store item {key!r} of namespace {namespace!r}: {exc}") from exc
    if not isinstance(value, dict):
        raise SerializationError(f"store item {key!r} of namespace {namespace!r} does not hold a dict")
    return StoredItem(namespace, key, value, timestamp(reply[1]), timestamp(reply[2]))


@dataclass(frozen=True, slots=True)
class _Put:
    namespace: Namespace
    key: str
    member: str
    data: bytes | None  # None: remove the item
    ttl_ms: int


def _checked_put(s: Settings, op: PutItem) -> _Put:
    namespace = check_store_namespace(op.namespace)
    key = check_key(op.key)
    member = store_member(key)
    if op.value is None:
        return _Put(namespace, key, member, None, 0)
    ms = 0 if op.ttl is None else ttl_ms(op.ttl)
    data = codec.encode(check_value(op.value), ms, s.max_value_bytes)
    data = codec.seal(data, s.sealer, codec.hash_where(_keys(s, namespace).item(member), "v"))
    return _Put(namespace, key, member, data, ms)


@dataclass(frozen=True, slots=True)
class _Search:
    prefix: Namespace
    filter: Filter
    limit: int
    offset: int
    refresh: bool


def _checked(s: Settings, op: StoreOp) -> Any:
    """The op with its arguments checked (a typed error before anything is sent)."""
    if isinstance(op, GetItem):
        return GetItem(check_store_namespace(op.namespace), check_key(op.key), bool(op.refresh))
    if isinstance(op, PutItem):
        return _checked_put(s, op)
    if isinstance(op, SearchItems):
        check_query(op.query)
        return _Search(
            check_store_namespace(op.namespace_prefix, "namespace_prefix", empty=True),
            check_filter(op.filter),
            check_count(op.limit, "limit"),
            check_count(op.offset, "offset"),
            bool(op.refresh),
        )
    if isinstance(op, ListNamespaces):
        if op.max_depth is not None and (type(op.max_depth) is not int or op.max_depth < 1):
            raise InvalidArgumentError(f"max_depth must be an int >= 1 or None, not {op.max_depth!r}")
        return ListNamespaces(
            check_conditions(op.conditions),
            op.max_depth,
            check_count(op.limit, "limit"),
            check_count(op.offset, "offset"),
        )
    raise InvalidArgumentError(
        f"a store op is GetItem, PutItem, SearchItems or ListNamespaces, not {type(op).__name__}"
    )


# --- reads ---------------------------------------------------------------------------------------


def _get(s: Settings, op: GetItem) -> Operation[StoredItem | None]:
    keys = _keys(s, op.namespace)
    member = store_member(op.key)
    item_key = keys.item(member)
    if op.refresh:
        (reply,) = yield [STORE_GET([*keys.all, item_key])]
    else:
        (reply,) = yield [cmd("HMGET", item_key, "v", "c", "u")]
    if not reply or reply[0] is None:
        return None
    return _item(s, op.namespace, member, reply)


def _range(s: Settings, below: Namespace, after: bytes | None = None) -> Command:
    """Read a page of the registered namespaces equal to ``below`` (one label at least) or under it
    (after ``after``, an exclusive lexical bound): one range of its root's registry."""
    head = store_registry_member(below).encode()
    low = b"[" + head if after is None else after
    key = _registry(s, below[0])
    return cmd("ZRANGEBYLEX", key, low, b"(" + head + b"\x01", "LIMIT", 0, REGISTRY_PAGE)


def _page(reply: Any) -> tuple[list[Namespace], bytes | None]:
    """A registry page as namespaces (in tuple order: the registry's lexical order), and where the
    next page starts (None when this one was the last)."""
    members = list(reply)
    more = b"(" + members[-1] if len(members) >= REGISTRY_PAGE else None
    return [store_registry_namespace(m) for m in members], more


def _next_page(s: Settings, below: Namespace, after: bytes) -> Operation[tuple[list[Namespace], bytes | None]]:
    (reply,) = yield [_range(s, below, after)]
    return _page(reply)


def _names(reply: Any) -> list[Namespace]:
    """A registry's answer as namespaces, in tuple order."""
    return sorted({store_registry_namespace(m) for m in reply})


@dataclass
class _Found:
    """What a registry lookup found: the namespaces, and the roots whose registry was empty."""

    namespaces: list[Namespace]
    empty_roots: list[str]
    along: Replies
    """The replies of the commands that rode along in the lookup's first round trip."""
    more: bytes | None = None
    """Where the next page of the prefix's registry starts, when there is one."""


def _lookup(s: Settings, below: Namespace, along: Batch) -> Operation[_Found]:
    """The registered namespaces equal to ``below`` or under it, in tuple order: one round trip
    (``along`` rides in it) when ``below`` has a label (a page of them: see ``more``), two without
    (the roots, then their registries, whole)."""
    if below:
        replies = yield [_range(s, below), *along]
        namespaces, more = _page(replies[0])
        return _Found(namespaces, [], replies[1:], more)
    replies = yield [cmd("ZRANGE", store_roots(s.prefix), 0, -1), *along]
    roots = sorted(r.decode() for r in replies[0])
    if not roots:
        return _Found([], [], replies[1:])
    registries = yield [cmd("ZRANGE", _registry(s, root), 0, -1) for root in roots]
    found = sorted(ns for reply in registries for ns in _names(reply))
    empty = [root for root, reply in zip(roots, registries, strict=True) if not reply]
    return _Found(found, empty, replies[1:])


@dataclass(frozen=True, slots=True)
class _Read:
    """One search script call: a namespace, from where in it (an insertion number; '' for its
    start), and whether the script gets the page's own offset and limit (and refreshes what it
    returns) or returns every match from there, up to the page's end."""

    namespace: Namespace
    start: str = ""
    paged: bool = False


@dataclass
class _Page:
    """A search's page as it fills: what to skip and take still, and what to refresh afterwards."""

    filter: Filter
    skip: int
    take: int
    refresh: bool
    items: list[StoredItem] = field(default_factory=list)
    touch: dict[Namespace, list[str]] = field(default_factory=dict)
    dead: list[Namespace] = field(default_factory=list)

    def command(self, s: Settings, read: _Read) -> Command:
        f = self.filter
        offset, limit = (self.skip, self.take) if read.paged else (0, self.skip + self.take)
        # sealed values (encryption=) are judged here: the server sends every item, filters none
        judged_here = not f.server_only or (s.sealer is not None and bool(f.whole))
        return STORE_SEARCH(
            _keys(s, read.namespace).all,
            "1" if self.refresh and read.paged else "0",
            offset,
            "" if judged_here else limit,
            read.start,
            SEARCH_BUDGET,
            *([] if s.sealer is not None else f.server),
        )

    def add(self, s: Settings, read: _Read, reply: list[Any]) -> str:
        """Take what a search script answered; returns where to go on in its namespace ('' when
        the script got to the end)."""
        namespace = read.namespace
        exact, dead, matched = int(reply[0]), int(reply[1]), int(reply[2])
        going: str = reply[3].decode()
        if dead:
            self.dead.append(namespace)
        rows = [reply[i : i + 4] for i in range(4, len(reply), 4)]
        if exact and read.paged:  # the script paged (and refreshed, if asked): its rows go in as they are
            found = [_item(s, namespace, row[0], row[1:]) for row in rows]
            self.items += found
            self.skip = max(0, self.skip - matched)
            self.take -= len(found)
            return going
        decoded = [(row, _item(s, namespace, row[0], row[1:])) for row in rows]
        if not exact:  # the server could not judge every condition: this process does
            decoded = [(row, item) for row, item in decoded if self.filter.matches(item.value)]
        picked = decoded[self.skip : self.skip + self.take]
        self.skip = max(0, self.skip - len(decoded))
        self.take -= len(picked)
        self.items += [item for _, item in picked]
        due = [row[0].decode() for row, _ in picked if self.refresh and codec.slide_ms(row[1]) > 0]
        if due:
            self.touch.setdefault(namespace, []).extend(due)
        return going


def _search(s: Settings, op: _Search) -> Operation[list[StoredItem]]:
    if op.limit == 0:
        return []
    page = _Page(op.filter, op.offset, op.limit, op.refresh)
    reads: list[_Read] = []
    if op.prefix:  # the prefix itself comes first in namespace order: read it in the same trip
        reads = [_Read(op.prefix, paged=True)]
    found = yield from _lookup(s, op.prefix, [page.command(s, read) for read in reads])
    registered, more = found.namespaces, found.more
    queue = [_Read(ns) for ns in registered if ns != op.prefix]
    replies, chunk = found.along, FIRST_CHUNK
    while True:
        for i, (read, reply) in enumerate(zip(reads, replies, strict=True)):
            if page.take <= 0:
                if int(reply[1]):
                    page.dead.append(read.namespace)
                continue
            going = page.add(s, read, reply)
            if going and page.take > 0:  # the rest of this namespace comes before those after it
                queue[:0] = [_Read(read.namespace, going, read.paged), *reads[i + 1 :]]
                break
        if page.take > 0 and not queue and more is not None:  # the registry's next page
            names, more = yield from _next_page(s, op.prefix, more)
            registered += names
            queue = [_Read(ns) for ns in names if ns != op.prefix]
        if page.take <= 0 or not queue:
            break
        reads, queue = queue[:chunk], queue[chunk:]
        chunk = min(chunk * 4, LAST_CHUNK)
        replies = yield [page.command(s, read) for read in reads]
    if page.touch:
        yield [STORE_TOUCH(_keys(s, ns).all, *members) for ns, members in page.touch.items()]
    listed = set(registered)  # (the prefix may be no namespace at all: then it is not pruned)
    yield from _prune(s, [ns for ns in page.dead if ns in listed], found.empty_roots)
    return page.items


def _list(s: Settings, op: ListNamespaces) -> Operation[list[Namespace]]:
    if op.limit == 0:
        return []
    below = literal_prefix(op.conditions)
    found = yield from _lookup(s, below, [])
    candidates = [ns for ns in found.namespaces if matches(op.conditions, ns)]
    more = found.more
    depth = op.max_depth
    want = op.offset + op.limit
    listed: list[Namespace] = []  # distinct (cut) namespaces with a live item, in order
    dead: list[Namespace] = []
    at, chunk = 0, FIRST_CHUNK
    while len(listed) < want:
        if at >= len(candidates):
            if more is None:
                break
            names, more = yield from _next_page(s, below, more)  # the registry's next page
            candidates += [ns for ns in names if matches(op.conditions, ns)]
            continue
        now: list[Namespace] = []
        while at < len(candidates) and len(now) < chunk:
            ns = candidates[at]
            at += 1
            if not listed or listed[-1] != ns[:depth]:
                now.append(ns)
        chunk = min(chunk * 4, LAST_CHUNK)
        if not now:  # (every candidate left was in a namespace listed already)
            continue
        alive = yield [STORE_ALIVE(_keys(s, ns).all) for ns in now]
        for ns, live in zip(now, alive, strict=True):
            cut = ns[:depth]
            if not int(live):
                dead.append(ns)
            elif not listed or listed[-1] != cut:
                listed.append(cut)
    yield from _prune(s, dead, found.empty_roots)
    return listed[op.offset : want]


def _prune(s: Settings, dead: Iterable[Namespace], empty_roots: Sequence[str] = ()) -> Operation[None]:
    """Take namespaces found dead out of their registries, and roots whose registry was empty out
    of the roots. A put may bring one back meanwhile: each is checked again after it left, and
    registered again if it lives (the put registers it too; see :func:`_register` for the order that
    makes this safe)."""
    gone = sorted(set(dead))
    if not gone and not empty_roots:
        return
    by_root: dict[str, list[str]] = {}
    for ns in gone:
        by_root.setdefault(ns[0], []).append(store_registry_member(ns))
    batch = [cmd("ZREM", _registry(s, root), *members) for root, members in by_root.items()]
    if empty_roots:
        batch.append(cmd("ZREM", store_roots(s.prefix), *empty_roots))
    yield batch
    again = yield [
        *(STORE_ALIVE(_keys(s, ns).all) for ns in gone),
        *(cmd("ZRANGE", _registry(s, root), 0, 0) for root in empty_roots),
    ]
    back = [ns for ns, live in zip(gone, again, strict=False) if int(live)]
    roots = [root for root, first in zip(empty_roots, again[len(gone) :], strict=True) if first]
    if back:
        yield from _register(s, back)
    if roots:
        yield [cmd("ZADD", store_roots(s.prefix), *(x for root in roots for x in (0, root)))]


# --- writes --------------------------------------------------------------------------------------


def _register(s: Settings, namespaces: Sequence[Namespace]) -> Operation[None]:
    """Enter namespaces in their root's registry; then their roots in the roots, and in each
    namespace the note that it is registered. In that order: a namespace noted as registered
    always is, so a put that finds the note skips this; and a registry that a root's pruning found
    empty has either stayed empty or is seen again by its second look."""
    yield [cmd("ZADD", _registry(s, ns[0]), 0, store_registry_member(ns)) for ns in namespaces]
    roots = sorted({ns[0] for ns in namespaces})
    yield [
        cmd("ZADD", store_roots(s.prefix), *(x for root in roots for x in (0, root))),
        *(STORE_MARK([_keys(s, ns).meta]) for ns in namespaces),
    ]


def _puts(s: Settings, puts: Sequence[_Put]) -> Operation[list[bool]]:
    """Store and remove items; returns, per op, whether a removed item was there (True for stores)."""
    if not puts:
        return []
    batch: Batch = []
    for p in puts:
        keys = _keys(s, p.namespace)
        item_key = keys.item(p.member)
        if p.data is None:
            batch.append(STORE_DELETE([*keys.all, item_key], p.member))
        else:
            batch.append(STORE_PUT([*keys.all, item_key], p.member, p.data, p.ttl_ms))
    replies = yield batch
    new = sorted({p.namespace for p, r in zip(puts, replies, strict=True) if p.data is not None and not int(r)})
    if new:
        yield from _register(s, new)
    return [p.data is not None or bool(int(r)) for p, r in zip(puts, replies, strict=True)]


# --- the operations --------------------------------------------------------------------------------


def batch(s: Settings, ops: Iterable[StoreOp]) -> Operation[list[Any]]:
    """Run store ops (:class:`GetItem`, :class:`PutItem`, :class:`SearchItems`,
    :class:`ListNamespaces`) and return one result per op, in order: an item or None, None, a list
    of items, a list of namespaces. The reads run side by side and see the store as it was before
    the batch; then the writes, of which the last one per item counts. Every op is checked before
    anything is sent."""
    if isinstance(ops, StoreOp):
        raise InvalidArgumentError("batch takes a list of store ops")
    checked = [_checked(s, op) for op in ops]
    reads: list[tuple[int, Operation[Any]]] = []
    writes: dict[tuple[Namespace, str], _Put] = {}
    for i, op in enumerate(checked):
        if isinstance(op, GetItem):
            reads.append((i, _get(s, op)))
        elif isinstance(op, _Search):
            reads.append((i, _search(s, op)))
        elif isinstance(op, ListNamespaces):
            reads.append((i, _list(s, op)))
        else:
            writes[(op.namespace, op.key)] = op
    results: list[Any] = [None] * len(checked)
    if len(reads) == 1:
        results[reads[0][0]] = yield from reads[0][1]
    elif reads:
        done = yield from together([read for _, read in reads])
        for (i, _), result in zip(reads, done, strict=True):
            results[i] = result
    yield from _puts(s, list(writes.values()))
    return results


def get(s: Settings, namespace: Namespace, key: str, *, refresh: bool = True) -> Operation[StoredItem | None]:
    """The item ``key`` of ``namespace``, or None. ``refresh`` sets its TTL again (if it has one)
    and the namespace's with it. One round trip."""
    op = _checked(s, GetItem(namespace, key, refresh))
    return (yield from _get(s, op))


def put(
    s: Settings, namespace: Namespace, key: str, value: Mapping[str, Any], *, ttl: TTL | None = None
) -> Operation[None]:
    """Store ``value`` (a dict) as the item ``key`` of ``namespace``, replacing one there (which
    keeps its creation time and its place in the namespace's order). ``ttl``: seconds or a
    timedelta, refreshed by reads that ask; None: the item never expires. One round trip (three
    for the first item of a namespace, which then enters the registry)."""
    if value is None:
        raise InvalidArgumentError("put needs a dict value; to remove an item call delete()")
    yield from _puts(s, [_checked_put(s, PutItem(namespace, key, value, ttl))])


def delete(s: Settings, namespace: Namespace, key: str) -> Operation[bool]:
    """Remove the item ``key`` of ``namespace``; returns whether it was there. One round trip."""
    (removed,) = yield from _puts(s, [_checked_put(s, PutItem(namespace, key, None))])
    return removed


def search(
    s: Settings,
    namespace_prefix: Namespace = (),
    *,
    filter: Mapping[str, Any] | None = None,
    limit: int = 10,
    offset: int = 0,
    refresh: bool = True,
    query: str | None = None,
) -> Operation[list[StoredItem]]:
    """Items of ``namespace_prefix`` and of every namespace under it whose value passes ``filter``,
    in namespace order and then in the order they were first stored: the page ``[offset, offset +
    limit)``. ``refresh`` sets the TTLs of those returned again. ``query`` (semantic search) raises
    :class:`~agentcache.errors.SemanticSearchUnavailable`. See the module for round trips."""
    op = _checked(s, SearchItems(namespace_prefix, filter, limit, offset, refresh, query))
    return (yield from _search(s, op))


def list_namespaces(
    s: Settings,
    *,
    prefix: Namespace | None = None,
    suffix: Namespace | None = None,
    max_depth: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Operation[list[Namespace]]:
    """Namespaces that have items, in tuple order: those starting with ``prefix`` and ending with
    ``suffix`` (``"*"`` matches any one label), cut to ``max_depth`` labels without repeats, the
    page ``[offset, offset + limit)``. Two round trips (more past a few hundred namespaces)."""
    conditions: list[tuple[Any, Namespace]] = []
    if prefix:
        conditions.append(("prefix", prefix))
    if suffix:
        conditions.append(("suffix", suffix))
    op = _checked(s, ListNamespaces(tuple(conditions), max_depth, limit, offset))
    return (yield from _list(s, op))


class StoreTier(Bound[E]):
    """``cache.store``: long-term memory across threads: dict items in namespaces, each with its
    own TTL, searched by filters the server applies (this process, with ``encryption=``; LangGraph's store,
    ``agentcache.integrations.langgraph_store``, works through this)."""

    TIER = "store"

    get = operation(get, reads=True)
    put = operation(put)
    delete = operation(delete)
    search = operation(search, reads=True)
    list_namespaces = operation(list_namespaces, reads=True)
    batch = operation(batch)
