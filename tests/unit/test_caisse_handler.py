"""The caisse's partition processor with fakes: requests built by hand go through `handle` and
`refuse` as the transactional consumer calls them, what they write goes through a fake publisher
pinned to the request's partition, the committee's decisions are a list, and `load` reads
`caisse.ledger` from lists. No broker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

import pytest

from services.bus.catalog import CAISSE_ANSWERS, CAISSE_LEDGER, CAISSE_REQUESTS
from services.bus.metrics import Metrics
from services.bus.runtime import Received
from services.bus.transactional import Output
from services.caisse import service as caisse_service
from services.caisse.checks import MAX_CENTS
from services.caisse.ledger import Ledger, LedgerCorrupt
from services.caisse.service import CaisseProcessor
from services.events.caisse import (
    CaisseRequested,
    DecisionKind,
    DecisionRecorded,
    DeclineReason,
    EntryKind,
    LedgerEntryRecorded,
    Outcome,
    RequestAnswered,
    RequestKind,
)
from tests.unit.caisse_fixtures import (
    FAMILY,
    LYON_RULES,
    SINGLE,
    T0,
    credit,
    decision,
    enrol,
    redeem,
    refund,
    request,
)
from tests.unit.fakes import FakePartitions, FakePublisher, Sent

PARTITION = 2
FAMILY_CENTS = 34_500  # 150 + 75 + 3 × 40 €
SINGLE_CENTS = 15_000  # 150 €


class Decisions:
    """The followed table of decisions: its rows, and a version that grows with each one."""

    def __init__(self, *rows: DecisionRecorded) -> None:
        self.rows = list(rows)
        self.version = len(self.rows)

    def add(self, row: DecisionRecorded) -> None:
        self.rows.append(row)
        self.version += 1

    def values(self):
        return iter(list(self.rows))


class Clock:
    def __init__(self) -> None:
        self.now = T0 + timedelta(seconds=2)

    def __call__(self):
        return self.now


def lyon_decisions() -> Decisions:
    return Decisions(decision(DecisionKind.SET_RULES, rules=LYON_RULES),
                     decision(DecisionKind.APPROVE_SHOP, "graine"),
                     decision(DecisionKind.SUSPEND_SHOP, "tonkin"))


def make_processor(decisions: Decisions | None = None, clock: Clock | None = None
                   ) -> CaisseProcessor:
    platform = SimpleNamespace(settings=None, registry=None, service="caisse",
                               metrics=Metrics("caisse"))
    return CaisseProcessor(platform, decisions or lyon_decisions(), clock or Clock())


@pytest.fixture
def kafka(monkeypatch) -> FakePartitions:
    partitions = FakePartitions()
    monkeypatch.setattr(caisse_service, "read_partition", partitions.read_partition)
    return partitions


@dataclass
class Owner:
    """One owner of a partition, as the transactional consumer drives it: the processor, the
    ledger it loaded, and what it wrote (to the request's partition, as the consumer pins it)."""

    processor: CaisseProcessor
    ledger: Ledger
    partition: int = PARTITION
    publisher: FakePublisher = field(default_factory=FakePublisher)
    offset: int = 0

    async def handle(self, req: CaisseRequested) -> list[Sent]:
        return await self._write(self.processor.handle(self.ledger, self._received(req)))

    async def refuse(self, req: CaisseRequested, error: BaseException) -> list[Sent]:
        return await self._write(self.processor.refuse(self.ledger, self._received(req), error))

    def entries(self) -> list[LedgerEntryRecorded]:
        """Everything written to the ledger so far: what a committed partition holds."""
        return [s.event for s in self.publisher.sent(CAISSE_LEDGER)]

    def _received(self, req: CaisseRequested) -> Received[CaisseRequested]:
        self.offset += 1
        return Received(event=req, key=CAISSE_REQUESTS.key_of(req), meta=None,
                        topic=CAISSE_REQUESTS.name, partition=self.partition,
                        offset=self.offset, timestamp_ms=0)

    async def _write(self, outputs: Sequence[Output]) -> list[Sent]:
        before = len(self.publisher.log)
        for topic, event in outputs:
            await self.publisher.enqueue(topic, event, partition=self.partition)
        return list(self.publisher.log[before:])


async def taken(processor: CaisseProcessor, partition: int = PARTITION) -> Owner:
    return Owner(processor, await processor.load(partition), partition)


async def funded(owner: Owner, *households) -> None:
    """Households enrolled as card-1, card-2… and credited November's allowance."""
    for n, household in enumerate(households or (FAMILY,)):
        await owner.handle(enrol(f"card-{n + 1}", household))
    await owner.handle(credit(partition=owner.partition))


def split(sent: list[Sent]) -> tuple[list[LedgerEntryRecorded], RequestAnswered]:
    """The ledger entries written, then the answer, which comes last."""
    *entries, answer = sent
    assert answer.topic == CAISSE_ANSWERS.name
    assert all(s.topic == CAISSE_LEDGER.name for s in entries)
    return [s.event for s in entries], answer.event


def balances(ledger: Ledger) -> dict[str, int]:
    return {card: account.balance_cents for card, account in ledger.accounts.items()}


async def test_an_accepted_redemption_debits_that_card_only_and_answers_with_its_balance(
    kafka
) -> None:
    owner = await taken(make_processor())
    await funded(owner, FAMILY, SINGLE)
    req = redeem("r-1", 4_000, card="card-2", ticket="t-1")
    sent = await owner.handle(req)
    assert [(s.topic, s.key, s.partition) for s in sent] == [
        (CAISSE_LEDGER.name, "card-2", PARTITION), (CAISSE_ANSWERS.name, "card-2", PARTITION)]
    [entry], answer = split(sent)
    assert (entry.kind, entry.request_id, entry.amount_cents, entry.balance_cents,
            entry.shop_id, entry.redemption_id, entry.ticket_id, entry.caisse_id) == (
        EntryKind.REDEEMED, req.request_id, -4_000, SINGLE_CENTS - 4_000, "graine", "r-1",
        "t-1", "lyon")
    assert (answer.request_id, answer.kind, answer.outcome, answer.reason, answer.card_id,
            answer.shop_id, answer.amount_cents, answer.balance_cents) == (
        req.request_id, RequestKind.REDEEM, Outcome.AUTHORIZED, None, "card-2", "graine",
        4_000, SINGLE_CENTS - 4_000)
    assert answer.answered_at == entry.recorded_at == owner.processor.clock()
    assert balances(owner.ledger) == {"card-1": FAMILY_CENTS, "card-2": SINGLE_CENTS - 4_000}


async def test_a_month_credit_writes_each_households_allowance_and_answers_the_total(
    kafka
) -> None:
    owner = await taken(make_processor())
    for n, household in enumerate((FAMILY, SINGLE)):
        await owner.handle(enrol(f"card-{n + 1}", household))
    entries, answer = split(await owner.handle(credit(partition=PARTITION)))
    assert [(e.card_id, e.kind, e.amount_cents, e.month) for e in entries] == [
        ("card-1", EntryKind.CREDITED, FAMILY_CENTS, "2026-11"),
        ("card-2", EntryKind.CREDITED, SINGLE_CENTS, "2026-11")]
    assert (answer.outcome, answer.amount_cents, answer.entries) == (
        Outcome.DONE, FAMILY_CENTS + SINGLE_CENTS, 2)


async def test_a_card_can_spend_its_whole_balance_and_not_a_cent_more(kafka) -> None:
    owner = await taken(make_processor())
    await funded(owner)
    _, spent = split(await owner.handle(redeem("r-1", FAMILY_CENTS)))
    _, over = split(await owner.handle(redeem("r-2", 1)))
    assert (spent.outcome, spent.balance_cents) == (Outcome.AUTHORIZED, 0)
    assert (over.outcome, over.reason) == (Outcome.DECLINED, DeclineReason.INSUFFICIENT_BALANCE)
    assert balances(owner.ledger) == {"card-1": 0}


@pytest.mark.parametrize(("req", "reason"), [
    (redeem("r-1", FAMILY_CENTS + 1), DeclineReason.INSUFFICIENT_BALANCE),
    (redeem("r-1", 1_000, card="card-9"), DeclineReason.UNKNOWN_CARD),
    (redeem("r-1", 1_000, shop="tonkin"), DeclineReason.SHOP_NOT_APPROVED),
    (redeem("r-1", 1_000, shop="inconnue"), DeclineReason.SHOP_NOT_APPROVED),
    (redeem("r-1", 0), DeclineReason.INVALID_AMOUNT),
    (redeem("r-1", -500), DeclineReason.INVALID_AMOUNT),
    (redeem("r-1", MAX_CENTS + 1), DeclineReason.INVALID_AMOUNT),
    (refund("f-1", "r-0", 100), DeclineReason.UNKNOWN_REDEMPTION),
    (request(RequestKind.REDEEM, "redeem-without-shop", redemption_id="r-1",
             amount_cents=1_000), DeclineReason.INVALID_REQUEST),
], ids=["insufficient-balance", "unknown-card", "suspended-shop", "shop-never-approved",
        "zero-amount", "negative-amount", "amount-over-the-limit", "refund-of-no-redemption",
        "redemption-naming-no-shop"])
async def test_a_request_the_rules_refuse_is_declined_with_its_reason_and_debits_nothing(
    kafka, req, reason
) -> None:
    owner = await taken(make_processor())
    await funded(owner)
    before = balances(owner.ledger)
    [entry], answer = split(await owner.handle(req))
    balance = before.get(req.card_id, 0)
    assert (entry.kind, entry.reason, entry.amount_cents, entry.balance_cents) == (
        EntryKind.DECLINED, reason, 0, balance)
    assert (answer.request_id, answer.outcome, answer.reason, answer.balance_cents) == (
        req.request_id, Outcome.DECLINED, reason, balance)
    assert balances(owner.ledger) == before


async def test_a_blocked_card_is_declined_until_it_is_unblocked(kafka) -> None:
    owner = await taken(make_processor())
    await funded(owner)
    await owner.handle(request(RequestKind.BLOCK, "block-1"))
    _, blocked = split(await owner.handle(redeem("r-1", 1_000)))
    await owner.handle(request(RequestKind.UNBLOCK, "unblock-1"))
    _, unblocked = split(await owner.handle(redeem("r-2", 1_000)))
    assert (blocked.outcome, blocked.reason) == (Outcome.DECLINED, DeclineReason.CARD_BLOCKED)
    assert unblocked.outcome is Outcome.AUTHORIZED
    assert balances(owner.ledger) == {"card-1": FAMILY_CENTS - 1_000}


async def test_refunds_give_back_at_most_what_was_redeemed(kafka) -> None:
    owner = await taken(make_processor())
    await funded(owner)
    await owner.handle(redeem("r-1", 4_000))
    [entry], back = split(await owner.handle(refund("f-1", "r-1", 1_500)))
    _, beyond = split(await owner.handle(refund("f-2", "r-1", 2_501)))
    assert (entry.kind, entry.amount_cents, back.outcome, back.balance_cents) == (
        EntryKind.REFUNDED, 1_500, Outcome.AUTHORIZED, FAMILY_CENTS - 2_500)
    assert (beyond.outcome, beyond.reason) == (
        Outcome.DECLINED, DeclineReason.REFUND_EXCEEDS_REDEMPTION)
    assert balances(owner.ledger) == {"card-1": FAMILY_CENTS - 2_500}


async def test_a_month_without_rules_in_force_is_declined_and_credits_nothing(kafka) -> None:
    owner = await taken(make_processor())  # Lyon's rules are in force from October 2026
    await owner.handle(enrol())
    sent = await owner.handle(credit("2026-09", partition=PARTITION))
    [(topic, answer)] = [(s.topic, s.event) for s in sent]
    assert (topic, answer.outcome, answer.reason) == (
        CAISSE_ANSWERS.name, Outcome.DECLINED, DeclineReason.NO_RULES)
    assert balances(owner.ledger) == {"card-1": 0}


async def test_a_shop_approved_after_the_start_takes_redemptions_once_its_decision_arrives(
    kafka
) -> None:
    decisions = lyon_decisions()
    owner = await taken(make_processor(decisions))
    await funded(owner)
    _, before = split(await owner.handle(redeem("r-1", 1_000, shop="escale")))
    decisions.add(decision(DecisionKind.APPROVE_SHOP, "escale"))
    _, after = split(await owner.handle(redeem("r-2", 1_000, shop="escale")))
    assert (before.outcome, before.reason) == (
        Outcome.DECLINED, DeclineReason.SHOP_NOT_APPROVED)
    assert after.outcome is Outcome.AUTHORIZED


@pytest.mark.parametrize("amount", [4_000, 9_000], ids=["same-copy", "altered-amount"])
async def test_a_redelivered_redemption_gets_its_first_answer_and_is_not_debited_again(
    kafka, amount
) -> None:
    clock = Clock()
    owner = await taken(make_processor(clock=clock))
    await funded(owner)
    first = await owner.handle(redeem("r-1", 4_000))
    clock.now += timedelta(minutes=5)
    again = await owner.handle(redeem("r-1", amount))
    assert [(s.topic, s.event) for s in again] == [(CAISSE_ANSWERS.name, first[-1].event)]
    assert balances(owner.ledger) == {"card-1": FAMILY_CENTS - 4_000}


async def test_a_redelivered_decline_stays_declined_once_the_card_could_pay(kafka) -> None:
    owner = await taken(make_processor())
    req = redeem("r-1", 1_000)
    first = await owner.handle(req)  # card-1 is not enrolled yet
    await funded(owner)
    again = await owner.handle(req)
    assert [s.event for s in again] == [first[-1].event]
    assert (first[-1].event.outcome, first[-1].event.reason) == (
        Outcome.DECLINED, DeclineReason.UNKNOWN_CARD)
    assert balances(owner.ledger) == {"card-1": FAMILY_CENTS}


async def test_a_new_owner_loads_the_partitions_ledger_and_answers_a_replay_alike(
    kafka
) -> None:
    first = await taken(make_processor())
    await funded(first, FAMILY, SINGLE)
    requests = [redeem("r-1", 4_000), redeem("r-2", FAMILY_CENTS), refund("f-1", "r-1", 1_500),
                redeem("r-3", 600, card="card-2"), redeem("r-4", 100, card="card-9")]
    answers = [(await first.handle(r))[-1].event for r in requests]
    kafka.held[CAISSE_LEDGER.name, PARTITION] = first.entries()

    second = await taken(make_processor())
    assert kafka.reads[-1] == (CAISSE_LEDGER.name, PARTITION)
    assert balances(second.ledger) == balances(first.ledger) == {
        "card-1": FAMILY_CENTS - 2_500, "card-2": SINGLE_CENTS - 600}
    replayed = [await second.handle(r) for r in requests]
    assert [[s.event for s in sent] for sent in replayed] == [[a] for a in answers]
    assert balances(second.ledger) == balances(first.ledger)
    _, next_one = split(await second.handle(redeem("r-5", FAMILY_CENTS - 2_500 + 1)))
    assert next_one.reason is DeclineReason.INSUFFICIENT_BALANCE


async def test_a_month_asked_again_after_a_hand_over_credits_only_the_cards_enrolled_since(
    kafka
) -> None:
    first = await taken(make_processor())
    await funded(first)
    kafka.held[CAISSE_LEDGER.name, PARTITION] = first.entries()
    second = await taken(make_processor())
    await second.handle(enrol("card-2", SINGLE))
    entries, answer = split(await second.handle(credit(partition=PARTITION)))
    assert [(e.card_id, e.kind, e.amount_cents) for e in entries] == [
        ("card-2", EntryKind.CREDITED, SINGLE_CENTS)]
    assert (answer.outcome, answer.amount_cents, answer.entries) == (
        Outcome.DONE, SINGLE_CENTS, 1)
    assert balances(second.ledger) == {"card-1": FAMILY_CENTS, "card-2": SINGLE_CENTS}


async def test_loading_a_partition_reads_only_that_partitions_ledger(kafka) -> None:
    first = await taken(make_processor())
    await funded(first)
    kafka.held[CAISSE_LEDGER.name, PARTITION] = first.entries()
    other = await taken(make_processor(), partition=PARTITION + 1)
    assert kafka.reads[-1] == (CAISSE_LEDGER.name, PARTITION + 1)
    assert balances(other.ledger) == {}
    _, answer = split(await other.handle(redeem("r-1", 1_000)))
    assert answer.reason is DeclineReason.UNKNOWN_CARD


async def test_a_refused_request_is_declined_as_invalid_with_the_answer_the_till_sees(
    kafka
) -> None:
    owner = await taken(make_processor())
    await funded(owner)
    req = redeem("r-1", 4_000)
    sent = await owner.refuse(req, LedgerCorrupt("a bug the request triggers"))
    assert [(s.topic, s.key, s.partition) for s in sent] == [
        (CAISSE_LEDGER.name, "card-1", PARTITION), (CAISSE_ANSWERS.name, "card-1", PARTITION)]
    [entry], answer = split(sent)
    assert (entry.kind, entry.reason, entry.amount_cents, entry.request_id) == (
        EntryKind.DECLINED, DeclineReason.INVALID_REQUEST, 0, req.request_id)
    assert (answer.request_id, answer.outcome, answer.reason, answer.card_id, answer.shop_id,
            answer.redemption_id, answer.amount_cents, answer.balance_cents) == (
        req.request_id, Outcome.DECLINED, DeclineReason.INVALID_REQUEST, "card-1", "graine",
        "r-1", 4_000, FAMILY_CENTS)
    assert balances(owner.ledger) == {"card-1": FAMILY_CENTS}


async def test_a_refused_request_asked_again_after_a_hand_over_keeps_its_refusal(
    kafka
) -> None:
    first = await taken(make_processor())
    await funded(first)
    req = redeem("r-1", 4_000)
    refusal = await first.refuse(req, RuntimeError("a bug the request triggers"))
    kafka.held[CAISSE_LEDGER.name, PARTITION] = first.entries()
    second = await taken(make_processor())
    assert [s.event for s in await second.handle(req)] == [refusal[-1].event]
    assert balances(second.ledger) == {"card-1": FAMILY_CENTS}


async def test_a_refused_month_credit_is_answered_by_its_id_and_can_be_asked_again(
    kafka
) -> None:
    owner = await taken(make_processor())
    await owner.handle(enrol())
    req = credit(partition=PARTITION)
    _, refused = split(await owner.refuse(req, RuntimeError("a bug the request triggers")))
    _, retried = split(await owner.handle(req))
    assert (refused.request_id, refused.outcome, refused.reason) == (
        req.request_id, Outcome.DECLINED, DeclineReason.INVALID_REQUEST)
    assert CAISSE_ANSWERS.key_of(refused) == req.request_id  # no card: keyed by its id
    assert (retried.outcome, retried.amount_cents) == (Outcome.DONE, FAMILY_CENTS)


async def test_answers_are_counted_by_kind_outcome_and_reason(kafka) -> None:
    processor = make_processor()
    owner = await taken(processor)
    await funded(owner)
    for req in (redeem("r-1", 1_000), redeem("r-1", 1_000), redeem("r-2", FAMILY_CENTS)):
        await owner.handle(req)
    await owner.refuse(redeem("r-3", 1_000), RuntimeError("a bug the request triggers"))

    def counted(kind: RequestKind, outcome: Outcome, reason: str = "") -> float | None:
        return processor.platform.metrics.registry.get_sample_value(
            "vivres_caisse_answers_total",
            {"kind": kind.value, "outcome": outcome.value, "reason": reason})

    assert counted(RequestKind.REDEEM, Outcome.AUTHORIZED) == 2  # a repeat is answered too
    assert counted(RequestKind.REDEEM, Outcome.DECLINED, "INSUFFICIENT_BALANCE") == 1
    assert counted(RequestKind.REDEEM, Outcome.DECLINED, "INVALID_REQUEST") == 1
    assert counted(RequestKind.CREDIT_MONTH, Outcome.DONE) == 1


async def test_a_redemption_already_applied_asked_under_another_request_id_is_not_applied_again(
    kafka
) -> None:
    owner = await taken(make_processor())
    await funded(owner)
    await owner.handle(redeem("r-1", 4_000))
    again = request(RequestKind.REDEEM, "till-42/r-1", shop_id="graine", redemption_id="r-1",
                    amount_cents=4_000)
    entries, answer = split(await owner.handle(again))
    assert entries == []  # a repeat of the payment (its shop and redemption id): nothing written
    assert (answer.request_id, answer.outcome, answer.reason, answer.card_id,
            answer.redemption_id, answer.amount_cents, answer.balance_cents) == (
        again.request_id, Outcome.AUTHORIZED, None, "card-1", "r-1", 4_000,
        FAMILY_CENTS - 4_000)  # the first redemption's answer, under the id asked
    assert balances(owner.ledger) == {"card-1": FAMILY_CENTS - 4_000}
    kafka.held[CAISSE_LEDGER.name, PARTITION] = owner.entries()
    reloaded = await taken(make_processor())  # a new owner, from the ledger as written
    assert split(await reloaded.handle(again)) == ([], answer)


async def test_a_refusal_never_overwrites_an_answer_already_given(kafka) -> None:
    owner = await taken(make_processor())
    await funded(owner)
    req = redeem("r-1", 4_000)
    [_], first = split(await owner.handle(req))
    assert split(await owner.refuse(req, RuntimeError("a bug"))) == ([], first)
    assert owner.ledger.answers[req.request_id] == first
    assert balances(owner.ledger) == {"card-1": FAMILY_CENTS - 4_000}
