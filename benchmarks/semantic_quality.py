"""Quality and speed of the local embedder on the labelled prompt pairs (extra ``semantic``).

``python -m benchmarks.semantic_quality [--plot docs/semantic-threshold.png] [--json out.json]``

1. Quality: the cosine similarity of each pair in ``tests/data/semantic_pairs.jsonl`` (paraphrases
   that should hit; near-misses that share words but differ in negation, entity, number, date, unit
   or action), precision and recall at thresholds 0.80 to 1.00, the similarity distribution per
   category, and the near-misses that score highest.
2. With the lexical guard (``agentcache.embedders.agrees``) on: the set is split into a design half
   and a held-out half (``calibrate.split``); the threshold is chosen on the design half (the lowest
   from which precision stays at least 0.98) and measured on the held-out half and the whole set,
   per category. agentcache's ``DEFAULT_THRESHOLD`` must equal that threshold when the whole set
   confirms it (precision at least 0.98), and the ceiling (serve nothing) otherwise.
3. Speed: the time to load the model (cold: imports included; warm: the files only), and the time
   to embed one text, unbatched (one text per call) and batched (64 per call), interleaved in rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentcache.embedders import DEFAULT_THRESHOLD, DEFAULT_THRESHOLD_EMBEDDER
from agentcache.embedders.calibrate import (
    CEILING,
    REFUSED,
    Pair,
    Point,
    choose_threshold,
    curve,
    grid,
    guarded,
    load_pairs,
    point,
    similarities,
    split,
)

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "semantic_pairs.jsonl"
TARGET = 0.98
SHOWN = [*grid(0.80, 0.99, 0.01), 0.995, 1.0]


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def quality(scores: Sequence[float], pairs: Sequence[Pair]) -> dict[str, Any]:
    """The curve, the chosen threshold and the distributions, as a JSON-able dict."""
    labels = [p.should_hit for p in pairs]
    chosen = choose_threshold(scores, labels, TARGET)
    fine = curve(scores, labels, grid(0.0, 1.0, 0.005))
    best = max(fine, key=lambda pt: (pt.precision if pt.true_hits else 0.0, pt.recall))
    useful = [pt for pt in fine if pt.true_hits and pt.precision >= TARGET]
    categories = sorted({p.category for p in pairs})
    return {
        "pairs": len(pairs),
        "should_hit": sum(labels),
        "target_precision": TARGET,
        "chosen_threshold": chosen,
        "at_chosen": _point(point(scores, labels, chosen)),
        "recall_at_target": max((pt.recall for pt in useful), default=0.0),
        "best_precision": _point(best),
        "curve": [_point(pt) for pt in curve(scores, labels, SHOWN)],
        "by_category": {
            c: {
                "pairs": sum(1 for p in pairs if p.category == c),
                **{
                    f"p{q}": round(_pct([s for s, p in zip(scores, pairs, strict=True) if p.category == c], q / 100), 4)
                    for q in (5, 50, 95)
                },
            }
            for c in categories
        },
        "top_near_misses": [
            {"similarity": round(s, 4), "category": p.category, "a": p.a, "b": p.b}
            for s, p in sorted(zip(scores, pairs, strict=True), key=lambda sp: -sp[0])
            if not p.should_hit
        ][:12],
    }


def _point(pt: Point) -> dict[str, Any]:
    return {
        "threshold": pt.threshold,
        "precision": round(pt.precision, 4),
        "recall": round(pt.recall, 4),
        "true_hits": pt.true_hits,
        "false_hits": pt.false_hits,
    }


def guard_report(scores: Sequence[float], pairs: Sequence[Pair]) -> dict[str, Any]:
    """The guard on top of the scores: the threshold chosen on the design half, measured on the
    held-out half and the whole set, per category, and the threshold the default must be."""
    from agentcache.embedders import disagreement

    kept = guarded(scores, pairs)
    by_id = {p.id: (s, k) for p, s, k in zip(pairs, scores, kept, strict=True)}
    design, held_out = split(pairs)
    halves = {"design": design, "held_out": held_out, "whole": list(pairs)}
    fine = grid(0.0, 1.0, 0.005)
    design_labels = [p.should_hit for p in design]
    chosen = choose_threshold([by_id[p.id][1] for p in design], design_labels, TARGET, fine)
    out: dict[str, Any] = {"chosen_on_design": chosen, "halves": {}}
    for name, half in halves.items():
        labels = [p.should_hit for p in half]
        half_kept = [by_id[p.id][1] for p in half]
        categories: dict[str, Any] = {}
        for c in sorted({p.category for p in half}):
            members = [p for p in half if p.category == c]
            served = sum(1 for p in members if by_id[p.id][1] >= chosen)
            categories[c] = {
                "pairs": len(members),
                "guard_passes": sum(1 for p in members if by_id[p.id][1] != REFUSED),
                "served_at_chosen": served,
            }
        out["halves"][name] = {
            "pairs": len(half),
            "should_hit": sum(labels),
            "at_chosen": _point(point(half_kept, labels, chosen)),
            "curve": [_point(pt) for pt in curve(half_kept, labels, [0.0, *SHOWN])],
            "by_category": categories,
        }
    whole = out["halves"]["whole"]["at_chosen"]
    out["default_must_be"] = chosen if whole["precision"] >= TARGET else CEILING
    out["near_misses_passing"] = [
        {"similarity": round(s, 4), "category": p.category, "id": p.id, "a": p.a, "b": p.b}
        for p in sorted(pairs, key=lambda p: -by_id[p.id][0])
        for s, k in [by_id[p.id]]
        if not p.should_hit and k != REFUSED
    ]
    out["paraphrases_refused"] = [
        {"id": p.id, "why": disagreement(p.a, p.b), "a": p.a, "b": p.b}
        for p in pairs
        if p.should_hit and by_id[p.id][1] == REFUSED
    ]
    return out


def speed(texts: Sequence[str], rounds: int = 7, batch: int = 64) -> dict[str, Any]:
    """Load times (s) and embedding latency (µs per text), unbatched and batched, interleaved."""
    started = time.perf_counter()
    from agentcache.embedders.local_model import LocalEmbedder  # numpy, tokenizers, safetensors

    model = LocalEmbedder()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(3):
        started = time.perf_counter()
        LocalEmbedder()
        warm.append(time.perf_counter() - started)
    single: list[float] = []
    batched: list[float] = []
    chunks = [list(texts[i : i + batch]) for i in range(0, len(texts) - batch + 1, batch)]
    model.embed(list(texts))  # warm-up

    def run_single() -> None:
        for text in texts:
            began = time.perf_counter_ns()
            model.embed([text])
            single.append((time.perf_counter_ns() - began) / 1000)

    def run_batched() -> None:
        for chunk in chunks:
            began = time.perf_counter_ns()
            model.embed(chunk)
            batched.append((time.perf_counter_ns() - began) / 1000 / len(chunk))

    for i in range(rounds):
        for run in (run_single, run_batched) if i % 2 == 0 else (run_batched, run_single):
            run()
    return {
        "model": model.name,
        "load_cold_s": round(cold, 3),
        "load_warm_s": round(statistics.median(warm), 3),
        "unbatched_us_per_text": {
            "p50": round(_pct(single, 0.5), 1),
            "p99": round(_pct(single, 0.99), 1),
            "mean": round(statistics.fmean(single), 1),
        },
        "batched_us_per_text": {
            "batch": batch,
            "p50": round(_pct(batched, 0.5), 1),
            "p99": round(_pct(batched, 0.99), 1),
            "mean": round(statistics.fmean(batched), 1),
        },
        "texts": len(texts),
        "mean_words": round(statistics.fmean(len(t.split()) for t in texts), 1),
    }


def plot(report: dict[str, Any], scores: Sequence[float], pairs: Sequence[Pair], path: Path) -> None:
    """Precision and recall against the threshold, with the guard (thick) and without (thin), and the
    similarity of each kind of pair (Pillow)."""
    from PIL import Image, ImageDraw

    width, height, left, right, top, bottom = 900, 540, 70, 20, 56, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    low = 0.0

    def xy(threshold: float, value: float) -> tuple[float, float]:
        x = left + (threshold - low) / (1.0 - low) * (width - left - right)
        return x, top + (1 - value) * (height - top - bottom)

    for i in range(11):
        value = i / 10
        draw.line([xy(low, value), xy(1.0, value)], fill=(230, 230, 230))
        draw.text((left - 35, xy(low, value)[1] - 6), f"{value:.1f}", fill="black")
    for t in grid(low, 1.0, 0.1):
        draw.text((xy(t, 0)[0] - 10, height - bottom + 8), f"{t:.1f}", fill="black")
    labels = [p.should_hit for p in pairs]
    kept = guarded(scores, pairs)
    for values, thickness in ((scores, 1), (kept, 3)):
        points = curve(values, labels, grid(low, 1.0, 0.005))
        for attribute, colour in (("precision", (200, 40, 40)), ("recall", (40, 90, 200))):
            draw.line([xy(pt.threshold, getattr(pt, attribute)) for pt in points], fill=colour, width=thickness)
    draw.line([xy(low, TARGET), xy(1.0, TARGET)], fill=(120, 120, 120), width=1)
    for score, mark, pair in zip(scores, kept, pairs, strict=True):  # the pairs, as ticks along the bottom
        x, _ = xy(max(low, score), 0)
        y = height - bottom - (6 if pair.should_hit else 14)
        colour = (40, 90, 200) if pair.should_hit else (200, 40, 40)
        if mark == REFUSED:  # refused by the guard: pale
            colour = (170, 195, 240) if pair.should_hit else (240, 180, 180)
        draw.line([(x, y), (x, y - 6)], fill=colour)
    title = (
        f"{report['speed']['model']} on {len(pairs)} labelled pairs: precision (red) and recall (blue) against "
        f"the threshold;\nthick: with the lexical guard, thin: similarity alone; grey: {TARGET} precision"
    )
    draw.multiline_text((left, 8), title, fill="black")
    draw.text(
        (left, height - 22),
        "cosine threshold   (ticks: paraphrases blue, near-misses red; pale: refused by the guard)",
        fill="black",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown tables."""
    q, s = report["quality"], report["speed"]
    lines = [
        f"model `{s['model']}`, {q['pairs']} pairs ({q['should_hit']} should hit)",
        "",
        "| threshold | precision | recall | true hits | false hits |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {p['threshold']:.3f} | {p['precision']:.3f} | {p['recall']:.3f} | {p['true_hits']} | {p['false_hits']} |"
        for p in q["curve"]
    ]
    chosen = q["at_chosen"]
    best = q["best_precision"]
    lines += [
        "",
        f"chosen threshold (precision >= {q['target_precision']}): {q['chosen_threshold']}"
        + (
            " (no threshold gets there: nothing is served on similarity alone)"
            if q["chosen_threshold"] == CEILING
            else ""
        )
        + f"; precision {chosen['precision']:.3f}, recall {chosen['recall']:.3f}",
        f"recall at precision >= {q['target_precision']}: {q['recall_at_target']:.3f}",
        f"best precision at any threshold: {best['precision']:.3f} at {best['threshold']}"
        f" (recall {best['recall']:.3f})",
        "",
        "| category | pairs | p5 | p50 | p95 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {c} | {v['pairs']} | {v['p5']} | {v['p50']} | {v['p95']} |" for c, v in q["by_category"].items()]
    lines += ["", "highest-scoring near-misses:", ""]
    lines += [f"- {m['similarity']} ({m['category']}): {m['a']!r} / {m['b']!r}" for m in q["top_near_misses"]]
    lines += [
        "",
        f"load: {s['load_cold_s']} s cold (imports included), {s['load_warm_s']} s warm; "
        f"embed, µs per text ({s['mean_words']} words a text on average):",
        "",
        "| | p50 | p99 | mean |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {label} | {v['p50']} | {v['p99']} | {v['mean']} |"
            for label, v in (
                ("unbatched (1 text per call)", s["unbatched_us_per_text"]),
                (f"batched ({s['batched_us_per_text']['batch']} texts per call)", s["batched_us_per_text"]),
            )
        ),
    ]
    g = report["guarded"]
    lines += [
        "",
        f"with the guard: threshold chosen on the design half: {g['chosen_on_design']}; "
        f"the default must be {g['default_must_be']}",
        "",
        "| half | pairs | precision | recall | true hits | false hits |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, half in g["halves"].items():
        at = half["at_chosen"]
        lines.append(
            f"| {name} | {half['pairs']} | {at['precision']:.3f} | {at['recall']:.3f} | {at['true_hits']} |"
            f" {at['false_hits']} |"
        )
    lines += ["", "| category | " + " | ".join(f"{n}: passes guard / pairs" for n in g["halves"]) + " |"]
    lines += ["| --- |" + " ---: |" * len(g["halves"])]
    for c in g["halves"]["whole"]["by_category"]:
        cells = [
            f"{h['by_category'][c]['guard_passes']} / {h['by_category'][c]['pairs']}" if c in h["by_category"] else "-"
            for h in g["halves"].values()
        ]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    for name in ("design", "held_out"):
        lines += ["", f"{name} half with the guard:", "", "| threshold | precision | recall | true hits | false hits |"]
        lines += ["| ---: | ---: | ---: | ---: | ---: |"]
        lines += [
            f"| {p['threshold']:.3f} | {p['precision']:.3f} | {p['recall']:.3f} | {p['true_hits']} |"
            f" {p['false_hits']} |"
            for p in g["halves"][name]["curve"]
            if p["threshold"] in (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
        ]
    lines += ["", "near-misses the guard lets through:", ""]
    lines += [
        f"- {m['similarity']} ({m['category']}, {m['id']}): {m['a']!r} / {m['b']!r}" for m in g["near_misses_passing"]
    ]
    lines += ["", f"paraphrases the guard refuses: {len(g['paraphrases_refused'])}", ""]
    lines += [f"- {m['id']}: {m['why']}: {m['a']!r} / {m['b']!r}" for m in g["paraphrases_refused"]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--plot", type=Path, help="write the precision/recall curve as a PNG (needs Pillow)")
    parser.add_argument("--json", type=Path, help="write the report as JSON")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    pairs = load_pairs(args.pairs)
    texts = list(dict.fromkeys(t for p in pairs for t in (p.a, p.b)))
    report: dict[str, Any] = {"speed": speed(texts, args.rounds)}
    from agentcache.embedders import local

    scores = similarities(local(), pairs)
    report["quality"] = quality(scores, pairs)
    report["guarded"] = guard_report(scores, pairs)
    report["default_threshold"] = {"value": DEFAULT_THRESHOLD, "embedder": DEFAULT_THRESHOLD_EMBEDDER}
    print(markdown(report))
    if report["guarded"]["default_must_be"] != DEFAULT_THRESHOLD:
        print(
            f"\nWARNING: agentcache.embedders.DEFAULT_THRESHOLD is {DEFAULT_THRESHOLD}, the set chooses "
            f"{report['guarded']['default_must_be']}"
        )
    if args.plot:
        plot(report, scores, pairs, args.plot)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
