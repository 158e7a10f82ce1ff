"""What producers can supply: declared by producers, read by shops, the hub and producers."""

from __future__ import annotations

import uuid
from datetime import UTC, date
from typing import Annotated, Self
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.auth.tokens import Principal
from services.bus.catalog import OFFERS
from services.directory.rules import Directory
from services.events.auth import Role
from services.events.orders import STANDING
from services.events.supply import OfferDeclared
from services.gateway.auth import principal, require
from services.gateway.catalog import known_product
from services.gateway.deps import Deps, GatewayDeps
from services.gateway.fields import Day, Latitude, Longitude, Quantity, Slug, refused

router = APIRouter(prefix="/v1/availability", tags=["availability"])
PARIS = ZoneInfo("Europe/Paris")


class Farm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat_e6: Latitude
    lon_e6: Longitude


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offer_id: Slug | None = Field(None, description="Declare again with the same id to update.")
    territory: Slug
    product_id: Slug
    quantity_per_slot: Annotated[Quantity, Field(description="Base units.")]
    pack_size: Annotated[Quantity, Field(description="Base units per pack.")]
    price_cents: Annotated[int, Field(gt=0, le=10**7, description="Per kg, litre or piece.")]
    window_start: Day
    window_end: Day
    organic: bool = False
    labels: Annotated[list[Slug], Field(max_length=20)] = []
    farm: Farm | None = Field(None, description="Default: the farm's location in the directory.")
    withdrawn: bool = False

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.window_end < self.window_start:
            raise ValueError("window_end is before window_start")
        return self


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OfferDeclared)
async def declare(offer: OfferIn, who: Annotated[Principal, Depends(principal)],
                  deps: Deps) -> OfferDeclared:
    """A producer declares (or updates, or withdraws) an offer."""
    require(who, Role.PRODUCER)
    return await record_offer(deps, offer_event(offer, who, deps))


def offer_event(offer: OfferIn, who: Principal, deps: GatewayDeps) -> OfferDeclared:
    """The OfferDeclared a producer's offer makes: 422 for a product the catalog does not
    know or a farm location neither given nor in the directory, 403 for another's offer id.
    Every way a producer declares offers (this route, a DFC catalog) goes through here."""
    product = known_product(deps.products, offer.product_id)
    offer_id = offer.offer_id or f"{who.subject}-{uuid.uuid4().hex[:10]}"
    known = deps.offers.get(offer_id)
    if known is not None and known.producer_id != who.subject:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"offer {offer_id} is another producer's")
    farm = offer.farm or _registered_farm(deps.directory, who.subject)
    return OfferDeclared(
        offer_id=offer_id, producer_id=who.subject, territory=offer.territory,
        product_id=offer.product_id, unit=product.unit,
        quantity_per_slot=offer.quantity_per_slot, pack_size=offer.pack_size,
        price_cents=offer.price_cents, window_start=offer.window_start,
        window_end=offer.window_end, organic=offer.organic, labels=tuple(offer.labels),
        farm_lat_e6=farm.lat_e6, farm_lon_e6=farm.lon_e6,
        declared_at=deps.clock(), withdrawn=offer.withdrawn)


async def record_offer(deps: GatewayDeps, event: OfferDeclared) -> OfferDeclared:
    """Publish the offer on supply.offers, and keep it in the table at once (the producer's
    next read sees it)."""
    await deps.publisher.publish(OFFERS, event)
    deps.offers.put(event)
    return event


def _registered_farm(directory: Directory, producer_id: str | None) -> Farm:
    """The farm's location as the directory has it (422 when it has none)."""
    producer = directory.producers.get(producer_id or "")
    if producer is None:
        raise refused("farm", "missing",
                      f"farm location missing, and the directory has no producer {producer_id}",
                      "Indiquez l'emplacement de la ferme : l'annuaire ne la connaît pas.")
    return Farm(lat_e6=producer.farm_lat_e6, lon_e6=producer.farm_lon_e6)


class OfferView(OfferDeclared):
    """An offer as seen for one delivery day: what pooled orders already reserved of it."""

    delivery_slot: date
    reserved: int
    remaining: int


@router.get("", response_model=list[OfferView])
async def offers(who: Annotated[Principal, Depends(principal)], deps: Deps,
                 territory: Annotated[Slug | None, Query()] = None,
                 product: Annotated[Slug | None, Query()] = None,
                 on: Annotated[Day | None, Query(description="Delivery day (default today, "
                                                       "Paris time).")] = None,
                 mine: Annotated[bool, Query(description="A producer's own offers only; "
                                                         "without `on`, all those whose "
                                                         "window has not ended, withdrawn "
                                                         "ones too, each seen for its next "
                                                         "open day.")] = False
                 ) -> list[OfferView]:
    """Offers open on a day (not withdrawn, within their harvest window), with what the
    active pooled orders of that day reserved of each."""
    today = paris_today(deps)
    if mine:
        require(who, Role.PRODUCER)
    chosen = [o for o in deps.offers.values()
              if territory in (None, o.territory) and product in (None, o.product_id)
              and (not mine or o.producer_id == who.subject)]
    if mine and on is None:
        seen = own_offers(chosen, today)
    else:
        day = on or today
        seen = [(o, day) for o in chosen if o.open_on(day)]
    orders = list(deps.orders.values())
    reserved = {day: _reserved(orders, day) for day in {day for _, day in seen}}
    return [OfferView(**o.model_dump(), delivery_slot=day,
                      reserved=reserved[day].get(o.offer_id, 0),
                      remaining=max(0, o.quantity_per_slot - reserved[day].get(o.offer_id, 0)))
            for o, day in sorted(seen, key=lambda s: (s[0].territory, s[0].product_id,
                                                      s[0].price_cents, s[0].offer_id))]


def paris_today(deps: GatewayDeps) -> date:
    """Today in Paris, by the gateway's clock: the day offers are seen for by default."""
    return deps.clock().astimezone(UTC).astimezone(PARIS).date()


def own_offers(offers, today: date) -> list[tuple[OfferDeclared, date]]:
    """A producer's offers still to be seen: every one whose harvest window has not ended by
    `today` (withdrawn ones too, so they can be put back), each with its next open day (today,
    or the window's first day if it is still to come)."""
    return [(o, max(today, o.window_start)) for o in offers if o.window_end >= today]


def _reserved(orders, day: date) -> dict[str, int]:
    """Base units each offer gives to the day's orders that still stand."""
    taken: dict[str, int] = {}
    for order in orders:
        if order.delivery_slot != day or order.status not in STANDING:
            continue
        for line in order.lines:
            taken[line.offer_id] = taken.get(line.offer_id, 0) + line.packs * line.pack_size
    return taken
