"""Measure an embedder on labelled prompt pairs and choose its threshold (pure Python).

A pair is two prompts and whether a cache should serve one's answer for the other (``should_hit``).
:func:`similarities` embeds every prompt once (one batch) and returns each pair's cosine;
:func:`curve` gives precision and recall at each threshold; :func:`choose_threshold` picks the
lowest threshold from which precision stays at or above the target. ``benchmarks/semantic_quality.py``
runs them on ``tests/data/semantic_pairs.jsonl``; run them on pairs from your own traffic to set the
threshold of another embedder. :func:`guarded` applies the lexical guard
(:func:`agentcache.embedders.agrees`) on top of the scores, and :func:`split` cuts a set into a design
half (to choose rules and thresholds on) and a held-out half (to measure them on), by a hash of the ids.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentcache.embedders.protocol import Embedder
from agentcache.errors import InvalidArgumentError

__all__ = [
    "CEILING",
    "REFUSED",
    "Pair",
    "Point",
    "choose_threshold",
    "curve",
    "grid",
    "guarded",
    "load_pairs",
    "point",
    "similarities",
    "split",
]

CEILING = 1.01
"""The threshold that serves nothing by similarity alone: above any cosine, rounding included."""

REFUSED = -math.inf
"""The score :func:`guarded` gives a pair the guard refuses: below every threshold."""


@dataclass(frozen=True)
class Pair:
    """Two prompts, whether one's answer may be served for the other, and why (``category``)."""

    a: str
    b: str
    should_hit: bool
    category: str = ""
    domain: str = ""
    id: str = ""


@dataclass(frozen=True)
class Point:
    """Precision and recall of serving every pair whose similarity is at least ``threshold``.
    ``precision`` is 1.0 when nothing is served (no wrong answer was)."""

    threshold: float
    true_hits: int
    false_hits: int
    missed: int

    @property
    def precision(self) -> float:
        served = self.true_hits + self.false_hits
        return self.true_hits / served if served else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_hits + self.missed
        return self.true_hits / wanted if wanted else 0.0


def load_pairs(path: str | Path) -> list[Pair]:
    """The pairs of a JSON-lines file (one object per line with ``a``, ``b``, ``should_hit``)."""
    pairs = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if (
            not isinstance(row.get("a"), str)
            or not isinstance(row.get("b"), str)
            or type(row.get("should_hit")) is not bool
        ):
            raise InvalidArgumentError(f"{path}:{number}: a pair needs str 'a' and 'b' and bool 'should_hit'")
        pairs.append(
            Pair(
                row["a"], row["b"], row["should_hit"], row.get("category", ""), row.get("domain", ""), row.get("id", "")
            )
        )
    return pairs


def similarities(embedder: Embedder, pairs: Sequence[Pair]) -> list[float]:
    """The cosine similarity of each pair (every distinct prompt embedded once, in one batch)."""
    texts = list(dict.fromkeys(text for pair in pairs for text in (pair.a, pair.b)))
    vectors = dict(zip(texts, embedder.embed(texts), strict=True))
    return [math.fsum(x * y for x, y in zip(vectors[p.a], vectors[p.b], strict=True)) for p in pairs]


def point(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> Point:
    """Precision and recall at one threshold."""
    true_hits = sum(1 for s, hit in zip(scores, labels, strict=True) if hit and s >= threshold)
    false_hits = sum(1 for s, hit in zip(scores, labels, strict=True) if not hit and s >= threshold)
    return Point(threshold, true_hits, false_hits, sum(labels) - true_hits)


def grid(low: float = 0.80, high: float = 1.0, step: float = 0.005) -> list[float]:
    """Thresholds from ``low`` to ``high`` (both included), rounded to avoid float drift."""
    count = round((high - low) / step)
    return [round(low + i * step, 6) for i in range(count + 1)]


def curve(scores: Sequence[float], labels: Sequence[bool], thresholds: Iterable[float]) -> list[Point]:
    """Precision and recall at each threshold."""
    return [point(scores, labels, t) for t in thresholds]


def choose_threshold(
    scores: Sequence[float], labels: Sequence[bool], target: float = 0.98, thresholds: Iterable[float] | None = None
) -> float:
    """The lowest threshold of ``thresholds`` (default :func:`grid`) from which precision is at least
    ``target`` at every higher one too; :data:`CEILING` when no threshold on the grid gets there."""
    candidates = sorted(thresholds if thresholds is not None else grid())
    chosen = CEILING
    for threshold in reversed(candidates):
        if point(scores, labels, threshold).precision < target:
            break
        chosen = threshold
    return chosen


def guarded(
    scores: Sequence[float], pairs: Sequence[Pair], agree: Callable[[str, str], bool] | None = None
) -> list[float]:
    """The scores with every pair the guard refuses set to :data:`REFUSED` (never served). ``agree``
    defaults to :func:`agentcache.embedders.agrees`."""
    from agentcache.embedders.guard import agrees

    check = agree or agrees
    return [s if check(p.a, p.b) else REFUSED for s, p in zip(scores, pairs, strict=True)]


def split(pairs: Sequence[Pair]) -> tuple[list[Pair], list[Pair]]:
    """The design half and the held-out half of a set: a pair goes to the design half when the first
    byte of the sha256 of its ``id`` is even (deterministic, and stable when pairs are added)."""
    design: list[Pair] = []
    held_out: list[Pair] = []
    for pair in pairs:
        (design if hashlib.sha256(pair.id.encode()).digest()[0] % 2 == 0 else held_out).append(pair)
    return design, held_out
