"""The producing side: events go out Avro-encoded, with CloudEvents headers, acknowledged by all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from services.bus.catalog import Topic
from services.bus.codec import AvroCodec, unframe
from services.bus.headers import CloudEvent, schema_url
from services.bus.metrics import Metrics
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.events.base import Event


def make_producer(settings: BusSettings, **overrides: object) -> AIOKafkaProducer:
    """An idempotent producer (acks=all): a retried send never writes a record twice."""
    options: dict[str, object] = {
        **settings.kafka_options(),
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "request_timeout_ms": 30_000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


class Publisher:
    """Publishes events to catalog topics; a call returns once the broker holds the records."""

    def __init__(self, producer: AIOKafkaProducer, registry: SchemaRegistry,
                 metrics: Metrics | None = None) -> None:
        self.producer = producer
        self.registry = registry
        self.metrics = metrics
        self._codecs: dict[str, AvroCodec] = {}
        self._pending: list[asyncio.Future[RecordMetadata]] = []

    def codec(self, topic: Topic) -> AvroCodec:
        if topic.name not in self._codecs:
            self._codecs[topic.name] = AvroCodec.for_topic(self.registry, topic)
        return self._codecs[topic.name]

    async def publish(self, topic: Topic, event: Event, *, correlation_id: str | None = None,
                      partition: int | None = None) -> RecordMetadata:
        """Send one event, keyed as its topic says, and wait for its acknowledgement."""
        [metadata] = await self.publish_many(topic, [event], correlation_id=correlation_id,
                                             partition=partition)
        return metadata

    async def publish_many(self, topic: Topic, events: Sequence[Event], *,
                           correlation_id: str | None = None,
                           partition: int | None = None) -> list[RecordMetadata]:
        """Send events together and wait until every one is acknowledged.

        `partition` pins the records to one partition instead of hashing their key (a stage
        that must stay the single writer of an output partition uses its input partition).
        """
        futures = [await self._send(topic, event, correlation_id, partition) for event in events]
        return list(await asyncio.gather(*futures))

    async def enqueue(self, topic: Topic, event: Event, *, correlation_id: str | None = None,
                      partition: int | None = None) -> None:
        """Send without waiting for the acknowledgement: `settle()` waits for everything
        enqueued. Consumers settle before they commit, so effects still precede commits."""
        self._pending.append(await self._send(topic, event, correlation_id, partition))

    async def settle(self) -> None:
        """Wait until every enqueued event is acknowledged; raise the first failure."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)

    async def _send(self, topic: Topic, event: Event, correlation_id: str | None,
                    partition: int | None) -> asyncio.Future[RecordMetadata]:
        if not isinstance(event, topic.event):
            raise TypeError(f"{topic.name} carries {topic.event.__name__}, "
                            f"not {type(event).__name__}")
        value = await self.codec(topic).encode(event.to_avro())
        meta = CloudEvent(id=event.event_id, source=event.event_source, type=event.schema_name,
                          time=event.event_time, correlation_id=correlation_id or event.event_id,
                          dataschema=schema_url(self.registry.url, unframe(value)[0]))
        future = await self.producer.send(topic.name, value, key=topic.key_of(event).encode(),
                                          partition=partition, headers=meta.to_headers())
        if self.metrics is not None:
            self.metrics.published.labels(self.metrics.service, topic.name).inc()
        return future


@asynccontextmanager
async def open_publisher(settings: BusSettings) -> AsyncIterator[Publisher]:
    """A publisher for one-shot work (CLI commands): started, then flushed and closed."""
    producer = make_producer(settings)
    registry = SchemaRegistry(settings.schema_registry_url)
    await producer.start()
    try:
        yield Publisher(producer, registry)
    finally:
        await producer.stop()
        await registry.aclose()
