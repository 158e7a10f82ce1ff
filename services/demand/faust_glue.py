"""The two things the demand processor needs from faust 0.15.3 that it has no public way to do,
kept here and nowhere else (tests/unit/test_faust_glue.py fails when an upgrade moves them):

- write a table record on a partition we choose, outside a stream's iteration. A table write
  goes to the changelog partition, and the RocksDB of the partition, of the "current event"
  (faust.streams.current_event); the bulk catch-up folds with no event at all, and the agent
  writes a batch's records per source partition. A stand-in event of that partition is made
  current for the write.
- commit offsets the processor folded itself, past what faust handed over (the catch-up), so
  that faust seeks its stream there rather than re-deliver the backlog one record at a time.
  Only the speed depends on it: positions kept with the records say what was folded, and a
  record delivered again is skipped (services.demand.state).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import faust
import structlog
from faust import streams
from faust.types import TP

log = structlog.get_logger("vivres.demand")


@dataclass(frozen=True)
class _Message:
    topic: str
    partition: int


@dataclass(frozen=True)
class _Event:
    message: _Message


class TableWriter:
    """Writes records to a faust table on the partition of the source records they fold."""

    def __init__(self, table: faust.Table, source_topic: str) -> None:
        self.table = table
        self._events = {}  # partition → its stand-in (kept alive: faust holds a weak ref)
        self._topic = source_topic

    def write(self, partition: int, pending: Mapping[str, Any]) -> None:
        """`pending`'s records (None: delete the key), in its order."""
        event = self._events.get(partition)
        if event is None:
            event = self._events[partition] = _Event(_Message(self._topic, partition))
        token = streams._current_event.set(weakref.ref(event))  # noqa: SLF001 - see above
        try:
            for key, record in pending.items():
                if record is None:
                    self.table.pop(key, None)
                else:
                    self.table[key] = record
        finally:
            streams._current_event.reset(token)  # noqa: SLF001


async def commit(app: faust.App, offsets: Mapping[TP, int]) -> bool:
    """Commit `offsets` (next offset to read, per source partition) for the app's group, as
    faust's own commits do (it flushes the producer first: our table writes reach the
    changelog before the offsets they cover)."""
    await app.producer.flush()
    committed = await app.consumer._commit(dict(offsets))  # noqa: SLF001 - see above
    if not committed:
        log.warning("catch-up offsets not committed: faust re-delivers those records, "
                    "skipped one by one", offsets={str(tp): o for tp, o in offsets.items()})
    return bool(committed)
