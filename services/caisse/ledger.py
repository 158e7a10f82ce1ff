"""One partition of the caisse ledger: the accounts of its cards, decided and folded. Pure.

`Ledger.handle(request)` decides a request against the accounts and returns the entries it
writes and the answer; the entries are applied through `Ledger.apply`, the same fold that
rebuilds a partition's accounts from its entries after a restart. So live processing and
recovery cannot disagree, and everything the ledger remembers is in its entries:

- a balance is the sum of its card's entry amounts, and no entry takes it below zero;
- every request about a card leaves at least one entry carrying its request id (a decline too),
  so a repeated request finds its first answer and changes nothing;
- a redemption is identified by its shop and the shop's redemption id, and is applied once:
  asked again under another request id, it is a repeat too and gets the answer that applied it
  (nothing written; the asker sees that answer's card and amount, as for any repeat);
  refunds of it never exceed it;
- a month is credited once per card: a card remembers the last month credited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from services.caisse import checks
from services.caisse import rules as caisse_rules
from services.events.caisse import (
    AllowanceRules,
    CaisseRequested,
    DeclineReason,
    EntryKind,
    Household,
    LedgerEntryRecorded,
    Outcome,
    RequestAnswered,
    RequestKind,
)

UNKNOWN_CAISSE = ""  # the caisse of an entry about a card nobody enrolled


class LedgerCorrupt(Exception):
    """Entries that no writer of this ledger could have produced (e.g. a broken balance)."""


class Policy(Protocol):
    """What the ledger asks the committee's decisions."""

    def shop_approved(self, caisse_id: str, shop_id: str, moment: datetime) -> bool: ...

    def rules_for_month(self, caisse_id: str, month: str) -> AllowanceRules | None: ...


class CardStatus(StrEnum):
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"
    LEFT = "LEFT"


@dataclass(frozen=True)
class Account:
    card_id: str
    caisse_id: str
    household: Household
    status: CardStatus = CardStatus.ACTIVE
    balance_cents: int = 0
    last_month: str | None = None  # the last month credited


@dataclass(frozen=True)
class Redemption:
    card_id: str
    shop_id: str
    amount_cents: int
    request_id: str  # the request that applied it: its answer is the redemption's
    refunded_cents: int = 0


def redemption_request_id(shop_id: str, redemption_id: str) -> str:
    """A redemption's request id: the shop's own id, scoped by the shop."""
    return f"redeem/{shop_id}/{redemption_id}"


def refund_request_id(shop_id: str, refund_id: str) -> str:
    return f"refund/{shop_id}/{refund_id}"


def credit_request_id(caisse_id: str, month: str, partition: int) -> str:
    """A month's credit is asked of every partition, each under its own id."""
    return f"credit/{caisse_id}/{month}/p{partition}"


_ANSWERING = {  # entry kinds that answer their request, and how
    EntryKind.ENROLLED: Outcome.DONE, EntryKind.UPDATED: Outcome.DONE,
    EntryKind.BLOCKED: Outcome.DONE, EntryKind.UNBLOCKED: Outcome.DONE,
    EntryKind.LEFT: Outcome.DONE, EntryKind.REDEEMED: Outcome.AUTHORIZED,
    EntryKind.REFUNDED: Outcome.AUTHORIZED, EntryKind.DECLINED: Outcome.DECLINED,
}


