"""Embedders: turn prompts into L2-normalised vectors for the semantic tier.

An embedder has a stable ``name`` (part of the semantic scope: vectors of two models are never
compared), its ``dimensions``, and ``embed`` (sync) or ``aembed`` (async), both batched: one call
embeds many texts. Two come with agentcache:

- :func:`local` (extra ``semantic``): WordLlama's 256-dimension model, read from the files its
  wheel ships; nothing is downloaded, ever. Fast (static token embeddings, mean-pooled) and weak
  on meaning that hangs on one word: see ``docs/semantic-quality.md``.
- :class:`~agentcache.embedders.openai.OpenAIEmbedder` and
  :class:`~agentcache.embedders.openai.AsyncOpenAIEmbedder` (extra ``openai``): OpenAI's
  embeddings API through its SDK.

Any object with these attributes works (structural typing): wrap your own model the same way.
Importing this package imports no numerical library; the local model loads on first use.

:func:`agrees` is the lexical guard the semantic tier applies on top of the similarity: two prompts
may share an answer only when their numbers, negations, opposites, units, times, names and
direction agree (``agentcache/embedders/guard.py``). The tier keeps each entry's prompt text and calls
``agrees(prompt, stored_prompt)`` on every candidate at or above the threshold before serving it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentcache.embedders.guard import agrees, disagreement
from agentcache.embedders.protocol import (
    DEFAULT_THRESHOLD,
    DEFAULT_THRESHOLD_EMBEDDER,
    LOCAL_NAME,
    AsyncEmbedder,
    Embedder,
)

if TYPE_CHECKING:
    from agentcache.embedders.local_model import LocalEmbedder

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_THRESHOLD_EMBEDDER",
    "AsyncEmbedder",
    "Embedder",
    "LOCAL_NAME",
    "agrees",
    "disagreement",
    "local",
]


def local() -> LocalEmbedder:
    """The default local embedder (extra ``semantic``), one per process: loading it reads 16 MB of
    weights from the installed ``wordllama`` package (nothing is downloaded). It is both an
    :class:`Embedder` and an :class:`AsyncEmbedder`.

    Raises :class:`~agentcache.errors.MissingExtraError` when the extra is not installed."""
    from agentcache.embedders.local_model import shared

    return shared()
