"""A record of every topic, read through the CloudEvents SDK's Kafka binding as a receiver that
knows nothing of Vivres would: `content-type` says the value is Avro, `dataschema` is where the
registry serves the writer's schema, and that schema is enough to decode the value."""

from __future__ import annotations

import dataclasses
import io
import json
import random

import fastavro
import httpx
import pytest
from fastavro.utils import generate_one

from services.bus.catalog import TOPICS, Topic
from services.bus.codec import unframe
from services.bus.partitions import read_range
from services.bus.provision import provision
from services.bus.publisher import Publisher, make_producer
from services.bus.schemas import schema
from services.events.base import Event
from tests.support import as_cloudevent

pytestmark = pytest.mark.integration


def an_event(topic: Topic, rng: random.Random) -> Event:
    """Some valid event of the topic: a random record of its schema, through its model."""
    parsed = fastavro.parse_schema(schema(topic.schema_name))
    state = random.getstate()  # fastavro draws from the module's generator: make it repeatable
    random.seed(rng.random())
    try:
        record = generate_one(parsed)
    finally:
        random.setstate(state)
    written = io.BytesIO()
    fastavro.schemaless_writer(written, parsed, record)
    written.seek(0)
    return topic.event.from_avro(fastavro.schemaless_reader(written, parsed))


async def test_every_topic_s_records_say_their_content_type_and_schema(
    admin, registry, settings, unique_name
) -> None:
    rng = random.Random(20)
    copies = {topic.name: dataclasses.replace(topic, name=unique_name(f"ce-{topic.name}"),
                                              partitions=1) for topic in TOPICS}
    await provision(admin, registry, list(copies.values()))
    producer = make_producer(settings)
    await producer.start()
    try:
        publisher = Publisher(producer, registry)
        for copy in copies.values():
            await publisher.publish(copy, an_event(copy, rng), correlation_id="ce-test")
    finally:
        await producer.stop()

    async with httpx.AsyncClient() as http:
        for name, copy in copies.items():
            [record] = await read_range(settings, copy.name, 0, 0, 1)
            event = as_cloudevent(record)
            assert event.get_type() == copy.schema_name, name
            assert event.get_datacontenttype() == "application/avro", name
            schema_id, body = unframe(record.value)
            assert event.get_dataschema() == (f"{settings.schema_registry_url}/schemas/ids/"
                                              f"{schema_id}"), name
            fetched = (await http.get(event.get_dataschema())).raise_for_status().json()
            writer = fastavro.parse_schema(json.loads(fetched["schema"]))
            value = fastavro.schemaless_reader(io.BytesIO(body), writer)
            assert copy.key_of(copy.event.from_avro(value)) == record.key.decode(), name
