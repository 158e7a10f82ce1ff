"""A caisse of the test's own on the shared topics: its committee's decisions, a client that
asks and waits for answers, and readers of what the ledger and the answers hold since a mark."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime

from aiokafka import TopicPartition

from services.bus.admin import partitions_of
from services.bus.catalog import CAISSE_DECISIONS, Topic
from services.bus.codec import AvroCodec
from services.bus.partitions import bounds, read_chunks
from services.bus.publisher import Publisher, open_publisher
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.caisse.replies import CaisseClient
from services.events.caisse import (
    AllowanceRules,
    CaisseRequested,
    CarryOver,
    DecisionKind,
    DecisionRecorded,
    Household,
    RequestKind,
)

RULES = AllowanceRules(currency="EUR", base_cents=15_000, per_extra_adult_cents=7_500,
                       per_child_cents=4_000, carry_over=CarryOver.FULL)


def decision(caisse: str, kind: DecisionKind, subject: str | None = None, *,
             rules: AllowanceRules | None = None, on: date = date(2026, 1, 1),
             shop_type: str | None = None) -> DecisionRecorded:
    return DecisionRecorded(
        decision_id=f"{caisse}-{kind.value}-{subject}-{uuid.uuid4().hex[:6]}", caisse_id=caisse,
        kind=kind, subject_id=subject, shop_type=shop_type, effective_on=on,
        criteria=("qualité",), votes_for=9, votes_against=2, votes_abstain=0, rules=rules,
        decided_at=datetime.now(UTC))


def enrol_request(caisse: str, card: str, household: Household) -> CaisseRequested:
    return CaisseRequested(request_id=f"enrol/{card}", kind=RequestKind.ENROL, caisse_id=caisse,
                           card_id=card, household=household, requested_at=datetime.now(UTC),
                           requested_by=f"committee:{caisse}")


async def marks(settings: BusSettings, topic: Topic) -> dict[TopicPartition, int]:
    """The end of each partition now: what is written after it is the test's."""
    spans = await bounds(settings, await partitions_of(settings, topic.name))
    return {tp: end for tp, (_, end) in spans.items()}


async def read_since(settings: BusSettings, registry: SchemaRegistry, topic: Topic,
                     since: dict[TopicPartition, int]) -> list:
    """The committed events of `topic` written after `since`, partition by partition in order."""
    codec = AvroCodec.for_topic(registry, topic)
    spans = await bounds(settings, list(since), committed=True)
    return [topic.event.from_avro(await codec.decode(record.value))
            async for _, records in read_chunks(
                settings, {tp: (since[tp], end) for tp, (_, end) in spans.items()},
                committed=True)
            for record in records]


@dataclass
class OwnCaisse:
    caisse_id: str
    client: CaisseClient
    publisher: Publisher

    async def decide(self, *decisions: DecisionRecorded) -> None:
        await self.publisher.publish_many(CAISSE_DECISIONS, list(decisions))


@asynccontextmanager
async def own_caisse(settings: BusSettings, registry: SchemaRegistry
                      ) -> AsyncIterator[OwnCaisse]:
    """A fresh caisse id, with Lyon's rules from January 2026."""
    caisse = f"caisse-{uuid.uuid4().hex[:8]}"
    async with open_publisher(settings) as publisher, \
            CaisseClient(settings, registry, publisher) as client:
        running = OwnCaisse(caisse, client, publisher)
        await running.decide(decision(caisse, DecisionKind.SET_RULES, rules=RULES))
        yield running
