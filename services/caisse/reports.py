"""Monthly settlements per shop, the treasurer's CSV, and the reports the committee and funders
ask for. Pure: everything is computed from ledger entries (and, for the product shares, the
tickets the redemptions paid).

A redemption or refund counts in the caisse's local month it was asked in (its `occurred_at`),
so a month settles the same whenever it is computed once its requests are in. A shop's
settlement is what it took (redemptions) less what it gave back (refunds) in that month.

The committee's list of households is the ledger's own fold (services.caisse.ledger), said per
card: composition, income band, state, balance and the last month credited.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.caisse.ledger import Ledger
from services.caisse.rules import Committee, month_of
from services.events.caisse import (
    ContributionRecorded,
    EntryKind,
    Household,
    LedgerEntryRecorded,
    SettlementRecorded,
)
from services.events.catalog import ProductDefined
from services.events.sales import SaleLine, SaleRecorded

UNKNOWN = "inconnu"
_MONEY = (EntryKind.REDEEMED, EntryKind.REFUNDED)


def _entry_month(entry: LedgerEntryRecorded, committee: Committee) -> str:
    return month_of(entry.occurred_at, committee.timezone(entry.caisse_id))


def settle(entries: Iterable[LedgerEntryRecorded], caisse_id: str, month: str,
           committee: Committee, now: datetime) -> list[SettlementRecorded]:
    """One settlement per shop that took or refunded anything in the month."""
    totals: dict[str, list[int]] = {}  # shop -> [redeemed, refunded, redemptions, refunds]
    for entry in entries:
        if entry.kind not in _MONEY or entry.caisse_id != caisse_id or \
                _entry_month(entry, committee) != month:
            continue
        row = totals.setdefault(entry.shop_id or UNKNOWN, [0, 0, 0, 0])
        if entry.kind is EntryKind.REDEEMED:
            row[0] += -entry.amount_cents
            row[2] += 1
        else:
            row[1] += entry.amount_cents
            row[3] += 1
    rules = committee.rules_for_month(caisse_id, month)
    currency = rules.currency if rules else "EUR"
    return [SettlementRecorded(caisse_id=caisse_id, shop_id=shop, month=month, currency=currency,
                               redeemed_cents=redeemed, refunded_cents=refunded,
                               net_cents=redeemed - refunded, redemptions=count,
                               refunds=refund_count, computed_at=now)
            for shop, (redeemed, refunded, count, refund_count) in sorted(totals.items())]


def euros(cents: int) -> str:
    """French decimal notation: 1234,56."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}"


BOM = "\ufeff"  # UTF-8's byte order mark: how a spreadsheet knows the file is UTF-8 (accents)
CSV_HEADER = ("caisse", "commerce", "mois", "devise", "paiements", "remboursements",
              "encaissé (centimes)", "remboursé (centimes)", "net (centimes)", "net")


