"""The suite leaves a shared stack as it found it (tests/cleanup.py): a session's groups and
topics are deleted when it ends; what was there before, the catalog's topics and Kafka's own
stay."""

from __future__ import annotations

import asyncio

import pytest

from services.bus.catalog import Topic
from services.bus.platform import Platform
from services.bus.provision import provision
from services.bus.runtime import Received, Route
from services.events.sales import SaleRecorded
from tests.cleanup import KEPT, KEPT_GROUPS, StackAsFound
from tests.support import committed_offset, eventually, sale

pytestmark = pytest.mark.integration


async def test_a_session_deletes_the_groups_and_topics_it_made_and_keeps_the_rest(
        settings, admin, registry, unique_name) -> None:
    before = Topic(name=unique_name("kept"), event=SaleRecorded, key="shop_id", partitions=1)
    await provision(admin, registry, [before])
    session = StackAsFound(settings)
    await session.begin()
    made = Topic(name=unique_name("made"), event=SaleRecorded, key="shop_id", partitions=1)
    await provision(admin, registry, [made])
    group = unique_name("made-grp")
    handled: list[int] = []

    async def handler(received: Received) -> None:
        handled.append(received.event.ticket_number)

    async with Platform("cleanup-test", settings, handle_signals=False) as platform:
        await platform.publisher.publish_many(made, [sale(number=1)])
        async with platform.consumer(group, [Route(made, handler)]) as consumer:
            running = asyncio.create_task(consumer.run())
            await eventually(lambda: committed_offset(settings, group, made.name),
                             what="the group's first commit")
            consumer.stop()
            await running
    groups, topics = await session.end()
    assert group in groups and {made.name, made.dead_letter} <= set(topics)
    assert not KEPT_GROUPS & set(groups)  # the services' own groups stay with their offsets
    assert before.name not in topics and not KEPT & set(topics)
    assert not any(topic.startswith("_") for topic in topics)
    left = set(await admin.list_topics())
    assert made.name not in left and before.name in left
    assert group not in {name for name, *_ in await admin.list_consumer_groups()}
    await admin.delete_topics([before.name, before.dead_letter])
