"""The semantic index's client half: vectors packed for the server, and their LSH band codes.

A scope's index (``store.lua``, ``lookup.lua``) keeps each entry's vector (float32, little endian)
and, per band, a hash from band code to the ids whose vectors fall in that bucket. A band code is
:data:`BITS` signs of the vector's dot products with fixed random hyperplanes (entries of +1 or -1,
derived from BLAKE2b so every process and version gets the same ones). A lookup reads, per band,
its own bucket and the :data:`FLIPS` buckets one least-certain bit away (multi-probe), counts how
many of those buckets each id is in, and verifies the :data:`VERIFIED` most counted by exact
cosine. ``docs/semantic.md`` gives the measurements behind these numbers.

numpy (a dependency of the local embedder, in the ``semantic`` extra) does the projections.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Sequence
from typing import Any

from agentcache.errors import InvalidArgumentError, missing_extra

BANDS = 32
"""Bands (hash tables) per scope."""
BITS = 16
"""Hyperplanes per band: a band code is a 16-bit unsigned int."""
FLIPS = 2
"""Extra buckets probed per band: the code with one of its least certain bits flipped."""
VERIFIED = 32
"""Candidates verified by exact cosine per lookup, the most counted first."""
LAYOUT = f"lsh1-b{BANDS}-r{BITS}"
"""The index layout's name: part of every scope's digest, so another layout never reads this one's keys."""

ID_BYTES = 4  # an entry id: a uint32, little endian, used as is as hash field and sorted-set member


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as missing:
        raise missing_extra("agentcache.tiers.semantic", "semantic", missing) from missing
    return numpy


@functools.lru_cache(maxsize=8)
def hyperplanes(dimensions: int) -> Any:
    """The ``dimensions`` x (BANDS * BITS) matrix of +1/-1 entries, the same in every process."""
    np = _numpy()
    count = BANDS * BITS
    blocks = []
    for plane in range(count):
        seed = b""
        counter = 0
        while len(seed) * 8 < dimensions:
            seed += hashlib.blake2b(f"{LAYOUT}:{plane}:{counter}".encode(), digest_size=64).digest()
            counter += 1
        bits = np.unpackbits(np.frombuffer(seed, dtype=np.uint8))[:dimensions]
        blocks.append(bits.astype(np.float32) * 2.0 - 1.0)
    return np.stack(blocks, axis=1)


def as_vector(vector: Sequence[float] | Any, dimensions: int, what: str = "the embedder's vector") -> Any:
    """``vector`` as a unit-length float32 numpy array of ``dimensions``; a typed error otherwise."""
    np = _numpy()
    try:
        array = np.asarray(vector, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{what} is not a list of floats: {exc}") from None
    if array.shape[0] != dimensions:
        raise InvalidArgumentError(f"{what} has {array.shape[0]} dimensions; the embedder declares {dimensions}")
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0.0:
        raise InvalidArgumentError(f"{what} is zero or not finite: an empty text, or a broken embedder")
    return array / norm


def pack(vector: Any) -> bytes:
    """A vector as the server keeps it: float32, little endian."""
    return bytes(vector.astype("<f4").tobytes())


def unpack(data: bytes) -> Any:
    """:func:`pack` inverted."""
    np = _numpy()
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def codes(vector: Any) -> tuple[bytes, bytes]:
    """The entry's own band codes (BANDS uint16, little endian) and the lookup's probes: per band,
    its code then the FLIPS codes with one of its least certain bits flipped."""
    np = _numpy()
    projected = vector @ hyperplanes(vector.shape[0])
    margins = np.abs(projected).reshape(BANDS, BITS)
    bits = (projected > 0).reshape(BANDS, BITS).astype(np.uint32)
    weights = np.uint32(1) << np.arange(BITS, dtype=np.uint32)
    own = (bits * weights).sum(axis=1).astype(np.uint32)
    flip = np.argsort(margins, axis=1)[:, :FLIPS].astype(np.uint32)
    probes = np.concatenate([own[:, None], own[:, None] ^ (np.uint32(1) << flip)], axis=1)
    return bytes(own.astype("<u2").tobytes()), bytes(probes.astype("<u2").tobytes())


def entry_id(raw: bytes) -> int:
    """An entry id as the scripts return it (4 bytes) as an int."""
    return int(struct.unpack("<I", raw)[0])
