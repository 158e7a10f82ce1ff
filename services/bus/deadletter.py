"""Dead letters: a record that cannot be decoded or handled goes, unchanged, to `<topic>.dlq`.

Its headers say why and where it came from (`dlq_error`, `dlq_original_topic`,
`dlq_original_partition`, `dlq_original_offset`, plus the stage, error type, service and time);
its original headers are kept. Operators inspect them and, once the cause is fixed, replay them
to their original topic. And when a service is held up on a record (`vivres health` names it),
an operator sets that record aside here by hand (stage `operator`), so its partition goes on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from services.bus.admin import group_members, partitions_of
from services.bus.client import new_consumer
from services.bus.partitions import bounds, read_chunks, read_range
from services.bus.headers import Headers, format_time
from services.bus.metrics import Metrics
from services.bus.settings import BusSettings

PREFIX = "dlq_"


class Stage(StrEnum):
    DECODE = "decode"
    HANDLE = "handle"
    OPERATOR = "operator"  # set aside by hand (set_aside)


log = structlog.get_logger("vivres.deadletter")


def dead_letter_headers(record: Any, stage: Stage, error: BaseException, service: str) -> Headers:
    """The record's own headers (minus any earlier dead-letter ones) plus why and where from."""
    kept = [(k, v) for k, v in (record.headers or ()) if not k.startswith(PREFIX)]
    return kept + [
        ("dlq_error", describe(error).encode()),
        ("dlq_error_type", type(error).__name__.encode()),
        ("dlq_stage", stage.value.encode()),
        ("dlq_original_topic", record.topic.encode()),
        ("dlq_original_partition", str(record.partition).encode()),
        ("dlq_original_offset", str(record.offset).encode()),
        ("dlq_service", service.encode()),
        ("dlq_failed_at", format_time(datetime.now(UTC)).encode()),
    ]


def describe(error: BaseException) -> str:
    """What went wrong, without the record's values: a card id must not reach a log or a header."""
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                         for e in error.errors(include_input=False, include_url=False))[:2000]
    return str(error)[:2000] or type(error).__name__


async def send_to_dead_letter(producer: AIOKafkaProducer, record: Any, stage: Stage,
                              error: BaseException, service: str, metrics: Metrics) -> None:
    """Publish the record unchanged to `<its topic>.dlq`, waiting until the broker has it."""
    await (await dead_letter_soon(producer, record, stage, error, service, metrics))


