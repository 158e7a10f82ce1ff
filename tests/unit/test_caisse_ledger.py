"""The caisse ledger: allowances, redemptions, refunds, declines, monthly credit and carry-over,
and the fold that rebuilds a partition from its entries. Property-based tests drive random
sequences of credits, redemptions, refunds and repeats through it."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.caisse.ledger import CardStatus, Ledger, LedgerCorrupt
from services.caisse.rules import Committee
from services.events.caisse import (
    AllowanceRules,
    CarryOver,
    DecisionKind,
    DeclineReason,
    EntryKind,
    Outcome,
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
    lyon_committee,
    redeem,
    refund,
    request,
)

COMMITTEE = lyon_committee()


def run(ledger: Ledger, *requests, committee: Committee = COMMITTEE):
    answers, entries = [], []
    for n, req in enumerate(requests):
        written, answer = ledger.handle(req, committee, T0 + timedelta(seconds=n))
        entries.extend(written)
        answers.append(answer)
    return answers, entries


def funded(*households) -> tuple[Ledger, list]:
    ledger = Ledger()
    enrolments = [enrol(f"card-{n + 1}", h) for n, h in enumerate(households or (FAMILY,))]
    _, entries = run(ledger, *enrolments, credit())
    return ledger, entries


def test_a_family_of_lyon_is_credited_its_allowance() -> None:
    ledger, entries = funded(FAMILY, SINGLE)
    assert ledger.accounts["card-1"].balance_cents == 34_500  # 150 + 75 + 3 × 40
    assert ledger.accounts["card-2"].balance_cents == 15_000
    credited = [e for e in entries if e.kind is EntryKind.CREDITED]
    assert [(e.card_id, e.amount_cents, e.month) for e in credited] == [
        ("card-1", 34_500, "2026-11"), ("card-2", 15_000, "2026-11")]


def test_a_month_is_credited_once_whatever_the_repeats() -> None:
    ledger, _ = funded()
    answers, entries = run(ledger, credit(), credit(partition=0), credit())
    assert entries == []
    assert all(a.outcome is Outcome.DONE and a.entries == 0 for a in answers)
    assert ledger.accounts["card-1"].balance_cents == 34_500


def test_an_authorized_redemption_answers_the_new_balance() -> None:
    ledger, _ = funded()
    [answer], [entry] = run(ledger, redeem("r1", 2_350, ticket="graine/caisse-1/7"))
    assert (answer.outcome, answer.balance_cents, answer.amount_cents) == (
        Outcome.AUTHORIZED, 32_150, 2_350)
    assert (entry.kind, entry.amount_cents, entry.ticket_id) == (
        EntryKind.REDEEMED, -2_350, "graine/caisse-1/7")


@pytest.mark.parametrize(("setup", "req", "reason"), [
    ((), redeem("r1", 100, card="card-9"), DeclineReason.UNKNOWN_CARD),
    ((request(RequestKind.BLOCK, "b1"),), redeem("r1", 100), DeclineReason.CARD_BLOCKED),
    ((request(RequestKind.LEAVE, "l1"),), redeem("r1", 100), DeclineReason.CARD_BLOCKED),
    ((), redeem("r1", 100, shop="tonkin"), DeclineReason.SHOP_NOT_APPROVED),
    ((), redeem("r1", 100, shop="never-approved"), DeclineReason.SHOP_NOT_APPROVED),
    ((), redeem("r1", 34_501), DeclineReason.INSUFFICIENT_BALANCE),
    ((), redeem("r1", 0), DeclineReason.INVALID_AMOUNT),
    ((), refund("f1", "nope", 100), DeclineReason.UNKNOWN_REDEMPTION),
])
def test_declines_say_why_and_leave_the_balance(setup, req, reason) -> None:
    ledger, _ = funded()
    run(ledger, *setup)
    [answer], [entry] = run(ledger, req)
    assert (answer.outcome, answer.reason) == (Outcome.DECLINED, reason)
    assert (entry.kind, entry.amount_cents, entry.reason) == (EntryKind.DECLINED, 0, reason)
    if req.card_id == "card-1":
        assert answer.balance_cents == 34_500


def test_a_whole_balance_can_be_spent_but_not_a_cent_more() -> None:
    ledger, _ = funded()
    answers, _ = run(ledger, redeem("r1", 34_500), redeem("r2", 1))
    assert [a.outcome for a in answers] == [Outcome.AUTHORIZED, Outcome.DECLINED]
    assert ledger.accounts["card-1"].balance_cents == 0


def test_a_repeated_redemption_gets_the_same_answer_and_changes_nothing() -> None:
    ledger, _ = funded()
    first, _ = run(ledger, redeem("r1", 30_000))
    again, entries = run(ledger, redeem("r2", 10_000), redeem("r1", 30_000))
    assert again[0].reason is DeclineReason.INSUFFICIENT_BALANCE
    assert again[1] == first[0] and entries[1:] == []
    assert ledger.accounts["card-1"].balance_cents == 4_500


def test_a_declined_redemption_stays_declined_when_repeated_after_a_credit() -> None:
    ledger, _ = funded()
    [declined], _ = run(ledger, redeem("r1", 40_000))
    run(ledger, credit("2026-12"))
    [again], entries = run(ledger, redeem("r1", 40_000))
    assert again == declined and entries == []


def test_the_same_redemption_id_from_two_shops_is_two_redemptions() -> None:
    ledger, _ = funded()
    committee = lyon_committee(decision(DecisionKind.APPROVE_SHOP, "etats-unis"))
    answers, _ = run(ledger, redeem("r1", 100), redeem("r1", 100, shop="etats-unis"),
                     committee=committee)
    assert [a.outcome for a in answers] == [Outcome.AUTHORIZED] * 2


def test_refunds_credit_back_up_to_the_redemption() -> None:
    ledger, _ = funded()
    answers, _ = run(ledger, redeem("r1", 5_000), refund("f1", "r1", 1_200),
                     refund("f2", "r1", 3_800), refund("f3", "r1", 1), refund("f1", "r1", 1_200))
    assert [a.outcome for a in answers] == [Outcome.AUTHORIZED] * 3 + [
        Outcome.DECLINED, Outcome.AUTHORIZED]
    assert answers[3].reason is DeclineReason.REFUND_EXCEEDS_REDEMPTION
    assert answers[4] == answers[1]  # a repeated refund: its first answer
    assert ledger.accounts["card-1"].balance_cents == 34_500


def test_a_refund_goes_to_the_card_that_paid_at_the_shop_that_took_it() -> None:
    ledger, _ = funded(FAMILY, SINGLE)
    answers, _ = run(ledger, redeem("r1", 5_000), refund("f1", "r1", 100, card="card-2"),
                     refund("f2", "r1", 100, shop="other"))
    assert [a.reason for a in answers[1:]] == [DeclineReason.UNKNOWN_REDEMPTION] * 2


def test_a_blocked_card_is_still_credited_and_can_pay_once_unblocked() -> None:
    ledger, _ = funded()
    run(ledger, request(RequestKind.BLOCK, "b1"), credit("2026-12"))
    assert ledger.accounts["card-1"].balance_cents == 69_000
    answers, _ = run(ledger, request(RequestKind.UNBLOCK, "u1"), redeem("r1", 100))
    assert answers[1].outcome is Outcome.AUTHORIZED


def test_a_committee_acts_only_on_its_own_caisse_s_cards() -> None:
    ledger, _ = funded()
    [answer], _ = run(ledger, request(RequestKind.BLOCK, "b1", caisse_id="marseille"))
    assert answer.reason is DeclineReason.UNKNOWN_CARD
    assert ledger.accounts["card-1"].status is CardStatus.ACTIVE


def test_a_household_that_left_is_no_longer_credited() -> None:
    ledger, _ = funded()
    run(ledger, request(RequestKind.LEAVE, "l1"), credit("2026-12"))
    assert ledger.accounts["card-1"].status is CardStatus.LEFT
    assert ledger.accounts["card-1"].balance_cents == 34_500


def test_a_new_composition_changes_the_next_allowance() -> None:
    ledger, _ = funded(SINGLE)
    run(ledger, enrol("card-1", FAMILY, n=1), credit("2026-12"))
    assert ledger.accounts["card-1"].balance_cents == 15_000 + 34_500


@pytest.mark.parametrize(("carry", "cap", "expected"), [
    (CarryOver.FULL, None, 10_000 + 15_000),
    (CarryOver.NONE, None, 15_000),
    (CarryOver.CAPPED, 4_000, 4_000 + 15_000),
    (CarryOver.CAPPED, 50_000, 10_000 + 15_000),
])
def test_carry_over_policy_at_the_next_credit(carry, cap, expected) -> None:
    rules = AllowanceRules(**{**LYON_RULES.model_dump(), "carry_over": carry,
                              "carry_over_cap_cents": cap})
    committee = Committee([decision(DecisionKind.SET_RULES, rules=rules),
                           decision(DecisionKind.APPROVE_SHOP, "graine")])
    ledger = Ledger()
    _, entries = run(ledger, enrol(household=SINGLE), credit(), redeem("r1", 5_000),
                     credit("2026-12"), committee=committee)
    assert ledger.accounts["card-1"].balance_cents == expected
    expired = [e for e in entries if e.kind is EntryKind.EXPIRED]
    assert sum(-e.amount_cents for e in expired) == 10_000 + 15_000 - expected
    assert all(e.month == "2026-11" for e in expired)


def test_rules_changed_by_the_committee_apply_from_their_month() -> None:
    richer = AllowanceRules(**{**LYON_RULES.model_dump(), "base_cents": 20_000})
    committee = lyon_committee(decision(DecisionKind.SET_RULES, rules=richer,
                                        on=date(2026, 12, 1), n=1))
    ledger = Ledger()
    run(ledger, enrol(household=SINGLE), credit(), credit("2026-12"), committee=committee)
    assert ledger.accounts["card-1"].balance_cents == 15_000 + 20_000


def test_no_rules_no_credit() -> None:
    ledger = Ledger()
    [_, answer], entries = run(ledger, enrol(), credit("2026-09"))
    assert (answer.outcome, answer.reason) == (Outcome.DECLINED, DeclineReason.NO_RULES)
    assert ledger.accounts["card-1"].balance_cents == 0


def test_a_suspension_applies_from_its_day() -> None:
    committee = lyon_committee(decision(DecisionKind.SUSPEND_SHOP, "graine",
                                        on=date(2026, 11, 3), n=1))
    ledger, _ = funded()
    answers, _ = run(ledger, redeem("r1", 100), redeem("r2", 100, at=T0 + timedelta(days=1)),
                     committee=committee)
    assert [a.outcome for a in answers] == [Outcome.AUTHORIZED, Outcome.DECLINED]


def test_the_fold_of_the_entries_is_the_live_ledger() -> None:
    ledger, entries = funded(FAMILY, SINGLE)
    _, more = run(ledger, redeem("r1", 5_000), refund("f1", "r1", 500), redeem("r2", 10**6),
                  request(RequestKind.BLOCK, "b1", card="card-2"), credit("2026-12"))
    rebuilt = Ledger.fold(entries + more)
    assert rebuilt.accounts == ledger.accounts
    assert rebuilt.answers == ledger.answers
    assert rebuilt.redemptions == ledger.redemptions


def test_the_fold_refuses_a_broken_balance() -> None:
    _, entries = funded()
    broken = entries[-1].model_copy(update={"balance_cents": entries[-1].balance_cents + 1})
    with pytest.raises(LedgerCorrupt, match="balance"):
        Ledger.fold([*entries[:-1], broken])


def test_the_fold_refuses_a_redemption_applied_twice() -> None:
    ledger, entries = funded()
    _, [entry] = run(ledger, redeem("r1", 100))
    twice = entry.model_copy(update={"entry_id": "x", "balance_cents": entry.balance_cents - 100})
    with pytest.raises(LedgerCorrupt, match="twice"):
        Ledger.fold([*entries, entry, twice])


# -- properties ---------------------------------------------------------------------------

CARDS = ("card-1", "card-2", "card-3")
steps = st.lists(st.one_of(
    st.tuples(st.just("redeem"), st.sampled_from(CARDS), st.integers(0, 12),
              st.integers(-5, 40_000), st.sampled_from(("graine", "tonkin"))),
    st.tuples(st.just("refund"), st.sampled_from(CARDS), st.integers(0, 12),
              st.integers(-5, 20_000), st.integers(0, 3)),
    st.tuples(st.just("credit"), st.sampled_from(("2026-11", "2026-12", "2027-01"))),
    st.tuples(st.just("block"), st.sampled_from(CARDS), st.booleans()),
    st.tuples(st.just("repeat"), st.integers(0, 10_000)),
), max_size=80)


def _requests(plan):
    sent = []
    for step in plan:
        match step:
            case ("redeem", card, n, amount, shop):
                req = redeem(f"r{n}", amount, card=card, shop=shop)
            case ("refund", card, n, amount, k):
                req = refund(f"f{n}-{k}", f"r{n}", amount, card=card)
            case ("credit", month):
                req = credit(month)
            case ("block", card, block):
                kind = RequestKind.BLOCK if block else RequestKind.UNBLOCK
                req = request(kind, f"{kind.value}-{len(sent)}", card=card)
            case ("repeat", n):
                if not sent:
                    continue
                req = sent[n % len(sent)]
        sent.append(req)
    return sent


@settings(max_examples=300, deadline=None)
@given(steps)
def test_no_sequence_overdraws_double_spends_or_changes_an_answer(plan) -> None:
    ledger = Ledger()
    run(ledger, enrol("card-1", FAMILY), enrol("card-2", SINGLE), enrol("card-3", SINGLE))
    requests = _requests(plan)
    answers, entries = run(ledger, *requests)
    redeemed = Counter((e.shop_id, e.redemption_id) for e in entries
                       if e.kind is EntryKind.REDEEMED)
    assert all(count == 1 for count in redeemed.values()), "a redemption applied twice"
    first: dict[str, object] = {}
    for req, answer in zip(requests, answers, strict=True):
        if req.kind is not RequestKind.CREDIT_MONTH:
            assert first.setdefault(req.request_id, answer) == answer, "an answer changed"
    for card in CARDS:
        mine = [e for e in entries if e.card_id == card]
        balance = 0 if not mine else mine[0].balance_cents - mine[0].amount_cents
        for entry in mine:
            balance += entry.amount_cents
            assert balance == entry.balance_cents >= 0
        assert ledger.accounts[card].balance_cents >= 0
    for (shop, rid), redemption in ledger.redemptions.items():
        refunded = sum(e.amount_cents for e in entries if e.kind is EntryKind.REFUNDED
                       and (e.shop_id, e.redemption_id) == (shop, rid))
        assert refunded == redemption.refunded_cents <= redemption.amount_cents


@settings(max_examples=150, deadline=None)
@given(steps)
def test_replaying_the_entries_rebuilds_the_same_ledger(plan) -> None:
    ledger = Ledger()
    _, setup = run(ledger, enrol("card-1", FAMILY), enrol("card-2", SINGLE),
                   enrol("card-3", SINGLE))
    _, entries = run(ledger, *_requests(plan))
    rebuilt = Ledger.fold(setup + entries)
    assert (rebuilt.accounts, rebuilt.answers, rebuilt.redemptions) == (
        ledger.accounts, ledger.answers, ledger.redemptions)
    # and a rebuilt ledger answers what is asked again exactly as the live one did
    for req in _requests(plan):
        if req.kind is not RequestKind.CREDIT_MONTH:
            assert rebuilt.handle(req, COMMITTEE, T0) == ([], ledger.answers[req.request_id])
