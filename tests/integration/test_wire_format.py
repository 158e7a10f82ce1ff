"""An event Vivres produced is decoded by a third-party consumer: confluent-kafka's
AvroDeserializer against the same registry. The wire format is the standard one."""

from __future__ import annotations

import asyncio
from datetime import UTC

import pytest
from confluent_kafka import Consumer as ConfluentConsumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from services.bus.catalog import Topic
from services.bus.provision import provision
from services.bus.publisher import Publisher, make_producer
from services.events.sales import SaleRecorded
from tests.support import sale

pytestmark = pytest.mark.integration


def _consume_one(bootstrap: str, registry_url: str, topic: str) -> tuple[dict, dict]:
    consumer = ConfluentConsumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-3rd",
                                  "auto.offset.reset": "earliest"})
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    consumer.subscribe([topic])
    try:
        for _ in range(300):
            message = consumer.poll(0.1)
            if message is None:
                continue
            assert message.error() is None, message.error()
            value = deserializer(message.value(),
                                 SerializationContext(topic, MessageField.VALUE))
            return value, dict(message.headers())
        raise AssertionError(f"nothing arrived on {topic} within 30 s")
    finally:
        consumer.close()


async def test_third_party_avro_consumer_decodes_our_events(
    admin, registry, settings, unique_name
) -> None:
    topic = Topic(name=unique_name("wire"), event=SaleRecorded, key="shop_id", partitions=2)
    await provision(admin, registry, [topic])
    producer = make_producer(settings)
    await producer.start()
    try:
        event = sale("marseille-3e-la-cabane", 12)
        await Publisher(producer, registry).publish(topic, event, correlation_id="corr-1")
    finally:
        await producer.stop()

    value, headers = await asyncio.to_thread(
        _consume_one, settings.kafka_bootstrap_servers, settings.schema_registry_url, topic.name)

    assert value["ticket_id"] == "marseille-3e-la-cabane/t1/12"
    assert value["occurred_at"] == event.occurred_at.astimezone(UTC)
    assert [line["paid_cents"] for line in value["lines"]] == [72, 70]
    assert value["lines"][0]["unit"] == "GRAM"
    assert value["payments"][1] == {"method": "CAISSE", "amount_cents": 100,
                                     "card_id": "card-7f3a"}
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == b"marseille-3e-la-cabane/t1/12"
    assert headers["ce_type"] == b"org.vivres.sales.SaleRecorded"
    assert headers["ce_source"] == b"/shops/marseille-3e-la-cabane/tills/t1"
    assert headers["ce_correlationid"] == b"corr-1"
