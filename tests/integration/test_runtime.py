"""The service runtime on the real broker: dead letters, error policies, commit after effect,
graceful drain and metrics."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from services.bus.catalog import Topic
from services.bus.deadletter import DeadLetter, read_dead_letters, replay_dead_letters
from services.bus.platform import Platform
from services.bus.provision import provision
from services.bus.runtime import ErrorPolicy, Received, Route
from services.events.sales import SaleRecorded
from tests.support import committed_offset, eventually, records_until, sale

pytestmark = pytest.mark.integration


@pytest.fixture
async def sales_topic(admin, registry, unique_name) -> Topic:
    topic = Topic(name=unique_name("rt"), event=SaleRecorded, key="shop_id", partitions=1)
    await provision(admin, registry, [topic])
    return topic


async def _send_raw(bootstrap: str, topic: str, value: bytes, key: bytes = b"lyon-graine") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=[("origin", b"test")])
    finally:
        await producer.stop()


async def _dead_letters(settings, topic: Topic, count: int) -> list[DeadLetter]:
    records = await records_until(settings, topic.dead_letter, lambda found: len(found) >= count,
                                  committed=False, what=f"{count} dead letters on "
                                                        f"{topic.dead_letter}")
    return [DeadLetter.from_record(record) for record in records]


async def test_garbage_goes_to_the_dead_letter_topic_and_the_consumer_goes_on(
    settings, sales_topic, unique_name
) -> None:
    handled: list[Received] = []

    async def handler(received: Received) -> None:
        handled.append(received)

    async with Platform("rt-test", settings, handle_signals=False) as platform:
        await platform.publisher.publish(sales_topic, sale(number=1))
        await _send_raw(settings.kafka_bootstrap_servers, sales_topic.name,
                        b"\xde\xad\xbe\xef garbage")
        await platform.publisher.publish(sales_topic, sale(number=2))

        group = unique_name("grp")
        async with platform.consumer(group, [Route(sales_topic, handler)]) as consumer:
            task = asyncio.create_task(consumer.run())
            await eventually(lambda: len(handled) == 2, what="both good tickets handled")
            consumer.stop()
            await task

        async with httpx.AsyncClient() as http:
            metrics = (await http.get(platform.metrics_server.url)).text

    assert [r.event.ticket_number for r in handled] == [1, 2]
    assert handled[0].meta is not None and handled[0].meta.id == "lyon-graine/t1/1"
    [letter] = await _dead_letters(settings, sales_topic, 1)
    assert letter.value == b"\xde\xad\xbe\xef garbage"
    assert letter.stage == "decode"
    assert letter.original_topic == sales_topic.name
    assert (letter.original_partition, letter.original_offset) == (0, 1)
    assert "magic byte" in letter.error
    assert ("origin", b"test") in letter.original_headers
    assert await committed_offset(settings, group, sales_topic.name) == 3
    assert (f'vivres_records_dead_lettered_total{{service="rt-test",stage="decode",'
            f'topic="{sales_topic.name}"}} 1.0') in metrics
    assert f'vivres_records_handled_total{{service="rt-test",topic="{sales_topic.name}"}} 2.0' \
        in metrics


async def test_a_failing_handler_is_retried_then_dead_lettered_and_can_be_replayed(
    settings, sales_topic, unique_name
) -> None:
    attempts: dict[int, int] = {}
    healthy = asyncio.Event()
    handled: list[int] = []

    async def handler(received: Received) -> None:
        number = received.event.ticket_number
        attempts[number] = attempts.get(number, 0) + 1
        if number == 1 and not healthy.is_set():
            raise RuntimeError("stock service says no")
        handled.append(number)

    policy = ErrorPolicy(retries=2, backoff_s=0.01)
    async with Platform("rt-test", settings, handle_signals=False) as platform:
        for number in (1, 2):
            await platform.publisher.publish(sales_topic, sale(number=number))
        group = unique_name("grp")
        async with platform.consumer(group, [Route(sales_topic, handler, policy)]) as consumer:
            task = asyncio.create_task(consumer.run())
            await eventually(lambda: handled == [2], what="the second ticket handled")
            letters = await read_dead_letters(settings, sales_topic.name)
            assert [(d.stage, d.original_offset) for d in letters] == [("handle", 0)]
            assert "stock service says no" in letters[0].error
            assert attempts[1] == 3  # first try and two retries

            healthy.set()  # the cause is fixed: replay the dead letter
            assert await replay_dead_letters(settings, sales_topic.name) == 1
            await eventually(lambda: handled == [2, 1], what="the replayed ticket handled")
            assert await replay_dead_letters(settings, sales_topic.name) == 0  # only once
            consumer.stop()
            await task


async def test_an_outage_blocks_the_record_shows_it_and_passes_when_the_broker_is_back(
    settings, sales_topic, unique_name
) -> None:
    """Our infrastructure failing is not the record's fault: the record waits (shown on
    /metrics with its place and error), nothing is dead-lettered, and it is applied once the
    infrastructure answers again; asked to stop meanwhile, only what was done is committed."""
    handled: list[int] = []
    broker_back = asyncio.Event()

    async def handler(received: Received) -> None:
        if received.event.ticket_number == 3 and not broker_back.is_set():
            raise KafkaConnectionError("the broker went away")
        handled.append(received.event.ticket_number)

    group = unique_name("grp")
    async with Platform("rt-test", settings, handle_signals=False) as platform:
        for number in (1, 2, 3, 4):
            await platform.publisher.publish(sales_topic, sale(number=number))
        route = Route(sales_topic, handler, ErrorPolicy(retries=1, backoff_s=0.01))
        async with platform.consumer(group, [route]) as consumer:
            task = asyncio.create_task(consumer.run())
            blocked = (f'vivres_consumer_blocked_since_timestamp_seconds{{error="'
                       f'KafkaConnectionError: KafkaConnectionError: the broker went away",'
                       f'group="{group}",offset="2",partition="0",service="rt-test",'
                       f'topic="{sales_topic.name}"}}')
            await eventually(lambda: blocked in platform.metrics.exposition().decode(),
                             what="the waiting record shown on /metrics")
            assert handled == [1, 2]
            consumer.stop()  # stopped while blocked: the record is left for the next owner
            await asyncio.wait_for(task, timeout=30)
    assert await committed_offset(settings, group, sales_topic.name) == 2

    broker_back.set()
    async with Platform("rt-test", settings, handle_signals=False) as platform:
        async with platform.consumer(group, [Route(sales_topic, handler)]) as consumer:
            task = asyncio.create_task(consumer.run())
            await eventually(lambda: handled == [1, 2, 3, 4], what="the rest, in order")
            assert "blocked_since_timestamp_seconds{" not in platform.metrics.exposition().decode()
            consumer.stop()
            await task
    assert await read_dead_letters(settings, sales_topic.name) == []


async def test_sigterm_drains_then_a_restart_resumes_after_the_last_effect(
    settings, sales_topic, unique_name
) -> None:
    handled: list[int] = []
    first_seen = asyncio.Event()

    async def handler(received: Received) -> None:
        handled.append(received.event.ticket_number)
        first_seen.set()
        await asyncio.sleep(0.05)  # a slow effect, so SIGTERM lands mid-stream

    group = unique_name("grp")
    async with Platform("rt-test", settings) as platform:
        await platform.publisher.publish_many(
            sales_topic, [sale(number=n) for n in range(1, 41)])
        async with platform.consumer(group, [Route(sales_topic, handler)]) as consumer:
            task = asyncio.create_task(consumer.run())
            await asyncio.wait_for(first_seen.wait(), timeout=20)
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(task, timeout=20)

    assert 0 < len(handled) < 40, "SIGTERM should stop the consumer mid-stream"
    committed = await committed_offset(settings, group, sales_topic.name)
    assert committed == len(handled)  # every effect committed, nothing beyond

    resumed: list[int] = []

    async def second(received: Received) -> None:
        resumed.append(received.event.ticket_number)

    async with Platform("rt-test", settings, handle_signals=False) as platform:
        async with platform.consumer(group, [Route(sales_topic, second)]) as consumer:
            task = asyncio.create_task(consumer.run())
            await eventually(lambda: len(handled) + len(resumed) == 40, what="the rest")
            consumer.stop()
            await task
    assert handled + resumed == list(range(1, 41))


async def test_a_platform_asks_the_cluster_through_one_admin_client(settings, sales_topic
                                                                    ) -> None:
    from services.bus.admin import admin_client, partitions_of

    async with Platform("rt-test", settings, handle_signals=False):
        async with admin_client(settings) as first, admin_client(settings) as second:
            assert first is second
        assert [tp.partition for tp in await partitions_of(settings, sales_topic.name)] == [0]
        async with admin_client(settings) as again:
            assert again is first  # not closed after use: kept for the process
    async with admin_client(settings) as outside:  # no platform: a client of its own
        assert outside is not first
        assert [tp.partition for tp in await partitions_of(settings, sales_topic.name)] == [0]
