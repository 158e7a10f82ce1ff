"""Exactly-once consume-transform-produce, for services where money moves (the caisse).

Each input partition p has its own transactional producer, with the stable id
`<group>-<topic>-<p>`, and its own state. A batch of records of partition p is handled in one
Kafka transaction of that producer: the outputs (pinned to partition p of their topics) and the
consumer offset commit together, or not at all.

When a member is given partition p it starts p's producer, which fences any earlier owner of p
(a crashed process, or a stalled one that has not noticed it lost p) and aborts that owner's
open transaction; only then does it load p's state from the committed outputs and seek p to its
committed offset. aiokafka has no KIP-447 group-generation fencing, so the transactional id per
input partition is what keeps two writers from both committing p. Records older than what was
done (fetched before the seek) are dropped, so nothing is handled twice by a live owner.

Batches are taken only contiguously from the first offset not done (older records are dropped,
a batch starting later is read again from there once): a fetch that raced a seek during the
assignment hook must neither redo nor skip anything.

The processor's `handle` may change its state in place: when a transaction fails, the
partition's state is loaded again from the committed outputs and the partition is rewound.

Nothing a record says stops the service (services/bus/failures.py). A record that cannot be
decoded is dead-lettered inside the batch's transaction. A record whose handling fails for its
own sake (a bug it triggers, an output Avro cannot encode) aborts the transaction; the partition
is rewound with that offset remembered, and on the second pass the processor's `refuse` says
what to write instead (the caisse: a declined entry and its answer), in the same transaction as
the record's copy to the dead-letter topic and the offset commit. Only our infrastructure failing
is retried, by rewinding, until it passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError, ProducerFenced

from services.bus.client import new_consumer
from services.bus.catalog import Topic
from services.bus.codec import AvroCodec
from services.bus.deadletter import Stage, describe, send_to_dead_letter
from services.bus.failures import is_infrastructure
from services.bus.metrics import Metrics
from services.bus.publisher import Publisher
from services.bus.registry import RegistryError, SchemaRegistry
from services.bus.runtime import DECODE_ERRORS, Received, decode_record
from services.bus.settings import BusSettings
from services.events.base import Event

S = TypeVar("S")
log = structlog.get_logger("vivres.transactional")

Output = tuple[Topic, Event]  # written to the input record's partition of the topic


class PartitionProcessor(Protocol[S]):
    async def load(self, partition: int) -> S:
        """The partition's state, from what earlier transactions committed (read_committed)."""

    def handle(self, state: S, received: Received[Any]) -> Sequence[Output]:
        """What one input record writes (state changed in place)."""

    def refuse(self, state: S, received: Received[Any], error: BaseException
               ) -> Sequence[Output]:
        """What to write, beside its dead letter, for a record whose `handle` failed."""


