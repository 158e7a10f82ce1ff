"""The fold: source records, in order per source partition, into the worker's DemandState, with
the table records they changed. One way for every path that folds: the faust agent (the live
tail), the tail check and the bulk catch-up (services.demand.catchup).

A record that cannot be decoded, or whose content cannot be folded, is dead-lettered (nothing
of it is folded) and only moves its partition's position. Exactly once comes from the state
(services.demand.state): each record remembers the last source offset it took, and the
positions say where each source partition goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiokafka import ConsumerRecord

from services.bus.deadletter import Stage, dead_letter_soon
from services.bus.partitions import read_range
from services.bus.settings import BusSettings
from services.demand.references import References
from services.demand.sources import foldable
from services.demand.state import DemandState, Key, Record, Shelf, Sold, Write, position_key

log = structlog.get_logger("vivres.demand")

Pending = dict[str, Record | None]  # table key → its new record (None: delete it)


class Fold:
    """The worker's state and the one lock its folds take turns on."""

    def __init__(self, settings: BusSettings, refs: References, records: Callable[[], Iterable[
            tuple[str, Record]]], territories: frozenset[str] = frozenset()) -> None:
        self.settings = settings
        self.refs = refs
        self.territories = territories
        self._records = records  # the table's records, to reload the state from
        self.dirty: dict[Key, None] = {}  # pairs to publish: outlives a reloaded state
        self.lock = asyncio.Lock()
        self._state: DemandState | None = None
        self._dead_letters: list[asyncio.Future[Any]] = []  # sent, not yet acknowledged

    def state(self) -> DemandState:
        """The state, (re)loaded from the table after an assignment."""
        if self._state is None:
            self._state = DemandState(self.dirty)
            for key, record in self._records():
                self._state.load(key, record)
            log.info("demand state loaded", records=len(self._state.records))
        return self._state

    def loaded(self) -> DemandState | None:
        return self._state

    def forget(self) -> None:
        """Partitions may have moved: the next fold reloads what this worker still owns."""
        self._state = None

    async def take(self, events: Sequence[Any], write: Callable[[int, Pending], None]
                   ) -> None:
        """A batch faust handed over, each record folded once; the records changed written
        per source partition."""
        async with self.lock:  # the tail check and the catch-up fold under it too
            current = self.state()
            writes: dict[int, Pending] = {}  # partition → records to write
            for event in events:
                message = event.message
                await self.apply(current, f"{message.topic}:{message.partition}",
                                 await self.admitted(current, message),
                                 writes.setdefault(message.partition, {}))
            for partition, pending in writes.items():
                write(partition, pending)

    async def admitted(self, current: DemandState, message: Any) -> list[Any]:
        """The records to fold for a record faust handed over: none when it was folded
        before, those faust never handed over before it (read directly) and itself."""
        src = f"{message.topic}:{message.partition}"
        start = current.positions.admit(src, message.offset)
        if start is None:
            return []
        if start == message.offset:
            return [message]
        log.warning("records faust never handed over: read them directly",
                    src=src, offset=message.offset, expected=start)
        return [*await read_range(self.settings, message.topic, message.partition, start,
                                  message.offset), message]

    async def apply(self, current: DemandState, src: str, messages: Sequence[Any],
                    pending: Pending) -> None:
        """Fold records of one source partition, in order; what changed goes to `pending`,
        each key in the order of its last change (a position after the records it covers)."""
        if not messages:
            return
        try:
            await self._apply(current, src, messages, pending)
        except BaseException:
            self.forget()  # half a fold in memory: the next one reloads what was persisted
            raise

    async def _apply(self, current: DemandState, src: str, messages: Sequence[Any],
                     pending: Pending) -> None:
        topic = messages[0].topic
        today = local_today()
        handled, newest = 0, None
        sold: list[Sold] = []
        for message in messages:
            record = self._decoded_now(message)
            if record is _ASK:
                record = await self._decoded(message)
            if record is not None:
                try:
                    effect = foldable(self.refs, topic, record, message.partition,
                                      message.offset)
                except Exception as err:  # noqa: BLE001 - pure: only the content fails it
                    await self._dead_letter(message, Stage.HANDLE, err)
                else:
                    handled, newest = handled + 1, (record["occurred_at"], message)
                    if isinstance(effect, Shelf):
                        _changed(pending, current.apply_shelf(effect))
                    elif effect is not None:
                        sold.append(effect)
        current.positions.applied(src, messages[-1].offset)
        _changed(pending, current.apply_sold_all(sold, today))  # shop-days: not shelves
        _changed(pending, [(position_key(src), {"next": current.positions.next[src]})])
        self._count(topic, len(messages), handled, newest)
        if self._dead_letters:  # in Kafka before the positions that pass them are written
            sent, self._dead_letters = self._dead_letters, []
            await asyncio.gather(*sent)

    def _decoded_now(self, message: Any) -> Any:
        """The record's Avro form, without awaiting: None for one of another territory (when
        the worker folds some only: sources are keyed by shop, skipped undecoded), _ASK for
        one that needs the registry or does not decode (the slow path says why)."""
        if self.territories:
            shop = self.refs.shop(message.key.decode(errors="replace") if message.key else "")
            if shop is None or shop.territory not in self.territories:
                return None
        try:
            return self.refs.codecs[message.topic].decode_known(message.value) or _ASK
        except Exception:  # noqa: BLE001 - told, and dead-lettered, by _decoded
            return _ASK

    async def _decoded(self, message: Any) -> dict[str, Any] | None:
        """The record's Avro form, through the registry; None for one that cannot be decoded
        (dead-lettered)."""
        try:
            return await self.refs.codecs[message.topic].decode(message.value)
        except Exception as err:  # noqa: BLE001 - one bad record never stops the fold
            await self._dead_letter(message, Stage.DECODE, err)
            return None

    def _count(self, topic: str, consumed: int, handled: int,
               newest: tuple[datetime, Any] | None) -> None:
        """Metrics once per call (a catch-up chunk is thousands of records); the latencies
        are those of the call's last record handled."""
        metrics = self.refs.metrics
        metrics.consumed.labels("demand", topic).inc(consumed)
        if newest is not None:
            metrics.handled.labels("demand", topic).inc(handled)
            occurred_at, last = newest
            # faust gives its messages' append time in seconds, aiokafka's records in ms
            appended = last.timestamp / (1000 if isinstance(last, ConsumerRecord) else 1)
            metrics.applied(topic, occurred_at.timestamp(), appended)

    async def _dead_letter(self, message: Any, stage: Stage, err: BaseException) -> None:
        self._dead_letters.append(await dead_letter_soon(self.refs.producer, message, stage,
                                                         err, "demand", self.refs.metrics))


_ASK = object()  # a record to decode through the registry


def _changed(pending: Pending, writes: Iterable[Write]) -> None:
    for key, record in writes:  # each key in the order of its last change
        pending.pop(key, None)
        pending[key] = record


def local_today() -> date:
    """Today in the épiceries' timezone (the signals' 'today')."""
    return datetime.now(ZoneInfo("Europe/Paris")).date()
