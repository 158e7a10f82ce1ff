"""Requests and decisions that no gateway would send, as a faulty till or a script writes them
straight to Kafka: the ledger declines them (INVALID_REQUEST) with a definite, repeatable answer,
and the committee does not follow a decision it cannot apply. Nothing here raises."""

from __future__ import annotations

from datetime import date

import pytest

from services.caisse.checks import decision_problem, request_problem
from services.caisse.ledger import Ledger
from services.events.caisse import (
    AllowanceRules,
    CarryOver,
    DecisionKind,
    DeclineReason,
    EntryKind,
    Household,
    Outcome,
    RequestKind,
)
from tests.unit.caisse_fixtures import (
    LYON_RULES,
    T0,
    credit,
    decision,
    enrol,
    lyon_committee,
    redeem,
    request,
)
from tests.unit.test_caisse_ledger import COMMITTEE, funded, run

POISONS = {
    "year 0 month": credit("0000-01"),
    "month 13": credit("2026-13"),
    "not a month": credit("novembre"),
    "year 9999 month": credit("9999-12"),
    "enrolment without household": request(RequestKind.ENROL, "e-1", caisse_id="lyon"),
    "enrolment of -3 children": request(
        RequestKind.ENROL, "e-2", caisse_id="lyon",
        household=Household.model_construct(adults=1, children=-3, income_band="T1")),
    "empty card id": redeem("r-1", 500, card=""),
    "empty shop id": redeem("r-2", 500, shop=""),
    "card id with spaces": redeem("r-3", 500, card=" card-1 "),
    "block without caisse": request(RequestKind.BLOCK, "b-1", caisse_id=None),
    "refund without refund id": request(RequestKind.REFUND, "f-1", shop_id="graine",
                                        redemption_id="r-1", amount_cents=100),
    "year 1 request": redeem("r-4", 500, at=T0.replace(year=1)),
}


@pytest.mark.parametrize("name", POISONS)
def test_a_request_that_cannot_be_decided_is_declined_invalid_and_answered_again(name) -> None:
    ledger, _ = funded()
    poison = POISONS[name]
    assert request_problem(poison)
    (first, again), entries = run(ledger, poison, poison)
    assert (first.outcome, first.reason) == (Outcome.DECLINED, DeclineReason.INVALID_REQUEST)
    assert again == first  # a repeat gets the same answer
    assert [(e.kind, e.reason, e.request_id) for e in entries] == [
        (EntryKind.DECLINED, DeclineReason.INVALID_REQUEST, poison.request_id)]  # written once
    assert ledger.accounts["card-1"].balance_cents == 34_500  # nothing moved
    rebuilt = Ledger.fold(funded()[1] + entries)  # recovery gives the same answer back
    assert rebuilt.answers[poison.request_id] == first


@pytest.mark.parametrize("amount", [0, -500, 10_000_001, 2**62])
def test_an_amount_out_of_range_is_declined_as_such(amount) -> None:
    ledger, _ = funded()
    [answer], [entry] = run(ledger, redeem("r-9", amount))
    assert (answer.outcome, answer.reason) == (Outcome.DECLINED, DeclineReason.INVALID_AMOUNT)
    assert entry.amount_cents == 0


def test_the_requests_a_gateway_sends_are_sound() -> None:
    for sound in (enrol(), credit(), redeem("r-1", 2_350),
                  request(RequestKind.BLOCK, "b-1")):
        assert request_problem(sound) is None


def _rules(**changes) -> AllowanceRules:
    return LYON_RULES.model_copy(update=changes)


@pytest.mark.parametrize("rules, problem", [
    (_rules(timezone="Mars/Olympus_Mons"), "is not an IANA timezone"),
    (_rules(timezone="Europe"), "is not an IANA timezone"),
    (_rules(base_cents=-15_000), "out of range"),
    (_rules(per_child_cents=2**40), "out of range"),
    (_rules(carry_over=CarryOver.CAPPED, carry_over_cap_cents=None), "needs its cap"),
])
def test_a_decision_with_rules_that_cannot_apply_is_not_followed(rules, problem) -> None:
    broken = decision(DecisionKind.SET_RULES, rules=rules, on=date(2026, 11, 1), n=1)
    assert problem in decision_problem(broken)
    committee = lyon_committee(broken)
    assert committee.rules_for_month("lyon", "2026-11") == LYON_RULES  # the earlier rules hold
    ledger, _ = funded()
    [answer], _ = run(ledger, redeem("r-1", 2_350), committee=committee)
    assert answer.outcome is Outcome.AUTHORIZED  # redemptions go on


def test_a_decision_about_nobody_or_out_of_time_is_not_followed() -> None:
    nobody = decision(DecisionKind.SUSPEND_SHOP, None)
    far = decision(DecisionKind.SUSPEND_SHOP, "graine", on=date(1, 1, 1))
    assert decision_problem(nobody) and decision_problem(far)
    ledger, _ = funded()
    [answer], _ = run(ledger, redeem("r-1", 100), committee=lyon_committee(nobody, far))
    assert answer.outcome is Outcome.AUTHORIZED
    assert COMMITTEE.shop_approved("lyon", "graine", T0)


@pytest.mark.parametrize("month", ["0000-01", "2026-13", "1999-12", "novembre"])
def test_the_cli_refuses_a_month_the_caisse_would_decline_before_asking_it(month) -> None:
    from click.testing import CliRunner

    from services.cli.main import main

    result = CliRunner().invoke(main, ["caisse", "credit", "--caisse", "lyon", "--month", month])
    assert result.exit_code == 2
    assert f"Mois invalide : {month} (AAAA-MM, de 2000 à 2100)" in result.output
