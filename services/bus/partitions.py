"""The one way to read partitions without a consumer group: a range of offsets, from a time,
to the end as of now."""

from __future__ import annotations

from collections.abc import AsyncIterator, Container, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.partitioner import murmur2

from services.bus.admin import partitions_of
from services.bus.catalog import Topic
from services.bus.client import reading
from services.bus.codec import AvroCodec
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.events.base import Event

FETCH_BYTES = 4 << 20  # per partition and fetch: a partition load reads megabytes
MAX_RECORDS = 5_000  # per chunk


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
    async for record in records_from(settings, TopicPartition(topic.name, partition),
                                     since_ms=since_ms):
        if record.value is None or (keys is not None and (
                record.key is None or record.key.decode() not in keys)):
            continue
        yield topic.event.from_avro(await codec.decode(record.value))


async def records_from(settings: BusSettings, tp: TopicPartition, *,
                       since_ms: int | None = None) -> AsyncIterator[ConsumerRecord]:
    """The committed raw records of one partition from its beginning (or from the first
    stamped at or after `since_ms`) to its end as of now, through one consumer: a partition
    load is a few round trips (TLS ones on a secured cluster), asked once."""
    async with reading(settings, max_partition_fetch_bytes=FETCH_BYTES) as consumer:
        # The end first: a record written between the two questions is then read, not skipped
        # by a start past it.
        end = (await consumer.end_offsets([tp]))[tp]
        if since_ms is None:
            start = (await consumer.beginning_offsets([tp]))[tp]
        else:
            found = (await consumer.offsets_for_times({tp: since_ms}))[tp]
            start = found.offset if found is not None else end
        async for _, records in _chunks(consumer, {tp: (start, end)}, MAX_RECORDS):
            for record in records:
                yield record


async def read_range(settings: BusSettings, topic: str, partition: int, start: int,
                     stop: int) -> list[ConsumerRecord]:
    """The raw records of one partition from offset `start` up to `stop` (excluded), as a
    consumer reading uncommitted data sees them (holes of transaction markers stay holes)."""
    tp = TopicPartition(topic, partition)
    return [record async for chunk in read_chunks(settings, {tp: (start, stop)})
            for record in chunk[1]]


async def read_chunks(settings: BusSettings, ranges: Mapping[TopicPartition, tuple[int, int]],
                      *, max_records: int = MAX_RECORDS, committed: bool = False
                      ) -> AsyncIterator[tuple[TopicPartition, list[ConsumerRecord]]]:
    """The raw records of several partitions, each from its `start` up to its `stop`
    (excluded), in chunks of one partition's consecutive records (in offset order), as a
    consumer reading uncommitted data sees them (committed ones only when `committed`, a
    `stop` then at most the last stable offset); a partition whose records end below its
    `stop` (transaction markers, aborted records) is done when its position reaches it. A
    `stop` must not be past the partition's end."""
    if not any(start < stop for start, stop in ranges.values()):
        return  # no consumer at all: aiokafka's stop right after its start can be cancelled
    async with reading(settings, committed=committed,
                       max_partition_fetch_bytes=FETCH_BYTES) as consumer:
        async for chunk in _chunks(consumer, ranges, max_records):
            yield chunk


async def _chunks(consumer: AIOKafkaConsumer, ranges: Mapping[TopicPartition, tuple[int, int]],
                  max_records: int) -> AsyncIterator[tuple[TopicPartition, list[ConsumerRecord]]]:
    wanted = {tp: span for tp, span in ranges.items() if span[0] < span[1]}
    if not wanted:
        return
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


async def bounds(settings: BusSettings, partitions: Iterable[TopicPartition], *,
                 committed: bool = False) -> dict[TopicPartition, tuple[int, int]]:
    """Each partition's first offset kept and its end: the next offset to be written (the
    last stable offset when `committed`: no open transaction's record is before it)."""
    tps = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
    async with reading(settings, committed=committed) as consumer:
        first = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return {tp: (first[tp], ends[tp]) for tp in tps}


async def offsets_at(settings: BusSettings, partitions: Iterable[TopicPartition],
                     since_ms: int) -> dict[TopicPartition, int]:
    """Each partition's first offset stamped at or after `since_ms` (its end when none is:
    ask for the end first, so a record written meanwhile is read rather than skipped)."""
    tps = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
    async with reading(settings) as consumer:
        ends = await consumer.end_offsets(tps)
        found = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        return {tp: found[tp].offset if found[tp] is not None else ends[tp] for tp in tps}

