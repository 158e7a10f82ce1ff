"""What a need, a request or an offer must say for the orders service to use it. Pure.

A need with a problem is rejected (dead-lettered) before it is kept, and skipped when a
partition's needs are read again, so one bad need never fails every later consolidation of its
territory; a request with a problem is rejected before it changes an order; an offer with a
problem is left out of the grid (it is a reference, not the record being handled).
"""

from __future__ import annotations

from datetime import date

from services.events.orders import NeedStated, OrderAction, OrderCommanded
from services.events.supply import OfferDeclared
from services.events.checks import (
    EARLIEST,
    LATEST,
    first,
    id_problem,
    quantity_problem,
    time_problem,
)
from services.sales.checks import MAX_CENTS

LAT_E6, LON_E6 = 90_000_000, 180_000_000


def slot_problem(name: str, slot: date | None) -> str | None:
    if slot is None:
        return f"{name} is missing"
    if not EARLIEST.date() <= slot < LATEST.date():
        return f"{name} {slot.isoformat()} is outside {EARLIEST.year}..{LATEST.year - 1}"
    return None


def location_problem(lat_e6: int | None, lon_e6: int | None) -> str | None:
    if lat_e6 is None or lon_e6 is None:
        return "the hub's location is missing"
    if not (-LAT_E6 <= lat_e6 <= LAT_E6 and -LON_E6 <= lon_e6 <= LON_E6):
        return f"({lat_e6}, {lon_e6}) is not a location in microdegrees"
    return None


def need_problem(need: NeedStated) -> str | None:
    """Why a need can never be consolidated (None when it can)."""
    return first([
        id_problem("need_id", need.need_id),
        id_problem("shop_id", need.shop_id),
        id_problem("territory", need.territory),
        id_problem("product_id", need.product_id),
        quantity_problem("quantity", need.quantity),
        slot_problem("delivery_slot", need.delivery_slot),
        time_problem("stated_at", need.stated_at),
    ])


def command_problem(command: OrderCommanded) -> str | None:
    """Why a request can never be carried out as it stands (None when it may be)."""
    consolidating = command.action is OrderAction.CONSOLIDATE
    return first([
        id_problem("command_id", command.command_id),
        id_problem("territory", command.territory),
        id_problem("actor_id", command.actor_id),
        time_problem("commanded_at", command.commanded_at),
        slot_problem("delivery_slot", command.delivery_slot) if consolidating else None,
        location_problem(command.hub_lat_e6, command.hub_lon_e6) if consolidating else None,
        None if consolidating else id_problem("order_id", command.order_id),
    ])


def offer_problem(offer: OfferDeclared) -> str | None:
    """Why an offer cannot enter the grid (None when it can)."""
    return first([
        id_problem("offer_id", offer.offer_id),
        id_problem("producer_id", offer.producer_id),
        quantity_problem("pack_size", offer.pack_size),
        quantity_problem("quantity_per_slot", offer.quantity_per_slot, zero_allowed=True),
        None if 0 < offer.price_cents <= MAX_CENTS else f"price {offer.price_cents} cents",
        location_problem(offer.farm_lat_e6, offer.farm_lon_e6),
    ])
