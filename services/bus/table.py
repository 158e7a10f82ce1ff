"""A compacted topic held in memory: the newest event per key, kept up to date.

Small reference tables (tokens, the product catalog, till-code mappings) are read whole at start
by every process that needs them, and then followed, like a global table. Reading does not join
a consumer group, so every replica sees every partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from services.bus.client import new_consumer
from services.bus.admin import partitions_of
from services.bus.catalog import Topic
from services.bus.codec import AvroCodec, DecodeError
from services.bus.deadletter import describe
from services.bus.registry import RegistryError, SchemaRegistry
from services.bus.settings import BusSettings
from services.bus.watch import PENDING_BOUND, ChangedKeys
from services.events.base import Event

E = TypeVar("E", bound=Event)
log = structlog.get_logger("vivres.table")


class TableView(Generic[E]):
    """`async with TableView(...) as view:` returns once the topic has been read to its end."""

    def __init__(self, settings: BusSettings, registry: SchemaRegistry, topic: Topic,
                 row_key: Callable[[E], str] | None = None) -> None:
        """`row_key`: what a row is kept under (default: the record's key, as compaction
        keeps it); a topic keyed for ordering rather than identity names its events' id."""
        self.settings = settings
        self.topic = topic
        self._row_key = row_key
        self._codec = AvroCodec.for_topic(registry, topic)
        self._rows: dict[str, E] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._follower: asyncio.Task[None] | None = None
        self.version = 0  # grows with every row applied: caches built on the rows check it
        self.positions: dict[str, tuple[int, int]] = {}  # key -> (partition, offset) of its row
        self.watchers: set[ChangedKeys] = set()  # told the key of every row applied
        self.healthy = True  # False while the broker or the registry keeps it from following
        self.applied: dict[int, int] = {}  # partition -> the next offset to apply

    async def __aenter__(self) -> TableView[E]:
        self._consumer = new_consumer(self.settings)
        await self._consumer.start()
        partitions = await partitions_of(self.settings, self.topic.name)
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        ends = await self._consumer.end_offsets(partitions)
        while not await self._caught_up(ends):
            await self._apply_batch(timeout_ms=500)
        self._follower = asyncio.create_task(self._follow(), name=f"table:{self.topic.name}")
        log.info("table loaded", topic=self.topic.name, rows=len(self._rows))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def _caught_up(self, ends: dict) -> bool:
        for tp, end in ends.items():
            if await self._consumer.position(tp) < end:
                return False
        return True

    async def _follow(self) -> None:
        while True:
            try:
                await self._apply_batch(timeout_ms=1000)
                self.healthy = True
            except KafkaError as err:  # the broker is away: keep serving what we have
                self.healthy = False
                log.warning("table follow paused", topic=self.topic.name, error=str(err))
                await asyncio.sleep(1.0)

    async def _apply_batch(self, timeout_ms: int) -> None:
        batch = await self._consumer.getmany(timeout_ms=timeout_ms)
        for records in batch.values():
            for record in records:
                await self._apply_record(record)

    async def _apply_record(self, record: Any) -> None:
        try:
            await self._apply_row(record)
        finally:
            self.applied[record.partition] = record.offset + 1

    async def _apply_row(self, record: Any) -> None:
        key = record.key.decode() if record.key else None
        if key is None:
            return
        if record.value is None:  # a tombstone deletes the row
            self._rows.pop(key, None)
            self.version += 1
            return
        delay = 0.2
        while True:
            try:
                data = await self._codec.decode(record.value)
                break
            except RegistryError as err:
                # Skipping would be worse than waiting: a skipped revocation leaves a token valid.
                self.healthy = False
                log.warning("table waits for the registry", topic=record.topic,
                            partition=record.partition, offset=record.offset, error=str(err))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            except DecodeError as err:
                log.warning("table record undecodable, skipped", topic=record.topic,
                            partition=record.partition, offset=record.offset, error=str(err))
                return
        try:
            event = self.topic.event.from_avro(data)
            key = self._row_key(event) if self._row_key else key
            self._rows[key] = event
            self.version += 1
            self.positions[key] = (record.partition, record.offset)
            for watcher in self.watchers:
                watcher.add(key)
        except ValueError as err:
            log.warning("table record invalid, skipped", topic=record.topic,
                        partition=record.partition, offset=record.offset, error=describe(err))

    async def catch_up(self, timeout_s: float = 2.0) -> bool:
        """Wait (at most `timeout_s`) until the rows written to the topic before this call are
        applied: a key another process has just written is then known. False at the deadline
        or when the broker cannot say."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            ends = await asyncio.wait_for(
                self._consumer.end_offsets(list(self._consumer.assignment())), timeout_s)
            while any(self.applied.get(tp.partition, 0) < end for tp, end in ends.items()
                      if end > 0):
                if loop.time() > deadline:
                    return False
                await asyncio.sleep(0.02)
        except (KafkaError, TimeoutError):
            return False
        return True

    def put(self, event: E) -> None:
        """Apply an event this process just published (read your own writes at once)."""
        self._rows[self._row_key(event) if self._row_key else self.topic.key_of(event)] = event
        self.version += 1

    def watch(self, bound: int = PENDING_BOUND) -> ChangedKeys:
        """The keys of the rows applied from now on, each pending once, at most `bound` of them
        (then `FellBehind`: read the table afresh); `unwatch` it when done."""
        changes = ChangedKeys(bound)
        self.watchers.add(changes)
        return changes

    def unwatch(self, changes: ChangedKeys) -> None:
        self.watchers.discard(changes)

    def get(self, key: str) -> E | None:
        return self._rows.get(key)

    def values(self) -> Iterator[E]:
        return iter(list(self._rows.values()))

    def __len__(self) -> int:
        return len(self._rows)
