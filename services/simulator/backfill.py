"""The past weeks of the simulated territories, written straight to `sales.tickets` and
`sales.refunds`, as a till's history imported by an integration would be: a fresh demo shows
months of sales (the forecast needs 12 weeks) within a minute, and the benchmarks get a topic of
known size. Tickets older than the gateway's upload window could not go through it anyway.

The tickets are the simulator's own (services.simulator.model, the same seed gives the same
tickets), each written once under its ticket id; the live simulator starts where this ends.

The demo (`vivres demo backfill`, run by `make run` and `make up` before live traffic) writes
HISTORY_WEEKS complete weeks up to the day before `live_start`, the first day `vivres simulate`
plays by default, so history and live traffic meet without a gap or an overlap. Once per stack:
it writes only while `sales.tickets` is empty. Direct writes bypass ingest's dedupe, so any
ticket there (this history, even cut short, or live traffic) means the stack already has its
sales, and writing again could count days twice; `make clean` starts a stack afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from services.bus.admin import partitions_of
from services.bus.catalog import REFUNDS, SALES
from services.bus.partitions import bounds
from services.bus.publisher import Publisher
from services.bus.settings import BusSettings
from services.simulator import model
from services.simulator.territories import Shop

SETTLE_EVERY = 5_000  # events in flight at most
DEMO_SEED = 42  # the demo's history and its live traffic are the same simulation
HISTORY_WEEKS = 16  # complete weeks of history (within the demand processor's KEEP_DAYS)
LIVE_DAYS = 2  # the last days before today, left to the live simulator


def live_start(today: date) -> date:
    """The first day the live simulator plays by default; the history ends the day before."""
    return today - timedelta(days=LIVE_DAYS)


def history_span(today: date) -> tuple[date, int]:
    """(first day, days) of the demo's history: from the Monday HISTORY_WEEKS weeks before
    today's week to the day before live_start(today)."""
    first = today - timedelta(days=today.weekday(), weeks=HISTORY_WEEKS)
    return first, (live_start(today) - first).days


async def holds_sales(settings: BusSettings, topic: str = SALES.name) -> bool:
    """Whether `sales.tickets` (or `topic`) holds any record: then the demo's history (its
    season) is not written."""
    partitions = await partitions_of(settings, topic)
    return any(end > first for first, end in (await bounds(settings, partitions)).values())


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
