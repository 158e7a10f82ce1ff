"""The consuming side every aiokafka service shares.

For each record: decode (Avro through the registry, then the topic's pydantic event), hand it to
the route's handler, and only then commit its offset (commit after the effect; handlers are
idempotent, so a record redelivered after a crash is harmless). Nothing a record says can stop a
service (services/bus/failures.py): a record that cannot be decoded goes straight to
`<topic>.dlq`, and so does one whose handler fails, after the route's few retries. A registry or
broker outage is not the record's fault: it is retried until it passes or the service is asked
to stop, and meanwhile the record waiting is shown on /metrics (`vivres health` names it; `vivres
dlq set-aside` moves it out of the way). Logs carry topic, partition, offset.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, ConsumerStoppedError, IllegalStateError
from pydantic import ValidationError

from services.bus.client import new_consumer
from services.bus.catalog import Topic
from services.bus.codec import AvroCodec, DecodeError
from services.bus.deadletter import Stage, describe, send_to_dead_letter
from services.bus.failures import Stopping, until_infrastructure_answers
from services.bus.headers import CloudEvent, HeaderError
from services.bus.metrics import Metrics
from services.bus.ownership import PartitionStates
from services.bus.publisher import Publisher
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.events.base import Event

E = TypeVar("E", bound=Event)
log = structlog.get_logger("vivres.runtime")


@dataclass(frozen=True)
class Received(Generic[E]):
    """A decoded record, as a handler sees it."""

    event: E
    key: str | None
    meta: CloudEvent | None  # None when a producer sent no CloudEvents headers
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    # The consumed record as it came (its bytes and headers): what a handler that must
    # dead-letter it on its own (a webhook that failed) sends, never a re-encoded copy.
    record: Any = field(default=None, repr=False, compare=False)


Handler = Callable[[Received[Any]], Awaitable[None]]
DECODE_ERRORS = (DecodeError, ValidationError, HeaderError, UnicodeDecodeError)


async def decode_record(codec: AvroCodec, topic: Topic, record: Any) -> Received[Any]:
    """A consumed record as its topic's event, with its CloudEvents metadata and position.
    Raises one of DECODE_ERRORS for a record no retry can decode."""
    event = topic.event.from_avro(await codec.decode(record.value))
    headers = record.headers or ()
    meta = (CloudEvent.from_headers(headers)
            if any(key.startswith("ce_") for key, _ in headers) else None)
    return Received(event=event, key=record.key.decode() if record.key else None, meta=meta,
                    topic=record.topic, partition=record.partition, offset=record.offset,
                    timestamp_ms=record.timestamp, record=record)


@dataclass(frozen=True)
class ErrorPolicy:
    """When a handler raises for the record's sake: retry with backoff, then dead-letter.
    (An infrastructure failure is retried until it passes, whatever the policy.)"""

    retries: int = 3
    backoff_s: float = 0.1


@dataclass(frozen=True)
class Route:
    topic: Topic
    handler: Handler
    policy: ErrorPolicy = field(default_factory=ErrorPolicy)


class _Listener(ConsumerRebalanceListener):
    """On revocation, waits for the record in hand, settles and commits what is done, so the
    partition's next owner starts exactly after our last effect, then forgets the partitions'
    state; on assignment, loads their state before a record of them is handled."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions revoked", partitions=_names(revoked))
        async with self.consumer.lock:  # no record is handled from here until reassignment
            self.consumer.rebalancing = True
            await self.consumer.commit_progress(revoked)
            if self.consumer.owned is not None:
                self.consumer.owned.forget({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned", partitions=_names(assigned))
        try:
            if self.consumer.owned is not None:
                # aiokafka swallows a listener's errors: a partition whose load failed here is
                # loaded by its first record's `owned.get`.
                await self.consumer.owned.own({tp.partition for tp in assigned})
        finally:
            self.consumer.rebalancing = False


def _names(partitions: set[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)


class Reject(Exception):
    """Raised by a handler for a record that can never be handled: dead-lettered at once,
    whatever the route's policy (no retry can help)."""


class Consumer:
    """Consumes the routes' topics as one group. `async with` starts and stops it; `run()` loops
    until `stop()` is called (e.g. on SIGTERM), then finishes the record in hand and commits.

    A service keeping state per partition gives it as `owned`: partition p of every topic then
    goes to one member (the range assignor; the topics have as many partitions), which loads
    p's state on assignment, saves it before committing p and forgets it on revocation."""

    def __init__(self, *, service: str, group_id: str, routes: Sequence[Route],
                 settings: BusSettings, registry: SchemaRegistry, producer: AIOKafkaProducer,
                 metrics: Metrics, publisher: Publisher | None = None, max_batch: int = 500,
                 owned: PartitionStates[Any] | None = None, **consumer_options: Any) -> None:
        self.service = service
        self.group_id = group_id
        self.routes = {route.topic.name: route for route in routes}
        self.settings = settings
        self.producer = producer
        self.publisher = publisher
        self.metrics = metrics
        self.max_batch = max_batch
        self._codecs = {name: AvroCodec.for_topic(registry, r.topic)
                        for name, r in self.routes.items()}
        self._options = consumer_options
        self.owned = owned
        self.lock = asyncio.Lock()  # held while a record is handled and while progress commits
        self.rebalancing = False  # between a revocation and the next assignment
        self._progress: dict[TopicPartition, int] = {}  # next offset to commit, per partition
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()

    async def __aenter__(self) -> Consumer:
        options: dict[str, Any] = {
            "client_id": f"{self.service}-{self.group_id}",
            "auto_offset_reset": "earliest",
            "session_timeout_ms": self.settings.session_timeout_ms,
            "heartbeat_interval_ms": max(1_000, self.settings.session_timeout_ms // 3),
        }
        if self.owned is not None:
            options["partition_assignment_strategy"] = (RangePartitionAssignor,)
        options.update(self._options)
        self._consumer = new_consumer(self.settings, group=self.group_id, **options)
        await self._consumer.start()
        self._consumer.subscribe(list(self.routes), listener=_Listener(self))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    def stop(self) -> None:
        """Ask run() to finish the record in hand, commit, and return."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        assert self._consumer is not None, "use `async with consumer:` first"
        log.info("consumer started", group=self.group_id, topics=sorted(self.routes))
        while not self.stopping:
            try:
                batch = await self._consumer.getmany(timeout_ms=250, max_records=self.max_batch)
            except ConsumerStoppedError:
                break
            for partition, records in batch.items():
                try:
                    for record in records:
                        if self.stopping or not await self._process_owned(partition, record):
                            break
                finally:  # commit what is done, even when a `stop` policy raises
                    async with self.lock:
                        await self.commit_progress({partition})
                if self.stopping:
                    break
        log.info("consumer drained", group=self.group_id)

    async def _process_owned(self, partition: TopicPartition, record: Any) -> bool:
        """Process a record of a partition we still own; False to leave the rest of the batch."""
        async with self.lock:
            if partition not in self._consumer.assignment():
                return False  # revoked while the batch waited: its next owner redelivers it
            if self.rebalancing:
                # Fetched before the assignment hook finished (aiokafka fetches meanwhile):
                # not ready for it yet, so rewind and take it on the next poll.
                self._consumer.seek(partition, record.offset)
                return False
            if not await self._process(record):
                return False
            self._progress[partition] = record.offset + 1
            return True

    async def commit_progress(self, partitions: set[TopicPartition]) -> None:
        """Settle the effects, then commit the offsets done on these partitions. Hold `lock`."""
        offsets = {tp: self._progress.pop(tp) for tp in partitions if tp in self._progress}
        if not offsets:
            return
        # The effects acknowledged, then the owned state they led to written (and acknowledged),
        # then the offsets committed.
        await self._settle()
        if self.owned is not None and await self.owned.save({tp.partition for tp in offsets}):
            await self._settle()
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as err:
            # The group moved on without us (e.g. we were too slow): the new owner redelivers
            # from the last commit, which idempotent handlers absorb.
            log.warning("commit refused", offsets={f"{tp.topic}[{tp.partition}]": o
                                                   for tp, o in offsets.items()}, error=str(err))

    async def _settle(self) -> None:
        if self.publisher is not None:
            await self.publisher.settle()

    async def _process(self, record: Any) -> bool:
        """Apply or dead-letter one record; False when it was left for redelivery (asked to
        stop while our infrastructure was down)."""
        route = self.routes[record.topic]
        with structlog.contextvars.bound_contextvars(
            topic=record.topic, partition=record.partition, offset=record.offset
        ):
            self.metrics.consumed.labels(self.service, record.topic).inc()
            try:
                try:
                    received = await self._patiently(record, lambda: self._decode(route, record))
                except DECODE_ERRORS as err:
                    await self._dead_letter(record, Stage.DECODE, err)
                    return True
                await self._handle(route, record, received)
            except Stopping:
                return False
            finally:
                self.metrics.unblocked(record)
            return True

    async def _decode(self, route: Route, record: Any) -> Received[Any]:
        return await decode_record(self._codecs[record.topic], route.topic, record)

    async def _handle(self, route: Route, record: Any, received: Received[Any]) -> None:
        policy = route.policy
        for attempt in range(policy.retries + 1):
            started = time.perf_counter()
            try:
                await self._patiently(record, lambda: route.handler(received))
            except Stopping:
                raise
            except Reject as err:
                await self._dead_letter(record, Stage.HANDLE, err)
                return
            except Exception as err:  # noqa: BLE001 - the record's failure: retried, then set aside
                if attempt < policy.retries:
                    self.metrics.retries.labels(self.service, record.topic).inc()
                    log.warning("handler failed, retrying", attempt=attempt + 1, error=repr(err))
                    await asyncio.sleep(policy.backoff_s * 2**attempt)
                    continue
                await self._dead_letter(record, Stage.HANDLE, err)
                return
            labels = (self.service, record.topic)
            self.metrics.handler_seconds.labels(*labels).observe(time.perf_counter() - started)
            self.metrics.handled.labels(*labels).inc()
            self.metrics.applied(record.topic, received.event.event_time.timestamp(),
                                 record.timestamp / 1000)
            return

    async def _patiently(self, record: Any, attempt: Callable[[], Awaitable[Any]]) -> Any:
        """`attempt`, retried for as long as our infrastructure fails it, with the record shown
        as blocked on /metrics meanwhile."""

        def waiting(err: BaseException) -> None:
            log.warning("infrastructure unavailable, retrying", error=describe(err)[:300])
            self.metrics.blocked(self.group_id, record, err)

        return await until_infrastructure_answers(attempt, stopping=lambda: self.stopping,
                                                  waiting=waiting)

    async def _dead_letter(self, record: Any, stage: Stage, error: BaseException) -> None:
        await self._patiently(record, lambda: send_to_dead_letter(
            self.producer, record, stage, error, self.service, self.metrics))


def freeze_startup_heap() -> None:
    """Put what start-up loaded (reference tables, schemas, modules) out of the garbage
    collector's sight: a full collection then scans only what came after, instead of pausing
    a live service for tens of milliseconds (seen in the signal latency's tail)."""
    gc.collect()
    gc.freeze()
