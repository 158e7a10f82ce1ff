"""What producers can supply. Wire form: schemas/supply/*.avsc (compacted topic supply.offers)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar


from services.events.base import Event, WireTime
from services.events.sales import QuantityUnit


class OfferDeclared(Event):
    schema_name: ClassVar[str] = "org.vivres.supply.OfferDeclared"
    time_field: ClassVar[str] = "declared_at"

    offer_id: str
    producer_id: str
    territory: str
    product_id: str
    unit: QuantityUnit
    quantity_per_slot: int
    pack_size: int
    price_cents: int
    window_start: date
    window_end: date
    organic: bool
    labels: tuple[str, ...]
    farm_lat_e6: int
    farm_lon_e6: int
    declared_at: WireTime
    withdrawn: bool = False

    def open_on(self, day: date) -> bool:
        """Whether the offer can be ordered for a delivery on this day."""
        return not self.withdrawn and self.window_start <= day <= self.window_end

    @property
    def event_id(self) -> str:
        return f"offer/{self.offer_id}/{int(self.declared_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/producers/{self.producer_id}/offers"
