"""The one place a Kafka consumer is built, from the bus settings (bootstrap, TLS, SASL).

Every consumer of Vivres is one of two kinds, and both come from here:
- a group-less reader (`reading`): assigned partitions, no offsets committed, used by
  `services.bus.partitions` (range, since, end) and by the tables that follow a topic;
- a group member (`new_consumer(settings, group=...)`): the consumer runtime's, the exactly-once
  consumer's, and the operators' tools that move a stopped group (dead letters).
Offsets are never committed automatically: each service commits what it has handled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer

from services.bus.settings import BusSettings


def new_consumer(settings: BusSettings, *topics: str, group: str | None = None,
             committed: bool = True, **options: Any) -> AIOKafkaConsumer:
    """A consumer (not started): in `group`, or group-less when None, subscribed to `topics`
    when given; reading committed records only unless `committed` is False (a tool that must
    see every offset)."""
    return AIOKafkaConsumer(
        *topics, **settings.kafka_options(), group_id=group, enable_auto_commit=False,
        isolation_level="read_committed" if committed else "read_uncommitted", **options)


@asynccontextmanager
async def reading(settings: BusSettings, *, committed: bool = True, **options: Any
                  ) -> AsyncIterator[AIOKafkaConsumer]:
    """A started group-less consumer, stopped on leaving."""
    reader = new_consumer(settings, committed=committed, **options)
    await reader.start()
    try:
        yield reader
    finally:
        await reader.stop()
