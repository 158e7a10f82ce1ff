"""A week of one territory's supply side, end to end on the real broker, with the gateway, the
ingest stage, and the stock and orders services as their own processes: producers declare
offers, three shops state needs, the hub consolidates one order per producer, the grid explains
its choice, a refusal is re-allocated, receipts raise stock, sales lower it, a count corrects it.
The orders service is SIGKILLed in the middle; the final state is as if it never was."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.events.auth import Role
from tests.integration.sales_stack import ServiceProcess, running_sales_stack
from tests.support import eventually

pytestmark = pytest.mark.integration
HUB = {"lat_e6": 45_748_500, "lon_e6": 4_846_700}  # a hub in Lyon 8e


@pytest.fixture(scope="module")
async def stack(settings):
    async with running_sales_stack(settings) as running:
        yield running


@pytest.fixture(scope="module")
def services(settings, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    logs = tmp_path_factory.mktemp("supply")
    processes = {name: ServiceProcess(name, settings, logs / f"{name}.log")
                 for name in ("stock", "orders")}
    for process in processes.values():
        process.start()
    try:
        yield processes
    finally:
        for process in processes.values():
            process.stop()


async def test_a_week_of_pooled_orders_from_needs_to_shelves(stack, services) -> None:
    run = uuid.uuid4().hex[:6]
    territory = f"terr-{run}"
    leek, apple = f"poireau-{run}", f"pomme-{run}"
    near, cheap = f"ferme-proche-{run}", f"verger-lointain-{run}"
    shops = [f"{territory}-epicerie-{n}" for n in (1, 2, 3)]
    slot = (datetime.now(UTC) + timedelta(days=2)).date()
    hub = await stack.token(Role.HUB, None)
    producer = {p: await stack.token(Role.PRODUCER, p) for p in (near, cheap)}
    shop = {s: await stack.token(Role.SHOP, s) for s in shops}

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        async def call(token: str, path: str, body: dict | None = None,
                       expected: int = 202) -> dict:
            response = await http.post(path, json=body or {},
                                       headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == expected, f"{path}: {response.text}"
            return response.json()

        async def orders() -> list[dict]:
            response = await http.get("/v1/orders", params={"territory": territory},
                                      headers={"Authorization": f"Bearer {hub}"})
            return response.json()

        async def level(shop_id: str, product: str) -> int | None:
            response = await http.get("/v1/stock", params={"shop": shop_id, "product": product},
                                      headers={"Authorization": f"Bearer {shop[shop_id]}"})
            levels = response.json()
            return levels[0]["on_hand"] if levels else None

        # Monday: the catalog, each shop's till code for leeks, shelves counted, offers declared.
        for product, name in ((leek, "Poireau"), (apple, "Pomme")):
            await call(hub, "/v1/catalog/products", {"product_id": product, "name": name,
                                                     "unit": "GRAM", "category": "legumes"},
                       expected=201)
        for s in shops:
            await call(shop[s], "/v1/catalog/mappings", {"shop_id": s, "code": "2002",
                                                         "code_kind": "PLU",
                                                         "product_id": leek}, expected=201)
        window = {"window_start": (slot - timedelta(days=7)).isoformat(),
                  "window_end": (slot + timedelta(days=30)).isoformat()}
        await call(producer[near], "/v1/availability", {
            "offer_id": f"{near}-poireau", "territory": territory, "product_id": leek,
            "quantity_per_slot": 60_000, "pack_size": 5_000, "price_cents": 320,
            "organic": True, "labels": ["hve"], "farm": {"lat_e6": 45_900_000,
                                                       "lon_e6": 4_900_000}, **window},
                   expected=201)
        await call(producer[cheap], "/v1/availability", {
            "offer_id": f"{cheap}-poireau", "territory": territory, "product_id": leek,
            "quantity_per_slot": 60_000, "pack_size": 6_000, "price_cents": 250,
            "farm": {"lat_e6": 44_100_000, "lon_e6": 4_800_000}, **window}, expected=201)
        await call(producer[cheap], "/v1/availability", {
            "offer_id": f"{cheap}-pomme", "territory": territory, "product_id": apple,
            "quantity_per_slot": 100_000, "pack_size": 10_000, "price_cents": 180,
            "farm": {"lat_e6": 44_100_000, "lon_e6": 4_800_000}, **window}, expected=201)
        for process in services.values():  # so both know the new mappings and offers
            process.restart()
        for s in shops:
            await call(shop[s], "/v1/stock/counts", {"shop_id": s, "product_id": leek,
                                                     "quantity": 1_000})

        # Tuesday: three shops state needs; Wednesday the hub consolidates the slot.
        for s, leeks, apples in zip(shops, (12_000, 7_000, 4_000), (10_000, 0, 20_000),
                                    strict=True):
            await call(shop[s], "/v1/needs", {"need_id": f"{s}-leek", "shop_id": s,
                                              "territory": territory, "product_id": leek,
                                              "quantity": leeks,
                                              "delivery_slot": slot.isoformat()})
            if apples:
                await call(shop[s], "/v1/needs", {"need_id": f"{s}-apple", "shop_id": s,
                                                  "territory": territory, "product_id": apple,
                                                  "quantity": apples,
                                                  "delivery_slot": slot.isoformat()})
        await call(hub, "/v1/orders/consolidate", {"territory": territory,
                                                   "delivery_slot": slot.isoformat(),
                                                   "hub": HUB})
        first = await eventually(lambda: _when(orders, lambda o: len(o) == 2), timeout=60,
                                 what="one order per producer")
        by_producer = {o["producer_id"]: o for o in first}
        leeks_order = by_producer[near]  # organic, near: the grid's choice despite the price
        [line] = leeks_order["lines"]
        assert sorted(p["shop_id"] for p in line["parts"]) == sorted(shops)
        assert line["packs"] * line["pack_size"] >= 23_000  # three shops' needs, whole crates
        ranked = {c["producer_id"]: c for c in line["candidates"]}
        assert ranked[near]["rank"] == 1 and ranked[cheap]["rank"] == 2
        assert ranked[near]["total"] > ranked[cheap]["total"]
        assert "bio" in ranked[near]["explanation"]
        assert [ln["product_id"] for ln in by_producer[cheap]["lines"]] == [apple]
        seen = await http.get("/v1/availability", headers={"Authorization": f"Bearer {hub}"},
                              params={"territory": territory, "product": leek,
                                      "on": slot.isoformat()})
        reserved = {o["offer_id"]: (o["reserved"], o["remaining"]) for o in seen.json()}
        ordered = line["packs"] * line["pack_size"]
        assert reserved[f"{near}-poireau"] == (ordered, 60_000 - ordered)  # orders reserve
        assert reserved[f"{cheap}-poireau"] == (0, 60_000)

        # Thursday: the near farm refuses; its leeks go to the next candidate.
        await call(producer[near], f"/v1/orders/{leeks_order['order_id']}/refuse",
                   {"reason": "grêle sur les poireaux"})
        services["orders"].restart()  # SIGKILL in the middle of the week
        after = await eventually(lambda: _when(orders, lambda o: len(o) == 3), timeout=60,
                                 what="the refused order re-allocated")
        replacement = next(o for o in after if o.get("replaces") == leeks_order["order_id"])
        assert replacement["producer_id"] == cheap
        assert replacement["refused_by"] == [near]
        assert next(o for o in after if o["order_id"] == leeks_order["order_id"])[
            "status"] == "REFUSED"

        # Friday: confirmed, shipped, received at the hub, dispatched, received at the shops.
        delivering = [replacement, by_producer[cheap]]
        for order in delivering:
            for action in ("confirm", "ship"):
                await call(producer[cheap], f"/v1/orders/{order['order_id']}/{action}")
            for action in ("receive-at-hub", "dispatch"):
                await call(hub, f"/v1/orders/{order['order_id']}/{action}")
        await eventually(lambda: _when(orders, lambda o: sum(
            x["status"] == "DISPATCHED" for x in o) == 2), timeout=60, what="dispatched")
        for order in delivering:
            for part_shop in {p["shop_id"] for ln in order["lines"] for p in ln["parts"]}:
                await call(shop[part_shop], f"/v1/orders/{order['order_id']}/receive")
        final = await eventually(lambda: _when(orders, lambda o: sum(
            x["status"] == "RECEIVED_AT_SHOP" for x in o) == 2), timeout=60,
            what="both orders received")
        leek_parts = {p["shop_id"]: p["quantity"] for p in next(
            o for o in final if o["order_id"] == replacement["order_id"])["lines"][0]["parts"]}
        for s in shops:  # 1 kg counted on Monday, plus the shop's part of the delivery
            await eventually(lambda s=s: _equals(level(s, leek), 1_000 + leek_parts[s]),
                             timeout=60, what=f"{s}'s leeks received")

        # Saturday: a till sells 1.5 kg of leeks; a count puts the shelf right.
        first_shop = shops[0]
        await call(shop[first_shop], "/v1/sales", {
            "shop_id": first_shop, "till_id": "t1", "ticket_number": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
            "lines": [{"product_code": "2002", "code_kind": "PLU", "label": "Poireaux",
                       "quantity": 1_500, "unit": "GRAM", "unit_price_cents": 320,
                       "paid_cents": 96}],
            "payments": [{"method": "CASH", "amount_cents": 96}]})
        await eventually(lambda: _equals(level(first_shop, leek),
                                         1_000 + leek_parts[first_shop] - 1_500),
                         timeout=60, what="the sale lowering the stock")
        await call(shop[first_shop], "/v1/stock/counts", {"shop_id": first_shop,
                                                          "product_id": leek,
                                                          "quantity": 9_000})
        await eventually(lambda: _equals(level(first_shop, leek), 9_000), timeout=60,
                         what="the count correcting the stock")


async def _when(fetch, condition):
    value = await fetch()
    return value if condition(value) else None


async def _equals(awaitable, expected) -> bool:
    return await awaitable == expected
