"""Demand signals: what the tills sell, turned into what producers plan on.
Wire form: schemas/demand/DemandSignalRecorded.avsc (compacted topics)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from services.events.base import Event, WireTime


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DaySold(_Part):
    day: date
    units: int


class WeekSold(_Part):
    week: date  # its Monday
    units: int


class DayForecast(_Part):
    day: date
    mean: float
    p10: float
    p90: float


class DemandSignalRecorded(Event):
    schema_name: ClassVar[str] = "org.vivres.demand.DemandSignalRecorded"
    time_field: ClassVar[str] = "computed_at"

    territory: str
    product_id: str
    shop_id: str | None = None
    day: date
    sold: tuple[DaySold, ...]
    velocity_7d: float
    trend: float | None = None
    on_hand: int | None = None
    days_of_cover: float | None = None
    stockout_days_7d: int
    forecast: tuple[DayForecast, ...]
    forecast_7d: float
    forecast_7d_p10: float
    forecast_7d_p90: float
    forecast_14d: float
    forecast_14d_p10: float
    forecast_14d_p90: float
    committed_supply_7d: int
    supply_gap_7d: float
    inputs_at: WireTime | None = None
    computed_at: WireTime
    sold_weeks: tuple[WeekSold, ...] = ()

    @property
    def signal_key(self) -> str:
        """`<territory>/<product_id>`, and `/<shop_id>` for a shop's signal."""
        return signal_key(self.territory, self.product_id, self.shop_id)

    @property
    def event_id(self) -> str:
        return f"signal/{self.signal_key}/{int(self.computed_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/territories/{self.territory}/demand"


def signal_key(territory: str, product_id: str, shop_id: str | None = None) -> str:
    return f"{territory}/{product_id}" + (f"/{shop_id}" if shop_id else "")


WEBHOOK_EVENTS = ("demand.signal", "planning.coverage")


class SubscriptionRecorded(Event):
    schema_name: ClassVar[str] = "org.vivres.demand.SubscriptionRecorded"
    id_field: ClassVar[str | None] = "subscription_id"
    time_field: ClassVar[str] = "created_at"

    subscription_id: str
    producer_id: str
    url: str
    territory: str | None = None
    product_id: str | None = None
    category: str | None = None
    secret: str
    created_at: WireTime
    revoked: bool = False
    events: tuple[str, ...] = ("demand.signal",)  # WEBHOOK_EVENTS

    @property
    def event_id(self) -> str:
        return f"subscription/{self.subscription_id}/{'revoked' if self.revoked else 'active'}"

    @property
    def event_source(self) -> str:
        return f"/producers/{self.producer_id}/subscriptions"
