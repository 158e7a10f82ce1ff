"""The samples Vivres' code exposes on /metrics, read from the code itself: a bus service's
(services.bus.metrics.Metrics, the gateway's HTTP metrics of services.gateway.access) and the
health service's (services.health.app.ReportCollector, fed a report in the shape Monitor builds).
The dashboard's and the alerts' tests hold their queries against these names."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.bus.metrics import Metrics
from services.gateway.access import AccessLog
from services.health.app import ReportCollector

# A small report in the shape of services.health.monitor.Monitor._build().
REPORT: dict[str, Any] = {
    "status": "STALL", "generated_at": "2025-03-01T10:00:00Z", "window_s": 30.0,
    "interval_s": 5.0,
    "kafka": {
        "status": "WARN", "reachable": True, "error": None, "bootstrap": "127.0.0.1:9092",
        "last_seen": "2025-03-01T10:00:00Z",
        "brokers": [{"id": 1, "host": "kafka-1", "port": 9092},
                    {"id": 2, "host": "kafka-2", "port": 9092}],
        "controller": 2, "voters": [1, 2], "partitions": 12,
        "under_replicated": ["sales.tickets[1]"], "offline": []},
    "groups": [{
        "group": "vivres-stock", "state": "Stable", "members": 1, "status": "STALL",
        "reason": "1 member(s), offset unmoved for 40s", "lag": 7, "lag_seconds": 42.5,
        "topics": ["sales.tickets"],
        "partitions": [
            {"topic": "sales.tickets", "partition": 0, "committed": 10, "end": 10, "lag": 0,
             "lag_seconds": 0.0, "status": "OK", "reason": "caught up within the window"},
            {"topic": "sales.tickets", "partition": 1, "committed": 3, "end": 10, "lag": 7,
             "lag_seconds": 42.5, "status": "STALL",
             "reason": "1 member(s), offset unmoved for 40s"}],
        "history": [[1740823190.0, 5], [1740823195.0, 7]]}],
    "topics": [{"topic": "sales.tickets", "partitions": 2, "end": 20, "records_per_s": 0.4}],
    "dead_letters": [{"topic": "sales.tickets.dlq", "source": "sales.tickets", "depth": 3,
                      "rate": 0.0, "status": "OK", "latest": []}],
    "services": [{
        "service": "stock", "url": "http://127.0.0.1:9102/metrics", "up": True, "error": None,
        "status": "OK", "last_seen": "2025-03-01T10:00:00Z",
        "event_latency_ms": {"count": 4, "p50": 120.0, "p99": 900.0},
        "bus_latency_ms": {"count": 4, "p50": 15.0, "p99": 250.0},
        "freshness": [{"state": "sales.tickets", "newest_event_at": "2025-03-01T09:59:50Z",
                       "age_s": 10.0}]}],
}


class _Record:
    topic, partition, offset = "t", 0, 1


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def health_samples() -> list:
    registry = CollectorRegistry()
    registry.register(ReportCollector(lambda: REPORT))
    return samples(generate_latest(registry).decode())


def service_samples() -> list:
    """One sample at least of every family a bus service keeps, the gateway's HTTP ones too."""
    metrics = Metrics("x")
    metrics.applied("t", 1.0, 1.0)
    for counter in (metrics.consumed, metrics.handled, metrics.retries, metrics.published):
        counter.labels("x", "t").inc()
    metrics.dead_lettered.labels("x", "t", "handle").inc()
    metrics.handler_seconds.labels("x", "t").observe(0.01)
    metrics.blocked("vivres-x", _Record(), OSError("registry away"))
    access = AccessLog(lambda *_: None, metrics)
    access.requests.labels("x", "GET", "/v1/x", "200").inc()
    access.seconds.labels("x", "GET", "/v1/x").observe(0.01)
    return samples(metrics.exposition().decode())


def exposed() -> set[str]:
    """Every sample name, as PromQL names them (counters with _total, histograms' _bucket...)."""
    return {s.name for s in health_samples() + service_samples()}
