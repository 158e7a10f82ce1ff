"""POST /v1/stock/deliveries without a broker: a delivery received outside a pooled order is
published to stock.deliveries (no order id, the product's unit, the caller's id kept for
idempotence); refusals name their field; a shop records its own deliveries only. And the stock
service counts a delivery sent twice once."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from services.auth.tokens import digest, issue
from services.bus import access
from services.bus.catalog import STOCK_DELIVERIES
from services.events.auth import Role
from services.events.catalog import ProductDefined
from services.events.sales import QuantityUnit
from services.events.stock import DeliveryReceived
from services.gateway.app import GatewayDeps, create_app
from services.stock import ledger
from services.stock.service import StockService

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
POMMES = ProductDefined(product_id="pommes", name="Pommes", category="fruits",
                        unit=QuantityUnit.GRAM, organic=False, labels=(), defined_at=NOW)


class Published:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    async def publish(self, topic, event, **_kw) -> None:
        self.events.append((topic.name, event))


class Tokens(dict):
    def put(self, event) -> None:
        self[event.token_sha256] = event


@pytest.fixture
async def http():
    tokens, bearer = Tokens(), {}
    for name, role, subject in (("shop", Role.SHOP, "epi-gerland"),
                                ("other", Role.SHOP, "epi-croix"),
                                ("hub", Role.HUB, "pole-lyon"),
                                ("producer", Role.PRODUCER, "ferme-monts")):
        token, event = issue(role, subject, name, NOW)
        tokens.put(event)
        assert tokens.get(digest(token)) is event
        bearer[name] = {"Authorization": f"Bearer {token}"}
    published = Published()
    deps = GatewayDeps(published, tokens, {"pommes": POMMES}, {}, {}, {}, {}, {},
                       clock=lambda: NOW)
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.bearer = bearer
        client.published = published
        yield client


async def test_a_direct_delivery_is_published_without_an_order(http) -> None:
    body = {"shop_id": "epi-gerland", "product_id": "pommes", "quantity": 2_500,
            "delivery_id": "livraison-1"}
    answer = await http.post("/v1/stock/deliveries", json=body, headers=http.bearer["shop"])
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"id": "livraison-1"}
    [(topic, event)] = http.published.events
    assert topic == STOCK_DELIVERIES.name == "stock.deliveries"
    assert event == DeliveryReceived(delivery_id="livraison-1", shop_id="epi-gerland",
                                     product_id="pommes", quantity=2_500,
                                     unit=QuantityUnit.GRAM, order_id=None, received_at=NOW)
    # without an id, one is made; the hub may record one for a shop
    answer = await http.post("/v1/stock/deliveries", headers=http.bearer["hub"],
                             json={k: v for k, v in body.items() if k != "delivery_id"})
    assert answer.status_code == 202
    assert answer.json()["id"].startswith("delivery-")
    assert http.published.events[1][1].delivery_id == answer.json()["id"]


@pytest.mark.parametrize(("change", "field", "kind"), [
    ({"quantity": 0}, "quantity", "greater_than"),
    ({"quantity": -3}, "quantity", "greater_than"),
    ({"quantity": None}, "quantity", "int_type"),
    ({"delivery_id": "a b"}, "delivery_id", "string_pattern_mismatch"),
    ({"product_id": "inconnu"}, "product_id", "value_error"),
    ({"order_id": "o-1"}, "order_id", "extra_forbidden"),
])
async def test_a_refused_delivery_names_its_field(http, change, field, kind) -> None:
    body = {"shop_id": "epi-gerland", "product_id": "pommes", "quantity": 1_000} | change
    answer = await http.post("/v1/stock/deliveries", json=body, headers=http.bearer["shop"])
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["body", field], kind)
    assert http.published.events == []


async def test_a_shop_records_its_own_deliveries_only(http) -> None:
    body = {"shop_id": "epi-gerland", "product_id": "pommes", "quantity": 1_000}
    assert (await http.post("/v1/stock/deliveries", json=body)).status_code == 401
    for who in ("other", "producer"):
        answer = await http.post("/v1/stock/deliveries", json=body, headers=http.bearer[who])
        assert answer.status_code == 403, who
    assert http.published.events == []


def test_the_gateway_may_write_deliveries_the_stock_service_reads_them() -> None:
    assert STOCK_DELIVERIES.name in access.by_user("vivres-gateway").writes
    assert STOCK_DELIVERIES.name in access.by_user("vivres-stock").consumes


class _Received:
    def __init__(self, event, offset: int) -> None:
        self.event, self.topic, self.partition = event, STOCK_DELIVERIES.name, 0
        self.offset = offset


def test_a_direct_delivery_sent_twice_is_counted_once() -> None:
    """What the stock service makes of it: a movement positioned by its delivery id, so the
    second copy (a retry after a lost answer, at another offset) changes nothing."""
    delivery = DeliveryReceived(delivery_id="livraison-1", shop_id="epi-gerland",
                                product_id="pommes", quantity=2_500, unit=QuantityUnit.GRAM,
                                received_at=NOW)
    assert ledger.record_problem(delivery) is None
    service = StockService.__new__(StockService)  # movements() needs no broker
    level = ledger.StockLevel("epi-gerland", "pommes", on_hand=1_000)
    for offset in (7, 12):
        [movement] = service.movements(_Received(delivery, offset))
        level, events = ledger.apply(level, movement)
        assert len(events) == (1 if offset == 7 else 0)
    assert level.on_hand == 3_500
