"""The local default embedder: WordLlama's ``l2_supercat`` model at 256 dimensions (extra ``semantic``).

The ``wordllama`` wheel ships the model's weights (``wordllama/weights/l2_supercat_256.safetensors``,
16 MB) and its tokenizer (``wordllama/tokenizers/l2_supercat_tokenizer_config.json``). We read
those two files ourselves, with ``safetensors`` and ``tokenizers``, instead of calling
``WordLlama.load()``: that looks for the tokenizer in a folder the wheel does not have
(``tokenizer/`` for ``tokenizers/``) and downloads it from the Hugging Face hub into
``~/.cache/wordllama``; and ``import wordllama`` configures the root logger. Nothing here opens a
socket or writes a file. The vectors are WordLlama's own (``embed(texts, norm=True)``): the mean
of the texts' token embeddings, L2-normalised.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentcache.errors import InvalidArgumentError, missing_extra

try:
    import numpy as np
    from safetensors import safe_open
    from tokenizers import Tokenizer
except ImportError as missing:
    raise missing_extra(__name__, "semantic", missing) from missing

from agentcache.embedders.protocol import LOCAL_NAME

__all__ = ["LocalEmbedder", "model_files", "shared"]

WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
DIMENSIONS = 256
# sha256 of the files in wordllama 0.4.0.post1: other files mean other vectors,
# so the embedder's name (part of the semantic scope) then carries their digest.
WEIGHTS_SHA256 = "64b47a2dc493cb8e85944076601189739852d7b64e0e1eedcb1937a251cd9fd5"
TOKENIZER_SHA256 = "93248f2a9ec36c7b35f700a033d5f36228aae48db61aee31007fa49062cdeb68"


def model_files() -> tuple[Path, Path]:
    """The paths of the weights and tokenizer files inside the installed ``wordllama`` package,
    found without importing it. Raises :class:`~agentcache.errors.MissingExtraError` without it."""
    spec = importlib.util.find_spec("wordllama")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        weights, tokenizer = Path(folder, WEIGHTS), Path(folder, TOKENIZER)
        if weights.is_file() and tokenizer.is_file():
            return weights, tokenizer
    gone = ModuleNotFoundError("no module named 'wordllama' with its model files", name="wordllama")
    raise missing_extra(__name__, "semantic", gone) from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LocalEmbedder:
    """WordLlama ``l2_supercat`` (256 dimensions), in process, from the files its wheel ships.

    Both an :class:`~agentcache.embedders.Embedder` and an
    :class:`~agentcache.embedders.AsyncEmbedder`: ``aembed`` computes in place (a short prompt
    takes tens of microseconds, less than a hop to a thread). Safe to share between threads."""

    dimensions: int = DIMENSIONS

    def __init__(self, weights: Path | None = None, tokenizer: Path | None = None) -> None:
        if weights is None or tokenizer is None:
            weights, tokenizer = model_files()
        digests = (_sha256(weights), _sha256(tokenizer))
        self.name: str = LOCAL_NAME
        if digests != (WEIGHTS_SHA256, TOKENIZER_SHA256):
            self.name = f"{LOCAL_NAME}-{hashlib.sha256(''.join(digests).encode()).hexdigest()[:12]}"
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        with safe_open(str(weights), framework="np", device="cpu") as file:
            table: Any = file.get_tensor("embedding.weight")
        self._table = np.ascontiguousarray(table, dtype=np.float32)
        if self._table.shape[1] != DIMENSIONS:
            raise InvalidArgumentError(f"{weights} holds {self._table.shape[1]}-dimension vectors, not {DIMENSIONS}")

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text (a batch is one pass over the token table)."""
        if isinstance(texts, str):
            raise InvalidArgumentError("embed() takes a sequence of texts: wrap a single text in a list")
        if not texts:
            return []
        for text in texts:
            if not isinstance(text, str) or not text:
                raise InvalidArgumentError(f"cannot embed {text!r}: every text must be a non-empty str")
        ids = [self._tokenizer.encode(text, add_special_tokens=False).ids for text in texts]
        lengths = np.fromiter(map(len, ids), dtype=np.intp, count=len(ids))
        flat = np.fromiter((i for row in ids for i in row), dtype=np.intp, count=int(lengths.sum()))
        if not lengths.all():
            raise InvalidArgumentError("a text has no tokens: every text must be a non-empty str")
        np.clip(flat, 0, self._table.shape[0] - 1, out=flat)
        starts = np.zeros_like(lengths)
        np.cumsum(lengths[:-1], out=starts[1:])
        sums = np.add.reduceat(self._table[flat], starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        vectors: list[list[float]] = (sums / np.maximum(norms, 1e-12)).tolist()
        return vectors

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """:meth:`embed`, for asyncio (computed in place: no I/O, microseconds per text)."""
        return self.embed(texts)


_shared: LocalEmbedder | None = None
_lock = threading.Lock()


def shared() -> LocalEmbedder:
    """The process's one :class:`LocalEmbedder`, loaded on first call."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = LocalEmbedder()
        return _shared
