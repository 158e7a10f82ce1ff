"""The ingest stage: submitted tickets become the sales topics, each ticket exactly once, and till
codes with no catalog mapping are flagged.

`sales.tickets.submitted` (what the gateway, the CSV importer and tills producing directly sent,
repeats included) becomes `sales.tickets`, and likewise for refunds. The stage writes each record
to the same partition number it read it from, so one consumer owns each output partition; the
output partition itself is the memory of what was written: on assignment it is re-read over the
upload window, and a record written just before a crash is recognised when it is redelivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from aiokafka import TopicPartition

from services.bus.admin import partitions_of
from services.bus.catalog import (
    MAPPINGS,
    REFUNDS,
    REFUNDS_SUBMITTED,
    SALES,
    SALES_SUBMITTED,
    UNMAPPED,
    Topic,
)
from services.bus.headers import CloudEvent, HeaderError
from services.bus.ownership import PartitionStates
from services.bus.partitions import records_from
from services.bus.platform import Platform
from services.bus.runtime import ErrorPolicy, Received, Reject, Route
from services.bus.table import TableView
from services.events.catalog import TillCodeMapped, TillCodeUnmapped, code_key
from services.events.sales import SaleRecorded, SaleRefunded
from services.sales.checks import ticket_problem
from services.sales.dedup import SeenTickets
from services.sales.intake import MAX_FUTURE, UPLOAD_WINDOW

OUTPUT: dict[str, Topic] = {SALES_SUBMITTED.name: SALES, REFUNDS_SUBMITTED.name: REFUNDS}
GROUP = "vivres-sales-ingest"
PRUNE_EVERY = 10_000  # tickets written between two prunings of the memory
log = structlog.get_logger("vivres.sales.ingest")


class SalesIngest:
    """Handlers and per-partition memory of the ingest stage."""

    def __init__(self, platform: Platform, mappings: TableView[TillCodeMapped],
                 unmapped: TableView[TillCodeUnmapped], *, window: timedelta = UPLOAD_WINDOW,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.platform = platform
        self.mappings = mappings
        self.unmapped = unmapped
        self.window = window
        self.clock = clock
        # By partition p, what partition p of each output holds (see _written).
        self.seen: PartitionStates[dict[str, SeenTickets]] = PartitionStates(self._remember)
        self._since_prune = 0
        self.duplicates = platform.metrics.counter(
            "vivres_sales_duplicates_total", "Repeated tickets dropped", ("topic",))
        self.flagged = platform.metrics.counter(
            "vivres_sales_unmapped_codes_total", "Till codes flagged as not mapped to the catalog")

    def routes(self) -> list[Route]:
        policy = ErrorPolicy(retries=5, backoff_s=0.2)  # a ticket it cannot apply: dead-lettered
        return [Route(SALES_SUBMITTED, self.handle, policy),
                Route(REFUNDS_SUBMITTED, self.handle, policy)]

    async def check_partitions(self) -> None:
        """Input and output must have as many partitions: partition p feeds partition p."""
        for source, target in OUTPUT.items():
            given = len(await partitions_of(self.platform.settings, source))
            wanted = len(await partitions_of(self.platform.settings, target.name))
            if given != wanted:
                raise RuntimeError(f"{source} has {given} partitions but {target.name} has "
                                   f"{wanted}: they must match (see the topic catalog)")

    async def _remember(self, partition: int) -> dict[str, SeenTickets]:
        """What partition p of each output holds: while p was elsewhere, another instance may
        have written to it."""
        targets = [target.name for target in OUTPUT.values()]
        memories = await asyncio.gather(*(self._written(t, partition) for t in targets))
        return dict(zip(targets, memories, strict=True))

    async def _written(self, topic: str, partition: int) -> SeenTickets:
        """What an output partition already holds within the window, from its ce_id headers."""
        seen = SeenTickets(self.window)
        # A ticket is taken while its event time is in the window, and may have been written up
        # to MAX_FUTURE before that time: read back that much further.
        since = int((self.clock() - self.window - MAX_FUTURE).timestamp() * 1000)
        async for record in records_from(self.platform.settings, TopicPartition(topic, partition),
                                         since_ms=since):
            try:
                meta = CloudEvent.from_headers(record.headers)
            except HeaderError:
                continue
            seen.add(meta.id, meta.time)
        log.info("partition memory rebuilt", topic=topic, partition=partition, tickets=len(seen))
        return seen

    async def handle(self, received: Received) -> None:
        target = OUTPUT[received.topic]
        event = received.event
        now = self.clock()
        self._check(event, now)
        if isinstance(event, SaleRecorded):
            # Even for a repeat: a flag lost in a crash after its ticket was written comes back.
            await self._flag_unmapped(event)
        seen = (await self.seen.get(received.partition))[target.name]
        if event.event_id in seen:
            self.duplicates.labels(received.topic).inc()
            return
        correlation = received.meta.correlation_id if received.meta else None
        await self.platform.publisher.enqueue(target, event, correlation_id=correlation,
                                              partition=received.partition)
        seen.add(event.event_id, event.event_time)
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            self._since_prune = 0
            for memories in self.seen.states():
                for memory in memories.values():
                    memory.prune(now)

    def _check(self, event: SaleRecorded | SaleRefunded, now: datetime) -> None:
        """Reject what can never be written on: a ticket with a problem (services.sales.checks)
        or dated out of the upload window."""
        problem = ticket_problem(event)
        if problem:
            raise Reject(f"{event.event_id}: {problem}")
        if event.event_time < now - self.window:
            # Past the window the memory may have forgotten it: a repeat would slip through.
            raise Reject(f"{event.event_id} occurred {event.event_time:%Y-%m-%d}, before the "
                         f"{self.window.days}-day upload window")
        if event.event_time > now + MAX_FUTURE:
            raise Reject(f"{event.event_id} occurred {event.event_time.isoformat()}, in the "
                         "future (a till clock gone wrong?)")

    async def _flag_unmapped(self, sale: SaleRecorded) -> None:
        for line in sale.lines:
            key = code_key(sale.shop_id, line.code_kind, line.product_code)
            if self.mappings.get(key) is not None or self.unmapped.get(key) is not None:
                continue
            flag = TillCodeUnmapped(shop_id=sale.shop_id, code=line.product_code,
                                    code_kind=line.code_kind, label=line.label,
                                    ticket_id=sale.ticket_id, first_seen_at=sale.occurred_at)
            await self.platform.publisher.enqueue(UNMAPPED, flag)
            self.unmapped.put(flag)
            self.flagged.inc()


async def serve(platform: Platform) -> None:
    """Run the ingest stage until SIGTERM."""
    settings, registry = platform.settings, platform.registry
    async with TableView(settings, registry, MAPPINGS) as mappings, \
            TableView(settings, registry, UNMAPPED) as unmapped:
        ingest = SalesIngest(platform, mappings, unmapped)
        await ingest.check_partitions()
        consumer = platform.consumer(GROUP, ingest.routes(), owned=ingest.seen)
        async with consumer:
            await consumer.run()


def main() -> None:
    from services.bus.platform import run_service

    run_service(serve, "sales-ingest")
