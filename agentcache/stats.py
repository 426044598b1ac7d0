"""Hit, miss and write statistics, shared by every process without costing a round trip.

Each cache counts in process memory and ships its counts as HINCRBY commands appended to a batch
that is being sent anyway, at most once per ``FLUSH_SECONDS``; :func:`stats` and closing the
cache ship what is left. All processes add into one hash, ``<prefix>:stats``, whose fields are
``<tier>/<metric>`` and, per tool or model, ``tool/<metric>/<tool name>`` and ``llm/<metric>/<model>``.
Counts of a process that dies without closing its cache are lost for at most the last ``FLUSH_SECONDS``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from agentcache.core.commands import Command, Operation, cmd
from agentcache.core.near import NearStats
from agentcache.core.observe import count_lookup

FLUSH_SECONDS = 1.0
MIN_LOOKUPS = 20  # fewer lookups than this give no recommendation


class Recommendation(StrEnum):
    """What a tool's hit rate suggests doing with its TTL."""

    RAISE_TTL = "raise_ttl"  # hit rate >= 80%: results are reused; keeping them longer saves more
    KEEP = "keep"  # 40% to 80%
    LOWER_TTL_OR_STOP = "lower_ttl_or_stop"  # under 40%: most results are never reused
    NOT_ENOUGH_DATA = "not_enough_data"  # fewer than MIN_LOOKUPS lookups so far


@dataclass(frozen=True, slots=True)
class TierStats:
    """Counts of one tier, summed over every process."""

    hits: int = 0
    misses: int = 0
    writes: int = 0

    @property
    def lookups(self) -> int:
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float | None:
        """Hits over lookups; None before the first lookup."""
        return self.hits / self.lookups if self.lookups else None


@dataclass(frozen=True, slots=True)
class ToolStats(TierStats):
    """Counts of one tool, the cost its hits saved (from ``cost=`` on store), and a recommendation."""

    cost_saved: float = 0.0

    @property
    def recommendation(self) -> Recommendation:
        rate = self.hit_rate
        if rate is None or self.lookups < MIN_LOOKUPS:
            return Recommendation.NOT_ENOUGH_DATA
        if rate >= 0.8:
            return Recommendation.RAISE_TTL
        return Recommendation.KEEP if rate >= 0.4 else Recommendation.LOWER_TTL_OR_STOP


@dataclass(frozen=True, slots=True)
class ModelStats(TierStats):
    """Counts of one model's cached responses, and what their hits saved: tokens (from the stored
    responses' usage) and cost (by the cache's ``llm_prices``)."""

    cost_saved: float = 0.0
    input_tokens_saved: int = 0
    output_tokens_saved: int = 0


