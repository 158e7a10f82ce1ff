"""The health service's HTTP side: the report, its Prometheus form, and the operators' page.

    GET /v1/health/streams   the latest report (JSON), for an operator token
    GET /metrics             the same figures for Prometheus (no token: scrape from inside)
    GET /exploitation        the operators' live page (asks for the token, then polls the JSON)
    GET /healthz             the health service itself

Tokens come from `auth.tokens`, read in the background: while Kafka is away the last table read
is used, so operators still see what is wrong (a revocation made during the outage applies once
Kafka is back; the figures are not personal data).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.auth.tokens import authenticate
from services.bus.openapi import depends_on, document, webhook
from services.bus.pages import serve_page
from services.events.auth import Role
from services.health.alerts import Alert
from services.health.status import Status


def create_app(report: Callable[[], dict[str, Any] | None], tokens: Callable[[], Any],
               registry: CollectorRegistry) -> FastAPI:
    """`report()` gives the latest report (None before the first round); `tokens()` the token
    table (None while it loads); `registry` holds the service's own metrics."""
    app = FastAPI(title="Vivres — santé des flux", version="0.1.0", redirect_slashes=False,
                  description="Stream health for operators: consumer lag and status after "
                              "Burrow's rules, throughput, dead letters, latency, brokers.")
    app.state.report, app.state.tokens = report, tokens
    registry.register(ReportCollector(report))

    def operator(request: Request) -> None:
        table = tokens()
        if table is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                "the token table is loading (is Kafka reachable?)")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        who = authenticate(table.get, token.strip() if scheme.lower() == "bearer" else None)
        if who is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing, unknown or revoked token",
                                headers={"WWW-Authenticate": "Bearer"})
        if who.role is not Role.OPERATOR:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"a {who.role.value} token cannot do this (needs OPERATOR)")

    @app.get("/v1/health/streams", tags=["health"], dependencies=[Depends(operator)])
    async def streams() -> JSONResponse:
        """Every watched consumer group (per partition: committed, end, lag in records and
        seconds, status), topic rates, dead letters, services' latency and freshness, brokers.
        `status` is the worst of all: OK < WARN < STALL < STOP < REWIND < DOWN."""
        found = report()
        if found is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "first round not done yet",
                                headers={"Retry-After": "5"})
        return JSONResponse(found, headers={"Cache-Control": "no-store"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.get("/exploitation", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request) -> Response:
        return serve_page(request, "services.health", "exploitation.html")

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        """The health service itself, and (without a token, so that it can be told while the
        token table cannot be read) whether the streams are OK and Kafka answers."""
        found = report()
        if found is None:
            return JSONResponse({"status": "starting", "streams": None, "kafka": None})
        kafka = found["kafka"]
        return JSONResponse({"status": "ok", "streams": found["status"],
                             "kafka": {"reachable": kafka["reachable"], "error": kafka["error"],
                                       "last_seen": kafka["last_seen"]}})

    document(app, lambda route: depends_on(route.dependant, operator))
    webhook(app, "health.alert", Alert, "A status changed (a group, Kafka, a service, dead "
                                        "letters), to VIVRES_HEALTH_WEBHOOK_URL")
    return app


STATUS_CODE = {s.value: s.severity for s in Status}


class ReportCollector(Collector):
    """The latest report as Prometheus gauges, built at scrape time (no stale label sets)."""

    def __init__(self, report: Callable[[], dict[str, Any] | None]) -> None:
        self.report = report

    def collect(self) -> Iterator[GaugeMetricFamily]:
        found = self.report()
        if found is None:
            return
        codes = ", ".join(f"{name}={code}" for name, code in STATUS_CODE.items())

        def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=labels)

        overall = gauge("vivres_health_status", f"Worst status of all ({codes})", [])
        overall.add_metric([], STATUS_CODE[found["status"]])
        yield overall

        kafka = found["kafka"]
        up = gauge("vivres_health_kafka_up", "1 when Kafka answered the last round", [])
        up.add_metric([], 1 if kafka["reachable"] else 0)
        brokers = gauge("vivres_health_brokers", "Brokers in the cluster's metadata", [])
        brokers.add_metric([], len(kafka["brokers"]))
        controller = gauge("vivres_health_active_controller",
                           "Node id of the KRaft quorum's leader (-1: unknown)", [])
        controller.add_metric([], kafka["controller"] if kafka["controller"] is not None else -1)
        under = gauge("vivres_health_under_replicated_partitions",
                      "Partitions with fewer in-sync replicas than replicas", [])
        under.add_metric([], len(kafka["under_replicated"]))
        offline = gauge("vivres_health_offline_partitions", "Partitions without a leader", [])
        offline.add_metric([], len(kafka["offline"]))
        yield from (up, brokers, controller, under, offline)

        group_status = gauge("vivres_health_group_status", f"Consumer group status ({codes})",
                             ["group"])
        group_lag = gauge("vivres_health_group_lag", "Records the group has not consumed",
                          ["group"])
        lag = gauge("vivres_health_partition_lag", "Records not consumed, per partition",
                    ["group", "topic", "partition"])
        lag_s = gauge("vivres_health_partition_lag_seconds",
                      "Age of the oldest record not consumed, per partition",
                      ["group", "topic", "partition"])
        for group in found["groups"]:
            group_status.add_metric([group["group"]], STATUS_CODE[group["status"]])
            group_lag.add_metric([group["group"]], group["lag"])
            for p in group["partitions"]:
                labels = [group["group"], p["topic"], str(p["partition"])]
                lag.add_metric(labels, p["lag"])
                if p["lag_seconds"] is not None:
                    lag_s.add_metric(labels, p["lag_seconds"])
        yield from (group_status, group_lag, lag, lag_s)

        end = gauge("vivres_health_topic_end_offset", "Sum of the topic's end offsets", ["topic"])
        rate = gauge("vivres_health_topic_records_per_second",
                     "Records appended per second over the window", ["topic"])
        for topic in found["topics"]:
            end.add_metric([topic["topic"]], topic["end"])
            if topic["records_per_s"] is not None:
                rate.add_metric([topic["topic"]], topic["records_per_s"])
        depth = gauge("vivres_health_dead_letters", "Records in the dead-letter topic", ["topic"])
        for letters in found["dead_letters"]:
            depth.add_metric([letters["topic"]], letters["depth"])
        yield from (end, rate, depth)

        service_up = gauge("vivres_health_service_up", "1 when the service's /metrics answered",
                           ["service"])
        latency = gauge("vivres_health_service_latency_seconds",
                        "Event time to processing over the window", ["service", "quantile"])
        bus = gauge("vivres_health_service_bus_latency_seconds",
                    "Append on Kafka to processing over the window", ["service", "quantile"])
        age = gauge("vivres_health_state_age_seconds",
                    "Now minus the newest event applied from the topic (freshness of the state "
                    "it feeds)", ["service", "topic"])
        for service in found["services"]:
            service_up.add_metric([service["service"]], 1 if service["up"] else 0)
            for family, key in ((latency, "event_latency_ms"), (bus, "bus_latency_ms")):
                for quantile, label in (("p50", "0.5"), ("p99", "0.99")):
                    value = service[key][quantile]
                    if value is not None:
                        family.add_metric([service["service"], label], value / 1000)
            for state in service["freshness"]:
                age.add_metric([service["service"], state["state"]], state["age_s"])
        yield from (service_up, latency, bus, age)