@dataclass
class _Owned(Generic[S]):
    """One owned input partition: its producer, its state, how far it is done."""

    partition: TopicPartition
    producer: AIOKafkaProducer
    publisher: Publisher
    state: S
    next_offset: int  # the first offset not done: batches must start there
    gap_checked: int = -1  # a position read again because a batch started after it
    refused: dict[int, BaseException] = field(default_factory=dict)  # offset -> its failure
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: TransactionalConsumer[Any]) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.owner.release(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.owner.take(assigned)


class TransactionalConsumer(Generic[S]):
    """`async with` it, then `await run()` until `stop()` (SIGTERM) drains it."""

    def __init__(self, *, service: str, group_id: str, topic: Topic, processor:
                 PartitionProcessor[S], settings: BusSettings, registry: SchemaRegistry,
                 metrics: Metrics, max_batch: int = 500) -> None:
        self.service = service
        self.group_id = group_id
        self.topic = topic
        self.processor = processor
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.max_batch = max_batch
        self.codec = AvroCodec.for_topic(registry, topic)
        self.owned: dict[int, _Owned[S]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()

    def transactional_id(self, partition: int) -> str:
        return f"{self.group_id}-{self.topic.name}-{partition}"

    async def __aenter__(self) -> TransactionalConsumer[S]:
        self._consumer = new_consumer(
            self.settings, group=self.group_id,
            client_id=f"{self.service}-{self.group_id}", auto_offset_reset="earliest",
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=max(1_000, self.settings.session_timeout_ms // 3))
        await self._consumer.start()
        self._consumer.subscribe([self.topic.name], listener=_Listener(self))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()  # revokes: the listener closes the producers
        await self.release({owned.partition for owned in list(self.owned.values())})

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- ownership ------------------------------------------------------------------------

    async def take(self, assigned: set[TopicPartition]) -> None:
        """Take the new partitions, side by side (each loads its own state)."""
        await asyncio.gather(*(self._take(tp) for tp in assigned
                               if tp.partition not in self.owned))

    async def _take(self, tp: TopicPartition) -> None:
        while not self.stopping:
            try:
                self.owned[tp.partition] = await self._own(tp)
                return
            except (KafkaError, RegistryError) as err:  # retried: never skip a partition
                log.warning("partition not taken yet, retrying", topic=tp.topic,
                            partition=tp.partition, error=str(err))
                await asyncio.sleep(1.0)

    async def _own(self, tp: TopicPartition) -> _Owned[S]:
        producer = AIOKafkaProducer(
            **self.settings.kafka_options(),
            transactional_id=self.transactional_id(tp.partition),
            client_id=f"{self.service}-{tp.partition}", linger_ms=0)
        await producer.start()
        try:
            # The producer's id is obtained before a transaction begins: that fences the
            # earlier owner and completes (aborts) its open transaction.
            await producer.begin_transaction()
            await producer.abort_transaction()
            state = await self.processor.load(tp.partition)
            committed = await self._seek_committed(tp)
        except BaseException:
            await producer.stop()
            raise
        log.info("partition taken", topic=tp.topic, partition=tp.partition, offset=committed,
                 transactional_id=self.transactional_id(tp.partition))
        return _Owned(tp, producer, Publisher(producer, self.registry, self.metrics), state,
                      committed)

    async def _seek_committed(self, tp: TopicPartition) -> int:
        """Position the partition at its committed offset (its beginning if none); return it."""
        committed = await self._consumer.committed(tp)
        if committed is None:
            await self._consumer.seek_to_beginning(tp)
            return await self._consumer.position(tp)
        self._consumer.seek(tp, committed)
        return committed

    async def release(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            owned = self.owned.pop(tp.partition, None)
            if owned is None:
                continue
            async with owned.lock:  # the transaction in flight ends first
                await owned.producer.stop()
            log.info("partition released", topic=tp.topic, partition=tp.partition)

    # -- processing -----------------------------------------------------------------------

    async def run(self) -> None:
        assert self._consumer is not None, "use `async with` first"
        log.info("transactional consumer started", group=self.group_id, topic=self.topic.name)
        while not self.stopping:
            try:
                batch = await self._consumer.getmany(timeout_ms=100, max_records=self.max_batch)
            except ConsumerStoppedError:
                break
            # Partitions have their own producers: their transactions run side by side.
            await asyncio.gather(*(self._batch(tp, records) for tp, records in batch.items()))
        log.info("transactional consumer drained", group=self.group_id)

    async def _batch(self, tp: TopicPartition, records: list[Any]) -> None:
        owned = self.owned.get(tp.partition)
        if owned is None:
            return  # not ready, or already moved on: its owner seeks to the committed offset
        async with owned.lock:
            if self.owned.get(tp.partition) is not owned:
                return
            fresh = undone(records, owned.next_offset, owned.gap_checked)
            if fresh is None:
                # Fetched from another position than ours: a seek raced a fetch already handed
                # out (aiokafka hands out records while the assignment hook runs). Read again
                # from our position; if the batch still starts later, the gap is real (control
                # records, aborted transactions) and it is taken.
                log.info("batch not contiguous, reading again from the position",
                         topic=tp.topic, partition=tp.partition, first=records[0].offset,
                         position=owned.next_offset)
                owned.gap_checked = owned.next_offset
                self._consumer.seek(tp, owned.next_offset)
                return
            if not fresh:
                return
            try:
                await self._transaction(owned, fresh)
            except _Refused as refused:
                log.warning("record refused: rewinding to write its refusal", topic=tp.topic,
                            partition=tp.partition, offset=refused.offset,
                            error=describe(refused.error)[:500])
                owned.refused[refused.offset] = refused.error
                await self._rewind(owned)
            except ProducerFenced:
                log.warning("fenced: another member owns the partition now", topic=tp.topic,
                            partition=tp.partition)
                self.owned.pop(tp.partition, None)
                await owned.producer.stop()
            except (KafkaError, RegistryError) as err:
                log.warning("transaction failed, rewinding the partition", topic=tp.topic,
                            partition=tp.partition, error=str(err))
                self.metrics.blocked(self.group_id, fresh[0], err)
                await self._rewind(owned)
            else:
                self.metrics.unblocked(fresh[0])

    async def _transaction(self, owned: _Owned[S], records: list[Any]) -> None:
        producer, tp = owned.producer, owned.partition
        await producer.begin_transaction()
        try:
            for record in records:
                await self._one(owned, record)
            await owned.publisher.settle()
            await producer.send_offsets_to_transaction({tp: records[-1].offset + 1},
                                                       self.group_id)
        except BaseException:
            try:
                await producer.abort_transaction()
            except KafkaError as err:
                log.warning("abort failed", topic=tp.topic, partition=tp.partition,
                            error=str(err))
            raise
        await producer.commit_transaction()
        log.debug("transaction committed", topic=tp.topic, partition=tp.partition,
                  first=records[0].offset, last=records[-1].offset)
        owned.next_offset = records[-1].offset + 1
        for record in records:
            owned.refused.pop(record.offset, None)
        self.metrics.handled.labels(self.service, tp.topic).inc(len(records))

    async def _one(self, owned: _Owned[S], record: Any) -> None:
        p = owned.partition.partition
        with structlog.contextvars.bound_contextvars(topic=record.topic, partition=p,
                                                     offset=record.offset):
            self.metrics.consumed.labels(self.service, record.topic).inc()
            try:
                received = await decode_record(self.codec, self.topic, record)
            except DECODE_ERRORS as err:  # dead-lettered inside the transaction
                await self._dead_letter(owned, record, Stage.DECODE, err)
                return
            refused = owned.refused.get(record.offset)
            if refused is not None:  # its handling failed on the first pass: refuse it
                await self._dead_letter(owned, record, Stage.HANDLE, refused)
                await self._write(owned, received, self._refusal(owned, received, refused))
                return
            try:
                await self._write(owned, received, self.processor.handle(owned.state, received))
            except Exception as err:
                if is_infrastructure(err):
                    raise
                raise _Refused(record.offset, err) from err
            self.metrics.applied(record.topic, received.event.event_time.timestamp(),
                                 record.timestamp / 1000)

    def _refusal(self, owned: _Owned[S], received: Received[Any], error: BaseException
                 ) -> Sequence[Output]:
        try:
            return self.processor.refuse(owned.state, received, error)
        except Exception as err:  # noqa: BLE001 - the dead letter alone must then do
            log.error("refusal failed: the dead letter alone records the request",
                      error=repr(err))
            return ()

    async def _write(self, owned: _Owned[S], received: Received[Any],
                     outputs: Sequence[Output]) -> None:
        for topic, event in outputs:
            await owned.publisher.enqueue(topic, event, partition=owned.partition.partition,
                                          correlation_id=_correlation(received))

    async def _dead_letter(self, owned: _Owned[S], record: Any, stage: Stage,
                           error: BaseException) -> None:
        await send_to_dead_letter(owned.producer, record, stage, error, self.service,
                                  self.metrics)

    async def _rewind(self, owned: _Owned[S]) -> None:
        """After a failed transaction: state and position back to what was committed."""
        while not self.stopping:
            try:
                owned.state = await self.processor.load(owned.partition.partition)
                owned.next_offset = await self._seek_committed(owned.partition)
                return
            except (KafkaError, RegistryError) as err:
                log.warning("rewind failed, retrying", error=str(err))
                await asyncio.sleep(1.0)


class _Refused(Exception):
    """A record whose handling failed for its own sake: its transaction is aborted."""

    def __init__(self, offset: int, error: BaseException) -> None:
        super().__init__(f"offset {offset}: {error!r}")
        self.offset = offset
        self.error = error


def undone(records: list[Any], next_offset: int, gap_checked: int) -> list[Any] | None:
    """The records of a batch still to do, given the first offset not done; None when the
    batch starts after it and that position has not been read again yet (then seek to it)."""
    fresh = [r for r in records if r.offset >= next_offset]
    if fresh and fresh[0].offset != next_offset and gap_checked != next_offset:
        return None
    return fresh


def _correlation(received: Received[Any]) -> str | None:
    return received.meta.correlation_id if received.meta is not None else None