@dataclass(frozen=True, slots=True)
class SemanticStats(TierStats):
    """Counts of the semantic tier (all models, or one): ``uncertain`` lookups found their best match
    in the band below the threshold (served only if a judge accepted it: then counted as hits too);
    ``similarity`` counts the best match's similarity of every lookup that found one, by its lower
    bound rounded down to 0.01; ``cost_saved`` by the cache's ``llm_prices``; ``refused``: lookups
    whose candidates the guard refused (misses too)."""

    uncertain: int = 0
    refused: int = 0
    cost_saved: float = 0.0
    similarity: dict[float, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CacheStats:
    """``cache.stats()``: per tier, per tool and per model."""

    session: TierStats
    tool: TierStats
    tools: dict[str, ToolStats] = field(default_factory=dict)
    llm: TierStats = field(default_factory=TierStats)
    models: dict[str, ModelStats] = field(default_factory=dict)
    semantic: SemanticStats = field(default_factory=SemanticStats)
    semantic_models: dict[str, SemanticStats] = field(default_factory=dict)
    near: NearStats | None = None
    """This process's near cache (``near_cache=``): local hits and misses, reports, flushes; None without one."""


class StatsBuffer:
    """One cache's counts not yet shipped to the server. Thread-safe, and exact under threads.

    A count is appended to a deque without a lock (one ``append`` or ``extend`` of a tuple is
    atomic: no Python code runs inside it), and taken off it only by ``popleft`` (each item by
    exactly one taker), so no count is lost or counted twice. Items are a field name (one count)
    or a ``(name, amount)`` pair. The lock is held only to fold the deque into the totals: when it
    grows past :data:`FOLD_AT` items (memory stays bounded whatever ``flush_seconds``) and on drain.
    """

    def __init__(self, key: str, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.key = key
        self.flush_seconds = flush_seconds
        self._counts: dict[str, float] = {}  # folded totals, under the lock
        self._pending: deque[str | tuple[str, float]] = deque()  # counts not folded yet, lock-free
        self._since: float | None = None  # when the oldest unshipped count was made
        self._lock = threading.Lock()

    def _added(self) -> None:
        """After an append: start the flush clock, fold a long deque."""
        if self._since is None:
            self._since = time.monotonic()
        if len(self._pending) > FOLD_AT:
            with self._lock:
                self._fold()

    def _fold(self) -> None:
        """Move every pending count into the totals (the lock held)."""
        counts, take = self._counts, self._pending.popleft
        while True:
            try:
                item = take()
            except IndexError:
                return
            if isinstance(item, str):
                counts[item] = counts.get(item, 0) + 1
            else:
                name, amount = item
                counts[name] = counts.get(name, 0) + amount

    def count(self, *fields: str, amount: float = 1) -> None:
        self._pending.extend(fields if amount == 1 and type(amount) is int else [(f, amount) for f in fields])
        self._added()

    def lookup(self, tier: str, hit: bool) -> None:
        count_lookup(hit)
        self._pending.append(_LOOKUP_FIELDS[tier, hit])  # count() inlined: this runs on every session get
        if self._since is None or len(self._pending) > FOLD_AT:
            self._added()

    def tool_lookup(self, tool: str, hit: bool, cost: float | None = None) -> None:
        count_lookup(hit)
        metric = "hits" if hit else "misses"
        if hit and cost:  # count() inlined: this runs on every check
            self._pending.extend((f"tool/{metric}", f"tool/{metric}/{tool}", ("tool/cost_saved/" + tool, cost)))
        else:
            self._pending.extend((f"tool/{metric}", f"tool/{metric}/{tool}"))
        if self._since is None or len(self._pending) > FOLD_AT:
            self._added()

    def llm_lookup(self, model: str, hit: bool, cost: float | None, input_tokens: int, output_tokens: int) -> None:
        count_lookup(hit)
        metric = "hits" if hit else "misses"
        items: list[str | tuple[str, float]] = [f"llm/{metric}", f"llm/{metric}/{model}"]
        if hit:
            for name, amount in (
                ("llm/cost_saved/", cost),
                ("llm/input_tokens_saved/", input_tokens),
                ("llm/output_tokens_saved/", output_tokens),
            ):
                if amount:
                    items.append((name + model, amount))
        self._pending.extend(items)
        self._added()

    def semantic_lookup(
        self, model: str, hit: bool, uncertain: bool, similarity: float | None, cost: float | None
    ) -> None:
        metric = "hits" if hit else "misses"
        items: list[str | tuple[str, float]] = [f"semantic/{metric}", f"semantic/{metric}/{model}"]
        if uncertain:
            items += ["semantic/uncertain", f"semantic/uncertain/{model}"]
        if similarity is not None:
            items.append(f"semantic/similarity/{max(0.0, similarity) * 100 // 1 / 100:.2f}")
        if hit and cost:
            items += [("semantic/cost_saved", cost), ("semantic/cost_saved/" + model, cost)]
        self._pending.extend(items)
        self._added()

    def due(self) -> list[Command]:
        """The commands that ship the counts if they have waited long enough, else nothing."""
        since = self._since
        if since is None or time.monotonic() - since < self.flush_seconds:
            return []
        return self.drain()

    def drain(self) -> list[Command]:
        """The commands that ship every count now (the counts are gone from the buffer)."""
        with self._lock:
            # the clock first: a count appended after the fold below finds it unset and starts it again
            self._since = None
            self._fold()
            counts, self._counts = self._counts, {}
        return [  # optional: a failing count must not fail the operation it rides with
            cmd("HINCRBY", self.key, name, amount, optional=True)
            if isinstance(amount, int)
            else cmd("HINCRBYFLOAT", self.key, name, repr(amount), optional=True)
            for name, amount in counts.items()
        ]


FOLD_AT = 4096
"""Pending counts past which the deque is folded into the totals (under the lock)."""


_LOOKUP_FIELDS = {
    (tier, hit): f"{tier}/{'hits' if hit else 'misses'}" for tier in ("session", "tool") for hit in (True, False)
}
_METRICS = frozenset(("hits", "misses", "writes", "cost_saved", "input_tokens_saved", "output_tokens_saved"))


_TIER_METRICS = frozenset(("hits", "misses", "writes"))


def _number(raw: bytes) -> float:
    number = float(raw)
    return int(number) if number.is_integer() else number


def parse(raw: dict[Any, Any]) -> CacheStats:
    """The :class:`CacheStats` in a reply to HGETALL of the stats hash."""
    tiers: dict[str, dict[str, Any]] = {"session": {}, "tool": {}, "llm": {}}
    named: dict[str, dict[str, dict[str, Any]]] = {"tool": {}, "llm": {}}
    semantic: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        parts = (name.decode() if isinstance(name, bytes) else name).split("/", 2)
        if parts[0] == "semantic":
            _semantic_count(semantic, parts, value)
            continue
        if parts[1:2] and parts[1] not in _METRICS:
            continue  # written by a newer version: not ours to read
        if len(parts) == 2 and parts[0] in tiers and parts[1] in _TIER_METRICS:
            tiers[parts[0]][parts[1]] = int(_number(value))
        elif len(parts) == 3 and parts[0] in named and (parts[0] == "llm" or "tokens" not in parts[1]):
            number = _number(value)
            named[parts[0]].setdefault(parts[2], {})[parts[1]] = number if parts[1] == "cost_saved" else int(number)
    return CacheStats(
        session=TierStats(**tiers["session"]),
        tool=TierStats(**tiers["tool"]),
        tools={name: ToolStats(**counts) for name, counts in sorted(named["tool"].items())},
        llm=TierStats(**tiers["llm"]),
        models={name: ModelStats(**counts) for name, counts in sorted(named["llm"].items())},
        semantic=SemanticStats(**semantic.pop("", {})),
        semantic_models={name: SemanticStats(**counts) for name, counts in sorted(semantic.items())},
    )


_SEMANTIC_METRICS = frozenset(("hits", "misses", "writes", "uncertain", "refused", "cost_saved"))


def _semantic_count(into: dict[str, dict[str, Any]], parts: list[str], value: bytes) -> None:
    """Fold one ``semantic/...`` field of the stats hash into ``into`` (model, or "" for all)."""
    if len(parts) == 3 and parts[1] == "similarity":
        try:
            bucket = float(parts[2])
        except ValueError:
            return
        into.setdefault("", {}).setdefault("similarity", {})[bucket] = int(_number(value))
    elif len(parts) in (2, 3) and parts[1] in _SEMANTIC_METRICS:
        number = _number(value)
        model = parts[2] if len(parts) == 3 else ""
        into.setdefault(model, {})[parts[1]] = number if parts[1] == "cost_saved" else int(number)


@dataclass(frozen=True, slots=True)
class NodeMemory:
    """One server's memory (a cluster's primary each), from ``INFO memory``: what ``agentcache
    stats`` shows, and what decides whether agent state can be evicted (see ``docs/memory.md``)."""

    node: str
    used: int
    """``used_memory``, bytes."""
    maximum: int
    """``maxmemory``, bytes; 0: no limit (the server grows until the machine runs out)."""
    policy: str
    """``maxmemory-policy``."""

    @property
    def evicts_conversations(self) -> bool:
        """Whether the server may evict a conversation's keys to make room: any policy but
        ``noeviction`` once ``maxmemory`` is set. ``volatile-*`` too, since a conversation's keys
        always have an expiry (its deadline plus the grace period)."""
        return self.maximum > 0 and self.policy != "noeviction"


def node_memory(node: str, info: dict[str, Any]) -> NodeMemory:
    """The :class:`NodeMemory` in a reply to ``INFO memory``."""
    return NodeMemory(
        node, int(info.get("used_memory", 0)), int(info.get("maxmemory", 0)), str(info.get("maxmemory_policy", "?"))
    )


def memory_warning(nodes: list[NodeMemory]) -> str | None:
    """What to warn an operator of about these servers' memory, or None: a policy that can evict
    conversations, else a server close to its ``maxmemory`` (under noeviction it then refuses writes)."""
    evicting = sorted({n.policy for n in nodes if n.evicts_conversations})
    if evicting:
        return (
            f"maxmemory-policy {', '.join(evicting)} can evict conversations, session state and checkpoints "
            "when memory is full (reads then raise HistoryLost / CheckpointsLost, or find nothing): run agent "
            "state under noeviction (docs/memory.md)"
        )
    full = [n for n in nodes if n.maximum and n.used >= 0.9 * n.maximum]
    if full:
        return (
            f"{full[0].node} uses {full[0].used / full[0].maximum:.0%} of maxmemory: past 100% the server refuses "
            "writes (reads and deletes go on); free memory or raise maxmemory (docs/memory.md)"
        )
    return None


class WithStats(Protocol):
    """What the statistics operations need of a cache's settings: its buffer of counts."""

    @property
    def stats(self) -> StatsBuffer: ...


def stats(s: WithStats) -> Operation[CacheStats]:
    """Hits, misses, writes and hit rate per tier; per tool also cost saved and a recommendation.

    Summed over every process using this prefix. Ships this cache's own pending counts first, in
    the same round trip.
    """
    replies = yield [*s.stats.drain(), cmd("HGETALL", s.stats.key)]
    shared = parse(replies[-1])
    near = getattr(s, "near", None)
    return shared if near is None else dataclasses.replace(shared, near=near.stats())


def reset_stats(s: WithStats) -> Operation[None]:
    """Set every count back to zero, for every process using this prefix."""
    s.stats.drain()
    yield [cmd("UNLINK", s.stats.key)]
