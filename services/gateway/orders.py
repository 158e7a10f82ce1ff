"""Pooled orders: shops state needs, the hub consolidates a delivery slot, producers confirm or
refuse and ship, the hub receives and dispatches, shops receive their part."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from services.auth.tokens import Principal
from services.bus.catalog import NEEDS, ORDER_COMMANDS
from services.directory.rules import Directory
from services.events.auth import Role
from services.events.orders import (
    STANDING,
    ActorRole,
    NeedStated,
    OrderAction,
    OrderCommanded,
    OrderRecorded,
)
from services.gateway.auth import principal, require, require_shop_or_staff
from services.gateway.availability import Farm
from services.gateway.catalog import known_product
from services.gateway.deps import Deps, GatewayDeps
from services.gateway.fields import Day, OrderId, Quantity, Reason, ShopId, Slug, refused

router = APIRouter(tags=["orders"])
ACTIONS: dict[str, tuple[OrderAction, ActorRole]] = {
    "confirm": (OrderAction.CONFIRM, ActorRole.PRODUCER),
    "refuse": (OrderAction.REFUSE, ActorRole.PRODUCER),
    "ship": (OrderAction.SHIP, ActorRole.PRODUCER),
    "receive-at-hub": (OrderAction.RECEIVE_AT_HUB, ActorRole.HUB),
    "dispatch": (OrderAction.DISPATCH, ActorRole.HUB),
    "receive": (OrderAction.RECEIVE_AT_SHOP, ActorRole.SHOP),
    "cancel": (OrderAction.CANCEL, ActorRole.HUB),
}


class NeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    need_id: Slug | None = Field(None, description="State it again with the same id: once.")
    shop_id: ShopId
    territory: Slug
    product_id: Slug
    quantity: Annotated[Quantity, Field(description="The product's base unit.")]
    delivery_slot: Day


class ConsolidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    territory: Slug
    delivery_slot: Day
    hub: Farm | None = Field(None, description="Where the hub is: the grid measures locality "
                                               "from it. Default: the hub's location in the "
                                               "directory.")


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason | None = None


class Accepted(BaseModel):
    id: str


@router.post("/v1/needs", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def state_need(need: NeedIn, who: Annotated[Principal, Depends(principal)],
                     deps: Deps) -> Accepted:
    """A shop states what it needs for a delivery slot."""
    require(who, Role.SHOP)
    require_shop_or_staff(who, need.shop_id)
    product = known_product(deps.products, need.product_id)
    event = NeedStated(need_id=need.need_id or f"need-{uuid.uuid4().hex}", shop_id=need.shop_id,
                       territory=need.territory, product_id=need.product_id,
                       quantity=need.quantity, unit=product.unit,
                       delivery_slot=need.delivery_slot, stated_at=deps.clock())
    await deps.publisher.publish(NEEDS, event)
    deps.needs.put(event)
    return Accepted(id=event.need_id)


class NeedView(NeedStated):
    """A need as it stands: the standing pooled orders that took it (none: not yet pooled)."""

    order_ids: list[str]


@router.get("/v1/needs", response_model=list[NeedView])
async def list_needs(who: Annotated[Principal, Depends(principal)], deps: Deps,
                     territory: Annotated[Slug | None, Query()] = None,
                     slot: Annotated[Day | None, Query()] = None,
                     shop: Annotated[ShopId | None, Query()] = None) -> list[NeedView]:
    """Needs stated for delivery slots: a shop sees its own, a hub its territory's."""
    require(who, Role.SHOP, Role.HUB, Role.OPERATOR)
    hub = deps.directory.hubs.get(who.subject or "") if who.role is Role.HUB else None
    taken: dict[str, list[str]] = {}
    for order in deps.orders.values():
        if order.status in STANDING:
            for line in order.lines:
                for part in line.parts:
                    taken.setdefault(part.need_id, []).append(order.order_id)
    mine = (n for n in deps.needs.values()
            if (who.role is not Role.SHOP or n.shop_id == who.subject)
            and (hub is None or n.territory == hub.territory)
            and territory in (None, n.territory) and slot in (None, n.delivery_slot)
            and shop in (None, n.shop_id))
    return [NeedView(**n.model_dump(), order_ids=sorted(set(taken.get(n.need_id, []))))
            for n in sorted(mine, key=lambda n: (n.delivery_slot, n.shop_id, n.product_id,
                                                 n.need_id))]


@router.post("/v1/orders/consolidate", status_code=status.HTTP_202_ACCEPTED,
             response_model=Accepted)
