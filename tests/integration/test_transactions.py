"""aiokafka transactions on this Kafka version: consume-transform-produce with the consumer's
offsets committed inside the transaction, and aborted work invisible to read_committed readers.
(The caisse relies on this; Kafka 4.x removed old protocol versions, so we check it here.)"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from services.bus.client import new_consumer
from tests.support import committed_offset, eventually, records_until

pytestmark = pytest.mark.integration


async def _read_committed(settings, topic: str, expected: int) -> list[bytes]:
    """What a read_committed reader finds on `topic` once `expected` records are there, read
    again half a second later: nothing beyond what was committed."""
    await records_until(settings, topic, lambda found: len(found) >= expected,
                        what=f"{expected} committed records on {topic}")
    await asyncio.sleep(0.5)
    return [record.value for record in await records_until(settings, topic, lambda _: True)]


async def test_consume_transform_produce_commits_atomically(
    admin, settings, kafka_bootstrap, unique_name
) -> None:
    source, sink, group = unique_name("tx-in"), unique_name("tx-out"), unique_name("tx-grp")
    await admin.create_topics([NewTopic(source, 1, 1), NewTopic(sink, 1, 1)])
    plain = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await plain.start()
    for n in range(6):
        await plain.send_and_wait(source, f"r{n}".encode(), key=b"card-1")
    await plain.stop()

    consumer = new_consumer(settings, source, group=group, auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap,
                                transactional_id=f"{group}-{source}-0")
    await consumer.start()
    await producer.start()
    try:
        records = []

        async def fetched() -> bool:
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(r for rs in batch.values() for r in rs)
            return len(records) >= 6
        await eventually(fetched, what="six source records")
        first, second = records[:3], records[3:]
        tp = TopicPartition(source, 0)

        async with producer.transaction():
            for record in first:
                await producer.send(sink, record.value.upper(), key=record.key)
            await producer.send_offsets_to_transaction({tp: first[-1].offset + 1}, group)

        with pytest.raises(RuntimeError, match="crash before commit"):
            async with producer.transaction():
                for record in second:
                    await producer.send(sink, record.value.upper(), key=record.key)
                await producer.send_offsets_to_transaction({tp: second[-1].offset + 1}, group)
                raise RuntimeError("crash before commit")
    finally:
        await producer.stop()
        await consumer.stop()

    assert await _read_committed(settings, sink, 3) == [b"R0", b"R1", b"R2"]
    assert await committed_offset(settings, group, source) == 3
