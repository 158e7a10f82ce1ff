"""What makes a caisse request or a committee decision sound, whoever wrote it. Pure.

The gateway validates what it accepts, but `caisse.requests` and `caisse.decisions` can also be
written by a till integration, a script or a bug: the caisse must answer those too. A request
that is not sound is declined (INVALID_REQUEST) rather than decided; a decision that is not
sound is not followed (a broken rule must not take every redemption of a caisse down with it).
"""

from __future__ import annotations

from services.caisse.rules import first_day
from services.events.checks import YEARS, timezone_problem
from services.events.caisse import (
    AllowanceRules,
    CaisseRequested,
    CarryOver,
    DecisionKind,
    DecisionRecorded,
    Household,
    RequestKind,
)

MAX_CENTS = 10_000_000  # 100,000 of the currency: no single payment, credit or rule goes above
MAX_ID = 200
MAX_PEOPLE = 20

_NEEDS_CARD = frozenset(RequestKind) - {RequestKind.CREDIT_MONTH}
_NEEDS_CAISSE = frozenset({RequestKind.ENROL, RequestKind.BLOCK, RequestKind.UNBLOCK,
                           RequestKind.LEAVE, RequestKind.CREDIT_MONTH})
_AT_THE_TILL = frozenset({RequestKind.REDEEM, RequestKind.REFUND})


def request_problem(request: CaisseRequested) -> str | None:
    """Why the request cannot be decided as it stands, or None when it can."""
    kind = request.kind
    for name, value, needed in (
        ("request_id", request.request_id, True),
        ("card_id", request.card_id, kind in _NEEDS_CARD),
        ("caisse_id", request.caisse_id, kind in _NEEDS_CAISSE),
        ("shop_id", request.shop_id, kind in _AT_THE_TILL),
        ("redemption_id", request.redemption_id, kind in _AT_THE_TILL),
        ("refund_id", request.refund_id, kind is RequestKind.REFUND),
    ):
        problem = _id_problem(name, value, needed)
        if problem:
            return problem
    if request.requested_at.year not in YEARS:
        return f"requested_at {request.requested_at.isoformat()} is out of range"
    if kind is RequestKind.ENROL:
        return household_problem(request.household)
    if kind is RequestKind.CREDIT_MONTH:
        return month_problem(request.month)
    return None


def _id_problem(name: str, value: str | None, needed: bool) -> str | None:
    if value is None or value == "":
        return f"{name} is missing" if needed else None
    if len(value) > MAX_ID or value != value.strip():
        return f"{name} is not an id (at most {MAX_ID} characters, no surrounding spaces)"
    return None


def household_problem(household: Household | None) -> str | None:
    if household is None:
        return "an enrolment carries its household"
    if not 1 <= household.adults <= MAX_PEOPLE or not 0 <= household.children <= MAX_PEOPLE:
        return (f"a household of {household.adults} adult(s) and {household.children} "
                f"child(ren) is out of range")
    if not 1 <= len(household.income_band) <= 16:
        return "income_band is missing or too long"
    return None


def month_problem(month: str | None) -> str | None:
    """None for a YYYY-MM month within YEARS."""
    try:
        day = first_day(month or "")
    except ValueError as err:
        return str(err)
    return None if day.year in YEARS else f"month {month!r} is out of range"


def amount_problem(amount_cents: int) -> str | None:
    """An amount taken or given back at the till: positive, and not beyond MAX_CENTS."""
    return None if 0 < amount_cents <= MAX_CENTS else f"amount {amount_cents} is out of range"


def decision_problem(decision: DecisionRecorded) -> str | None:
    """Why a decision cannot be followed, or None."""
    if (decision.kind is DecisionKind.SET_RULES) != (decision.rules is not None):
        return "rules go with SET_RULES, and only with it"
    if decision.kind is not DecisionKind.SET_RULES and not decision.subject_id:
        return "a decision about a shop or a producer names it"
    if decision.effective_on.year not in YEARS:
        return f"effective_on {decision.effective_on} is out of range"
    return rules_problem(decision.rules) if decision.rules is not None else None


def rules_problem(rules: AllowanceRules) -> str | None:
    amounts = [rules.base_cents, rules.per_extra_adult_cents, rules.per_child_cents,
               *(step.suggested_cents for step in rules.contribution_scale)]
    if rules.carry_over is CarryOver.CAPPED:
        if rules.carry_over_cap_cents is None:
            return "a CAPPED carry-over needs its cap"
        amounts.append(rules.carry_over_cap_cents)
    if any(not 0 <= cents <= MAX_CENTS for cents in amounts):
        return "an amount of the rules is out of range"
    return timezone_problem(rules.timezone)
