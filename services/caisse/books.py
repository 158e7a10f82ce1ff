"""The caisse's books as Kafka holds them, read for settlements and reports (the arithmetic is in
services.caisse.reports): the ledger, the contributions, the committee's decisions, and the
tickets the redemptions paid, joined to the catalog for their products."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from services.bus.catalog import (
    CAISSE_CONTRIBUTIONS,
    CAISSE_DECISIONS,
    CAISSE_LEDGER,
    CAISSE_SETTLEMENTS,
    SALES,
)
from services.bus.partitions import read_topic
from services.bus.publisher import Publisher
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.caisse import reports
from services.caisse.rules import Committee, first_day
from services.events.caisse import LedgerEntryRecorded, SettlementRecorded
from services.events.catalog import ProductDefined, code_key
from services.events.sales import SaleLine

LATE_UPLOAD_MARGIN = timedelta(days=15)  # tickets of a month may reach Kafka this much earlier


class Books:
    def __init__(self, settings: BusSettings, registry: SchemaRegistry) -> None:
        self.settings = settings
        self.registry = registry

    async def committee(self) -> Committee:
        return Committee(await read_topic(self.settings, self.registry, CAISSE_DECISIONS))

    async def entries(self, caisse_id: str) -> list[LedgerEntryRecorded]:
        """The caisse's ledger entries, in each card's order."""
        return [entry for entry in await read_topic(self.settings, self.registry, CAISSE_LEDGER)
                if entry.caisse_id == caisse_id]

    async def settle(self, publisher: Publisher, caisse_id: str, month: str,
                     committee: Committee | None = None) -> list[SettlementRecorded]:
        """Compute the month's settlements from the ledger and record them (the newest per
        shop counts: settling again after a late refund corrects it)."""
        committee = committee or await self.committee()
        settlements = reports.settle(await self.entries(caisse_id), caisse_id, month, committee,
                                     datetime.now(UTC))
        if settlements:
            await publisher.publish_many(CAISSE_SETTLEMENTS, settlements)
        return settlements

    async def settlements(self, caisse_id: str, month: str | None = None
                          ) -> list[SettlementRecorded]:
        newest: dict[str, SettlementRecorded] = {}
        for s in await read_topic(self.settings, self.registry, CAISSE_SETTLEMENTS):
            if s.caisse_id == caisse_id and month in (None, s.month):
                newest[s.settlement_key] = s
        return sorted(newest.values(), key=lambda s: (s.month, s.shop_id))

    async def report(self, caisse_id: str, months: Iterable[str], product_of: reports.ProductOf,
                     committee: Committee | None = None) -> reports.Report:
        months = sorted(set(months))
        committee = committee or await self.committee()
        entries = await self.entries(caisse_id)
        wanted = {e.ticket_id for e in entries if e.ticket_id}
        since = datetime.combine(first_day(months[0]), datetime.min.time(), UTC)
        tickets = {t.ticket_id: t for t in await read_topic(
            self.settings, self.registry, SALES,
            since_ms=int((since - LATE_UPLOAD_MARGIN).timestamp() * 1000),
            keys={e.shop_id for e in entries if e.ticket_id and e.shop_id})  # tickets by shop
            if t.ticket_id in wanted}
        contributions = await read_topic(self.settings, self.registry, CAISSE_CONTRIBUTIONS)
        return reports.report(entries, caisse_id, months, committee, tickets, product_of,
                              contributions)


def product_lookup(mappings, products) -> reports.ProductOf:
    """A ticket line's product, through the shop's till-code mapping (tables with .get)."""
    def product_of(shop_id: str, line: SaleLine) -> ProductDefined | None:
        mapping = mappings.get(code_key(shop_id, line.code_kind, line.product_code))
        return products.get(mapping.product_id) if mapping is not None else None
    return product_of

