"""aiokafka transactions on this Kafka version: consume-transform-produce with the consumer's
offsets committed inside the transaction, and aborted work invisible to read_committed readers.
(The caisse relies on this; Kafka 4.x removed old protocol versions, so we check it here.)"""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from tests.support import eventually

pytestmark = pytest.mark.integration


async def _read_committed(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                isolation_level="read_committed", enable_auto_commit=False)
    await consumer.start()
    seen: list[bytes] = []
    try:
        async def enough() -> bool:
            batch = await consumer.getmany(timeout_ms=200)
            seen.extend(r.value for rs in batch.values() for r in rs)
            return len(seen) >= expected
        await eventually(enough, what=f"{expected} committed records on {topic}")
        extra = await consumer.getmany(timeout_ms=500)  # nothing beyond what was committed
        seen.extend(r.value for rs in extra.values() for r in rs)
    finally:
        await consumer.stop()
    return seen


async def test_consume_transform_produce_commits_atomically(
    admin, kafka_bootstrap, unique_name
) -> None:
    source, sink, group = unique_name("tx-in"), unique_name("tx-out"), unique_name("tx-grp")
    await admin.create_topics([NewTopic(source, 1, 1), NewTopic(sink, 1, 1)])
    plain = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await plain.start()
    for n in range(6):
        await plain.send_and_wait(source, f"r{n}".encode(), key=b"card-1")
    await plain.stop()

    consumer = AIOKafkaConsumer(source, bootstrap_servers=kafka_bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                isolation_level="read_committed")
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

    assert await _read_committed(kafka_bootstrap, sink, 3) == [b"R0", b"R1", b"R2"]
    check = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group,
                             enable_auto_commit=False)
    await check.start()
    try:
        assert await check.committed(TopicPartition(source, 0)) == 3
    finally:
        await check.stop()
