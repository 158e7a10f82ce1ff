"""The planning service: keeps every territory × product's weekly sales history and publishes
its coverage (services.planning.coverage) whenever what it depends on changes.

It follows, as tables read whole at start (no consumer group), the territories' demand signals
(their last 16 complete weeks), the imported history, the shops' forward needs and the
producers' crop plans, and its own history. Each change marks its pair; every BATCH_S the
marked pairs are recomputed: a signal's weeks merged into the pair's history (written to
`planning.history` when they add or change a week), then the coverage, published to
`planning.coverage` when it says something new. Every REFRESH_S every pair is looked at again,
so the outlook moves with the calendar. Recomputing is idempotent: a restart re-reads the
tables and publishes only what differs. One instance runs (the history has one writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import structlog

from services.bus.catalog import (
    DEMAND_SIGNALS,
    PLANNING_COVERAGE,
    PLANNING_HISTORY,
    PLANNING_IMPORTS,
    PLANNING_NEEDS,
    PLANNING_PLANS,
    SHOPS,
)
from services.bus.platform import Platform
from services.bus.table import TableView
from services.bus.watch import FOLLOWER_BOUND, ChangedKeys, FellBehind
from services.planning.outlook import WeekOutlook, outlook
from services.events.planning import SalesHistoryRecorded, pair_key
from services.planning import coverage

BATCH_S = 1.0
REFRESH_S = 600.0
PARIS = ZoneInfo("Europe/Paris")
log = structlog.get_logger("vivres.planning")
Pair = tuple[str, str]


@lru_cache(maxsize=4096)
def _outlook(weeks: tuple[tuple[date, float], ...], today: date,
             share: tuple[float, ...] | None) -> tuple[WeekOutlook, ...]:
    """The outlook of a history, remembered: most recomputations change no week of it."""
    return tuple(outlook(dict(weeks), today, weekday_share=share))


class Planner:
    def __init__(self, platform: Platform, tables: dict[str, TableView], shops: TableView,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.platform = platform
        self.tables = tables  # by topic name: what marks a pair when it changes
        self.shops = shops  # the directory's: their opening days shape a week
        self.clock = clock
        self.dirty: set[Pair] = set()
        self.published = platform.metrics.counter(
            "vivres_planning_published_total", "Planning records published", ("topic",))

    def all_pairs(self) -> set[Pair]:
        return {(row.territory, row.product_id) for table in self.tables.values()
                for row in table.values()}

    async def run(self) -> None:
        queues = {name: table.watch(FOLLOWER_BOUND) for name, table in self.tables.items()}
        self.dirty = self.all_pairs()
        refreshed = time.monotonic()
        while not self.platform.stopping:
            for name, changes in queues.items():
                self.dirty |= self._changed_pairs(self.tables[name], changes)
            if time.monotonic() - refreshed > REFRESH_S:
                self.dirty |= self.all_pairs()
                refreshed = time.monotonic()
            if self.dirty:
                pairs, self.dirty = self.dirty, set()
                await self.recompute(pairs)
            await asyncio.sleep(BATCH_S)

    @staticmethod
    def _changed_pairs(table: TableView, changes: ChangedKeys) -> set[Pair]:
        """The pairs of the rows changed since the last call (every pair of the table when
        more changed than the watcher keeps: bounded memory, the same recomputation)."""
        pairs: set[Pair] = set()
        try:
            while (key := changes.get_nowait()) is not None:
                if (row := table.get(key)) is not None:
                    pairs.add((row.territory, row.product_id))
        except FellBehind:
            pairs |= {(row.territory, row.product_id) for row in table.values()}
        return pairs

    async def recompute(self, pairs: Iterable[Pair]) -> None:
        needs, plans, imported = self._by_pair()
        for territory, product in sorted(pairs):
            key = pair_key(territory, product)
            signal = self.tables[DEMAND_SIGNALS.name].get(f"{territory}/{product}")
            kept = await self._history(territory, product, signal)
            sold = coverage.history(kept.weeks if kept else (), imported[(territory, product)])
            today = signal.day if signal else self.clock().astimezone(PARIS).date()
            share = coverage.weekday_share(self.shops.values(), territory)
            expected = _outlook(tuple(sorted(sold.items())), today, share)
            found = coverage.compute(territory, product, sold, needs[(territory, product)],
                                     plans[(territory, product)], today, self.clock(),
                                     expected=list(expected), share=share)
            if not coverage.same(self.tables[PLANNING_COVERAGE.name].get(key), found):
                await self._publish(PLANNING_COVERAGE, found)

    def _by_pair(self) -> tuple[dict, dict, dict]:
        needs: dict[Pair, list] = defaultdict(list)
        plans: dict[Pair, list] = defaultdict(list)
        imported: dict[Pair, dict[date, int]] = defaultdict(dict)
        for need in self.tables[PLANNING_NEEDS.name].values():
            needs[(need.territory, need.product_id)].append(need)
        for plan in self.tables[PLANNING_PLANS.name].values():
            plans[(plan.territory, plan.product_id)].append(plan)
        for week in self.tables[PLANNING_IMPORTS.name].values():
            imported[(week.territory, week.product_id)][week.week] = week.units
        return needs, plans, imported

    async def _history(self, territory: str, product: str, signal) -> SalesHistoryRecorded | None:
        """The pair's kept history, with the signal's weeks merged in (and written when they
        add or change one)."""
        kept = self.tables[PLANNING_HISTORY.name].get(pair_key(territory, product))
        if signal is None:
            return kept
        weeks = coverage.merge_observed(kept.weeks if kept else (),
                                        ((w.week, w.units) for w in signal.sold_weeks))
        if kept is not None and kept.weeks == weeks:
            return kept
        fresh = SalesHistoryRecorded(pair_key=pair_key(territory, product), territory=territory,
                                     product_id=product, weeks=weeks, updated_at=self.clock())
        await self._publish(PLANNING_HISTORY, fresh)
        return fresh

    async def _publish(self, topic, event) -> None:
        await self.platform.publisher.publish(topic, event)
        self.tables[topic.name].put(event)
        self.published.labels(topic.name).inc()


INPUTS = (DEMAND_SIGNALS, PLANNING_IMPORTS, PLANNING_NEEDS, PLANNING_PLANS, PLANNING_HISTORY,
          PLANNING_COVERAGE)


async def serve(platform: Platform) -> None:
    settings, registry = platform.settings, platform.registry
    async with contextlib.AsyncExitStack() as stack:
        tables = {topic.name: await stack.enter_async_context(
            TableView(settings, registry, topic)) for topic in INPUTS}
        shops = await stack.enter_async_context(TableView(settings, registry, SHOPS))
        await Planner(platform, tables, shops).run()


def main() -> None:
    from services.bus.platform import run_service

    run_service(serve, "planning")