class Ledger:
    """The accounts of one partition's cards, the redemptions they made, the answers given."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.redemptions: dict[tuple[str, str], Redemption] = {}  # by (shop, redemption id)
        # the answer given to each request id (credits excepted: see handle)
        self.answers: dict[str, RequestAnswered] = {}
        self.entries_applied = 0

    @classmethod
    def fold(cls, entries: Iterable[LedgerEntryRecorded]) -> Ledger:
        ledger = cls()
        for entry in entries:
            ledger.apply(entry)
        return ledger

    # -- deciding -------------------------------------------------------------------------

    def handle(self, request: CaisseRequested, policy: Policy, now: datetime
               ) -> tuple[list[LedgerEntryRecorded], RequestAnswered]:
        """Decide a request: the entries to write (already applied here) and the answer."""
        known = self.answers.get(request.request_id)
        problem = checks.request_problem(request)
        if problem is not None:
            return self.decline_invalid(request, now)  # or the answer already given
        if known is not None and request.kind is not RequestKind.CREDIT_MONTH:
            return [], known  # a repeat: same answer, nothing written
        if request.kind is RequestKind.REDEEM:
            applied = self.redemptions.get((request.shop_id or "", request.redemption_id or ""))
            if applied is not None:  # the same payment under another request id: a repeat
                first = self.answers[applied.request_id]
                return [], first.model_copy(update={"request_id": request.request_id})
        decide = {
            RequestKind.REDEEM: self._redeem, RequestKind.REFUND: self._refund,
            RequestKind.ENROL: self._enrol, RequestKind.BLOCK: self._status,
            RequestKind.UNBLOCK: self._status, RequestKind.LEAVE: self._status,
        }
        if request.kind is RequestKind.CREDIT_MONTH:
            # Idempotent per card and month by itself, so nothing to remember: asked again, it
            # credits only the cards enrolled since.
            return self._credit_month(request, policy, now)
        entry = decide[request.kind](request, policy, now)
        self.apply(entry)
        return [entry], self.answers[request.request_id]

    def decline_invalid(self, request: CaisseRequested, now: datetime
                        ) -> tuple[list[LedgerEntryRecorded], RequestAnswered]:
        """Decline a request that cannot be decided as it stands (INVALID_REQUEST): written
        like any decline, so the asker has a definite answer and a repeat gets it again. An
        answer already given stands (a refusal never overwrites it)."""
        known = self.answers.get(request.request_id)
        if known is not None:
            return [], known
        entry = self._decline(request, now, DeclineReason.INVALID_REQUEST)
        self.apply(entry)
        return [entry], self.answers[request.request_id]

    def _entry(self, request: CaisseRequested, now: datetime, kind: EntryKind, *,
               card_id: str | None = None, caisse_id: str | None = None, amount: int = 0,
               reason: DeclineReason | None = None,
               household: Household | None = None, month: str | None = None
               ) -> LedgerEntryRecorded:
        card = card_id or request.card_id or ""
        account = self.accounts.get(card)
        if caisse_id is None:
            caisse_id = account.caisse_id if account else (request.caisse_id or UNKNOWN_CAISSE)
        balance = (account.balance_cents if account else 0) + amount
        return LedgerEntryRecorded(
            entry_id=f"{request.request_id}/{card}/{kind.value}", request_id=request.request_id,
            card_id=card, caisse_id=caisse_id, kind=kind, request_kind=request.kind,
            amount_cents=amount, balance_cents=balance, requested_cents=request.amount_cents,
            shop_id=request.shop_id, ticket_id=request.ticket_id,
            redemption_id=request.redemption_id, refund_id=request.refund_id, month=month,
            reason=reason, household=household, occurred_at=request.requested_at,
            recorded_at=now)

    def _decline(self, request: CaisseRequested, now: datetime,
                 reason: DeclineReason) -> LedgerEntryRecorded:
        return self._entry(request, now, EntryKind.DECLINED, reason=reason)

    def _redeem(self, request: CaisseRequested, policy: Policy,
                now: datetime) -> LedgerEntryRecorded:
        account = self.accounts.get(request.card_id or "")
        if checks.amount_problem(request.amount_cents):
            return self._decline(request, now, DeclineReason.INVALID_AMOUNT)
        if account is None:
            return self._decline(request, now, DeclineReason.UNKNOWN_CARD)
        if account.status is not CardStatus.ACTIVE:
            return self._decline(request, now, DeclineReason.CARD_BLOCKED)
        if not policy.shop_approved(account.caisse_id, request.shop_id or "",
                                    request.requested_at):
            return self._decline(request, now, DeclineReason.SHOP_NOT_APPROVED)
        if request.amount_cents > account.balance_cents:
            return self._decline(request, now, DeclineReason.INSUFFICIENT_BALANCE)
        return self._entry(request, now, EntryKind.REDEEMED, amount=-request.amount_cents)

    def _refund(self, request: CaisseRequested, _policy: Policy,
                now: datetime) -> LedgerEntryRecorded:
        redemption = self.redemptions.get((request.shop_id or "", request.redemption_id or ""))
        if redemption is None or redemption.card_id != request.card_id:
            return self._decline(request, now, DeclineReason.UNKNOWN_REDEMPTION)
        if checks.amount_problem(request.amount_cents):
            return self._decline(request, now, DeclineReason.INVALID_AMOUNT)
        if redemption.refunded_cents + request.amount_cents > redemption.amount_cents:
            return self._decline(request, now, DeclineReason.REFUND_EXCEEDS_REDEMPTION)
        return self._entry(request, now, EntryKind.REFUNDED, amount=request.amount_cents)

    def _enrol(self, request: CaisseRequested, _policy: Policy,
               now: datetime) -> LedgerEntryRecorded:
        assert request.household is not None and request.caisse_id is not None  # checked
        account = self.accounts.get(request.card_id or "")
        if account is not None and account.caisse_id != request.caisse_id:
            return self._decline(request, now, DeclineReason.UNKNOWN_CARD)
        kind = (EntryKind.UPDATED if account is not None and account.status is not CardStatus.LEFT
                else EntryKind.ENROLLED)
        return self._entry(request, now, kind, caisse_id=request.caisse_id,
                           household=request.household)

    def _status(self, request: CaisseRequested, _policy: Policy,
                now: datetime) -> LedgerEntryRecorded:
        account = self.accounts.get(request.card_id or "")
        if account is None or account.caisse_id != request.caisse_id:
            return self._decline(request, now, DeclineReason.UNKNOWN_CARD)  # not one of its cards
        kind = {RequestKind.BLOCK: EntryKind.BLOCKED, RequestKind.UNBLOCK: EntryKind.UNBLOCKED,
                RequestKind.LEAVE: EntryKind.LEFT}[request.kind]
        return self._entry(request, now, kind)

    def _credit_month(self, request: CaisseRequested, policy: Policy, now: datetime
                      ) -> tuple[list[LedgerEntryRecorded], RequestAnswered]:
        caisse_id, month = request.caisse_id or "", request.month or ""
        rules = policy.rules_for_month(caisse_id, month)
        if rules is None:
            return [], RequestAnswered(request_id=request.request_id, kind=request.kind,
                                       outcome=Outcome.DECLINED, reason=DeclineReason.NO_RULES,
                                       answered_at=now)
        written: list[LedgerEntryRecorded] = []
        for card_id in sorted(self.accounts):
            account = self.accounts[card_id]
            if account.caisse_id != caisse_id or account.status is CardStatus.LEFT or (
                    account.last_month is not None and account.last_month >= month):
                continue
            kept = carried_over_if_new_month(rules, account)
            if kept < account.balance_cents:
                written.append(self._entry(request, now, EntryKind.EXPIRED, card_id=card_id,
                                           amount=kept - account.balance_cents,
                                           month=account.last_month))
                self.apply(written[-1])
            written.append(self._entry(
                request, now, EntryKind.CREDITED, card_id=card_id, month=month,
                amount=caisse_rules.allowance_cents(rules, account.household)))
            self.apply(written[-1])
        credited = [e for e in written if e.kind is EntryKind.CREDITED]
        return written, RequestAnswered(
            request_id=request.request_id, kind=request.kind, outcome=Outcome.DONE,
            amount_cents=sum(e.amount_cents for e in credited), entries=len(credited),
            answered_at=now)

    # -- folding --------------------------------------------------------------------------

    def apply(self, entry: LedgerEntryRecorded) -> None:
        """Fold one entry into the accounts (the only way they change)."""
        account = self.accounts.get(entry.card_id)
        kind = entry.kind
        if kind is EntryKind.ENROLLED:
            if entry.household is None:
                raise LedgerCorrupt(f"{entry.entry_id}: enrolment without a household")
            before = account.balance_cents if account else 0
            account = Account(entry.card_id, entry.caisse_id, entry.household,
                              balance_cents=before,
                              last_month=account.last_month if account else None)
        elif kind is EntryKind.DECLINED:
            pass
        elif account is None:
            raise LedgerCorrupt(f"{entry.entry_id}: {kind.value} for an unknown card")
        elif kind is EntryKind.UPDATED:
            account = replace(account, household=entry.household or account.household)
        elif kind in (EntryKind.BLOCKED, EntryKind.UNBLOCKED, EntryKind.LEFT):
            account = replace(account, status={EntryKind.BLOCKED: CardStatus.BLOCKED,
                                               EntryKind.UNBLOCKED: CardStatus.ACTIVE,
                                               EntryKind.LEFT: CardStatus.LEFT}[kind])
        elif kind is EntryKind.CREDITED:
            account = replace(account, last_month=entry.month)
        if account is not None and entry.amount_cents:
            account = self._moved(account, entry)
        if account is not None:
            self.accounts[entry.card_id] = account
        self._remember(entry)
        self.entries_applied += 1

    def _moved(self, account: Account, entry: LedgerEntryRecorded) -> Account:
        balance = account.balance_cents + entry.amount_cents
        if balance != entry.balance_cents or balance < 0:
            raise LedgerCorrupt(f"{entry.entry_id}: balance {account.balance_cents} + "
                                f"{entry.amount_cents} is not {entry.balance_cents}, or below 0")
        return replace(account, balance_cents=balance)

    def _remember(self, entry: LedgerEntryRecorded) -> None:
        key = (entry.shop_id or "", entry.redemption_id or "")
        if entry.kind is EntryKind.REDEEMED:
            if key in self.redemptions:
                raise LedgerCorrupt(f"{entry.entry_id}: redemption {key} applied twice")
            self.redemptions[key] = Redemption(entry.card_id, key[0], -entry.amount_cents,
                                               entry.request_id)
        elif entry.kind is EntryKind.REFUNDED:
            redemption = self.redemptions.get(key)
            if redemption is None or (redemption.refunded_cents + entry.amount_cents
                                      > redemption.amount_cents):
                raise LedgerCorrupt(f"{entry.entry_id}: refund beyond its redemption")
            self.redemptions[key] = replace(
                redemption, refunded_cents=redemption.refunded_cents + entry.amount_cents)
        outcome = _ANSWERING.get(entry.kind)
        if outcome is not None:
            self.answers[entry.request_id] = RequestAnswered(
                request_id=entry.request_id, kind=entry.request_kind, outcome=outcome,
                reason=entry.reason, card_id=entry.card_id, shop_id=entry.shop_id,
                redemption_id=entry.redemption_id, refund_id=entry.refund_id,
                amount_cents=entry.requested_cents, balance_cents=entry.balance_cents,
                entries=1, answered_at=entry.recorded_at)


def carried_over_if_new_month(rules: AllowanceRules, account: Account) -> int:
    """What of the balance stays when a new month is credited (all of it before the first)."""
    if account.last_month is None:
        return account.balance_cents
    return caisse_rules.carried_over(rules, account.balance_cents)
