"""Fakes the handler unit tests share: a publisher that records what would be sent, the
partitions `read_partition` would read, and one record through a service's route. No broker."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from services.bus.catalog import Topic
from services.bus.runtime import Received


@dataclass(frozen=True)
class Sent:
    topic: str
    key: str
    event: object
    partition: int | None


class FakePublisher:
    """Records what would be sent, in order, with `settle` calls between (the real one checks
    that each event is its topic's, and keys it as the topic says: so does this one)."""

    def __init__(self) -> None:
        self.log: list[Sent | str] = []

    async def enqueue(self, topic: Topic, event, *, correlation_id: str | None = None,
                      partition: int | None = None) -> None:
        if not isinstance(event, topic.event):
            raise TypeError(f"{topic.name} carries {topic.event.__name__}")
        self.log.append(Sent(topic.name, topic.key_of(event), event, partition))

    async def publish(self, topic: Topic, event, *, correlation_id: str | None = None,
                      partition: int | None = None) -> None:
        """One event, as the gateway sends it (Publisher.publish)."""
        await self.enqueue(topic, event, correlation_id=correlation_id, partition=partition)

    async def settle(self) -> None:
        self.log.append("settle")

    def sent(self, topic: Topic) -> list[Sent]:
        """What was sent to `topic` so far."""
        return [s for s in self.log if isinstance(s, Sent) and s.topic == topic.name]

    def take(self) -> list[Sent]:
        """What was sent since the last take (settles left out)."""
        sent = [s for s in self.log if isinstance(s, Sent)]
        self.log.clear()
        return sent


class FakePartitions:
    """What each partition of each topic holds, read as `read_partition` reads it."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, int], list] = defaultdict(list)
        self.reads: list[tuple[str, int]] = []

    async def read_partition(self, settings, registry, topic: Topic, partition: int, **_):
        self.reads.append((topic.name, partition))
        for event in list(self.held[topic.name, partition]):
            yield event


async def deliver(service, topic: Topic, event, *, offset: int = 0, partition: int = 0) -> None:
    """The record through the handler the service routes its topic to."""
    [handler] = [route.handler for route in service.routes() if route.topic is topic]
    await handler(Received(event=event, key=topic.key_of(event), meta=None, topic=topic.name,
                           partition=partition, offset=offset, timestamp_ms=0))


class FakeTable(dict):
    """A reference table (TableView) as a dict: `catch_up` first applies the rows written
    meanwhile (`late`), as the real one waits for the rows written before it was called."""

    def __init__(self, rows: dict | None = None) -> None:
        super().__init__(rows or {})
        self.late: dict = {}
        self.catch_ups = 0

    async def catch_up(self, timeout_s: float = 2.0) -> bool:
        self.catch_ups += 1
        self.update(self.late)
        self.late.clear()
        return True


class FakeRows(dict):
    """A followed table the gateway also writes to (TableView.put, read your own writes): its
    rows under the key their topic gives them."""

    def __init__(self, topic: Topic, rows=()) -> None:
        super().__init__({topic.key_of(row): row for row in rows})
        self.topic = topic

    def put(self, event) -> None:
        self[self.topic.key_of(event)] = event
