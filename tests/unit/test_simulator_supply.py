"""The simulated supply side: deterministic, valid for the gateway, seasonal. No broker."""

from __future__ import annotations

from datetime import date, timedelta

from services.gateway.availability import OfferIn
from services.gateway.orders import NeedIn
from services.simulator import supply
from services.simulator.territories import PRODUCTS, SHOPS

PRODUCT = {p.id: p for p in PRODUCTS}


def test_the_delivery_slot_is_the_next_thursday() -> None:
    for offset in range(14):
        today = date(2026, 11, 23) + timedelta(days=offset)
        slot = supply.next_slot(today)
        assert slot.weekday() == 3 and today < slot <= today + timedelta(days=7)


def test_offers_and_needs_are_deterministic_valid_and_seasonal() -> None:
    slot = date(2026, 11, 26)
    for producer in supply.PRODUCERS:
        declared = supply.offers(producer, slot, seed=7)
        assert declared == supply.offers(producer, slot, seed=7)
        assert declared, f"{producer.id} offers nothing in November"
        for offer in declared:
            OfferIn.model_validate(offer)  # what the gateway accepts
            product = PRODUCT[offer["product_id"]]
            assert product.in_season(slot) and product.category in producer.categories
            assert offer["territory"] == producer.territory
    for territory in supply.HUBS:
        stated = supply.needs(territory, slot, seed=7)
        assert stated == supply.needs(territory, slot, seed=7)
        assert stated != supply.needs(territory, slot, seed=8)
        shops = {s.id for s in SHOPS if s.territory == territory}
        grown = {o["product_id"] for p in supply.PRODUCERS if p.territory == territory
                 for o in supply.offers(p, slot, seed=7)}
        for need in stated:
            NeedIn.model_validate(need)
            assert need["shop_id"] in shops and need["product_id"] in grown
    assert not any(o["product_id"] == "tomate" for p in supply.PRODUCERS
                   for o in supply.offers(p, slot, seed=7))  # no tomatoes in November
