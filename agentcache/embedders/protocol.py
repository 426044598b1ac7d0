"""What every embedder module shares: the :class:`Embedder` protocols, the local model's name and
the threshold measured for it. A module of its own so that ``local_model`` (and the package's face,
which re-exports these) import it without importing each other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_THRESHOLD_EMBEDDER", "LOCAL_NAME", "AsyncEmbedder", "Embedder"]

LOCAL_NAME = "wordllama-l2-supercat-256"
"""The :func:`~agentcache.embedders.local` embedder's ``name``."""

DEFAULT_THRESHOLD = 1.01
"""Cosine similarity at or above which the semantic tier serves a stored answer (to a prompt that
also :func:`~agentcache.embedders.agrees` with the stored one), for the embedder named
:data:`DEFAULT_THRESHOLD_EMBEDDER`:
the lowest threshold with precision at least 0.98 on the labelled pairs in
``tests/data/semantic_pairs.jsonl``, chosen on their design half and confirmed on the whole set
(``benchmarks/semantic_quality.py``, ``docs/semantic-quality.md``).

For the local model there is none. Alone, it averages token vectors, so "order #48213" / "#48231" or
"miles to kilometers" / "kilometers to miles" score 1.0 and near-misses score above paraphrases. With
the guard, the design half reaches precision 1.0 at recall 0.47 (guard alone, any similarity), but
the held-out half gets 0.94 ("this month" / "next month", "succeeds on CI but fails locally" and its
reverse pass the guard), so no threshold is confirmed. 1.01 is above every cosine: the local embedder
serves no answer on similarity alone; a judge callback (or a threshold measured on your own traffic)
must decide. Another embedder needs its own threshold, measured the same way
(:mod:`agentcache.embedders.calibrate`)."""

DEFAULT_THRESHOLD_EMBEDDER = LOCAL_NAME
"""The embedder :data:`DEFAULT_THRESHOLD` was measured with."""


@runtime_checkable
class Embedder(Protocol):
    """Embeds texts, in batches, into L2-normalised vectors (sync)."""

    name: str
    """A stable id of the model and its settings, e.g. ``"wordllama-l2-supercat-256"``: part of the
    semantic scope, so change it whenever the vectors would change."""
    dimensions: int
    """The length of every vector."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, each of length ``dimensions`` and L2 norm 1."""
        ...


@runtime_checkable
class AsyncEmbedder(Protocol):
    """Embeds texts, in batches, into L2-normalised vectors (asyncio)."""

    name: str
    dimensions: int

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, each of length ``dimensions`` and L2 norm 1."""
        ...
