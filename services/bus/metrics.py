"""Prometheus metrics of one service, and the small HTTP server that exposes them at /metrics.

Every consuming service reports, per input topic, how long a record took from its event time and
from its arrival on the bus to being applied, and the event time of the newest event applied
(the freshness of the state it feeds). The health service reads these (`services/health`).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_AGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400, 14 * 86400)


class Metrics:
    """The counters every bus service keeps, in a registry of its own (no global state)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self._own: dict[str, Counter | Histogram] = {}
        ProcessCollector(registry=self.registry)
        labels = ["service", "topic"]
        self.consumed = Counter("vivres_records_consumed_total", "Records consumed",
                                labels, registry=self.registry)
        self.handled = Counter("vivres_records_handled_total", "Records handled successfully",
                               labels, registry=self.registry)
        self.dead_lettered = Counter("vivres_records_dead_lettered_total",
                                     "Records sent to the dead-letter topic",
                                     [*labels, "stage"], registry=self.registry)
        self.retries = Counter("vivres_handler_retries_total", "Handler attempts retried",
                               labels, registry=self.registry)
        self.published = Counter("vivres_records_published_total", "Records published",
                                 labels, registry=self.registry)
        self.handler_seconds = Histogram("vivres_handler_seconds", "Time to handle one record",
                                         labels, buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.event_age = Histogram("vivres_event_age_seconds",
                                   "Processing time minus event time (end-to-end latency)",
                                   labels, buckets=_AGE_BUCKETS, registry=self.registry)
        self.bus_latency = Histogram("vivres_bus_latency_seconds",
                                     "Processing time minus the record's append time on Kafka",
                                     labels, buckets=_AGE_BUCKETS, registry=self.registry)
        self.newest_event = Gauge("vivres_state_newest_event_timestamp_seconds",
                                  "Event time of the newest event applied from the topic",
                                  labels, registry=self.registry)
        self.blocked_since = Gauge(
            "vivres_consumer_blocked_since_timestamp_seconds",
            "A record the service cannot get past while the broker or registry fails it: "
            "since when, with its consumer group, its place and the error",
            ["service", "group", "topic", "partition", "offset", "error"],
            registry=self.registry)
        self._newest: dict[str, float] = {}
        self._blocked: dict[tuple[str, int], tuple[str, ...]] = {}  # (topic, partition) -> labels

    def applied(self, topic: str, event_time_s: float, appended_s: float) -> None:
        """One event of `topic` applied now: its latencies, and the state's freshness (the
        newest event time applied; a late till upload does not make the state look older)."""
        now = time.time()
        labels = (self.service, topic)
        self.event_age.labels(*labels).observe(max(0.0, now - event_time_s))
        self.bus_latency.labels(*labels).observe(max(0.0, now - appended_s))
        if event_time_s > self._newest.get(topic, float("-inf")):
            self._newest[topic] = event_time_s
            self.newest_event.labels(*labels).set(event_time_s)

    def blocked(self, group: str, record: Any, error: BaseException) -> None:
        """The record waits on our infrastructure: shown until `unblocked` (first error kept)."""
        place = (record.topic, record.partition)
        if place not in self._blocked:
            labels = (self.service, group, record.topic, str(record.partition),
                      str(record.offset), f"{type(error).__name__}: {error}"[:200])
            self._blocked[place] = labels
            self.blocked_since.labels(*labels).set(time.time())

    def unblocked(self, record: Any) -> None:
        labels = self._blocked.pop((record.topic, record.partition), None)
        if labels is not None:
            self.blocked_since.remove(*labels)

    def counter(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
        """A service's own counter, created once per registry whoever asks for it."""
        if name not in self._own:
            self._own[name] = Counter(name, documentation, labels, registry=self.registry)
        return self._own[name]  # type: ignore[return-value]

    def histogram(self, name: str, documentation: str, labels: tuple[str, ...],
                  buckets: tuple[float, ...] = _LATENCY_BUCKETS) -> Histogram:
        """A service's own histogram, created once per registry whoever asks for it."""
        if name not in self._own:
            self._own[name] = Histogram(name, documentation, labels, buckets=buckets,
                                        registry=self.registry)
        return self._own[name]  # type: ignore[return-value]

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """Serves GET /metrics (Prometheus text format) on host:port; port 0 picks a free one."""

    def __init__(self, metrics: Metrics, host: str = "127.0.0.1", port: int = 0) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> MetricsServer:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the port actually bound
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    async def _serve(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})
