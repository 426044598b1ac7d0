"""Observers: records of what each operation did, OpenTelemetry spans (in-memory exporter) and
Prometheus metrics (a registry of their own), on real servers, both facades; nothing without them."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from agentcache import AgentCache, AsyncAgentCache, InvalidArgumentError, SessionNotFound
from agentcache.core.observe import Record
from agentcache.observers.opentelemetry import OpenTelemetryTracing
from agentcache.observers.prometheus import PrometheusMetrics
from agentcache.testing import unique_prefix


class Recorder:
    """An observer keeping every record."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def begin(self, record: Record) -> Any:
        return record.operation

    def end(self, record: Record, token: Any) -> None:
        assert token == record.operation
        self.records.append(record)


@pytest.fixture
def recorded(url: str) -> Iterator[tuple[AgentCache, Recorder]]:
    recorder = Recorder()
    with AgentCache.from_url(url, prefix=unique_prefix(), observers=[recorder]) as cache:
        cache.session.set("warm", "f", 1)
        cache.session.set_many("warm", {"f": 1})
        cache.session.get("warm", "f")  # loads the scripts on this slot's node
        cache.tool.check("warm", {"a": 1})
        recorder.records.clear()
        yield cache, recorder


def test_without_observers_the_methods_are_the_plain_ones(url: str) -> None:
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        run = inspect.getclosurevars(cache.session.get).nonlocals["run"]
        assert run == cache._executor.run, "no wrapper: nothing is measured"


def test_records_round_trips_keys_hits_and_misses(recorded: tuple[AgentCache, Recorder]) -> None:
    cache, recorder = recorded
    cache.session.get("t", "warm")  # the get script's first call on the thread's node may send its body too
    recorder.records.clear()
    cache.session.set("t", "a", 1)
    cache.session.get("t", "a")
    cache.session.get("t", "missing")
    cache.session.set_many("t", {"b": 2, "c": 3})
    cache.tool.store("search", {"q": 1}, ["result"])
    cache.tool.check("search", {"q": 1})
    found = [(r.tier, r.operation, r.round_trips, r.hit) for r in recorder.records]
    assert found == [
        ("session", "set", 1, None),
        ("session", "get", 1, True),
        ("session", "get", 1, False),
        ("session", "set_many", 1, None),
        ("tool", "store", 1, None),
        ("tool", "check", 1, True),
    ]
    assert [r.keys for r in recorder.records[:4]] == [1, 1, 1, 2]
    assert all(r.seconds > 0 and r.error is None for r in recorder.records)


def test_an_error_is_recorded_and_raised(recorded: tuple[AgentCache, Recorder]) -> None:
    cache, recorder = recorded
    with pytest.raises(SessionNotFound):
        cache.conversations.get("no-such-conversation")
    (record,) = recorder.records
    assert (record.tier, record.operation) == ("conversations", "get")
    assert isinstance(record.error, SessionNotFound)


