"""Every HTTP request counted, timed and logged, by route template and status.

`vivres_http_requests_total{method, route, status}` and `vivres_http_request_seconds{method,
route}` land in the service's own metrics (GET /metrics on its metrics port), beside the bus's.
The route is the template (`/v1/orders/{order_id}`), never the path: ids, and whatever a fuzzer
sends to an unknown path (`unmatched`), would make one series each. The access log gives the
path without its query string and never a header, so no token reaches a log: tokens travel in
`Authorization`, and the pages keep theirs in the URL's fragment, which browsers never send.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.bus.metrics import Metrics

log = structlog.get_logger("vivres.access")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
UNMATCHED = "unmatched"


def route_of(scope: Scope) -> str:
    """The template of the route that answered (set by the router while it routed)."""
    route: Any = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


class AccessLog:
    """Pure ASGI middleware (streams, SSE included, pass through untouched)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.requests = metrics.counter("vivres_http_requests_total",
                                        "HTTP requests answered, by route template and status",
                                        ("service", "method", "route", "status"))
        self.seconds = metrics.histogram("vivres_http_request_seconds",
                                         "Time from a request's arrival to its answer's end",
                                         ("service", "method", "route"), _BUCKETS)
        self.service = metrics.service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500  # an answer never begun is the server's fault

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method, route = scope["method"], route_of(scope)
        self.requests.labels(self.service, method, route, str(status)).inc()
        self.seconds.labels(self.service, method, route).observe(seconds)
        client = scope.get("client")
        log.info("http request", method=method, path=scope["path"], route=route, status=status,
                 duration_ms=round(seconds * 1000, 1), client=client[0] if client else None)
