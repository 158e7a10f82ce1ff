"""Helpers shared by the test tiers: waiting for effects with a deadline, sample events."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from datetime import UTC, datetime, timedelta

import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary

from services.events.demand import DemandSignalRecorded

from services.events.sales import (
    CodeKind,
    Payment,
    PaymentMethod,
    QuantityUnit,
    SaleLine,
    SaleRecorded,
    ticket_id,
)


STACK = Path(__file__).resolve().parents[1] / "deploy" / "local" / "stack.py"


def own_stack_env(state: Path, **variables: object) -> dict[str, str]:
    """The environment of a launcher stack of a test's own: its state directory and ports
    (VIVRES_*), never the shared stack's servers (named, they would be used instead)."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL")}
    env.update(VIVRES_STATE_DIR=str(state), **{k: str(v) for k, v in variables.items()})
    return env


def launcher(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """deploy/local/stack.py with these arguments, its output captured."""
    return subprocess.run([sys.executable, str(STACK), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def launched(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """launcher(), which must succeed: what it printed."""
    done = launcher(env, *args, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def eventually(check: Callable[[], object], *, timeout: float = 20.0,
                     interval: float = 0.1, what: str = "condition") -> object:
    """Poll `check` (sync or async) until it returns something truthy; fail at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            pytest.fail(f"{what} not reached within {timeout:.0f}s")
        await asyncio.sleep(interval)


def sale(shop_id: str = "lyon-graine", number: int = 1, *, till_id: str = "t1",
         at: datetime | None = None, card_id: str | None = "card-7f3a") -> SaleRecorded:
    """A two-line ticket paid half cash, half caisse allowance."""
    occurred = at or datetime(2026, 11, 24, 16, 30, tzinfo=UTC) + timedelta(minutes=number)
    lines = (
        SaleLine(line_number=1, product_code="2001", code_kind=CodeKind.PLU,
                 label="Tomates anciennes", quantity=750, unit=QuantityUnit.GRAM,
                 unit_price_cents=480, paid_cents=72),
        SaleLine(line_number=2, product_code="3760123450012", code_kind=CodeKind.EAN,
                 label="Pain de campagne", quantity=1, unit=QuantityUnit.PIECE,
                 unit_price_cents=350, paid_cents=70),
    )
    payments = (
        Payment(method=PaymentMethod.CASH, amount_cents=42),
        Payment(method=PaymentMethod.CAISSE, amount_cents=100, card_id=card_id),
    )
    return SaleRecorded(ticket_id=ticket_id(shop_id, till_id, number), shop_id=shop_id,
                        till_id=till_id, ticket_number=number, occurred_at=occurred,
                        timezone="Europe/Paris", lines=lines, payments=payments)


async def records_until(settings, topic: str, want: Callable[[list], object], *,
                        starts: dict | None = None, committed: bool = True,
                        timeout: float = 45.0, what: str = "records") -> list:
    """The raw records of `topic` from `starts` (partition -> offset; each partition's
    beginning when None) to its end, read again until `want(records)` holds: written by a
    service, they arrive when it gets to them. Read with the bus's own group-less reader."""
    from services.bus.admin import partitions_of
    from services.bus.partitions import bounds, read_chunks

    partitions = await partitions_of(settings, topic)

    async def read() -> list | None:
        spans = await bounds(settings, partitions, committed=committed)
        ranges = {tp: ((starts or {}).get(tp, first), end) for tp, (first, end) in spans.items()}
        found = [record async for _, records in read_chunks(settings, ranges, committed=committed)
                 for record in records]
        return found if want(found) else None
    return await eventually(read, timeout=timeout, interval=0.2, what=what)


async def records_since(settings, topic: str, since: datetime, *, key: str, expected: int,
                        timeout: float = 45.0) -> list:
    """The records of `topic` with this key written since `since`, once there are `expected`
    of them; then read once more half a second later, so that an unexpected extra one is seen
    too. (The deadline allows for a consumer-group rebalance when test modules hand over.)"""
    from services.bus.admin import partitions_of
    from services.bus.partitions import offsets_at

    starts = await offsets_at(settings, await partitions_of(settings, topic),
                              int(since.timestamp() * 1000))

    def keyed(records: list) -> list:
        return [record for record in records if record.key == key.encode()]
    await records_until(settings, topic, lambda found: len(keyed(found)) >= expected,
                        starts=starts, timeout=timeout,
                        what=f"{expected} records for {key} on {topic}")
    await asyncio.sleep(0.5)
    return keyed(await records_until(settings, topic, lambda _: True, starts=starts))


async def committed_offset(settings, group: str, topic: str, partition: int = 0) -> int | None:
    """The offset `group` committed on one partition (None when it never did)."""
    from aiokafka import TopicPartition

    from services.bus.client import new_consumer

    consumer = new_consumer(settings, group=group)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, partition))
    finally:
        await consumer.stop()


async def consumed_to_end(settings, group: str, topics: list[str]) -> None:
    """Wait until `group` has committed everything the topics hold now: whatever it would
    write for those records has been written."""
    from services.bus.admin import partitions_of
    from services.bus.client import new_consumer
    from services.bus.partitions import bounds

    partitions = [tp for topic in topics for tp in await partitions_of(settings, topic)]
    ends = {tp: end for tp, (_, end) in (await bounds(settings, partitions)).items()}
    consumer = new_consumer(settings, group=group)
    await consumer.start()
    try:
        async def caught_up() -> bool:
            for tp, end in ends.items():
                if end and (await consumer.committed(tp) or 0) < end:
                    return False
            return True
        await eventually(caught_up, timeout=60, what=f"{group} caught up with {topics}")
    finally:
        await consumer.stop()


def demand_signal(territory: str, shop: str | None = None, *, product: str = "carotte"
                  ) -> DemandSignalRecorded:
    now = datetime.now(UTC)
    return DemandSignalRecorded(
        territory=territory, product_id=product, shop_id=shop, day=now.date(), sold=(),
        velocity_7d=1200.0, stockout_days_7d=0, forecast=(), forecast_7d=8400.0,
        forecast_7d_p10=6000.0, forecast_7d_p90=11000.0, forecast_14d=16800.0,
        forecast_14d_p10=13000.0, forecast_14d_p90=20000.0, committed_supply_7d=3000,
        supply_gap_7d=5400.0, inputs_at=now, computed_at=now)


class OpaqueFormat:
    """A CloudEvents SDK format that leaves the value as its bytes: the SDK has no Avro format,
    a receiver decodes with the schema `dataschema` points to."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes:
        return body


def as_cloudevent(record) -> BaseCloudEvent:
    """A Kafka record read through the CloudEvents SDK's Kafka binary binding."""
    return from_binary(KafkaMessage(headers=dict(record.headers), key=record.key,
                                    value=record.value), OpaqueFormat())
