"""Hand-made caisse rules, decisions and requests shared by the caisse unit tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.caisse.ledger import credit_request_id, redemption_request_id, refund_request_id
from services.caisse.rules import Committee
from services.events.caisse import (
    AllowanceRules,
    CaisseRequested,
    CarryOver,
    ContributionStep,
    DecisionKind,
    DecisionRecorded,
    Household,
    RequestKind,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LYON_RULES = AllowanceRules(
    currency="EUR", base_cents=15_000, per_extra_adult_cents=7_500, per_child_cents=4_000,
    carry_over=CarryOver.FULL,
    contribution_scale=(ContributionStep(income_band="T1", suggested_cents=100),
                        ContributionStep(income_band="T5", suggested_cents=6_000)))
FAMILY = Household(adults=2, children=3, income_band="T1")  # 150 + 75 + 3 × 40 = 345 €
SINGLE = Household(adults=1, children=0, income_band="T3")  # 150 €


def decision(kind: DecisionKind, subject: str | None = None, *, caisse: str = "lyon",
             on: date = date(2026, 10, 1), rules: AllowanceRules | None = None,
             n: int = 0, shop_type: str | None = "épicerie solidaire") -> DecisionRecorded:
    return DecisionRecorded(
        decision_id=f"d-{kind.value}-{subject}-{on}-{n}", caisse_id=caisse, kind=kind,
        subject_id=subject, shop_type=shop_type if kind is DecisionKind.APPROVE_SHOP else None,
        effective_on=on, criteria=("qualité", "pratiques sociales"), votes_for=12,
        votes_against=3, votes_abstain=1, rules=rules,
        decided_at=datetime.combine(on, datetime.min.time(), UTC) + timedelta(minutes=n))


def lyon_committee(*extra: DecisionRecorded) -> Committee:
    return Committee([decision(DecisionKind.SET_RULES, rules=LYON_RULES),
                      decision(DecisionKind.APPROVE_SHOP, "graine"),
                      decision(DecisionKind.SUSPEND_SHOP, "tonkin"), *extra])


def request(kind: RequestKind, request_id: str, *, card: str | None = "card-1",
            at: datetime = T0, **fields: object) -> CaisseRequested:
    if kind in (RequestKind.BLOCK, RequestKind.UNBLOCK, RequestKind.LEAVE):
        fields.setdefault("caisse_id", "lyon")  # a committee acts on its own caisse's cards
    return CaisseRequested(request_id=request_id, kind=kind, card_id=card, requested_at=at,
                           requested_by="test", **fields)


def enrol(card: str = "card-1", household: Household = FAMILY, n: int = 0) -> CaisseRequested:
    return request(RequestKind.ENROL, f"enrol-{card}-{n}", card=card, caisse_id="lyon",
                   household=household)


def credit(month: str = "2026-11", partition: int = 0) -> CaisseRequested:
    return request(RequestKind.CREDIT_MONTH, credit_request_id("lyon", month, partition),
                   card=None, caisse_id="lyon", month=month)


def redeem(redemption: str, amount: int, *, card: str = "card-1", shop: str = "graine",
           at: datetime = T0, ticket: str | None = None) -> CaisseRequested:
    return request(RequestKind.REDEEM, redemption_request_id(shop, redemption), card=card,
                   shop_id=shop, redemption_id=redemption, amount_cents=amount, at=at,
                   ticket_id=ticket)


def refund(refund_id: str, redemption: str, amount: int, *, card: str = "card-1",
           shop: str = "graine", at: datetime = T0) -> CaisseRequested:
    return request(RequestKind.REFUND, refund_request_id(shop, refund_id), card=card,
                   shop_id=shop, redemption_id=redemption, refund_id=refund_id,
                   amount_cents=amount, at=at)
