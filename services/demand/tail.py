"""The tail check. faust 0.15.3 acks, without handing them to the agent, records it drops while
a rebalance pauses the flow; a dropped record is found by the next one of its partition (a
hole in the positions, services.demand.fold). One dropped at the very end of a partition
reveals no hole: no later record comes. So when a partition's position has stood still below
its end for a while, its remaining records are read directly and folded."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import structlog
from aiokafka import TopicPartition

from services.bus.partitions import read_range
from services.demand.fold import Fold, Pending
from services.demand.state import position_key

log = structlog.get_logger("vivres.demand")

TAIL_CHECK_S = 1.0  # how often partitions whose position stands below their end are checked
TAIL_GRACE_S = 3.0  # ... and how long a position must stand still before the end is read
TAIL_READ_MAX = 5_000  # records read at most per partition and check


class TailCheck:
    def __init__(self, fold: Fold, write: Callable[[int, Pending], None],
                 rebalancing: Callable[[], bool]) -> None:
        self.fold = fold
        self.write = write
        self.rebalancing = rebalancing
        self._still: dict[str, tuple[int, float]] = {}  # src → (position, since)

    async def __call__(self, assigned: Iterable[TopicPartition],
                      end_of: Callable[[TopicPartition], int | None]) -> None:
        current = self.fold.loaded()
        if current is None:
            return
        now = time.monotonic()
        for tp in assigned:
            src = f"{tp.topic}:{tp.partition}"
            position, end = current.positions.next.get(src), end_of(tp)
            if position is None or end is None or position >= end:
                self._still.pop(src, None)
                continue
            seen = self._still.get(src)
            if seen is None or seen[0] != position:  # new, or it moved: the agent is on it
                self._still[src] = (position, now)
            elif now - seen[1] >= TAIL_GRACE_S:
                await self._read_end(tp, end)
                self._still.pop(src, None)

    async def _read_end(self, tp: TopicPartition, end: int) -> None:
        fold, src = self.fold, f"{tp.topic}:{tp.partition}"
        async with fold.lock:
            current = fold.loaded()
            start = None if current is None else current.positions.next.get(src)
            if current is None or start is None or start >= end:
                return
            stop = min(end, start + TAIL_READ_MAX)
            log.warning("partition end not handed over for a while: read directly",
                        src=src, expected=start, end=end)
            records = await read_range(fold.settings, tp.topic, tp.partition, start, stop)
            if self.rebalancing() or fold.loaded() is not current:
                return  # revoked meanwhile: its next owner folds them
            pending: Pending = {}
            await fold.apply(current, src, records, pending)
            if current.positions.next.get(src, start) < stop:  # nothing there: a real hole
                current.positions.applied(src, stop - 1)
                pending[position_key(src)] = {"next": stop}
            self.write(tp.partition, pending)
