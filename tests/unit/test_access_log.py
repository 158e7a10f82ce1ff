"""The gateway's requests, counted and timed by route template and status, and logged without
their tokens or query strings (services/gateway/access.py)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.gateway import access
from services.gateway.app import GatewayDeps, create_app

SECRET = "vvr_not-a-real-token-but-secret"


class Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def info(self, event: str, **fields: object) -> None:
        self.lines.append((event, fields))


@pytest.fixture
def logged(monkeypatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(access, "log", recorder)
    return recorder


def samples(app, name: str) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(app.state.metrics.exposition().decode())
            for s in family.samples if s.name == name}


async def test_requests_are_counted_by_route_template_and_logged_without_tokens(logged) -> None:
    app = create_app(GatewayDeps(publisher=None, tokens={}, products={}, mappings={},
                                 unmapped={}, stock={}, offers={}, orders={}))
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for _ in range(3):
            assert (await client.get("/v1/catalog/products")).status_code == 200
        refused = await client.get(f"/v1/orders?token={SECRET}",
                                   headers={"Authorization": f"Bearer {SECRET}"})
        assert refused.status_code == 401
        assert (await client.post("/v1/orders/lyon/2026-12-08/r1/ferme/confirm")).status_code \
            == 401
        for n in range(5):  # unknown paths: one series, not one per path
            assert (await client.get(f"/wp-admin/{n}.php")).status_code == 404

    counted = samples(app, "vivres_http_requests_total")
    key = lambda method, route, status: (("method", method), ("route", route),  # noqa: E731
                                         ("service", "gateway"), ("status", status))
    assert counted[key("GET", "/v1/catalog/products", "200")] == 3
    assert counted[key("GET", "/v1/orders", "401")] == 1
    assert counted[key("POST", "/v1/orders/{order_id:path}/{action}", "401")] == 1
    assert counted[key("GET", "unmatched", "404")] == 5
    timed = samples(app, "vivres_http_request_seconds_count")
    assert timed[(("method", "GET"), ("route", "/v1/catalog/products"),
                  ("service", "gateway"))] == 3

    assert len(logged.lines) == 10
    assert SECRET not in repr(logged.lines)
    event, fields = logged.lines[3]
    assert event == "http request"
    assert fields == {"method": "GET", "path": "/v1/orders", "route": "/v1/orders",
                      "status": 401, "duration_ms": fields["duration_ms"], "client": "192.0.2.7"}
