"""Stock events: what staff record (counts, waste, reorder points), deliveries received, and
what the stock service derives (levels, changes, alerts). Wire form: schemas/stock/*.avsc."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from services.events.base import Event, WireTime
from services.events.sales import QuantityUnit


class MovementKind(StrEnum):
    SALE = "SALE"
    REFUND = "REFUND"
    DELIVERY = "DELIVERY"
    COUNT = "COUNT"
    WASTE = "WASTE"


class StockStatus(StrEnum):
    OK = "OK"
    LOW = "LOW"
    OUT = "OUT"
    NEGATIVE = "NEGATIVE"


class AlertKind(StrEnum):
    LOW = "LOW"
    OUT = "OUT"
    NEGATIVE = "NEGATIVE"
    RECOVERED = "RECOVERED"


def level_key(shop_id: str, product_id: str) -> str:
    return f"{shop_id}/{product_id}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class _ShopEvent(Event):
    shop_id: str
    product_id: str

    @property
    def event_source(self) -> str:
        return f"/shops/{self.shop_id}/stock"


class StockCounted(_ShopEvent):
    schema_name: ClassVar[str] = "org.vivres.stock.StockCounted"
    time_field: ClassVar[str] = "counted_at"
    id_field: ClassVar[str | None] = "count_id"
    count_id: str
    quantity: int
    unit: QuantityUnit
    counted_at: WireTime


class WasteRecorded(_ShopEvent):
    schema_name: ClassVar[str] = "org.vivres.stock.WasteRecorded"
    time_field: ClassVar[str] = "recorded_at"
    id_field: ClassVar[str | None] = "waste_id"
    waste_id: str
    quantity: int
    unit: QuantityUnit
    reason: str
    recorded_at: WireTime


class DeliveryReceived(_ShopEvent):
    schema_name: ClassVar[str] = "org.vivres.stock.DeliveryReceived"
    time_field: ClassVar[str] = "received_at"
    id_field: ClassVar[str | None] = "delivery_id"
    delivery_id: str
    quantity: int
    unit: QuantityUnit
    order_id: str | None = None
    received_at: WireTime


class ReorderPointSet(_ShopEvent):
    schema_name: ClassVar[str] = "org.vivres.stock.ReorderPointSet"
    time_field: ClassVar[str] = "set_at"
    reorder_point: int
    set_at: WireTime

    @property
    def event_id(self) -> str:
        return f"reorder/{level_key(self.shop_id, self.product_id)}/{_ms(self.set_at)}"


class SourcePosition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    topic: str
    partition: int
    offset: int
    index: int


class StockLevelRecorded(_ShopEvent):
    schema_name: ClassVar[str] = "org.vivres.stock.StockLevelRecorded"
    time_field: ClassVar[str] = "updated_at"
    on_hand: int
    reorder_point: int
    status: StockStatus
    positions: tuple[SourcePosition, ...]
    updated_at: WireTime

    @property
    def level_key(self) -> str:
        """`<shop_id>/<product_id>`: one level per shop and product."""
        return level_key(self.shop_id, self.product_id)

    @property
    def event_id(self) -> str:
        newest = max((p.offset for p in self.positions), default=0)
        return f"level/{self.level_key}/{_ms(self.updated_at)}/{newest}"


class StockChanged(_ShopEvent):
    schema_name: ClassVar[str] = "org.vivres.stock.StockChanged"
    time_field: ClassVar[str] = "occurred_at"
    movement_id: str
    kind: MovementKind
    delta: int
    on_hand: int
    status: StockStatus
    occurred_at: WireTime

    @property
    def event_id(self) -> str:
        return f"stock/{self.movement_id}"


class StockAlerted(_ShopEvent):
    schema_name: ClassVar[str] = "org.vivres.stock.StockAlerted"
    time_field: ClassVar[str] = "occurred_at"
    alert: AlertKind
    previous: StockStatus
    status: StockStatus
    on_hand: int
    reorder_point: int
    occurred_at: WireTime
    movement_id: str | None = None

    @property
    def event_id(self) -> str:
        cause = self.movement_id or str(_ms(self.occurred_at))
        return f"alert/{level_key(self.shop_id, self.product_id)}/{cause}/{self.alert.value}"
