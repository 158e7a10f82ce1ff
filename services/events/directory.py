"""The directory: territories, producers and hubs (épiceries are ShopRegistered, on
catalog.shops). Wire form: schemas/directory/*.avsc (compacted topics: the newest event per id is
the entry; a closed entry keeps its id and history). No person's name or contact crosses the bus:
a producer is its public farm name and commune."""

from __future__ import annotations

from typing import ClassVar


from services.events.base import Event, WireTime


class _Entry(Event):
    time_field: ClassVar[str] = "recorded_at"
    kind: ClassVar[str]

    recorded_at: WireTime
    closed_at: WireTime | None = None

    @property
    def entry_id(self) -> str:
        return str(getattr(self, self.id_field or ""))

    @property
    def event_id(self) -> str:
        return f"{self.kind}/{self.entry_id}/{int(self.recorded_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/directory/{self.kind}s/{self.entry_id}"


class TerritoryRegistered(_Entry):
    schema_name: ClassVar[str] = "org.vivres.directory.TerritoryRegistered"
    id_field: ClassVar[str | None] = "territory_id"
    kind: ClassVar[str] = "territory"

    territory_id: str
    name: str
    timezone: str
    caisse: str | None = None


class ProducerRegistered(_Entry):
    schema_name: ClassVar[str] = "org.vivres.directory.ProducerRegistered"
    id_field: ClassVar[str | None] = "producer_id"
    kind: ClassVar[str] = "producer"

    producer_id: str
    farm_name: str
    commune: str
    farm_lat_e6: int
    farm_lon_e6: int
    organic: bool
    labels: tuple[str, ...]
    territories: tuple[str, ...]


class HubRegistered(_Entry):
    schema_name: ClassVar[str] = "org.vivres.directory.HubRegistered"
    id_field: ClassVar[str | None] = "hub_id"
    kind: ClassVar[str] = "hub"

    hub_id: str
    territory: str
    name: str
    lat_e6: int
    lon_e6: int
    delivery_weekdays: tuple[int, ...]
