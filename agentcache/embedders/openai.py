"""OpenAI embeddings through the official SDK (extra ``openai``).

``OpenAIEmbedder(OpenAI())`` and ``AsyncOpenAIEmbedder(AsyncOpenAI())`` send one
``embeddings.create`` request per ``batch_size`` texts, with the model (and ``dimensions``, when
given) named in the embedder's ``name``. The API's own errors (``openai.APIError`` and its
subclasses) are raised unchanged; agentcache never retries them beyond the client's own policy.
Any server with OpenAI's ``/v1/embeddings`` works through the client's ``base_url``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from agentcache.errors import InvalidArgumentError, missing_extra

try:
    from openai import AsyncOpenAI, OpenAI
except ImportError as missing:
    raise missing_extra(__name__, "openai", missing) from missing

__all__ = ["AsyncOpenAIEmbedder", "OpenAIEmbedder"]

KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_BATCH = 2048
"""The API's limit on inputs per request."""


class _Settings:
    """What both embedders share: the model, its dimensions, the batch size and the checks."""

    def __init__(self, model: str, dimensions: int | None, batch_size: int) -> None:
        if not isinstance(model, str) or not model:
            raise InvalidArgumentError(f"model must be a non-empty str, not {model!r}")
        if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
            raise InvalidArgumentError(f"dimensions must be a positive int, not {dimensions!r}")
        if dimensions is None and model not in KNOWN_DIMENSIONS:
            raise InvalidArgumentError(
                f"the dimensions of {model!r} are not known here: pass dimensions= (the length of its vectors)"
            )
        if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
            raise InvalidArgumentError(f"batch_size must be an int from 1 to {MAX_BATCH}, not {batch_size!r}")
        self.model = model
        self._requested = dimensions
        self.dimensions: int = dimensions or KNOWN_DIMENSIONS[model]
        self.batch_size = batch_size
        self.name: str = f"openai-{model}" + (f"-{dimensions}" if dimensions is not None else "")

    def _batches(self, texts: Sequence[str]) -> list[list[str]]:
        if isinstance(texts, str):
            raise InvalidArgumentError("embed() takes a sequence of texts: wrap a single text in a list")
        for text in texts:
            if not isinstance(text, str) or not text:
                raise InvalidArgumentError(f"cannot embed {text!r}: every text must be a non-empty str")
        return [list(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]

    def _params(self) -> dict[str, Any]:
        return {"model": self.model, **({"dimensions": self._requested} if self._requested is not None else {})}

    def _vectors(self, response: Any, count: int) -> list[list[float]]:
        rows = sorted(response.data, key=lambda row: row.index)
        if len(rows) != count:
            raise InvalidArgumentError(f"the embeddings API returned {len(rows)} vectors for {count} texts")
        vectors = []
        for row in rows:
            vector = [float(x) for x in row.embedding]
            if len(vector) != self.dimensions:
                raise InvalidArgumentError(
                    f"{self.model} returned {len(vector)}-dimension vectors, not {self.dimensions}: "
                    "pass the right dimensions="
                )
            norm = math.sqrt(math.fsum(x * x for x in vector)) or 1.0
            vectors.append([x / norm for x in vector])
        return vectors


class OpenAIEmbedder(_Settings):
    """An :class:`~agentcache.embedders.Embedder` over ``client.embeddings.create`` (sync).

    ``dimensions``: ask the model for shorter vectors (``text-embedding-3-*``), and required for a
    model this module does not know. ``batch_size``: texts per request (the API takes 2048)."""

    def __init__(
        self,
        client: OpenAI | None = None,
        *,
        model: str = "text-embedding-3-small",
        dimensions: int | None = None,
        batch_size: int = 512,
    ) -> None:
        super().__init__(model, dimensions, batch_size)
        self.client = client if client is not None else OpenAI()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text; one request per ``batch_size`` texts."""
        vectors: list[list[float]] = []
        for batch in self._batches(texts):
            response = self.client.embeddings.create(input=batch, **self._params())
            vectors.extend(self._vectors(response, len(batch)))
        return vectors


class AsyncOpenAIEmbedder(_Settings):
    """An :class:`~agentcache.embedders.AsyncEmbedder` over ``AsyncOpenAI().embeddings.create``;
    the same options as :class:`OpenAIEmbedder`."""

    def __init__(
        self,
        client: AsyncOpenAI | None = None,
        *,
        model: str = "text-embedding-3-small",
        dimensions: int | None = None,
        batch_size: int = 512,
    ) -> None:
        super().__init__(model, dimensions, batch_size)
        self.client = client if client is not None else AsyncOpenAI()

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text; one request per ``batch_size`` texts, in turn."""
        vectors: list[list[float]] = []
        for batch in self._batches(texts):
            response = await self.client.embeddings.create(input=batch, **self._params())
            vectors.extend(self._vectors(response, len(batch)))
        return vectors
