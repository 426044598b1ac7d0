"""Benchmark of observability's cost: a session ``get`` (a hit) with no observer, with OpenTelemetry
tracing but no tracer provider set (the API's default), with tracing into the SDK (spans made and
dropped by a processor that exports nothing), and with Prometheus metrics; against the raw GETEX.

All on one bundled Valkey server (a single node in cluster mode), sync, interleaved in one
process. ``median``/``p99`` in microseconds; ``x floor``: median over the raw command's; ``x
plain``: median over agentcache's without observers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    Candidate,
    RaceResults,
    SyncCandidate,
    bench_parser,
    client_name,
    fmt_ratio,
    progress,
    race,
    run_meta,
    summarize,
    table,
    warm_up,
    write_json,
)


def main(argv: list[str] | None = None) -> int:
    options = bench_parser("observe", __doc__, 5000).parse_args(argv)
    ops = 300 if options.quick else options.ops

    import asyncio

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    from prometheus_client import CollectorRegistry

    from agentcache import AgentCache, BundledValkey
    from agentcache.observers.opentelemetry import OpenTelemetryTracing
    from agentcache.observers.prometheus import PrometheusMetrics

    class Nowhere(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Nowhere()))
    bundled = BundledValkey("cluster").start()
    runner = asyncio.Runner()
    try:
        setups: list[tuple[str, list[Any]]] = [
            ("agentcache get, no observer", []),
            ("agentcache get, OpenTelemetry without a provider", [OpenTelemetryTracing()]),
            ("agentcache get, OpenTelemetry into the SDK", [OpenTelemetryTracing(provider)]),
            ("agentcache get, Prometheus", [PrometheusMetrics(CollectorRegistry())]),
        ]
        caches = [AgentCache.from_url(bundled.url, observers=observers) for _, observers in setups]
        for cache in caches:
            cache.session.set("thread", "field", {"name": "Ada", "visits": 3}, ttl=3600)
            cache.session.get("thread", "field")
        raw = type(caches[0].client).from_url(bundled.url)
        key = caches[0].session.key("thread", "field")
        floor = "valkey-py GETEX (floor)"
        candidates: list[Candidate] = [
            SyncCandidate(name, _getter(cache), "agentcache", client_name(cache.client), floor)
            for (name, _), cache in zip(setups, caches, strict=True)
        ]
        candidates.append(SyncCandidate(floor, lambda: raw.getex(key, ex=3600), "floor", client_name(raw)))
        progress(f"{len(candidates)} candidates, {ops} samples each")
        warm_up(candidates, 300, runner)
        rows = summarize(candidates, race(candidates, [ops] * len(candidates), 10, runner), {})
        plain = rows[0].median_us
        print("\nCost of observability on a session get (µs per call)\n")
        print(
            table(
                ["candidate", "median", "p99", "x floor", "x plain"],
                [
                    [
                        r.candidate,
                        f"{r.median_us:.1f}",
                        f"{r.p99_us:.1f}",
                        fmt_ratio(r.ratio_to_floor),
                        fmt_ratio(r.median_us / plain),
                    ]
                    for r in rows
                ],
            )
        )
        meta = run_meta(["opentelemetry-sdk", "prometheus-client"], vars(options))
        write_json(RaceResults(meta, rows), Path(options.out))
        for cache in caches:
            cache.close()
        raw.close()
    finally:
        runner.close()
        bundled.stop()
    return 0


def _getter(cache: Any) -> Any:
    return lambda: cache.session.get("thread", "field")


if __name__ == "__main__":
    sys.exit(main())
