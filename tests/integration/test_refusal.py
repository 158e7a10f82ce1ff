"""The exactly-once consumer (services/bus/transactional.py) when a record's handling fails for
the record's own sake: the record is refused (the processor's refusal written, its copy
dead-lettered, its offset committed, all in one transaction), and the records after it are
handled as usual. Nothing a record says stops the consumer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from services.bus.catalog import Topic
from services.bus.deadletter import read_dead_letters
from services.bus.partitions import read_partition
from services.bus.platform import Platform
from services.bus.provision import provision
from services.bus.runtime import Received
from services.bus.transactional import Output
from services.events.sales import SaleRecorded
from tests.support import eventually, sale

pytestmark = pytest.mark.integration
REFUSED = 1_000  # a refusal is the ticket with this added to its number


@pytest.fixture
async def topics(admin, registry, unique_name):
    source = Topic(name=unique_name("refuse-in"), event=SaleRecorded, key="shop_id",
                   partitions=1)
    sink = Topic(name=unique_name("refuse-out"), event=SaleRecorded, key="shop_id",
                 partitions=1)
    await provision(admin, registry, [source, sink])
    yield source, sink
    await admin.delete_topics([source.name, source.dead_letter, sink.name, sink.dead_letter])


class Copier:
    """Copies each ticket to the sink; ticket 3 triggers a bug (after changing the state)."""

    def __init__(self, sink: Topic) -> None:
        self.sink = sink
        self.loads = 0

    async def load(self, partition: int) -> list[int]:
        self.loads += 1
        return []

    def handle(self, state: list[int], received: Received[Any]) -> Sequence[Output]:
        state.append(received.event.ticket_number)
        if received.event.ticket_number == 3:
            raise ZeroDivisionError("a bug this ticket triggers")
        return [(self.sink, received.event)]

    def refuse(self, state: list[int], received: Received[Any], error: BaseException
               ) -> Sequence[Output]:
        assert 3 not in state  # the half-applied state was thrown away
        refusal = received.event.model_copy(
            update={"ticket_number": received.event.ticket_number + REFUSED})
        return [(self.sink, refusal)]


async def test_a_record_whose_handling_fails_is_refused_and_the_partition_goes_on(
    settings, topics, unique_name
) -> None:
    source, sink = topics
    copier = Copier(sink)
    group = unique_name("refuse-grp")
    async with Platform("refusal-test", settings, handle_signals=False) as platform:
        await platform.publisher.publish_many(source, [sale(number=n) for n in range(1, 6)])
        async with platform.transactional(group, source, copier) as consumer:
            task = asyncio.create_task(consumer.run())

            async def copied() -> list[int]:
                return [e.ticket_number async for e in read_partition(
                    settings, platform.registry, sink, 0)]

            async def five() -> bool:
                return len(await copied()) >= 5

            await eventually(five, what="five tickets on the sink")
            consumer.stop()
            await task
        assert await copied() == [1, 2, 3 + REFUSED, 4, 5]  # each once, in order

    [letter] = await read_dead_letters(settings, source.name)
    assert (letter.stage, letter.original_offset) == ("handle", 2)
    assert "a bug this ticket triggers" in letter.error
    assert copier.loads >= 2  # the partition was loaded again before the refusal
