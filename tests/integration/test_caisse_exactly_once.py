"""The caisse service as its own process on the real broker, SIGKILLed several times while
thousands of redemptions, repeats and refunds on shared cards stream in. Afterwards every
balance is the sum of its ledger, no redemption was applied twice, and every request has
exactly one final answer, which agrees with the ledger."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import UTC, datetime
from random import Random

import pytest

from services.bus.catalog import CAISSE_ANSWERS, CAISSE_LEDGER, CAISSE_REQUESTS, TOPICS
from services.bus.provision import provision_catalog
from services.caisse.ledger import Ledger, redemption_request_id, refund_request_id
from services.events.caisse import (
    CaisseRequested,
    DecisionKind,
    DeclineReason,
    EntryKind,
    Household,
    Outcome,
    RequestKind,
)
from tests.integration.caisse_support import (
    decision,
    enrol_request,
    marks,
    read_since,
    own_caisse,
)
from tests.integration.sales_stack import ServiceProcess
from tests.support import eventually

pytestmark = pytest.mark.integration
CARDS, REQUESTS, RATE = 40, 3_000, 120  # requests per second
KILLS_AT = (4.0, 12.0, 20.0)  # seconds into the stream


def _requests(caisse: str, cards: list[str], rng: Random) -> list[CaisseRequested]:
    now = datetime.now(UTC)
    redeemed: list[CaisseRequested] = []
    out: list[CaisseRequested] = []
    for n in range(REQUESTS):
        roll = rng.random()
        if roll < 0.08 and redeemed:  # the till did not get the answer and asks again
            out.append(rng.choice(redeemed))
            continue
        if roll < 0.15 and redeemed:
            original = rng.choice(redeemed)
            refund_id = f"f{n}"
            out.append(CaisseRequested(
                request_id=refund_request_id(original.shop_id, refund_id),
                kind=RequestKind.REFUND, card_id=original.card_id, shop_id=original.shop_id,
                redemption_id=original.redemption_id, refund_id=refund_id,
                amount_cents=rng.randint(1, original.amount_cents), requested_at=now,
                requested_by=original.shop_id))
            continue
        shop = f"{caisse}-shop-b" if roll > 0.95 else f"{caisse}-shop-a"
        request = CaisseRequested(
            request_id=redemption_request_id(shop, f"r{n}"), kind=RequestKind.REDEEM,
            card_id=rng.choice(cards), shop_id=shop, redemption_id=f"r{n}",
            amount_cents=rng.randint(200, 3_000), ticket_id=f"{shop}/t1/{n}",
            requested_at=now, requested_by=shop)
        redeemed.append(request)
        out.append(request)
    return out


async def test_redemptions_stay_exact_while_the_caisse_is_killed(settings, registry,
                                                                 tmp_path) -> None:
    report = await provision_catalog(settings, TOPICS)
    assert report.ok, report.drift
    ledger_mark = await marks(settings, CAISSE_LEDGER)
    answers_mark = await marks(settings, CAISSE_ANSWERS)
    process = ServiceProcess("caisse", settings, tmp_path / "caisse.log")
    process.start()
    try:
        async with own_caisse(settings, registry) as caisse:
            await caisse.decide(decision(caisse.caisse_id, DecisionKind.APPROVE_SHOP,
                                         f"{caisse.caisse_id}-shop-a"))
            rng = Random(20261125)
            cards = [f"{caisse.caisse_id}-card-{n}" for n in range(CARDS)]
            enrolled = await asyncio.gather(*(
                caisse.client.ask(enrol_request(caisse.caisse_id, card, Household(
                    adults=rng.randint(1, 3), children=rng.randint(0, 3), income_band="T2")),
                    timeout_s=90) for card in cards))
            assert {a.outcome for a in enrolled} == {Outcome.DONE}
            credited = await caisse.client.credit_month(caisse.caisse_id, "2026-11", "test")
            assert sum(a.entries for a in credited) == CARDS

            requests = _requests(caisse.caisse_id, cards, rng)
            started = asyncio.get_running_loop().time()

            async def killer() -> None:
                for at in KILLS_AT:
                    await asyncio.sleep(max(0.0, started + at - asyncio.get_running_loop().time()))
                    process.restart()

            async def sender() -> None:
                for n, request in enumerate(requests):
                    await caisse.publisher.enqueue(CAISSE_REQUESTS, request)
                    if n % (RATE // 10) == 0:
                        await caisse.publisher.settle()
                        await asyncio.sleep(0.1)
                await caisse.publisher.settle()

            await asyncio.gather(killer(), sender())
            wanted = {r.request_id for r in requests}
            answers: list = []

            async def all_answered() -> bool:
                answers[:] = await read_since(settings, registry, CAISSE_ANSWERS, answers_mark)
                return wanted <= {a.request_id for a in answers}
            await eventually(all_answered, timeout=180, interval=2.0,
                             what="an answer to every request")
    finally:
        process.stop()

    # Exactly one final answer per request: repeats and re-sent answers are identical.
    by_request = defaultdict(set)
    for answer in answers:
        if answer.request_id in wanted:
            by_request[answer.request_id].add(answer.model_copy(update={"answered_at": None}))
    assert all(len(given) == 1 for given in by_request.values()), [
        r for r, given in by_request.items() if len(given) > 1][:5]

    # The books: the fold checks every balance chain (never below zero), that no redemption
    # is applied twice and that refunds stay within their redemption.
    entries = [e for e in await read_since(settings, registry, CAISSE_LEDGER, ledger_mark)
               if e.card_id in set(cards)]
    books = Ledger.fold(entries)
    for card in cards:
        mine = [e for e in entries if e.card_id == card]
        assert books.accounts[card].balance_cents == sum(e.amount_cents for e in mine) >= 0
    answering = Counter(e.request_id for e in entries
                        if e.request_kind in (RequestKind.REDEEM, RequestKind.REFUND))
    assert set(answering) == {r.request_id for r in requests}
    assert set(answering.values()) == {1}, "a request applied twice"

    # Each answer says what the ledger did.
    entry_of = {e.request_id: e for e in entries
                if e.request_kind in (RequestKind.REDEEM, RequestKind.REFUND)}
    for request_id, (answer,) in by_request.items():
        entry = entry_of[request_id]
        assert (answer.outcome is Outcome.DECLINED) == (entry.kind is EntryKind.DECLINED)
        assert answer.balance_cents == entry.balance_cents
    outcomes = Counter((a.outcome, a.reason) for (a,) in by_request.values())
    assert outcomes[(Outcome.AUTHORIZED, None)] > 100
    assert outcomes[(Outcome.DECLINED, DeclineReason.INSUFFICIENT_BALANCE)] > 100
    assert outcomes[(Outcome.DECLINED, DeclineReason.SHOP_NOT_APPROVED)] > 10
    log = process.log_path.read_text()
    assert log.count("transactional consumer started") == 1 + len(KILLS_AT)
