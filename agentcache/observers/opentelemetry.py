"""OpenTelemetry tracing (extra ``opentelemetry``): one span per operation.

``AgentCache(..., observers=[OpenTelemetryTracing()])``. Each call of a tier method becomes a
client span named ``agentcache <tier>.<operation>`` with the attributes ``db.system.name``
(``valkey``), ``agentcache.tier``, ``agentcache.operation``, ``agentcache.round_trips``,
``agentcache.keys`` and, for lookups, ``agentcache.hit``. Arguments, values, keys and thread ids
are never recorded. The span is current while the operation runs, so a model or tool call made
inside ``get_or_compute`` is its child. Without a tracer provider (the API's default), nothing is
recorded: each call then costs one check of the global provider.
"""

from __future__ import annotations

from typing import Any

from agentcache.errors import missing_extra

try:
    from opentelemetry import trace
    from opentelemetry.trace import ProxyTracerProvider, SpanKind, Status, StatusCode
except ImportError as missing:
    raise missing_extra(__name__, "opentelemetry", missing) from missing

from agentcache.core.observe import Record

__all__ = ["OpenTelemetryTracing"]


class OpenTelemetryTracing:
    """An observer making one span per operation; ``tracer_provider`` defaults to the global one."""

    def __init__(self, tracer_provider: Any = None) -> None:
        self._provider = tracer_provider
        self._tracer: Any = None
        self._seen: Any = None

    def _current_tracer(self) -> Any:
        provider = self._provider if self._provider is not None else trace.get_tracer_provider()
        if provider is not self._seen:
            self._seen = provider
            no_provider = isinstance(provider, ProxyTracerProvider) and self._provider is None
            self._tracer = None if no_provider else provider.get_tracer("agentcache")
        return self._tracer

    def wants(self) -> bool:
        """Whether there is a tracer provider to make spans for (else calls are not recorded)."""
        return self._current_tracer() is not None

    def begin(self, record: Record) -> Any:
        tracer = self._current_tracer()
        if tracer is None:
            return None
        span = tracer.start_span(
            f"agentcache {record.tier}.{record.operation}",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": "valkey",
                "agentcache.tier": record.tier,
                "agentcache.operation": record.operation,
            },
        )
        scope = trace.use_span(span, end_on_exit=False)
        scope.__enter__()
        return span, scope

    def end(self, record: Record, token: Any) -> None:
        if token is None:
            return
        span, scope = token
        span.set_attribute("agentcache.round_trips", record.round_trips)
        span.set_attribute("agentcache.keys", record.keys)
        if record.hit is not None:
            span.set_attribute("agentcache.hit", record.hit)
        if record.local_hits:
            span.set_attribute("agentcache.near_cache", True)
        if record.error is not None:
            span.set_status(Status(StatusCode.ERROR, type(record.error).__name__))
            span.record_exception(record.error)
        scope.__exit__(None, None, None)
        span.end()