async def dead_letter_soon(producer: AIOKafkaProducer, record: Any, stage: Stage,
                           error: BaseException, service: str, metrics: Metrics
                           ) -> asyncio.Future[Any]:
    """`send_to_dead_letter` without waiting for the broker: the future tells when it has the
    record (a consumer dead-lettering many records awaits them together, before it commits).
    The one way every service dead-letters: logged with the record's position, and counted."""
    sent = await producer.send(f"{record.topic}.dlq", record.value, key=record.key,
                               headers=dead_letter_headers(record, stage, error, service))
    log.warning("record dead-lettered", topic=record.topic, partition=record.partition,
                offset=record.offset, stage=stage.value, error=describe(error)[:500],
                dead_letter_topic=f"{record.topic}.dlq")
    metrics.dead_lettered.labels(service, record.topic, stage.value).inc()
    return sent


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter as an operator sees it."""

    offset: int
    key: bytes | None
    value: bytes | None
    error: str
    error_type: str
    stage: str
    original_topic: str
    original_partition: int
    original_offset: int
    service: str
    failed_at: str
    original_headers: Headers

    @classmethod
    def from_record(cls, record: Any) -> DeadLetter:
        headers = list(record.headers or ())
        meta = {k[len(PREFIX):]: v.decode("utf-8", "replace")
                for k, v in headers if k.startswith(PREFIX)}
        return cls(
            offset=record.offset, key=record.key, value=record.value,
            error=meta.get("error", ""), error_type=meta.get("error_type", ""),
            stage=meta.get("stage", ""), original_topic=meta.get("original_topic", ""),
            original_partition=_number(meta.get("original_partition")),
            original_offset=_number(meta.get("original_offset")),
            service=meta.get("service", ""), failed_at=meta.get("failed_at", ""),
            original_headers=[(k, v) for k, v in headers if not k.startswith(PREFIX)],
        )


def _number(header: str | None) -> int:
    """A position header, or -1 when missing or not a number (a letter anyone may have
    written: reading the dead letters must not fail on one)."""
    return int(header) if header is not None and header.isascii() and header.isdigit() else -1


async def read_dead_letters(settings: BusSettings, topic: str, limit: int = 20) -> list[DeadLetter]:
    """The newest `limit` dead letters of `<topic>.dlq` per partition, oldest first."""
    spans = await bounds(settings, await partitions_of(settings, f"{topic}.dlq"))
    letters = [DeadLetter.from_record(record) async for _, records in read_chunks(
        settings, {tp: (max(first, end - limit), end) for tp, (first, end) in spans.items()})
        for record in records]
    return sorted(letters, key=lambda letter: letter.failed_at)


async def replay_dead_letters(settings: BusSettings, topic: str, progress: Any = None) -> int:
    """Send every dead letter of `<topic>.dlq` not replayed yet back to its original topic.

    The position is kept by the consumer group `vivres-dlq-replay.<topic>`, so a letter is
    replayed once; a replayed record carries `dlq_replayed_from` (the dead letter's offset).
    """
    spans = await bounds(settings, await partitions_of(settings, f"{topic}.dlq"))
    replayer = new_consumer(settings, group=f"vivres-dlq-replay.{topic}", committed=False)
    producer = AIOKafkaProducer(**settings.kafka_options(),
                                enable_idempotence=True, acks="all")
    await replayer.start()
    await producer.start()
    count = 0
    try:
        replayer.assign(list(spans))  # only to read and commit the group's positions
        ranges = {}
        for tp, (first, end) in spans.items():
            done = await replayer.committed(tp)
            ranges[tp] = (max(first, done if done is not None else first), end)
        if progress is not None:
            progress.length = sum(max(0, stop - start) for start, stop in ranges.values())
        async for tp, records in read_chunks(settings, ranges):
            for record in records:
                letter = DeadLetter.from_record(record)
                await producer.send_and_wait(
                    letter.original_topic or topic, record.value, key=record.key,
                    headers=[*letter.original_headers, (
                        "dlq_replayed_from", f"{record.partition}:{record.offset}".encode())])
                await replayer.commit({tp: record.offset + 1})
                count += 1
                if progress is not None:
                    progress.update(1)
    finally:
        await producer.stop()
        await replayer.stop()
    return count


class SetAsideRefused(Exception):
    """Nothing was changed; `key` and `fields` name the French message that says why."""

    def __init__(self, key: str, **fields: object) -> None:
        super().__init__(f"{key}: {fields}")
        self.key = key
        self.fields = fields


class SetByOperator(Exception):
    """The `error` a record set aside by hand carries: the operator's reason."""


@dataclass(frozen=True)
class SetAside:
    dead_letter: str
    letter_offset: int
    next_offset: int


async def set_aside(settings: BusSettings, group: str, topic: str, partition: int,
                    offset: int, reason: str, operator: str) -> SetAside:
    """Copy the record a stopped group waits on to `<topic>.dlq` (stage `operator`, with the
    reason and who) and move the group past it. The group must be empty (its service stopped,
    as Kafka allows no one else to commit for a live group) and waiting at exactly `offset`;
    otherwise SetAsideRefused, and nothing is changed."""
    members = await group_members(settings, group)
    if members:
        raise SetAsideRefused("dlq.group_active", group=group, members=members)
    tp = TopicPartition(topic, partition)
    mover = new_consumer(settings, group=group, committed=False)
    producer = AIOKafkaProducer(**settings.kafka_options(), enable_idempotence=True,
                                acks="all")
    await mover.start()
    await producer.start()
    try:
        committed = await mover.committed(tp)
        first = (await mover.beginning_offsets([tp]))[tp]
        if (committed if committed is not None else first) != offset:
            raise SetAsideRefused("dlq.not_at_head", group=group, topic=topic,
                                  partition=partition, offset=offset, committed=committed)
        end = (await mover.end_offsets([tp]))[tp]
        found = await read_range(settings, topic, partition, offset, offset + 1) \
            if offset < end else []
        if not found:
            raise SetAsideRefused("dlq.no_record", topic=topic, partition=partition,
                                  offset=offset, end=end)
        why = SetByOperator(f"{reason} (par {operator})")
        sent = await producer.send_and_wait(
            f"{topic}.dlq", found[0].value, key=found[0].key,
            headers=dead_letter_headers(found[0], Stage.OPERATOR, why, f"operator:{operator}"))
        mover.assign([tp])
        await mover.commit({tp: offset + 1})
    finally:
        await producer.stop()
        await mover.stop()
    log.warning("record set aside by an operator", group=group, topic=topic,
                partition=partition, offset=offset, reason=reason, operator=operator,
                dead_letter_offset=sent.offset)
    return SetAside(f"{topic}.dlq", sent.offset, offset + 1)
