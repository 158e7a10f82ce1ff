"""The second stage in a worker: the partials of the pairs whose partitions of
`<app id>-partials` it holds (services.demand.combine), kept in table `territory` (RocksDB,
changelog) on the partition they came on, and the territories' signals computed from them to
demand.signals, after each batch and every FLUSH_S (stock, offers and orders change them too).

Taking a partial is idempotent (the newest of each partition is kept), so faust's at-least-once
delivery is all this stage needs; partials faust drops during a rebalance come again, since
every worker publishes its partials anew once its partitions are assigned, and every
REFRESH_S (services.demand.publish).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from services.bus.catalog import DEMAND_SIGNALS
from services.demand.combine import Combined, Key, Partial
from services.demand.fold import local_today
from services.demand.publish import within_budget
from services.demand.references import References
from services.demand.state import KEEP_DAYS, to_wire

log = structlog.get_logger("vivres.demand")

Write = Callable[[int, Mapping[str, Any]], None]  # (partition, records) → the table


class Territories:
    def __init__(self, refs: References, records: Callable[[], Iterable[tuple[str, Any]]],
                 write: Write) -> None:
        self.refs = refs
        self._records = records  # the table's records, to reload from
        self._write = write
        self.dirty: dict[Key, None] = {}  # pairs to publish: outlives a reloaded state
        self._state: Combined | None = None
        self._publishing = asyncio.Lock()  # one publisher at a time: a pair's order kept

    def state(self) -> Combined:
        """The partials kept, (re)loaded from the table after an assignment."""
        if self._state is None:
            self._state = Combined(self.dirty)
            for _key, value in self._records():
                self._state.take(Partial.from_json(value))
            log.info("territory partials loaded", pairs=len(self.dirty))
        return self._state

    def forget(self) -> None:
        self._state = None

    def take(self, received: Iterable[tuple[int, bytes]]) -> None:
        """Partials as they came (partition, JSON): the newer ones kept and written."""
        current = self.state()
        writes: dict[int, dict[str, Any]] = {}
        for partition, value in received:
            data = json.loads(value)
            partial = Partial.from_json(data)
            if current.take(partial):
                writes.setdefault(partition, {})[partial.key] = data
        for partition, records in writes.items():
            self._write(partition, records)

    async def publish(self) -> None:
        """The signals of the pairs changed, within the flush's budget."""
        current = self._state
        if current is None or not self.dirty:
            return
        async with self._publishing:
            await self.refs.ready()
            refs, now, today = self.refs, datetime.now(UTC), local_today()

            async def publish(pair: Key) -> None:
                if current.knows(pair):  # a pair of another worker's, or with no sales
                    signal = current.signal(pair, today, on_hand=refs.on_hand.get(pair, {}),
                                            committed_7d=refs.committed(pair, today), now=now,
                                            keep_days=KEEP_DAYS)
                    await refs.publisher.enqueue(DEMAND_SIGNALS, to_wire(signal))

            await within_budget(current.take_dirty, publish)
            await refs.publisher.settle()
