"""The past weeks of the simulated territories, written straight to `sales.tickets` and
`sales.refunds`, as a till's history imported by an integration would be: a fresh demo shows
months of sales (the forecast needs 12 weeks) within a minute, and the benchmarks get a topic of
known size. Tickets older than the gateway's upload window could not go through it anyway.

The tickets are the simulator's own (services.simulator.model, the same seed gives the same
tickets), each written once under its ticket id; the live simulator starts where this ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from services.bus.catalog import REFUNDS, SALES
from services.bus.publisher import Publisher
from services.simulator import model
from services.simulator.territories import Shop

SETTLE_EVERY = 5_000  # events in flight at most


@dataclass
class Written:
    tickets: int = 0
    refunds: int = 0
    lines: int = 0


async def backfill(publisher: Publisher, shops: Iterable[Shop], first: date, days: int,
                   seed: int, *, progress: Callable[[int], None] | None = None) -> Written:
    """Write every ticket and refund of `shops` over `days` days from `first`; `progress` is
    told each simulated day done."""
    written = Written()
    shops = list(shops)
    in_flight = 0
    for offset in range(days):
        day = first + timedelta(days=offset)
        for shop in shops:
            for upload in model.simulate_day(shop, day, seed):
                for ticket in upload.batch.tickets:
                    await publisher.enqueue(SALES, ticket.to_event())
                    written.tickets += 1
                    written.lines += len(ticket.lines)
                for refund in upload.batch.refunds:
                    await publisher.enqueue(REFUNDS, refund.to_event())
                    written.refunds += 1
                in_flight += len(upload.batch.tickets) + len(upload.batch.refunds)
                if in_flight >= SETTLE_EVERY:
                    await publisher.settle()
                    in_flight = 0
        if progress is not None:
            progress(1)
    await publisher.settle()
    return written