def settlements_csv(settlements: Iterable[SettlementRecorded]) -> str:
    """The treasurer's CSV (semicolons and decimal commas, as French spreadsheets expect),
    one line per shop and a total per caisse and month. It begins with the byte order mark, so
    a spreadsheet opens « encaissé » right (read it back with the `utf-8-sig` codec)."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    totals: dict[tuple[str, str, str], list[int]] = {}
    for s in settlements:
        writer.writerow((s.caisse_id, s.shop_id, s.month, s.currency, s.redemptions, s.refunds,
                         s.redeemed_cents, s.refunded_cents, s.net_cents, euros(s.net_cents)))
        total = totals.setdefault((s.caisse_id, s.month, s.currency), [0] * 5)
        for i, value in enumerate((s.redemptions, s.refunds, s.redeemed_cents,
                                   s.refunded_cents, s.net_cents)):
            total[i] += value
    for (caisse_id, month, currency), t in sorted(totals.items()):
        writer.writerow((caisse_id, "TOTAL", month, currency, *t, euros(t[4])))
    return out.getvalue()


@dataclass(frozen=True)
class HouseholdRow:
    """One card of a caisse as its committee sees it (no name: the card id is the member)."""

    card_id: str
    adults: int
    children: int
    income_band: str
    status: str  # ACTIVE, BLOCKED or LEFT
    balance_cents: int
    last_month_credited: str | None
    enrolled_at: datetime


def households(entries: Iterable[LedgerEntryRecorded], caisse_id: str) -> list[HouseholdRow]:
    """The caisse's enrolled cards from its ledger entries (in each card's order), by card id:
    the same fold the caisse service decides with, so the balance is the one a till is told."""
    mine = [entry for entry in entries if entry.caisse_id == caisse_id]
    first: dict[str, datetime] = {}
    for entry in mine:
        if entry.kind is EntryKind.ENROLLED:
            first.setdefault(entry.card_id, entry.occurred_at)
    accounts = Ledger.fold(mine).accounts
    return [HouseholdRow(card_id=card, adults=a.household.adults, children=a.household.children,
                         income_band=a.household.income_band, status=a.status.value,
                         balance_cents=a.balance_cents, last_month_credited=a.last_month,
                         enrolled_at=first[card])
            for card, a in sorted(accounts.items()) if a.caisse_id == caisse_id]


@dataclass
class Spend:
    """Money through the caisse for one group of a report."""

    redeemed_cents: int = 0
    refunded_cents: int = 0
    redemptions: int = 0
    joined_cents: int = 0  # redeemed on tickets whose lines are known
    local_cents: int = 0
    organic_cents: int = 0

    @property
    def net_cents(self) -> int:
        return self.redeemed_cents - self.refunded_cents

    def share(self, part: int) -> float | None:
        return round(part / self.joined_cents, 4) if self.joined_cents else None

    def as_dict(self) -> dict:
        return {"redeemed_cents": self.redeemed_cents, "refunded_cents": self.refunded_cents,
                "net_cents": self.net_cents, "redemptions": self.redemptions,
                "joined_cents": self.joined_cents, "local_cents": self.local_cents,
                "organic_cents": self.organic_cents, "local_share": self.share(self.local_cents),
                "organic_share": self.share(self.organic_cents)}


@dataclass
class Report:
    caisse_id: str
    months: tuple[str, ...]
    total: Spend = field(default_factory=Spend)
    by_shop: dict[str, Spend] = field(default_factory=dict)
    by_shop_type: dict[str, Spend] = field(default_factory=dict)
    by_month: dict[str, Spend] = field(default_factory=dict)
    by_income_band: dict[str, Spend] = field(default_factory=dict)
    allowances_by_band: dict[str, int] = field(default_factory=dict)  # credited
    contributions_by_band: dict[str, int] = field(default_factory=dict)
    households_by_band: dict[str, int] = field(default_factory=dict)

    def groups(self) -> dict[str, dict[str, Spend]]:
        return {"shop": self.by_shop, "shop_type": self.by_shop_type, "month": self.by_month,
                "income_band": self.by_income_band}

    def as_dict(self) -> dict:
        return {"caisse_id": self.caisse_id, "months": list(self.months),
                "total": self.total.as_dict(),
                **{f"by_{name}": {k: v.as_dict() for k, v in sorted(group.items())}
                   for name, group in self.groups().items()},
                "contributions": {band: {"households": self.households_by_band.get(band, 0),
                                         "allowances_cents": self.allowances_by_band.get(band, 0),
                                         "contributions_cents":
                                             self.contributions_by_band.get(band, 0)}
                                  for band in sorted({*self.allowances_by_band,
                                                      *self.contributions_by_band})}}


ProductOf = Callable[[str, SaleLine], ProductDefined | None]


def report(entries: Iterable[LedgerEntryRecorded], caisse_id: str, months: Iterable[str],
           committee: Committee, tickets: Mapping[str, SaleRecorded], product_of: ProductOf,
           contributions: Iterable[ContributionRecorded] = ()) -> Report:
    """Spend per shop, shop type, month and household income band, with the share of the
    redeemed money that paid local and organic products (the redemption's amount spread over
    its ticket's lines by what each line cost). Every group adds up to the ledger's total."""
    wanted = set(months)
    result = Report(caisse_id, tuple(sorted(wanted)))
    households: dict[str, Household] = {}
    credited_cards: dict[str, set[str]] = {}
    for entry in entries:
        if entry.caisse_id != caisse_id:
            continue
        if entry.household is not None and entry.kind in (EntryKind.ENROLLED, EntryKind.UPDATED):
            households[entry.card_id] = entry.household
        band = households[entry.card_id].income_band if entry.card_id in households else UNKNOWN
        month = _entry_month(entry, committee)
        if entry.kind is EntryKind.CREDITED and entry.month in wanted:
            result.allowances_by_band[band] = (result.allowances_by_band.get(band, 0)
                                               + entry.amount_cents)
            credited_cards.setdefault(band, set()).add(entry.card_id)
        if entry.kind not in _MONEY or month not in wanted:
            continue
        shop = entry.shop_id or UNKNOWN
        groups = (result.total, _row(result.by_shop, shop),
                  _row(result.by_shop_type, committee.shop_type(caisse_id, shop) or UNKNOWN),
                  _row(result.by_month, month), _row(result.by_income_band, band))
        if entry.kind is EntryKind.REFUNDED:
            for spend in groups:
                spend.refunded_cents += entry.amount_cents
            continue
        amount = -entry.amount_cents
        joined, local, organic = _spread(amount, tickets.get(entry.ticket_id or ""), product_of)
        for spend in groups:
            spend.redeemed_cents += amount
            spend.redemptions += 1
            spend.joined_cents += joined
            spend.local_cents += local
            spend.organic_cents += organic
    result.households_by_band = {band: len(cards) for band, cards in credited_cards.items()}
    for contribution in contributions:
        if contribution.caisse_id == caisse_id and contribution.month in wanted:
            band = contribution.income_band
            result.contributions_by_band[band] = (result.contributions_by_band.get(band, 0)
                                                  + contribution.amount_cents)
    return result


def _row(group: dict[str, Spend], key: str) -> Spend:
    return group.setdefault(key, Spend())


def _spread(amount: int, ticket: SaleRecorded | None, product_of: ProductOf
            ) -> tuple[int, int, int]:
    """(joined, local, organic) cents of a redemption paid on a ticket."""
    if ticket is None:
        return 0, 0, 0
    total = sum(line.paid_cents for line in ticket.lines)
    if total <= 0:
        return 0, 0, 0
    local = organic = 0
    for line in ticket.lines:
        product = product_of(ticket.shop_id, line)
        if product is None:
            continue
        if "local" in product.labels:
            local += line.paid_cents
        if product.organic:
            organic += line.paid_cents
    return amount, amount * local // total, amount * organic // total
