"""Benchmark of the semantic tier's index: lookup latency against the number of entries in a scope,
next to the exact LLM tier's check, and the index's recall against exact brute-force search.

On bundled Valkey servers it starts itself (standalone, and a 3-primary cluster), for each size
(``--sizes``, default 1000,10000,100000 entries in one scope):

1. Texts: English sentences from the docstrings of the installed packages (real text, no download),
   embedded by the local embedder (``agentcache.embedders.local()``, wordllama 256-d). The entries
   are stored through the tier's own store script (pipelined, to load fast).
2. Queries: ``--queries`` stored texts with one word dropped (near duplicates: the index must find
   them) and as many unstored texts (mostly nothing close). Their embeddings are computed first, so
   a timed ``cache.semantic.check`` is one round trip, the index script; interleaved with it,
   ``cache.llm.check`` of a stored exact entry (one GET) on the same cache.
3. Recall: for each threshold (``--thresholds``), the queries whose best stored match by exact
   brute force (numpy, float32) is at or above it; recall is the share of those for which the index
   returns a match at or above it.

Latencies are medians and p99 in microseconds, one process, interleaved; the machine's load shows
in both columns alike.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentcache import AgentCache
from agentcache.core.commands import Operation
from agentcache.testing import unique_prefix, valkey_server
from agentcache.tiers.semantic import index
from agentcache.tiers.semantic.scripts import STORE
from agentcache.tiers.semantic.tier import Prepared, Vector
from agentcache.tiers.shelf.entries import encode_entry


def sentences(limit: int) -> list[str]:
    """Distinct English sentences from docstrings of the installed packages, shuffled (fixed seed)."""
    import numpy

    root = Path(numpy.__file__).resolve().parents[1]
    seen: set[str] = set()
    out: list[str] = []
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            try:
                tree = ast.parse((Path(folder) / name).read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
                continue
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Module | ast.AsyncFunctionDef):
                    continue
                doc = ast.get_docstring(node) or ""
                for text in re.split(r"(?<=[.?!])\s+|\n\s*\n", doc):
                    text = " ".join(text.split())
                    letters = sum(c.isalpha() for c in text)
                    fits = 30 <= len(text) <= 200 and re.match(r"^[A-Z][a-z]", text) and letters > 0.7 * len(text)
                    if fits and text not in seen:
                        seen.add(text)
                        out.append(text)
        if len(out) >= 2 * limit:
            break
    random.Random(1).shuffle(out)
    if len(out) < limit:
        raise SystemExit(f"only {len(out)} sentences found; lower --sizes")
    return out[:limit]


def ask(text: str) -> dict[str, Any]:
    return {"model": "bench-model", "messages": [{"role": "user", "content": text}], "temperature": 0}


def load(cache: AgentCache, texts: list[str], vectors: Any) -> Operation[None]:
    """Store every text with its vector through the store script, 500 per round trip."""
    ctx = cache.semantic._context()
    s = ctx.settings
    batch = []
    for text, vector in zip(texts, vectors, strict=True):
        p = Prepared(ctx, ask(text), None, None)
        v = Vector(vector)
        entry = encode_entry(s, {"answer": text[:40]}, 0, None, 0, 0, text)
        batch.append(STORE([p.meta], v.packed, v.codes, p.digest, entry, 0, 10**9, index.BANDS))
        if len(batch) == 500:
            yield batch
            batch = []
    if batch:
        yield batch


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--topologies", default="standalone,cluster3")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--thresholds", default="0.8,0.85,0.9,0.95")
    args = parser.parse_args()
    import numpy as np

    from agentcache import embedders

    sizes = [int(n) for n in args.sizes.split(",")]
    thresholds = [float(t) for t in args.thresholds.split(",")]
    embedder = embedders.local()
    total = max(sizes) + args.queries
    started = time.perf_counter()
    texts = sentences(total)
    stored_texts, fresh = texts[: max(sizes)], texts[max(sizes) :]
    vectors = np.asarray(embedder.embed(stored_texts), dtype=np.float32)
    keep = np.isfinite(vectors).all(axis=1) & (np.linalg.norm(vectors, axis=1) > 0)
    print(f"# {len(texts)} sentences embedded by {embedder.name} in {time.perf_counter() - started:.0f} s", flush=True)
    rng = random.Random(2)
    for topology in args.topologies.split(","):
        with valkey_server(topology) as server:
            for size in sizes:
                idx = [i for i in range(size) if keep[i]]
                chosen = rng.sample(idx, args.queries)
                queries = []
                for i in chosen:
                    words = stored_texts[i].split()
                    drop = rng.randrange(len(words))
                    queries.append(" ".join(words[:drop] + words[drop + 1 :]))
                queries += fresh[: args.queries]
                qvec = np.asarray(embedder.embed(queries), dtype=np.float32)
                good = [k for k in range(len(queries)) if np.isfinite(qvec[k]).all() and np.linalg.norm(qvec[k]) > 0]
                with AgentCache.from_url(server.url, prefix=unique_prefix()) as cache:
                    cache.semantic.configure(
                        embedder=embedder, max_entries=10**9, threshold=0.5, uncertain=0, guard=False
                    )
                    t0 = time.perf_counter()
                    cache._executor.run(load(cache, [stored_texts[i] for i in idx], vectors[idx]))
                    loaded = time.perf_counter() - t0
                    cache.llm.store(ask("exact"), {"answer": "x"})
                    for k in good:  # embed once, so each timed check is the lookup alone
                        cache.semantic.check(ask(queries[k]))
                    exact_brute = vectors[idx] @ qvec[good].T
                    best = exact_brute.max(axis=0)
                    found = {t: 0 for t in thresholds}
                    due = {t: int((best >= t).sum()) for t in thresholds}
                    sem_us: list[float] = []
                    llm_us: list[float] = []
                    for rounds in range(2):
                        for j, k in enumerate(good):
                            a = time.perf_counter()
                            result = cache.semantic.check(ask(queries[k]), threshold=min(thresholds))
                            b = time.perf_counter()
                            cache.llm.check(ask("exact"))
                            c = time.perf_counter()
                            sem_us.append((b - a) * 1e6)
                            llm_us.append((c - b) * 1e6)
                            if rounds == 0:
                                for t in thresholds:
                                    if best[j] >= t and result.similarity is not None and result.similarity >= t:
                                        found[t] += 1
                    ratio = statistics.median(s / e for s, e in zip(sem_us, llm_us, strict=True))
                    recall = "  ".join(
                        f"{t}: {found[t] / due[t]:.3f} ({found[t]}/{due[t]})" if due[t] else f"{t}: -"
                        for t in thresholds
                    )
                    print(
                        f"{topology:10} {len(idx):>7} entries (loaded {loaded:.0f} s) | semantic check p50 "
                        f"{statistics.median(sem_us):7.0f} p99 {percentile(sem_us, 0.99):7.0f} | llm check p50 "
                        f"{statistics.median(llm_us):5.0f} p99 {percentile(llm_us, 0.99):6.0f} | median ratio "
                        f"{ratio:4.1f} | recall {recall}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