async def test_concurrent_tasks_keep_their_own_records(url: str) -> None:
    recorder = Recorder()
    async with AsyncAgentCache.from_url(url, prefix=unique_prefix(), observers=[recorder]) as cache:
        await cache.session.set("t", "f", 1)
        await cache.session.get("t", "f")
        recorder.records.clear()
        await asyncio.gather(*(cache.session.get("t", "f" if i % 2 else "none") for i in range(40)))
    assert len(recorder.records) == 40
    assert all(r.round_trips == 1 for r in recorder.records)
    assert [r.hit for r in recorder.records].count(True) == 20
    assert [r.hit for r in recorder.records].count(False) == 20


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_opentelemetry_one_span_per_operation_without_user_data(
    url: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    with AgentCache.from_url(url, prefix=unique_prefix(), observers=[OpenTelemetryTracing(provider)]) as cache:
        cache.session.set("secret-thread", "secret-field", "secret-value")
        cache.session.get("secret-thread", "secret-field")  # the first on its node also loads the script
        exporter.clear()
        cache.session.set("secret-thread", "secret-field", "secret-value")
        cache.session.get("secret-thread", "secret-field")
        tracer = provider.get_tracer("test")

        def compute() -> str:
            with tracer.start_as_current_span("the tool itself"):
                return "answer"

        cache.tool.get_or_compute("lookup", {"q": "secret-arg"}, compute)
        with pytest.raises(SessionNotFound):
            cache.conversations.get("nope")
    finished = {s.name: s for s in exporter.get_finished_spans()}
    assert {"agentcache session.set", "agentcache session.get", "agentcache tool.get_or_compute"} <= set(finished)
    get = finished["agentcache session.get"]
    assert get.kind == SpanKind.CLIENT
    assert get.attributes is not None
    assert dict(get.attributes) == {
        "db.system.name": "valkey",
        "agentcache.tier": "session",
        "agentcache.operation": "get",
        "agentcache.round_trips": 1,
        "agentcache.keys": 1,
        "agentcache.hit": True,
    }
    everything = repr([dict(s.attributes or {}) for s in exporter.get_finished_spans()])
    assert "secret" not in everything, "no thread id, field, value or argument in any span"
    child, parent = finished["the tool itself"], finished["agentcache tool.get_or_compute"]
    assert child.parent is not None and child.parent.span_id == parent.context.span_id
    failed = finished["agentcache conversations.get"]
    assert failed.status.status_code == StatusCode.ERROR


async def test_opentelemetry_on_the_async_facade(url: str, spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = spans
    tracing = OpenTelemetryTracing(provider)
    async with AsyncAgentCache.from_url(url, prefix=unique_prefix(), observers=[tracing]) as cache:
        await asyncio.gather(*(cache.session.set("t", f"f{i}", i) for i in range(10)))
    names = [s.name for s in exporter.get_finished_spans()]
    assert names.count("agentcache session.set") == 10
    assert all(s.parent is None for s in exporter.get_finished_spans()), "concurrent spans do not nest"


def test_opentelemetry_without_a_provider_makes_no_span(url: str) -> None:
    tracing = OpenTelemetryTracing()  # the global provider: the API's default, which records nothing
    with AgentCache.from_url(url, prefix=unique_prefix(), observers=[tracing]) as cache:
        cache.session.set("t", "f", 1)
        assert tracing.begin(Record("session", "get")) is None


def test_prometheus_counts_outcomes_round_trips_and_latency(recorded: tuple[AgentCache, Recorder], url: str) -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    with AgentCache.from_url(url, prefix=unique_prefix(), observers=[metrics]) as cache:
        cache.session.set("t", "f", 1)
        for field in ("f", "f", "g"):
            cache.session.get("t", field)
        with pytest.raises(SessionNotFound):
            cache.conversations.get("nope")

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("agentcache_operations_total", tier="session", operation="get", outcome="hit") == 2
    assert value("agentcache_operations_total", tier="session", operation="get", outcome="miss") == 1
    assert value("agentcache_operations_total", tier="session", operation="set", outcome="ok") == 1
    assert value("agentcache_operations_total", tier="conversations", operation="get", outcome="error") == 1
    assert value("agentcache_operation_seconds_count", tier="session", operation="get") == 3
    assert (value("agentcache_round_trips_total", tier="session", operation="get") or 0) >= 3


def test_the_http_api_serves_metrics(url: str) -> None:
    from agentcache.http.app import create_app

    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    cache = AsyncAgentCache.from_url(url, prefix=unique_prefix(), observers=[metrics])
    app = create_app(cache, user_keys=["u"], admin_keys=["a"], owns_cache=True, metrics_registry=registry)
    with TestClient(app) as client:
        put = client.post(
            "/api/v1/threads/t/session", json={"key": "k", "value": 1}, headers={"Authorization": "Bearer u"}
        )
        assert put.is_success, put.text
        assert client.get("/metrics", headers={"Authorization": "Bearer u"}).status_code == 403
        text = client.get("/metrics", headers={"Authorization": "Bearer a"}).text
    assert 'agentcache_operations_total{operation="set_value",outcome="ok",tier="session"} 1.0' in text


def test_bad_observers_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="list of observers"):
        AgentCache.in_memory(observers="tracing")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="begin"):
        AgentCache.in_memory(observers=[object()])  # type: ignore[list-item]


def test_near_cache_hits_are_local_hits(url: str) -> None:
    import time

    from agentcache import NearCache

    registry = CollectorRegistry()
    recorder = Recorder()
    observers = [PrometheusMetrics(registry), recorder]
    with AgentCache.from_url(url, prefix=unique_prefix(), observers=observers, near_cache=NearCache()) as cache:
        cache.ping()
        while not cache.settings.near.stats().live:  # type: ignore[union-attr]
            time.sleep(0.01)
        cache.tool.store("t", {}, 1)
        for _ in range(500):  # until one is served from memory (the store's own report may come late)
            cache.tool.check("t", {})
            if recorder.records[-1].local_hits:
                break
            time.sleep(0.01)
    checks = [r for r in recorder.records if r.operation == "check"]
    assert checks[0].local_hits == 0 and checks[0].round_trips == 1
    assert checks[-1].local_hits == 1 and checks[-1].round_trips == 0 and checks[-1].hit is True
    local = registry.get_sample_value(
        "agentcache_operations_total", {"tier": "tool", "operation": "check", "outcome": "local_hit"}
    )
    assert local == 1
