"""Planning a season: shops' forward needs, producers' crop plans, the sales history the
outlook learns from, and each territory × product's coverage.
Wire form: schemas/planning/*.avsc (compacted topics planning.*)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from services.events.base import Event, WireTime


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def pair_key(territory: str, product_id: str) -> str:
    return f"{territory}|{product_id}"


class ForwardNeedStated(Event):
    schema_name: ClassVar[str] = "org.vivres.planning.ForwardNeedStated"
    time_field: ClassVar[str] = "stated_at"

    need_key: str
    territory: str
    shop_id: str
    product_id: str
    week: date
    units: int
    firm: bool = False
    price_cents: int | None = None
    stated_by: str
    stated_at: WireTime

    @staticmethod
    def key(shop_id: str, product_id: str, week: date) -> str:
        return f"{shop_id}|{product_id}|{week.isoformat()}"

    @property
    def event_id(self) -> str:
        return f"need/{self.need_key}/{int(self.stated_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/shops/{self.shop_id}/needs"


class CropPlanned(Event):
    schema_name: ClassVar[str] = "org.vivres.planning.CropPlanned"
    time_field: ClassVar[str] = "planned_at"

    plan_key: str
    producer_id: str
    territory: str
    product_id: str
    week: date
    units: int
    planned_at: WireTime

    @staticmethod
    def key(producer_id: str, territory: str, product_id: str, week: date) -> str:
        return f"{producer_id}|{territory}|{product_id}|{week.isoformat()}"

    @property
    def event_id(self) -> str:
        return f"plan/{self.plan_key}/{int(self.planned_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/producers/{self.producer_id}/plans"


class HistoryWeekImported(Event):
    schema_name: ClassVar[str] = "org.vivres.planning.HistoryWeekImported"
    time_field: ClassVar[str] = "imported_at"

    history_key: str
    territory: str
    product_id: str
    week: date
    units: int
    imported_at: WireTime

    @staticmethod
    def key(territory: str, product_id: str, week: date) -> str:
        return f"{territory}|{product_id}|{week.isoformat()}"

    @property
    def event_id(self) -> str:
        return f"history/{self.history_key}/{int(self.imported_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/territories/{self.territory}/history"


class WeekUnits(_Part):
    week: date
    units: int


class SalesHistoryRecorded(Event):
    schema_name: ClassVar[str] = "org.vivres.planning.SalesHistoryRecorded"
    time_field: ClassVar[str] = "updated_at"

    pair_key: str
    territory: str
    product_id: str
    weeks: tuple[WeekUnits, ...]
    updated_at: WireTime

    @property
    def event_id(self) -> str:
        return f"sales-history/{self.pair_key}/{int(self.updated_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/territories/{self.territory}/history"


class CoverageWeek(_Part):
    week: date
    outlook: float
    outlook_p10: float
    outlook_p90: float
    needs: int
    firm: int
    plans: int
    demand: float
    gap: float
    producers: int


class NeedLine(_Part):
    shop_id: str
    week: date
    units: int
    firm: bool
    price_cents: int | None = None


class PlanLine(_Part):
    producer_id: str
    week: date
    units: int


class CoverageRecorded(Event):
    schema_name: ClassVar[str] = "org.vivres.planning.CoverageRecorded"
    time_field: ClassVar[str] = "computed_at"

    pair_key: str
    territory: str
    product_id: str
    first_week: date
    history_weeks: int
    weeks: tuple[CoverageWeek, ...]
    needs: tuple[NeedLine, ...]
    plans: tuple[PlanLine, ...]
    computed_at: WireTime

    @property
    def event_id(self) -> str:
        return f"coverage/{self.pair_key}/{int(self.computed_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/territories/{self.territory}/planning"
