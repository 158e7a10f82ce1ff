"""The bulk catch-up: a worker that starts behind (a new app id, a restart after downtime, a
partition moved to it) folds the backlog of its source partitions before faust streams them.

faust hands a record to an agent at about 4,700 records/s on this project's machine, whatever
the agent does (bench/README.md): a year of a territory's sales would take hours. faust runs
a table's `on_recover` callbacks once the table is restored and before it seeks and resumes
the stream's partitions. There, for each source partition assigned, the records from its
position to its end are read with a plain consumer (services.bus.partitions.read_chunks), in
chunks of thousands, folded by the same fold as the live path (services.demand.fold), and
each chunk's changed records are written to the table once. Then the folded offsets are
committed, so faust streams from there.

Exactly once as on the live path: each chunk's records carry the offsets they folded and the
positions follow them in the changelog; a worker killed mid-chunk restarts from the last
position persisted, and records folded again change nothing. Records appended while the
catch-up ran are faust's (the live tail); a partition revoked meanwhile is left to its next
owner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import structlog
from aiokafka import TopicPartition

from services.bus.partitions import bounds, read_chunks
from services.bus.settings import BusSettings
from services.demand.fold import Fold, Pending
from services.demand.sources import SOURCES
from services.demand.state import position_key

log = structlog.get_logger("vivres.demand")

CHUNK = 5_000  # records read, folded and written at a time
PROGRESS_S = 5.0  # how often a long catch-up says how far it is

Write = Callable[[int, Pending], None]  # (source partition, records) → the table


async def catch_up(settings: BusSettings, fold: Fold, assigned: Iterable[TopicPartition],
                   write: Write) -> dict[TopicPartition, int]:
    """Fold the backlog of the `assigned` source partitions; the next offset of each folded
    partition (to commit), none for a partition revoked meanwhile."""
    names = {topic.name for topic in SOURCES}
    tps = [TopicPartition(tp.topic, tp.partition) for tp in assigned if tp.topic in names]
    if not tps:
        return {}
    await fold.refs.ready()
    async with fold.lock:
        current = fold.state()
        ranges = {}
        for tp, (first, end) in (await bounds(settings, tps)).items():
            start = max(first, current.positions.next.get(f"{tp.topic}:{tp.partition}", 0))
            if start < end:
                ranges[tp] = (start, end)
        if not ranges:
            return {}
        total = sum(end - start for start, end in ranges.values())
        log.info("catching up in bulk", records=total, partitions=len(ranges))
        started = said = time.monotonic()
        done, folded_s = 0, 0.0  # records folded, and the time folding them took
        async for tp, chunk in read_chunks(settings, ranges, max_records=CHUNK):
            if fold.loaded() is not current:
                log.info("partitions revoked during the catch-up: left to their owner")
                return {}
            folding = time.monotonic()
            pending: Pending = {}
            await fold.apply(current, f"{tp.topic}:{tp.partition}", chunk, pending)
            write(tp.partition, pending)
            folded_s += time.monotonic() - folding
            done += len(chunk)
            if time.monotonic() - said >= PROGRESS_S:
                said = time.monotonic()
                log.info("catching up", done=done, records=total,
                         per_s=round(done / (said - started)))
        for tp, (_, end) in ranges.items():  # read to its end: what is left are markers
            src = f"{tp.topic}:{tp.partition}"
            if current.positions.next.get(src, 0) < end:
                current.positions.applied(src, end - 1)
                write(tp.partition, {position_key(src): {"next": end}})
        seconds = time.monotonic() - started
        log.info("caught up", records=done, seconds=round(seconds, 2),
                 folding_s=round(folded_s, 2), per_s=round(done / seconds) if seconds else None)
        return {tp: end for tp, (_, end) in ranges.items()}
