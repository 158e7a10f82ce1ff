"""Per-partition state for services that own partitions: read a partition of a topic to its
end, and load each owned partition's state once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterable, Mapping
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.partitioner import murmur2

from services.bus.admin import partitions_of
from services.bus.catalog import Topic
from services.bus.codec import AvroCodec
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.events.base import Event

S = TypeVar("S")


def partition_for(key: bytes, partitions: int) -> int:
    """The partition a keyed record goes to, as Kafka's default partitioner puts it (the
    Java client's and aiokafka's alike)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def read_partition(settings: BusSettings, registry: SchemaRegistry, topic: Topic,
                         partition: int, *, since_ms: int | None = None,
                         keys: Container[str] | None = None) -> AsyncIterator[Event]:
    """Every committed event of one partition, from its beginning (or from the first record
    stamped at or after `since_ms`) to its end as of now (tombstones skipped), decoded; only
    the records with one of `keys`, when given (the others are not even decoded)."""
    codec = AvroCodec.for_topic(registry, topic)
    tp = TopicPartition(topic.name, partition)
    consumer = AIOKafkaConsumer(**settings.kafka_options(),
                                group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        consumer.assign([tp])
        # Seek first: asking for the end offsets before a seek_to_beginning made aiokafka
        # position the partition at its end.
        if since_ms is None:
            await consumer.seek_to_beginning(tp)
        elif (start := (await consumer.offsets_for_times({tp: since_ms}))[tp]) is not None:
            consumer.seek(tp, start.offset)
        else:
            await consumer.seek_to_end(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                if record.value is None or (keys is not None and (
                        record.key is None or record.key.decode() not in keys)):
                    continue
                yield topic.event.from_avro(await codec.decode(record.value))
    finally:
        await consumer.stop()


async def read_range(settings: BusSettings, topic: str, partition: int, start: int,
                     stop: int) -> list[ConsumerRecord]:
    """The raw records of one partition from offset `start` up to `stop` (excluded), as a
    consumer reading uncommitted data sees them (holes of transaction markers stay holes)."""
    tp = TopicPartition(topic, partition)
    return [record async for chunk in read_chunks(settings, {tp: (start, stop)})
            for record in chunk[1]]


async def read_chunks(settings: BusSettings, ranges: Mapping[TopicPartition, tuple[int, int]],
                      *, max_records: int = 5_000
                      ) -> AsyncIterator[tuple[TopicPartition, list[ConsumerRecord]]]:
    """The raw records of several partitions, each from its `start` up to its `stop`
    (excluded), in chunks of one partition's consecutive records (in offset order), as a
    consumer reading uncommitted data sees them; a partition whose records end below its
    `stop` (transaction markers) is done when its position reaches it. A `stop` must not
    be past the partition's end."""
    wanted = {tp: span for tp, span in ranges.items() if span[0] < span[1]}
    if not wanted:
        return
    consumer = AIOKafkaConsumer(**settings.kafka_options(), group_id=None,
                                enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        for tp, (start, _) in wanted.items():
            consumer.seek(tp, start)
        while wanted:
            fetched = await consumer.getmany(*wanted, timeout_ms=500, max_records=max_records)
            for tp, records in fetched.items():
                stop = wanted[tp][1]
                chunk = [record for record in records if record.offset < stop]
                if chunk:
                    yield tp, chunk
            for tp in list(wanted):
                if await consumer.position(tp) >= wanted[tp][1]:
                    consumer.pause(tp)
                    del wanted[tp]
    finally:
        await consumer.stop()


async def read_topic(settings: BusSettings, registry: SchemaRegistry, topic: Topic, *,
                     since_ms: int | None = None, keys: Container[str] | None = None
                     ) -> list[Event]:
    """Every committed event of a topic (see read_partition), partition after partition: the
    order within a partition, hence within a key, is kept."""
    events: list[Event] = []
    for tp in await partitions_of(settings, topic.name):
        events.extend([event async for event in read_partition(
            settings, registry, topic, tp.partition, since_ms=since_ms, keys=keys)])
    return events


class PartitionStates(Generic[S]):
    """The state of each owned partition, loaded once even when the assignment hook and a
    record ask for it at the same time, and forgotten when the partition may move."""

    def __init__(self, load: Callable[[int], Awaitable[S]]) -> None:
        self._load = load
        self._states: dict[int, S] = {}
        self._loading: dict[int, asyncio.Future[S]] = {}

    async def get(self, partition: int) -> S:
        if partition not in self._states:
            if partition not in self._loading:
                self._loading[partition] = asyncio.ensure_future(self._load(partition))
            try:
                loaded = await self._loading[partition]
            finally:
                self._loading.pop(partition, None)
            self._states.setdefault(partition, loaded)
        return self._states[partition]

    def loaded(self, partition: int) -> S | None:
        return self._states.get(partition)

    def forget(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._states.pop(partition, None)


async def bounds(settings: BusSettings, partitions: Iterable[TopicPartition]
                 ) -> dict[TopicPartition, tuple[int, int]]:
    """Each partition's first offset kept and its end (the next offset to be written)."""
    tps = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
    consumer = AIOKafkaConsumer(**settings.kafka_options(), group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        first = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return {tp: (first[tp], ends[tp]) for tp in tps}
    finally:
        await consumer.stop()
