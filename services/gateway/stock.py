"""Stock on hand, shelf counts, waste, deliveries received outside a pooled order and reorder
points, per shop."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from services.auth.tokens import Principal
from services.bus.catalog import REORDER_POINTS, STOCK_COUNTS, STOCK_DELIVERIES, STOCK_WASTE
from services.events.auth import Role
from services.events.stock import (
    DeliveryReceived,
    ReorderPointSet,
    StockCounted,
    StockLevelRecorded,
    WasteRecorded,
)
from services.gateway.auth import principal, require_shop_or_staff
from services.gateway.catalog import known_product
from services.gateway.deps import Deps
from services.gateway.fields import Identifier, Quantity, Reason, ShopId, StockQuantity

router = APIRouter(prefix="/v1/stock", tags=["stock"])


class _StockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop_id: ShopId
    product_id: Identifier


class CountIn(_StockIn):
    quantity: StockQuantity
    count_id: Identifier | None = Field(None, description="Send the same id again: counted once.")


class WasteIn(_StockIn):
    quantity: Quantity
    reason: Annotated[Reason, Field(min_length=1, max_length=200)]
    waste_id: Identifier | None = None


class DeliveryIn(_StockIn):
    quantity: Quantity
    delivery_id: Identifier | None = Field(
        None, description="Send the same id again: received once.")


class ReorderPointIn(_StockIn):
    reorder_point: StockQuantity


class Recorded(BaseModel):
    id: str


@router.get("", response_model=list[StockLevelRecorded])
async def stock_levels(who: Annotated[Principal, Depends(principal)], deps: Deps,
                       shop: Annotated[ShopId | None, Query()] = None,
                       product: Annotated[Identifier | None, Query()] = None
                       ) -> list[StockLevelRecorded]:
    """Stock on hand (negative stock shown and flagged NEGATIVE). Shops see their own."""
    if shop is None and who.role not in (Role.HUB, Role.OPERATOR):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "name your shop: ?shop=...")
    if shop is not None:
        require_shop_or_staff(who, shop)
    return sorted((level for level in deps.stock.values() if shop in (None, level.shop_id)
                   and product in (None, level.product_id)),
                  key=lambda level: (level.shop_id, level.product_id))


@router.post("/counts", status_code=status.HTTP_202_ACCEPTED, response_model=Recorded)
async def count(body: CountIn, who: Annotated[Principal, Depends(principal)],
                deps: Deps) -> Recorded:
    """A shelf count: on hand becomes the counted quantity."""
    require_shop_or_staff(who, body.shop_id)
    event = StockCounted(count_id=body.count_id or f"count-{uuid.uuid4().hex}",
                         shop_id=body.shop_id, product_id=body.product_id,
                         quantity=body.quantity,
                         unit=known_product(deps.products, body.product_id).unit,
                         counted_at=deps.clock())
    await deps.publisher.publish(STOCK_COUNTS, event)
    return Recorded(id=event.count_id)


@router.post("/waste", status_code=status.HTTP_202_ACCEPTED, response_model=Recorded)
async def waste(body: WasteIn, who: Annotated[Principal, Depends(principal)],
                deps: Deps) -> Recorded:
    """Stock thrown or given away."""
    require_shop_or_staff(who, body.shop_id)
    event = WasteRecorded(waste_id=body.waste_id or f"waste-{uuid.uuid4().hex}",
                          shop_id=body.shop_id, product_id=body.product_id,
                          quantity=body.quantity,
                          unit=known_product(deps.products, body.product_id).unit,
                          reason=body.reason, recorded_at=deps.clock())
    await deps.publisher.publish(STOCK_WASTE, event)
    return Recorded(id=event.waste_id)


@router.post("/deliveries", status_code=status.HTTP_202_ACCEPTED, response_model=Recorded)
async def delivery(body: DeliveryIn, who: Annotated[Principal, Depends(principal)],
                   deps: Deps) -> Recorded:
    """A delivery received outside a pooled order (a producer delivering the shop directly):
    on hand goes up. A pooled order's parts are received with POST /v1/orders/{id}/receive."""
    require_shop_or_staff(who, body.shop_id)
    event = DeliveryReceived(delivery_id=body.delivery_id or f"delivery-{uuid.uuid4().hex}",
                             shop_id=body.shop_id, product_id=body.product_id,
                             quantity=body.quantity,
                             unit=known_product(deps.products, body.product_id).unit,
                             order_id=None, received_at=deps.clock())
    await deps.publisher.publish(STOCK_DELIVERIES, event)
    return Recorded(id=event.delivery_id)


@router.post("/reorder-points", status_code=status.HTTP_202_ACCEPTED, response_model=Recorded)
async def reorder_point(body: ReorderPointIn, who: Annotated[Principal, Depends(principal)],
                        deps: Deps) -> Recorded:
    """At or below this quantity the product shows LOW."""
    require_shop_or_staff(who, body.shop_id)
    known_product(deps.products, body.product_id)
    event = ReorderPointSet(shop_id=body.shop_id, product_id=body.product_id,
                            reorder_point=body.reorder_point, set_at=deps.clock())
    await deps.publisher.publish(REORDER_POINTS, event)
    return Recorded(id=event.event_id)
