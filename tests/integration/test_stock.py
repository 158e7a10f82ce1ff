"""The stock service as its own process on the real broker: sales lower stock, refunds and
deliveries raise it, counts correct it, waste lowers it, negative stock is flagged; and a
SIGKILL in the middle of a stream changes no final level."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.bus.catalog import (
    SALES,
    STOCK_ALERTS,
    STOCK_COUNTS,
    STOCK_DELIVERIES,
    STOCK_WASTE,
)
from services.events.auth import Role
from services.events.sales import CodeKind, Payment, PaymentMethod, QuantityUnit, SaleLine
from services.events.sales import SaleRecorded
from services.events.stock import DeliveryReceived, StockCounted, WasteRecorded
from services.stock import ledger
from services.stock.service import GROUP, INPUTS
from tests.integration.sales_stack import ServiceProcess, running_sales_stack
from tests.support import consumed_to_end, eventually, records_since

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def stack(settings):
    async with running_sales_stack(settings) as running:
        yield running


@pytest.fixture(scope="module")
def stock_process(settings, tmp_path_factory) -> Iterator[ServiceProcess]:
    process = ServiceProcess("stock", settings, tmp_path_factory.mktemp("stock") / "stock.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def level_of(stack, token: str, shop: str, product: str) -> dict | None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        response = await http.get("/v1/stock", params={"shop": shop, "product": product},
                                  headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        levels = response.json()
        return levels[0] if levels else None


async def wait_level(stack, token, shop, product, on_hand: int, status: str) -> dict:
    async def reached() -> dict | None:
        level = await level_of(stack, token, shop, product)
        return level if level and (level["on_hand"], level["status"]) == (on_hand, status) \
            else None
    # A restart costs a rebalance: the killed member's partitions wait out its session (6 s).
    return await eventually(reached, timeout=60, what=f"{product} at {on_hand} ({status})")


async def test_sales_refunds_counts_waste_and_deliveries_move_the_stock(
    stack, stock_process, settings
) -> None:
    shop = f"stock-shop-{uuid.uuid4().hex[:8]}"
    product = f"poireau-{uuid.uuid4().hex[:6]}"
    token = await stack.token(Role.SHOP, shop)
    hub = await stack.token(Role.HUB, None)
    since = datetime.now(UTC) - timedelta(seconds=1)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        assert (await http.post("/v1/catalog/products", headers={"Authorization": f"Bearer {hub}"},
                                json={"product_id": product, "name": "Poireau", "unit": "GRAM",
                                      "category": "legumes"})).status_code == 201
        assert (await http.post("/v1/catalog/mappings", headers=auth,
                                json={"shop_id": shop, "code": "2002", "code_kind": "PLU",
                                      "product_id": product})).status_code == 201
        stock_process.restart()  # so that it knows the new mapping before the first sale

        async def post(path: str, body: dict) -> None:
            response = await http.post(path, headers=auth, json=body)
            assert response.status_code == 202, response.text

        def ticket(number: int, grams: int) -> dict:
            return {"shop_id": shop, "till_id": "t1", "ticket_number": number,
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "lines": [{"product_code": "2002", "code_kind": "PLU", "label": "Poireaux",
                               "quantity": grams, "unit": "GRAM", "unit_price_cents": 300,
                               "paid_cents": 50}],
                    "payments": [{"method": "CASH", "amount_cents": 50}]}

        await post("/v1/stock/counts", {"shop_id": shop, "product_id": product, "quantity": 10_000})
        await wait_level(stack, token, shop, product, 10_000, "OK")
        await post("/v1/sales", ticket(1, 750))
        await wait_level(stack, token, shop, product, 9_250, "OK")
        await post("/v1/sales", {"tickets": [], "refunds": [{
            "shop_id": shop, "till_id": "t1", "ticket_number": 2,
            "occurred_at": datetime.now(UTC).isoformat(),
            "original_ticket_id": f"{shop}/t1/1",
            "lines": [{"line_number": 1, "product_code": "2002", "code_kind": "PLU",
                       "quantity": 250, "unit": "GRAM", "refunded_cents": 17}],
            "payments": [{"method": "CASH", "amount_cents": 17}]}]})
        await wait_level(stack, token, shop, product, 9_500, "OK")
        await post("/v1/stock/waste", {"shop_id": shop, "product_id": product, "quantity": 500,
                                       "reason": "abîmé"})
        await post("/v1/stock/reorder-points", {"shop_id": shop, "product_id": product,
                                                "reorder_point": 9_000})
        await wait_level(stack, token, shop, product, 9_000, "LOW")
        await stack.platform.publisher.publish(STOCK_DELIVERIES, DeliveryReceived(
            delivery_id=f"order-1/{shop}/{product}", shop_id=shop, product_id=product,
            quantity=2_000, unit=QuantityUnit.GRAM, received_at=datetime.now(UTC)))
        await wait_level(stack, token, shop, product, 11_000, "OK")
        await post("/v1/stock/counts", {"shop_id": shop, "product_id": product, "quantity": 3_000})
        await post("/v1/sales", ticket(3, 5_000))  # sold more than the shelf held
        await wait_level(stack, token, shop, product, -2_000, "NEGATIVE")

        other = await stack.token(Role.SHOP, f"{shop}-voisine")
        refused = await http.get("/v1/stock", params={"shop": shop},
                                 headers={"Authorization": f"Bearer {other}"})
        assert refused.status_code == 403
    alerts = await records_since(settings, STOCK_ALERTS.name, since, key=shop, expected=5)
    kinds = [dict(r.headers)["ce_id"].decode().rsplit("/", 1)[1] for r in alerts]
    # out of OUT by the first count; LOW under the reorder point; back by the delivery; LOW
    # after the second count; NEGATIVE after selling more than the shelf held
    assert kinds == ["RECOVERED", "LOW", "RECOVERED", "LOW", "NEGATIVE"]


def _sale(shop: str, number: int, product_code: str, grams: int, at: datetime) -> SaleRecorded:
    return SaleRecorded(
        ticket_id=f"{shop}/t1/{number}", shop_id=shop, till_id="t1", ticket_number=number,
        occurred_at=at, timezone="Europe/Paris",
        lines=(SaleLine(line_number=1, product_code=product_code, code_kind=CodeKind.PLU,
                        label="Carottes", quantity=grams, unit=QuantityUnit.GRAM,
                        unit_price_cents=200, paid_cents=20),),
        payments=(Payment(method=PaymentMethod.CASH, amount_cents=20),))


async def test_a_sigkilled_stock_service_restarts_to_the_same_levels(
    stack, stock_process, settings
) -> None:
    shop = f"stock-kill-{uuid.uuid4().hex[:8]}"
    product = f"carotte-{uuid.uuid4().hex[:6]}"
    hub = await stack.token(Role.HUB, None)
    operator = await stack.token(Role.OPERATOR, None)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        auth = {"Authorization": f"Bearer {hub}"}
        assert (await http.post("/v1/catalog/products", headers=auth,
                                json={"product_id": product, "name": "Carotte", "unit": "GRAM",
                                      "category": "legumes"})).status_code == 201
        assert (await http.post("/v1/catalog/mappings", headers=auth,
                                json={"shop_id": shop, "code": "3003", "code_kind": "PLU",
                                      "product_id": product})).status_code == 201
    stock_process.restart()  # so that it knows the new mapping before the first sale
    start = datetime.now(UTC) - timedelta(hours=1)
    publisher = stack.platform.publisher
    await publisher.publish(STOCK_COUNTS, StockCounted(
        count_id=f"{shop}-count", shop_id=shop, product_id=product, quantity=60_000,
        unit=QuantityUnit.GRAM, counted_at=start))
    await eventually(lambda: level_of(stack, operator, shop, product), timeout=60,
                     what="the first count applied")
    # From here on only sales and waste: each moves the stock by its own amount, so the final
    # level does not depend on how the service interleaves its input topics.
    expected = ledger.StockLevel(shop, product, on_hand=60_000)
    kills = 0
    for n in range(1, 301):
        at = start + timedelta(seconds=n)
        if n % 7 == 0:
            event = WasteRecorded(waste_id=f"{shop}-waste-{n}", shop_id=shop, product_id=product,
                                  quantity=100, unit=QuantityUnit.GRAM, reason="abîmé",
                                  recorded_at=at)
            kind, quantity, topic = ledger.MovementKind.WASTE, 100, STOCK_WASTE
        else:
            event = _sale(shop, n, "3003", 150 + n % 5, at)
            kind, quantity, topic = ledger.MovementKind.SALE, 150 + n % 5, SALES
        await publisher.publish(topic, event)
        expected, _ = ledger.apply(expected, ledger.Movement(
            str(n), shop, product, kind, quantity, at, ledger.SourcePosition("x", 0, n)))
        if n in (100, 200):  # kill it mid-stream, with records in flight, then restart
            stock_process.restart()
            kills += 1
    await consumed_to_end(settings, GROUP, [topic.name for topic in INPUTS])
    level = await eventually(lambda: level_of(stack, operator, shop, product),
                             what="the level after the restarts")
    assert kills == 2
    assert (level["on_hand"], level["status"]) == (expected.on_hand, expected.status.value)
