"""Pooled orders: shops' needs, requests to the orders service, and orders as they stand.
Wire form: schemas/orders/*.avsc."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from services.events.base import Event, WireTime
from services.events.sales import QuantityUnit


class OrderAction(StrEnum):
    CONSOLIDATE = "CONSOLIDATE"
    CONFIRM = "CONFIRM"
    REFUSE = "REFUSE"
    SHIP = "SHIP"
    RECEIVE_AT_HUB = "RECEIVE_AT_HUB"
    DISPATCH = "DISPATCH"
    RECEIVE_AT_SHOP = "RECEIVE_AT_SHOP"
    CANCEL = "CANCEL"


class ActorRole(StrEnum):
    PRODUCER = "PRODUCER"
    HUB = "HUB"
    SHOP = "SHOP"


class OrderStatus(StrEnum):
    NEEDED = "NEEDED"
    ALLOCATED = "ALLOCATED"
    CONFIRMED = "CONFIRMED"
    REFUSED = "REFUSED"
    SHIPPED = "SHIPPED"
    RECEIVED_AT_HUB = "RECEIVED_AT_HUB"
    DISPATCHED = "DISPATCHED"
    RECEIVED_AT_SHOP = "RECEIVED_AT_SHOP"
    CANCELLED = "CANCELLED"


# Orders that still hold what they reserved of their offers (not refused, not cancelled).
STANDING = frozenset(set(OrderStatus) - {OrderStatus.REFUSED, OrderStatus.CANCELLED})


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NeedStated(Event):
    schema_name: ClassVar[str] = "org.vivres.orders.NeedStated"
    id_field: ClassVar[str | None] = "need_id"
    time_field: ClassVar[str] = "stated_at"

    need_id: str
    shop_id: str
    territory: str
    product_id: str
    quantity: int
    unit: QuantityUnit
    delivery_slot: date
    stated_at: WireTime

    @property
    def event_source(self) -> str:
        return f"/shops/{self.shop_id}/needs"


class OrderCommanded(Event):
    schema_name: ClassVar[str] = "org.vivres.orders.OrderCommanded"
    id_field: ClassVar[str | None] = "command_id"
    time_field: ClassVar[str] = "commanded_at"

    command_id: str
    territory: str
    action: OrderAction
    order_id: str | None = None
    delivery_slot: date | None = None
    actor_role: ActorRole
    actor_id: str
    reason: str | None = None
    hub_lat_e6: int | None = None
    hub_lon_e6: int | None = None
    commanded_at: WireTime

    @property
    def event_source(self) -> str:
        return f"/territories/{self.territory}/orders"


class Candidate(_Part):
    rank: int
    producer_id: str
    offer_id: str
    quality: int
    locality: int
    accessibility: int
    total: int
    distance_m: int
    unit_price_cents: int
    organic: bool
    labels_counted: tuple[str, ...]
    cheapest_price_cents: int
    capacity: int
    explanation: str


class ShopPart(_Part):
    need_id: str
    shop_id: str
    quantity: int


class OrderLine(_Part):
    product_id: str
    offer_id: str
    unit: QuantityUnit
    pack_size: int
    packs: int
    requested: int
    unit_price_cents: int
    parts: tuple[ShopPart, ...]
    candidates: tuple[Candidate, ...]


class Step(_Part):
    status: OrderStatus
    at: WireTime
    actor_role: ActorRole
    actor_id: str
    command_id: str
    reason: str | None = None  # v2: the refusal's or cancellation's reason


class OrderRecorded(Event):
    schema_name: ClassVar[str] = "org.vivres.orders.OrderRecorded"
    time_field: ClassVar[str] = "recorded_at"

    order_id: str
    territory: str
    producer_id: str
    delivery_slot: date
    hub_lat_e6: int
    hub_lon_e6: int
    status: OrderStatus
    lines: tuple[OrderLine, ...]
    history: tuple[Step, ...]
    received_by: tuple[str, ...]
    replaces: str | None = None
    refused_by: tuple[str, ...]
    recorded_at: WireTime

    @property
    def event_id(self) -> str:
        return f"order/{self.order_id}/{len(self.history)}"

    @property
    def event_source(self) -> str:
        return f"/territories/{self.territory}/orders"
