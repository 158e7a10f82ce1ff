"""Producers declare what they can supply; shops and the hub see open offers (real broker)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.events.auth import Role
from tests.integration.sales_stack import running_sales_stack
from tests.support import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(settings):
    async with running_sales_stack(settings) as running:
        yield running


def offer(product: str, territory: str, **changes) -> dict:
    today = datetime.now(UTC).date()
    body = {"territory": territory, "product_id": product, "quantity_per_slot": 40_000,
            "pack_size": 5_000, "price_cents": 280, "organic": True, "labels": ["hve"],
            "window_start": (today - timedelta(days=3)).isoformat(),
            "window_end": (today + timedelta(days=30)).isoformat(),
            "farm": {"lat_e6": 45_900_000, "lon_e6": 4_800_000}}
    body.update(changes)
    return body


async def test_offers_are_declared_by_producers_and_listed_while_open(stack) -> None:
    territory = f"terr-{uuid.uuid4().hex[:6]}"
    product = f"courge-{uuid.uuid4().hex[:6]}"
    hub = await stack.token(Role.HUB, None)
    farm = await stack.token(Role.PRODUCER, "ferme-des-quatre-vents")
    neighbour = await stack.token(Role.PRODUCER, "gaec-du-vallon")
    shop = await stack.token(Role.SHOP, f"{territory}-epicerie")
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        def as_(token: str) -> dict:
            return {"Authorization": f"Bearer {token}"}
        assert (await http.post("/v1/catalog/products", headers=as_(hub), json={
            "product_id": product, "name": "Courge butternut", "unit": "GRAM",
            "category": "legumes"})).status_code == 201

        declared = await http.post("/v1/availability", headers=as_(farm),
                                   json=offer(product, territory, offer_id=f"{product}-a"))
        assert declared.status_code == 201, declared.text
        assert declared.json()["producer_id"] == "ferme-des-quatre-vents"
        assert declared.json()["unit"] == "GRAM"
        past = offer(product, territory, offer_id=f"{product}-old",
                     window_start=(datetime.now(UTC).date() - timedelta(days=60)).isoformat(),
                     window_end=(datetime.now(UTC).date() - timedelta(days=30)).isoformat())
        assert (await http.post("/v1/availability", headers=as_(farm),
                                json=past)).status_code == 201
        stolen = await http.post("/v1/availability", headers=as_(neighbour),
                                 json=offer(product, territory, offer_id=f"{product}-a"))
        assert stolen.status_code == 403
        assert (await http.post("/v1/availability", headers=as_(shop),
                                json=offer(product, territory))).status_code == 403
        backwards = await http.post("/v1/availability", headers=as_(farm), json=offer(
            product, territory, window_start="2026-12-10", window_end="2026-12-01"))
        assert backwards.status_code == 422

        async def listed() -> list:
            response = await http.get("/v1/availability", headers=as_(shop),
                                      params={"territory": territory, "product": product})
            return response.json()
        offers = await eventually(listed, what="the open offer listed")
        assert [o["offer_id"] for o in offers] == [f"{product}-a"]

        withdrawn = offer(product, territory, offer_id=f"{product}-a", withdrawn=True)
        assert (await http.post("/v1/availability", headers=as_(farm),
                                json=withdrawn)).status_code == 201
        assert await listed() == []
