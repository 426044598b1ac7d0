"""Deterministic embedders for the semantic tier's tests (no model, no download).

:class:`WordsEmbedder`: a text is the normalised sum of one fixed random vector per lower-cased
word, so texts sharing most words are similar and texts sharing none are near orthogonal.
:class:`TableEmbedder`: given vectors for given texts, for exact similarities."""

from __future__ import annotations

import hashlib
import math
import re
import struct
from collections.abc import Mapping, Sequence


def _word_vector(word: str, dimensions: int) -> list[float]:
    raw = b""
    counter = 0
    while len(raw) < 4 * dimensions:
        raw += hashlib.blake2b(f"{word}:{counter}".encode(), digest_size=64).digest()
        counter += 1
    values = struct.unpack(f"<{dimensions}i", raw[: 4 * dimensions])
    return [v / 2**31 for v in values]


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class WordsEmbedder:
    """Bag of words: similar wording, similar vectors."""

    def __init__(self, dimensions: int = 64, name: str = "test-words-64") -> None:
        self.name = name
        self.dimensions = dimensions
        self.calls = 0
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        self.texts += len(texts)
        out = []
        for text in texts:
            total = [0.0] * self.dimensions
            for word in re.findall(r"\w+", text.lower()) or ["<empty>"]:
                for i, x in enumerate(_word_vector(word, self.dimensions)):
                    total[i] += x
            out.append(_unit(total))
        return out


class AsyncWordsEmbedder(WordsEmbedder):
    """:class:`WordsEmbedder` with ``aembed`` too (what the async facade awaits)."""

    def __init__(self, dimensions: int = 64, name: str = "test-words-64") -> None:
        super().__init__(dimensions, name)
        self.async_calls = 0

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        self.async_calls += 1
        return self.embed(texts)


class TableEmbedder:
    """The vector given for each text (unit length after normalising), in ``dimensions``."""

    def __init__(self, table: Mapping[str, Sequence[float]], dimensions: int = 8, name: str = "test-table") -> None:
        self.name = name
        self.dimensions = dimensions
        self.table = {text: _unit(list(v) + [0.0] * (dimensions - len(v))) for text, v in table.items()}

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.table[text] for text in texts]


def at_similarity(similarity: float, dimensions: int = 8) -> list[float]:
    """A unit vector whose cosine with (1, 0, 0, ...) is ``similarity``."""
    return [similarity, math.sqrt(max(0.0, 1 - similarity * similarity))] + [0.0] * (dimensions - 2)
