"""The stock service: on-hand per shop × product from sales, refunds, deliveries, counts and
waste; an event for every change, alerts on low stock, stock-outs and negative stock.

All inputs are keyed by shop, so input partition p carries the same shops on every input topic;
the levels of those shops live in partition p of the compacted `stock.levels`, written only by
the owner of input partition p. Each level carries the last input position it applied (see
`ledger`), so a redelivered record changes nothing. At each commit the batch's changes and alerts
are acknowledged first, then the levels are written, then the offsets committed: levels are
exact, changes and alerts at least once with stable ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from services.bus.catalog import (
    MAPPINGS,
    PRODUCTS,
    REFUNDS,
    REORDER_POINTS,
    SALES,
    STOCK_ALERTS,
    STOCK_CHANGES,
    STOCK_COUNTS,
    STOCK_DELIVERIES,
    STOCK_LEVELS,
    STOCK_WASTE,
)
from services.bus.ownership import PartitionStates
from services.bus.partitions import read_partition
from services.bus.platform import Platform
from services.bus.runtime import ErrorPolicy, Received, Reject, Route
from services.bus.table import TableView
from services.events.catalog import ProductDefined, TillCodeMapped, code_key
from services.events.sales import SaleRecorded, SaleRefunded
from services.events.stock import (
    DeliveryReceived,
    ReorderPointSet,
    SourcePosition as WirePosition,
    StockAlerted,
    StockChanged,
    StockCounted,
    StockLevelRecorded,
    WasteRecorded,
)
from services.sales.checks import ticket_problem
from services.stock import ledger
from services.stock.ledger import Movement, MovementKind, SourcePosition, StockLevel

GROUP = "vivres-stock"
INPUTS = (SALES, REFUNDS, STOCK_COUNTS, STOCK_WASTE, STOCK_DELIVERIES, REORDER_POINTS)
log = structlog.get_logger("vivres.stock")
Key = tuple[str, str]


@dataclass
class Shelf:
    """Input partition p's levels (partition p of `stock.levels`), when each last changed, and
    those changed since the last commit."""

    levels: dict[Key, StockLevel] = field(default_factory=dict)
    updated_at: dict[Key, datetime] = field(default_factory=dict)
    dirty: set[Key] = field(default_factory=set)


class StockService:
    """Handlers and per-partition levels of the stock service."""

    def __init__(self, platform: Platform, mappings: TableView[TillCodeMapped],
                 products: TableView[ProductDefined]) -> None:
        self.platform = platform
        self.mappings = mappings
        self.products = products
        self.shelves = PartitionStates(self._read_shelf, save=self._write_levels)
        self.skipped = platform.metrics.counter(
            "vivres_stock_lines_skipped_total", "Ticket lines not counted in stock", ("reason",))

    def routes(self) -> list[Route]:
        policy = ErrorPolicy(retries=5, backoff_s=0.2)  # never skipped: dead-lettered, replayable
        return [Route(topic, self.handle, policy) for topic in INPUTS]

    async def _read_shelf(self, partition: int) -> Shelf:
        """Partition p of the compacted levels, read to its end."""
        shelf = Shelf()
        async for level in read_partition(self.platform.settings, self.platform.registry,
                                          STOCK_LEVELS, partition):
            key = (level.shop_id, level.product_id)
            shelf.levels[key] = from_wire(level)
            shelf.updated_at[key] = level.updated_at
        log.info("stock partition loaded", partition=partition, levels=len(shelf.levels))
        return shelf

    async def _write_levels(self, partition: int, shelf: Shelf) -> None:
        """Before a commit (the batch's changes and alerts acknowledged): the levels they led
        to."""
        for key in sorted(shelf.dirty):
            await self.platform.publisher.enqueue(
                STOCK_LEVELS, level_to_wire(shelf.levels[key], shelf.updated_at[key]),
                partition=partition)
        shelf.dirty.clear()

    async def handle(self, received: Received) -> None:
        shelf = await self.shelves.get(received.partition)
        problem = self._problem(received.event)
        if problem:
            raise Reject(problem)
        try:
            changes = self._changes(received, shelf.levels)
        except ledger.Unappliable as err:
            raise Reject(str(err)) from err
        for key, after, events, at in changes:  # nothing is changed before all are known
            await self._record(received.partition, shelf, key, after, events, at)

    @staticmethod
    def _problem(event) -> str | None:
        if isinstance(event, SaleRecorded | SaleRefunded):
            return ticket_problem(event)
        return ledger.record_problem(event)

    def _changes(self, received: Received, levels: dict[Key, StockLevel]
                 ) -> list[tuple[Key, StockLevel, tuple, datetime]]:
        """What the record changes, level by level, computed without changing anything
        (a ticket's second line of a product starts from its first)."""
        event = received.event
        if isinstance(event, ReorderPointSet):
            key = (event.shop_id, event.product_id)
            level = levels.get(key) or StockLevel(*key)
            after, events = ledger.set_reorder_point(level, event.reorder_point, event.set_at)
            return [(key, after, events, event.set_at)]
        changes: list[tuple[Key, StockLevel, tuple, datetime]] = []
        scratch: dict[Key, StockLevel] = {}
        for movement in self.movements(received):
            key = (movement.shop_id, movement.product_id)
            level = scratch.get(key) or levels.get(key) or StockLevel(*key)
            after, events = ledger.apply(level, movement)
            if events:
                scratch[key] = after
                changes.append((key, after, events, movement.at))
        return changes

    async def _record(self, partition: int, shelf: Shelf, key: Key, after: StockLevel,
                      events: tuple, at: datetime) -> None:
        shelf.levels[key] = after
        shelf.updated_at[key] = at
        shelf.dirty.add(key)
        for domain_event in events:
            topic, wire = to_wire(domain_event)
            await self.platform.publisher.enqueue(topic, wire, partition=partition)

    def movements(self, received: Received) -> Iterator[Movement]:
        """The stock movements one input record makes (a ticket: one per mapped line)."""
        event = received.event
        base = (received.topic, received.partition, received.offset)
        if isinstance(event, SaleRecorded | SaleRefunded):
            kind = MovementKind.SALE if isinstance(event, SaleRecorded) else MovementKind.REFUND
            for index, line in enumerate(event.lines):
                product = self._product_of(event.shop_id, line)
                if product is None:
                    continue
                yield Movement(f"{event.event_id}#{line.line_number}", event.shop_id, product,
                               kind, line.quantity, event.occurred_at,
                               SourcePosition(*base, index))
        elif isinstance(event, DeliveryReceived):
            # Its own id is its position: a delivery sent twice (the orders service may resend
            # after a crash) is counted once, wherever the copy lands.
            yield Movement(event.event_id, event.shop_id, event.product_id,
                           MovementKind.DELIVERY, event.quantity, event.event_time,
                           SourcePosition(f"delivery:{event.delivery_id}", 0, 0, 0))
        else:
            kind = {StockCounted: MovementKind.COUNT, WasteRecorded: MovementKind.WASTE}[
                type(event)]
            yield Movement(event.event_id, event.shop_id, event.product_id, kind,
                           event.quantity, event.event_time, SourcePosition(*base, 0))

    def _product_of(self, shop_id: str, line) -> str | None:
        mapping = self.mappings.get(code_key(shop_id, line.code_kind, line.product_code))
        if mapping is None:
            self.skipped.labels("unmapped").inc()  # flagged by the ingest stage already
            return None
        product = self.products.get(mapping.product_id)
        if product is not None and product.unit is not line.unit:
            self.skipped.labels("unit").inc()
            log.warning("line unit differs from the product's", product=mapping.product_id,
                        line_unit=line.unit.value, product_unit=product.unit.value)
            return None
        return mapping.product_id


def from_wire(level: StockLevelRecorded) -> StockLevel:
    return StockLevel(level.shop_id, level.product_id, level.on_hand, level.reorder_point,
                      tuple(SourcePosition(p.topic, p.partition, p.offset, p.index)
                            for p in level.positions))


def level_to_wire(level: StockLevel, updated_at: datetime) -> StockLevelRecorded:
    return StockLevelRecorded(
        shop_id=level.shop_id, product_id=level.product_id, on_hand=level.on_hand,
        reorder_point=level.reorder_point, status=level.status, updated_at=updated_at,
        positions=tuple(WirePosition(topic=p.topic, partition=p.partition, offset=p.offset,
                                     index=p.index) for p in level.positions))


def to_wire(event: ledger.StockChanged | ledger.StockAlerted):
    """The domain's event as the wire event and its topic."""
    if isinstance(event, ledger.StockChanged):
        return STOCK_CHANGES, StockChanged(
            movement_id=event.movement_id, shop_id=event.shop_id, product_id=event.product_id,
            kind=event.kind, delta=event.delta, on_hand=event.on_hand, status=event.status,
            occurred_at=event.at)
    return STOCK_ALERTS, StockAlerted(
        shop_id=event.shop_id, product_id=event.product_id, alert=event.alert,
        previous=event.previous, status=event.status, on_hand=event.on_hand,
        reorder_point=event.reorder_point, occurred_at=event.at, movement_id=event.movement_id)


async def serve(platform: Platform) -> None:
    """Run the stock service until SIGTERM."""
    settings, registry = platform.settings, platform.registry
    async with TableView(settings, registry, MAPPINGS) as mappings, \
            TableView(settings, registry, PRODUCTS) as products:
        stock = StockService(platform, mappings, products)
        consumer = platform.consumer(GROUP, stock.routes(), owned=stock.shelves)
        async with consumer:
            await consumer.run()


def main() -> None:
    from services.bus.platform import run_service

    run_service(serve, "stock")
