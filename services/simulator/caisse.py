"""A month of a territory's caisse alimentaire commune: its committee's rules and approvals, its
households (pseudonymous cards, composition, income band) and their contributions, the monthly
credit, and every caisse payment at the approved épiceries' tills, asked of the caisse at
checkout before the ticket is recorded (a declined payment is paid in cash instead).

The plan is pure and deterministic (`plan_month`); `run_month` plays it on the bus, as the tills
and the committee would, and tallies the caisse's answers independently of its ledger.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from random import Random

from services.bus.catalog import (
    CAISSE_CONTRIBUTIONS,
    CAISSE_DECISIONS,
    REFUNDS_SUBMITTED,
    SALES_SUBMITTED,
)
from services.bus.publisher import Publisher
from services.caisse.ledger import redemption_request_id, refund_request_id
from services.caisse.replies import CaisseClient
from services.caisse.rules import allowance_cents, first_day
from services.events.caisse import (
    AllowanceRules,
    CaisseRequested,
    CarryOver,
    ContributionRecorded,
    ContributionStep,
    DecisionKind,
    DecisionRecorded,
    Household,
    Outcome,
    RequestKind,
)
from services.events.sales import PaymentMethod
from services.sales.intake import RefundIn, TicketIn
from services.simulator import model
from services.simulator.territories import SHOPS, TERRITORIES, card_id

# (band, share of households, suggested monthly contribution in cents): a sliding scale
BANDS = (("T1", 0.35, 100), ("T2", 0.30, 1_000), ("T3", 0.20, 3_000), ("T4", 0.10, 6_000),
         ("T5", 0.05, 10_000))
SCALE = tuple(ContributionStep(income_band=b, suggested_cents=c) for b, _, c in BANDS)
RULES: dict[str, AllowanceRules] = {  # as each committee set them (DOMAIN.md)
    "lyon": AllowanceRules(currency="EUR", base_cents=15_000, per_extra_adult_cents=7_500,
                           per_child_cents=4_000, carry_over=CarryOver.FULL,
                           contribution_scale=SCALE),
    "marseille": AllowanceRules(currency="EUR", base_cents=10_000, per_extra_adult_cents=5_000,
                                per_child_cents=5_000, carry_over=CarryOver.CAPPED,
                                carry_over_cap_cents=10_000, contribution_scale=SCALE),
    "montpellier": AllowanceRules(currency="MONA", base_cents=10_000, per_extra_adult_cents=0,
                                  per_child_cents=0, carry_over=CarryOver.FULL,
                                  contribution_scale=SCALE),
    "toulouse": AllowanceRules(currency="MONA", base_cents=10_000, per_extra_adult_cents=0,
                               per_child_cents=0, carry_over=CarryOver.NONE,
                               contribution_scale=SCALE),
}
SHOP_TYPES = {"sociale": "épicerie sociale", "solidaire": "épicerie solidaire"}
CRITERIA = ("qualité des produits", "pratiques sociales", "relations équitables avec les "
            "producteurs")
SINCE = date(2024, 1, 1)  # when the simulated caisses started


@dataclass(frozen=True)
class Checkout:
    """A till ticket (or refund) and what it asks of the caisse, if anything."""

    item: TicketIn | RefundIn
    request: CaisseRequested | None


@dataclass(frozen=True)
class MonthPlan:
    caisse_id: str
    month: str
    decisions: tuple[DecisionRecorded, ...]
    enrolments: tuple[CaisseRequested, ...]
    contributions: tuple[ContributionRecorded, ...]
    checkouts: dict[str, tuple[Checkout, ...]]  # by shop, in till order


def household(territory: str, member: int) -> Household:
    rng = Random(f"{territory}:{member}:household")
    adults = rng.choices((1, 2, 3), weights=(45, 45, 10))[0]
    children = rng.choices((0, 1, 2, 3, 4), weights=(40, 22, 20, 12, 6))[0]
    band = rng.choices([b for b, _, _ in BANDS], weights=[w for _, w, _ in BANDS])[0]
    return Household(adults=adults, children=children, income_band=band)


def plan_month(territory: str, month: str, *, seed: int = 42, caisse_id: str | None = None,
               days: tuple[date, date] | None = None) -> MonthPlan:
    """The month of `territory`'s caisse (its id is the territory's unless given; another id
    gets cards of its own). `days` narrows the till activity to [first, last]."""
    caisse = caisse_id or territory
    start = first_day(month)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    first, last = days or (start, end)
    members = TERRITORIES[territory].caisse_members

    def scoped(member_id: str) -> str:
        """Card and redemption ids of their own for another caisse id: a replay of the same
        month under a new caisse must not meet the earlier one's (the ledger would answer a
        repeated redemption id with its first answer)."""
        return member_id if caisse == territory else f"{caisse}-{member_id}"

    decided_at = datetime.combine(SINCE, datetime.min.time(), UTC)
    approved = [s for s in SHOPS if s.territory == territory and s.caisse_approved]
    decisions = (
        DecisionRecorded(decision_id=f"sim-{caisse}-rules", caisse_id=caisse,
                         kind=DecisionKind.SET_RULES, effective_on=SINCE, criteria=(),
                         votes_for=41, votes_against=6, votes_abstain=3,
                         rules=RULES[territory], decided_at=decided_at),
        *(DecisionRecorded(decision_id=f"sim-{caisse}-approve-{s.id}", caisse_id=caisse,
                           kind=DecisionKind.APPROVE_SHOP, subject_id=s.id,
                           shop_type=SHOP_TYPES[s.kind], effective_on=SINCE, criteria=CRITERIA,
                           votes_for=38, votes_against=4, votes_abstain=8,
                           decided_at=decided_at) for s in approved))
    enrolments = tuple(CaisseRequested(
        request_id=f"sim-enrol/{scoped(card_id(territory, m))}", kind=RequestKind.ENROL,
        caisse_id=caisse, card_id=scoped(card_id(territory, m)),
        household=household(territory, m), requested_at=decided_at,
        requested_by=f"committee:{caisse}") for m in range(members))
    contributions = []
    for m in range(members):
        rng = Random(f"{territory}:{m}:{month}:contribution")
        if rng.random() < 0.9:  # most give something, by self-assessment around the scale
            home = household(territory, m)
            suggested = next(c for b, _, c in BANDS if b == home.income_band)
            contributions.append(ContributionRecorded(
                contribution_id=f"{scoped(card_id(territory, m))}-{month}", caisse_id=caisse,
                card_id=scoped(card_id(territory, m)), month=month,
                amount_cents=max(100, round(suggested * rng.uniform(0.5, 1.5) / 100) * 100),
                income_band=home.income_band,
                recorded_at=datetime.combine(start, datetime.min.time(), UTC)))
    checkouts = {shop.id: _checkouts(shop, first, last, seed, scoped) for shop in approved}
    return MonthPlan(caisse, month, decisions, enrolments, tuple(contributions), checkouts)


def _checkouts(shop, first: date, last: date, seed: int, scoped: Callable[[str], str]
               ) -> tuple[Checkout, ...]:
    items: list[TicketIn | RefundIn] = []
    day = first
    while day <= last:
        for upload in model.simulate_day(shop, day, seed):
            items.extend([*upload.batch.tickets, *upload.batch.refunds])
        day += timedelta(days=1)
    items.sort(key=lambda i: (i.occurred_at, i.till_id, i.ticket_number))
    out = []
    for item in items:
        caisse = [p for p in item.payments if p.method is PaymentMethod.CAISSE]
        if not caisse:
            out.append(Checkout(item, None))
            continue
        member_card = scoped(caisse[0].card_id or "")
        payments = [p.model_copy(update={"card_id": member_card})
                    if p.method is PaymentMethod.CAISSE else p for p in item.payments]
        item = item.model_copy(update={"payments": payments})
        amount = sum(p.amount_cents for p in caisse)
        if isinstance(item, TicketIn):
            redemption = scoped(f"{item.till_id}-{item.ticket_number}")
            request = CaisseRequested(
                request_id=redemption_request_id(shop.id, redemption), kind=RequestKind.REDEEM,
                card_id=member_card, shop_id=shop.id, amount_cents=amount,
                ticket_id=item.ticket_id, redemption_id=redemption,
                requested_at=item.occurred_at, requested_by=f"shop:{shop.id}")
        else:
            _, till, number = item.original_ticket_id.split("/")
            refund = scoped(f"{item.till_id}-{item.ticket_number}")
            request = CaisseRequested(
                request_id=refund_request_id(shop.id, refund), kind=RequestKind.REFUND,
                card_id=member_card, shop_id=shop.id, amount_cents=amount,
                ticket_id=item.ticket_id, redemption_id=scoped(f"{till}-{number}"),
                refund_id=refund,
                requested_at=item.occurred_at, requested_by=f"shop:{shop.id}")
        out.append(Checkout(item, request))
    return tuple(out)


@dataclass
class MonthTally:
    """What the tills were told, per shop: the settlement the ledger must agree with."""

    redeemed_cents: Counter[str] = field(default_factory=Counter)
    refunded_cents: Counter[str] = field(default_factory=Counter)
    redemptions: Counter[str] = field(default_factory=Counter)
    declined: Counter[str] = field(default_factory=Counter)  # by reason
    households: int = 0
    credited_cents: int = 0
    tickets: int = 0

    def net_cents(self, shop: str) -> int:
        return self.redeemed_cents[shop] - self.refunded_cents[shop]


def _cash_instead(item: TicketIn | RefundIn) -> TicketIn | RefundIn:
    return item.model_copy(update={"payments": [
        p.model_copy(update={"method": PaymentMethod.CASH, "card_id": None})
        if p.method is PaymentMethod.CAISSE else p for p in item.payments]})


async def run_month(plan: MonthPlan, client: CaisseClient, publisher: Publisher, *,
                    progress: Callable[[int], None] = lambda _n: None,
                    timeout_s: float = 30.0) -> MonthTally:
    """Play the month: decisions, enrolments, the month's credit, contributions, then each
    approved shop's checkouts in order (shops side by side)."""
    tally = MonthTally()
    await publisher.publish_many(CAISSE_DECISIONS, list(plan.decisions))
    for start in range(0, len(plan.enrolments), 100):
        await asyncio.gather(*(client.ask(r, timeout_s=timeout_s)
                               for r in plan.enrolments[start:start + 100]))
    answers = await client.credit_month(plan.caisse_id, plan.month, "simulator",
                                        timeout_s=timeout_s)
    tally.households = sum(a.entries for a in answers)
    tally.credited_cents = sum(a.amount_cents for a in answers)
    for contribution in plan.contributions:
        await publisher.enqueue(CAISSE_CONTRIBUTIONS, contribution)
    await publisher.settle()

    async def shop(checkouts: tuple[Checkout, ...]) -> None:
        authorized: set[str] = set()
        for checkout in checkouts:
            item, request = checkout.item, checkout.request
            if request is not None:
                if request.kind is RequestKind.REFUND and request.redemption_id not in authorized:
                    item = _cash_instead(item)  # that payment had been made in cash
                else:
                    answer = await client.ask(request, timeout_s=timeout_s)
                    if answer.outcome is Outcome.AUTHORIZED:
                        _count(tally, request)
                        if request.kind is RequestKind.REDEEM:
                            authorized.add(request.redemption_id or "")
                    else:
                        tally.declined[answer.reason.value if answer.reason else "?"] += 1
                        item = _cash_instead(item)
            topic = SALES_SUBMITTED if isinstance(item, TicketIn) else REFUNDS_SUBMITTED
            await publisher.enqueue(topic, item.to_event())
            tally.tickets += 1
            progress(1)
        await publisher.settle()

    await asyncio.gather(*(shop(c) for c in plan.checkouts.values()))
    return tally


def _count(tally: MonthTally, request: CaisseRequested) -> None:
    shop = request.shop_id or ""
    if request.kind is RequestKind.REDEEM:
        tally.redeemed_cents[shop] += request.amount_cents
        tally.redemptions[shop] += 1
    else:
        tally.refunded_cents[shop] += request.amount_cents


def expected_credit(plan: MonthPlan, territory: str) -> int:
    """What the month's credit must add up to, from the rules and households alone."""
    return sum(allowance_cents(RULES[territory], r.household) for r in plan.enrolments
               if r.household is not None)
