"""Prometheus metrics (extra ``prometheus``): counters and latency histograms per tier and operation.

``AgentCache(..., observers=[PrometheusMetrics()])`` registers (in ``registry``, default the global
one) ``agentcache_operations_total{tier, operation, outcome}`` (outcome: ``hit``, ``local_hit``
(served by the near cache), ``miss``, ``ok`` or ``error``), the histogram
``agentcache_operation_seconds{tier, operation}`` and ``agentcache_round_trips_total{tier,
operation}``. ``agentcache serve`` exposes them at ``/metrics`` when this extra is installed. One
``PrometheusMetrics`` per registry: give the same one to every cache of the process.
"""

from __future__ import annotations

from typing import Any

from agentcache.errors import missing_extra

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
except ImportError as missing:
    raise missing_extra(__name__, "prometheus", missing) from missing

from agentcache.core.observe import Record

__all__ = ["PrometheusMetrics"]

BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


class PrometheusMetrics:
    """An observer counting operations, their outcomes, round trips and latency."""

    def __init__(self, registry: CollectorRegistry | None = None, namespace: str = "agentcache") -> None:
        self.registry = REGISTRY if registry is None else registry
        labels = ("tier", "operation")
        self.operations = Counter(
            "operations",
            "agentcache operations by outcome",
            (*labels, "outcome"),
            namespace=namespace,
            registry=self.registry,
        )
        self.seconds = Histogram(
            "operation_seconds",
            "agentcache operation latency",
            labels,
            namespace=namespace,
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.round_trips = Counter(
            "round_trips", "round trips to Valkey", labels, namespace=namespace, registry=self.registry
        )

        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}  # labels() is slow: once each

    def begin(self, record: Record) -> Any:
        return None

    def end(self, record: Record, token: Any) -> None:
        if record.error is not None:
            outcome = "error"
        else:
            hit = record.hit
            outcome = "ok" if hit is None else ("local_hit" if record.local_hits else "hit") if hit else "miss"
        labels = (record.tier, record.operation, outcome)
        children = self._children.get(labels)
        if children is None:
            tier_op = labels[:2]
            children = self._children.setdefault(
                labels,
                (self.operations.labels(*labels), self.seconds.labels(*tier_op), self.round_trips.labels(*tier_op)),
            )
        operations, seconds, round_trips = children
        operations.inc()
        seconds.observe(record.seconds)
        if record.round_trips:
            round_trips.inc(record.round_trips)
