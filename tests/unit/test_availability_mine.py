"""A producer's own offers (GET /v1/availability?mine=true), as the producers' page lists them:
only the caller's, without a day every one whose window has not ended (withdrawn ones too),
each seen for its next open day; with `on`, the day's open ones as before. No broker."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import pytest

from services.auth.tokens import issue
from services.events.auth import Role
from services.events.sales import QuantityUnit
from services.events.supply import OfferDeclared
from services.gateway.app import GatewayDeps, create_app
from services.gateway.availability import own_offers

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # Thursday 3 December, Paris time too
TODAY = date(2026, 12, 3)


def offer(offer_id: str, producer: str, start: str, end: str, *, withdrawn: bool = False
          ) -> OfferDeclared:
    return OfferDeclared(
        offer_id=offer_id, producer_id=producer, territory="lyon", product_id="poireau",
        unit=QuantityUnit.GRAM, quantity_per_slot=60_000, pack_size=5_000, price_cents=320,
        window_start=date.fromisoformat(start), window_end=date.fromisoformat(end),
        organic=True, labels=(), farm_lat_e6=45_900_000, farm_lon_e6=4_900_000,
        declared_at=NOW, withdrawn=withdrawn)


OFFERS = [offer("ouverte", "ferme-a", "2026-11-20", "2026-12-20"),
          offer("a-venir", "ferme-a", "2026-12-10", "2026-12-31"),
          offer("finie", "ferme-a", "2026-11-01", "2026-12-02"),
          offer("retiree", "ferme-a", "2026-11-20", "2026-12-20", withdrawn=True),
          offer("voisine", "ferme-b", "2026-11-20", "2026-12-20")]


def test_own_offers_are_those_not_ended_each_for_its_next_open_day() -> None:
    seen = {o.offer_id: day for o, day in own_offers(OFFERS[:4], TODAY)}
    assert seen == {"ouverte": TODAY, "a-venir": date(2026, 12, 10), "retiree": TODAY}
    assert own_offers(OFFERS[:1], date(2026, 12, 20)) == [(OFFERS[0], date(2026, 12, 20))]
    assert own_offers(OFFERS[:1], date(2026, 12, 21)) == []


class Tokens(dict):
    def put(self, event) -> None:
        self[event.token_sha256] = event


@pytest.fixture
async def http():
    tokens, bearer = Tokens(), {}
    for name, role, subject in (("ferme-a", Role.PRODUCER, "ferme-a"),
                                ("hub", Role.HUB, "pole-lyon")):
        token, event = issue(role, subject, name, NOW)
        tokens.put(event)
        bearer[name] = {"Authorization": f"Bearer {token}"}
    deps = GatewayDeps(None, tokens, {}, {}, {}, {}, {o.offer_id: o for o in OFFERS}, {},
                       clock=lambda: NOW)
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.bearer = bearer
        yield client


async def test_mine_lists_the_callers_offers_only(http) -> None:
    mine = await http.get("/v1/availability", params={"mine": "true"},
                          headers=http.bearer["ferme-a"])
    assert mine.status_code == 200, mine.text
    assert {o["offer_id"]: (o["delivery_slot"], o["withdrawn"]) for o in mine.json()} == {
        "ouverte": ("2026-12-03", False), "a-venir": ("2026-12-10", False),
        "retiree": ("2026-12-03", True)}
    on_day = await http.get("/v1/availability", params={"mine": "true", "on": "2026-12-15"},
                            headers=http.bearer["ferme-a"])
    assert sorted(o["offer_id"] for o in on_day.json()) == ["a-venir", "ouverte"]
    everyone = await http.get("/v1/availability", params={"on": "2026-12-15"},
                              headers=http.bearer["ferme-a"])
    assert sorted(o["offer_id"] for o in everyone.json()) == ["a-venir", "ouverte", "voisine"]


async def test_mine_is_for_producers(http) -> None:
    refused = await http.get("/v1/availability", params={"mine": "true"},
                             headers=http.bearer["hub"])
    assert refused.status_code == 403
    assert (await http.get("/v1/availability", headers=http.bearer["hub"])).status_code == 200
