"""Settlements, the treasurer's CSV and the committee's reports, on hand-made ledgers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from services.caisse.ledger import Ledger
from services.caisse.reports import euros, households, report, settle, settlements_csv
from services.caisse.rules import Committee, allowance_cents, check_vote, first_day, month_of
from services.events.caisse import (
    ContributionRecorded,
    DecisionKind,
    Household,
    RequestKind,
)
from services.events.catalog import ProductDefined
from services.events.sales import (
    CodeKind,
    Payment,
    PaymentMethod,
    QuantityUnit,
    SaleLine,
    SaleRecorded,
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

NOW = datetime(2026, 12, 2, tzinfo=UTC)
COMMITTEE = lyon_committee(decision(DecisionKind.APPROVE_SHOP, "etats-unis",
                                    shop_type="épicerie sociale"))


def entries_of(*requests, committee: Committee = COMMITTEE):
    ledger, out = Ledger(), []
    for req in requests:
        out.extend(ledger.handle(req, committee, NOW)[0])
    return out


def test_allowances_follow_the_rules_as_data() -> None:
    assert allowance_cents(LYON_RULES, Household(adults=3, children=2, income_band="T2")) == (
        15_000 + 2 * 7_500 + 2 * 4_000)
    assert allowance_cents(LYON_RULES, Household(adults=1, children=0, income_band="T2")) == (
        15_000)


def test_months_are_the_caisse_s_local_months() -> None:
    assert month_of(datetime(2026, 10, 31, 23, 30, tzinfo=UTC)) == "2026-11"  # 00:30 in Paris
    assert month_of(datetime(2026, 10, 31, 22, 59, tzinfo=UTC)) == "2026-10"
    assert first_day("2026-02") == date(2026, 2, 1)
    with pytest.raises(ValueError):
        first_day("2026-2")


def test_a_decision_needs_a_majority() -> None:
    check_vote(5, 4, 10)
    with pytest.raises(ValueError, match="not adopted"):
        check_vote(4, 4, 0)


def test_a_month_settles_to_the_cent_per_shop() -> None:
    late_october = datetime(2026, 10, 31, 22, 0, tzinfo=UTC)  # 23:00 in Paris: October
    entries = entries_of(
        enrol("card-1", FAMILY), enrol("card-2", SINGLE), credit("2026-10"),
        redeem("r0", 1_000, at=late_october),
        redeem("r1", 2_345), redeem("r2", 1_111, card="card-2"),
        redeem("r3", 999, shop="etats-unis"), refund("f1", "r1", 345),
        refund("f0", "r0", 500),  # refunded in November: counts in November
        redeem("r4", 10**6))  # declined: settles nothing
    rows = {s.shop_id: s for s in settle(entries, "lyon", "2026-11", COMMITTEE, NOW)}
    assert set(rows) == {"graine", "etats-unis"}
    graine = rows["graine"]
    assert (graine.redeemed_cents, graine.refunded_cents, graine.net_cents,
            graine.redemptions, graine.refunds) == (3_456, 845, 2_611, 2, 2)
    assert rows["etats-unis"].net_cents == 999
    [october] = settle(entries, "lyon", "2026-10", COMMITTEE, NOW)
    assert (october.shop_id, october.net_cents) == ("graine", 1_000)


def test_the_treasurer_s_csv_has_a_line_per_shop_and_a_total() -> None:
    entries = entries_of(enrol(), credit(), redeem("r1", 123), redeem("r2", 20_000),
                         redeem("r3", 999, shop="etats-unis"))
    text = settlements_csv(settle(entries, "lyon", "2026-11", COMMITTEE, NOW))
    # UTF-8 with its byte order mark, so a spreadsheet opens « encaissé » right
    assert text.encode("utf-8")[:3] == b"\xef\xbb\xbf"
    assert text.encode("utf-8").decode("utf-8-sig").startswith("caisse;commerce;mois;")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["caisse", "commerce", "mois"] and "encaissé (centimes)" in rows[0]
    by_shop = {row[1]: row for row in rows[1:]}
    assert by_shop["graine"][8:] == ["20123", "201,23"]
    assert by_shop["TOTAL"][8:] == ["21122", "211,22"]
    assert euros(-5) == "-0,05"


def test_the_committee_s_households_are_the_ledger_s_cards_with_their_state_and_balance(
        ) -> None:
    status = lambda kind, card, n: request(kind, f"{kind.value}-{card}-{n}", card=card)  # noqa: E731
    entries = entries_of(
        enrol(), enrol("card-2", SINGLE), enrol("card-3", SINGLE), credit(),
        redeem("r1", 2_350), refund("rf1", "r1", 350),
        status(RequestKind.BLOCK, "card-2", 0),
        status(RequestKind.BLOCK, "card-3", 0), status(RequestKind.UNBLOCK, "card-3", 1),
        enrol("card-1", SINGLE, n=1),  # the family's composition changes: an update
        status(RequestKind.LEAVE, "card-4", 0),  # not a card of this caisse: declined
        request(RequestKind.ENROL, "enrol-elsewhere", card="card-9", caisse_id="grenoble",
                household=FAMILY))
    rows = households(entries, "lyon")
    assert [(r.card_id, r.status, r.balance_cents, r.last_month_credited) for r in rows] == [
        ("card-1", "ACTIVE", 34_500 - 2_000, "2026-11"), ("card-2", "BLOCKED", 15_000, "2026-11"),
        ("card-3", "ACTIVE", 15_000, "2026-11")]
    family = rows[0]
    assert (family.adults, family.children, family.income_band) == (1, 0, "T3")
    assert family.enrolled_at == T0
    assert [r.card_id for r in households(entries, "grenoble")] == ["card-9"]
    left = entries_of(enrol(), request(RequestKind.LEAVE, "leave-1", card="card-1"), credit())
    [gone] = households(left, "lyon")
    assert (gone.status, gone.balance_cents, gone.last_month_credited) == ("LEFT", 0, None)
    assert households([], "lyon") == []


def _ticket(ticket_id: str, lines: list[tuple[str, int]]) -> SaleRecorded:
    return SaleRecorded(
        ticket_id=ticket_id, shop_id="graine", till_id="caisse-1", ticket_number=1,
        occurred_at=T0, timezone="Europe/Paris",
        lines=tuple(SaleLine(line_number=n, product_code=code, code_kind=CodeKind.PLU,
                             label=code, quantity=1, unit=QuantityUnit.PIECE,
                             unit_price_cents=paid, paid_cents=paid)
                    for n, (code, paid) in enumerate(lines, 1)),
        payments=(Payment(method=PaymentMethod.CAISSE, amount_cents=sum(p for _, p in lines),
                          card_id="card-1"),))


PRODUCTS = {
    "poireau": ProductDefined(product_id="poireau", name="Poireau", category="legumes",
                              unit=QuantityUnit.PIECE, organic=False, labels=("local",),
                              defined_at=T0),
    "oeufs": ProductDefined(product_id="oeufs", name="Œufs bio", category="oeufs",
                            unit=QuantityUnit.PIECE, organic=True, labels=("AB", "local"),
                            defined_at=T0),
    "cafe": ProductDefined(product_id="cafe", name="Café", category="epicerie",
                           unit=QuantityUnit.PIECE, organic=False, labels=(), defined_at=T0),
}


def test_reports_join_redemptions_to_their_ticket_lines_and_add_up() -> None:
    tickets = {"t1": _ticket("t1", [("poireau", 300), ("oeufs", 300), ("cafe", 400)]),
               "t2": _ticket("t2", [("cafe", 500)])}
    entries = entries_of(
        enrol("card-1", FAMILY), enrol("card-2", SINGLE), credit(),
        redeem("r1", 1_000, ticket="t1"), redeem("r2", 500, ticket="t2", card="card-2"),
        redeem("r3", 700, shop="etats-unis"),  # no ticket known: not in the shares
        redeem("r4", 200, at=T0 + timedelta(days=40)),  # December: not in this report
        refund("f1", "r1", 100))
    contributions = [ContributionRecorded(contribution_id="c1", caisse_id="lyon",
                                          card_id="card-1", month="2026-11", amount_cents=100,
                                          income_band="T1", recorded_at=T0)]
    result = report(entries, "lyon", ["2026-11"], COMMITTEE, tickets,
                    lambda _shop, line: PRODUCTS[line.product_code], contributions)
    total = result.total
    assert (total.redeemed_cents, total.refunded_cents, total.net_cents) == (2_200, 100, 2_100)
    assert (total.joined_cents, total.local_cents, total.organic_cents) == (1_500, 600, 300)
    assert total.share(total.local_cents) == 0.4
    for name, group in result.groups().items():
        assert sum(s.net_cents for s in group.values()) == total.net_cents, name
    assert set(result.by_shop_type) == {"épicerie solidaire", "épicerie sociale"}
    assert result.by_income_band["T1"].net_cents == 1_000 - 100 + 700
    assert result.by_income_band["T3"].net_cents == 500
    assert result.allowances_by_band == {"T1": 34_500, "T3": 15_000}
    assert result.contributions_by_band == {"T1": 100}
    assert result.as_dict()["contributions"]["T1"] == {
        "households": 1, "allowances_cents": 34_500, "contributions_cents": 100}