async def consolidate(body: ConsolidateIn, who: Annotated[Principal, Depends(principal)],
                      deps: Deps) -> Accepted:
    """The hub pools a slot's needs into one order per producer, chosen with the grid."""
    require(who, Role.HUB)
    hub = body.hub or _registered_hub(deps.directory, who, body.territory)
    event = OrderCommanded(command_id=f"cmd-{uuid.uuid4().hex}", territory=body.territory,
                           action=OrderAction.CONSOLIDATE, delivery_slot=body.delivery_slot,
                           actor_role=ActorRole.HUB, actor_id=body.territory,
                           hub_lat_e6=hub.lat_e6, hub_lon_e6=hub.lon_e6,
                           commanded_at=deps.clock())
    await deps.publisher.publish(ORDER_COMMANDS, event)
    return Accepted(id=event.command_id)


def _registered_hub(directory: Directory, who: Principal, territory: str) -> Farm:
    """Where the territory's hub is, as the directory has it: the caller's own hub, else the
    territory's open hub (422 when there is none; 403 for a hub of another territory)."""
    own = directory.hubs.get(who.subject or "")
    if own is not None and own.territory != territory:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"hub {own.hub_id} pools the orders of {own.territory}, "
                            f"not {territory}")
    hub = own or next((h for h in sorted(directory.hubs.values(), key=lambda h: h.hub_id)
                       if h.territory == territory and h.closed_at is None), None)
    if hub is None:
        raise refused("hub", "missing",
                      f"hub location missing, and the directory has no hub in {territory}",
                      f"Indiquez l'emplacement du pôle : l'annuaire n'a pas de pôle pour "
                      f"« {territory} ».")
    return Farm(lat_e6=hub.lat_e6, lon_e6=hub.lon_e6)


@router.post("/v1/orders/{order_id:path}/{action}", status_code=status.HTTP_202_ACCEPTED,
             response_model=Accepted)
async def act(order_id: Annotated[OrderId, Path()],
              action: Literal["confirm", "refuse", "ship", "receive-at-hub", "dispatch",
                              "receive", "cancel"],
              who: Annotated[Principal, Depends(principal)], deps: Deps,
              body: ActionIn | None = None) -> Accepted:
    """Move an order on: each role may do its own steps on its own orders only. Another's
    order answers as a missing one does (404): which orders exist is not told."""
    kind, role = ACTIONS[action]
    if who.role.value != role.value:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"a {who.role.value} token cannot {action} an order")
    order = deps.orders.get(order_id)
    if order is None or not _owns(who, order, deps.directory):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no order {order_id} of yours")
    actor_id = order.territory if role is ActorRole.HUB else who.subject
    event = OrderCommanded(command_id=f"cmd-{uuid.uuid4().hex}", territory=order.territory,
                           action=kind, order_id=order_id, actor_role=role, actor_id=actor_id,
                           reason=body.reason if body else None, commanded_at=deps.clock())
    await deps.publisher.publish(ORDER_COMMANDS, event)
    return Accepted(id=event.command_id)


def _owns(who: Principal, order: OrderRecorded, directory: Directory) -> bool:
    if who.role is Role.HUB:  # a hub's token: its territory's orders; a hub-wide token: all
        if who.subject is None:
            return True
        hub = directory.hubs.get(who.subject)
        return hub is not None and hub.territory == order.territory
    if who.role is Role.PRODUCER:
        return who.subject == order.producer_id
    shops = {part.shop_id for line in order.lines for part in line.parts}
    return who.role is Role.SHOP and who.subject in shops


ORDER_READERS = (Role.HUB, Role.OPERATOR, Role.PRODUCER, Role.SHOP)


def sees(who: Principal, order: OrderRecorded, directory: Directory) -> bool:
    """Whether a token of ORDER_READERS may see the order: an operator all, the others their
    own (_owns)."""
    return who.role is Role.OPERATOR or _owns(who, order, directory)


def visible_orders(who: Principal, deps: GatewayDeps, territory: str | None = None,
                   slot: date | None = None) -> list[OrderRecorded]:
    """The orders the token may see, of a territory and a slot if given, by order id (403
    for a role that reads no orders). GET /v1/orders and GET /v1/dfc/orders."""
    require(who, *ORDER_READERS)
    return sorted((o for o in deps.orders.values()
                   if sees(who, o, deps.directory)
                   and territory in (None, o.territory) and slot in (None, o.delivery_slot)),
                  key=lambda o: o.order_id)


@router.get("/v1/orders", response_model=list[OrderRecorded])
async def list_orders(who: Annotated[Principal, Depends(principal)], deps: Deps,
                      territory: Annotated[Slug | None, Query()] = None,
                      slot: Annotated[Day | None, Query()] = None) -> list[OrderRecorded]:
    """Orders as they stand, with the grid's explanation: each sees only its own."""
    return visible_orders(who, deps, territory, slot)
