"""The caisse alimentaire commune: requests to the caisse, its ledger, its answers, the
committee's decisions, contributions and monthly settlements. Wire form: schemas/caisse/*.avsc.

Members are pseudonymous card ids: no name or contact ever appears here. Money is integer cents
of the caisse's currency (euros, or a local currency such as the MonA, also counted in cents).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from services.events.base import Event, WireTime


class RequestKind(StrEnum):
    REDEEM = "REDEEM"  # a shop asks to take an amount from a card at checkout
    REFUND = "REFUND"  # a shop gives back (part of) an earlier redemption
    ENROL = "ENROL"  # the committee enrols a household, or updates its composition
    BLOCK = "BLOCK"  # a card is blocked (lost, misuse): it can no longer pay
    UNBLOCK = "UNBLOCK"
    LEAVE = "LEAVE"  # the household leaves the caisse: no more monthly credit
    CREDIT_MONTH = "CREDIT_MONTH"  # credit a month's allowance to every household of a caisse


class EntryKind(StrEnum):
    ENROLLED = "ENROLLED"
    UPDATED = "UPDATED"
    BLOCKED = "BLOCKED"
    UNBLOCKED = "UNBLOCKED"
    LEFT = "LEFT"
    CREDITED = "CREDITED"
    EXPIRED = "EXPIRED"
    REDEEMED = "REDEEMED"
    REFUNDED = "REFUNDED"
    DECLINED = "DECLINED"


class Outcome(StrEnum):
    AUTHORIZED = "AUTHORIZED"  # a redemption or refund was applied
    DECLINED = "DECLINED"  # it was not, for the reason given
    DONE = "DONE"  # a registry request or a monthly credit was carried out


class DeclineReason(StrEnum):
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    SHOP_NOT_APPROVED = "SHOP_NOT_APPROVED"
    CARD_BLOCKED = "CARD_BLOCKED"
    UNKNOWN_CARD = "UNKNOWN_CARD"
    UNKNOWN_REDEMPTION = "UNKNOWN_REDEMPTION"
    REFUND_EXCEEDS_REDEMPTION = "REFUND_EXCEEDS_REDEMPTION"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    NO_RULES = "NO_RULES"
    INVALID_REQUEST = "INVALID_REQUEST"  # the request cannot be decided as it stands


class CarryOver(StrEnum):
    NONE = "NONE"  # what is left at the end of a month expires
    FULL = "FULL"  # everything left carries over
    CAPPED = "CAPPED"  # carries over up to a cap


class DecisionKind(StrEnum):
    APPROVE_SHOP = "APPROVE_SHOP"
    SUSPEND_SHOP = "SUSPEND_SHOP"
    APPROVE_PRODUCER = "APPROVE_PRODUCER"
    SUSPEND_PRODUCER = "SUSPEND_PRODUCER"
    SET_RULES = "SET_RULES"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Household(_Part):
    """What the allowance depends on, and the income band reports group by."""

    adults: int
    children: int
    income_band: str


class ContributionStep(_Part):
    """One step of the sliding scale: what a household of this income band is asked to give."""

    income_band: str
    suggested_cents: int


class AllowanceRules(_Part):
    """A caisse's rules, as data: allowance = base + per extra adult + per child."""

    currency: str
    base_cents: int
    per_extra_adult_cents: int
    per_child_cents: int
    carry_over: CarryOver
    carry_over_cap_cents: int | None = None
    contribution_scale: tuple[ContributionStep, ...] = ()
    timezone: str = "Europe/Paris"


class CaisseRequested(Event):
    """A request to the caisse service, keyed by card: one writer per card at a time."""

    schema_name: ClassVar[str] = "org.vivres.caisse.CaisseRequested"
    id_field: ClassVar[str | None] = "request_id"
    time_field: ClassVar[str] = "requested_at"

    request_id: str
    kind: RequestKind
    caisse_id: str | None = None
    card_id: str | None = None
    shop_id: str | None = None
    amount_cents: int = 0
    ticket_id: str | None = None
    redemption_id: str | None = None
    refund_id: str | None = None
    household: Household | None = None
    month: str | None = None
    requested_at: WireTime
    requested_by: str

    @property
    def routing_key(self) -> str:
        """The card; a monthly credit goes to every partition and is keyed by its caisse."""
        return self.card_id or f"caisse/{self.caisse_id}"

    @property
    def event_source(self) -> str:
        return f"/caisse/{self.caisse_id or 'any'}/requests"


class LedgerEntryRecorded(Event):
    """One entry of a card's account: every balance change, and every decline, in order."""

    schema_name: ClassVar[str] = "org.vivres.caisse.LedgerEntryRecorded"
    id_field: ClassVar[str | None] = "entry_id"
    time_field: ClassVar[str] = "occurred_at"

    entry_id: str
    request_id: str
    card_id: str
    caisse_id: str
    kind: EntryKind
    request_kind: RequestKind
    amount_cents: int
    balance_cents: int
    requested_cents: int
    shop_id: str | None = None
    ticket_id: str | None = None
    redemption_id: str | None = None
    refund_id: str | None = None
    month: str | None = None
    reason: DeclineReason | None = None
    household: Household | None = None
    occurred_at: WireTime
    recorded_at: WireTime

    @property
    def event_source(self) -> str:
        return f"/caisse/{self.caisse_id}/ledger"


class RequestAnswered(Event):
    """The caisse's answer to one request. A repeated request gets the same answer again."""

    schema_name: ClassVar[str] = "org.vivres.caisse.RequestAnswered"
    time_field: ClassVar[str] = "answered_at"

    request_id: str
    kind: RequestKind
    outcome: Outcome
    reason: DeclineReason | None = None
    card_id: str | None = None
    shop_id: str | None = None
    redemption_id: str | None = None
    refund_id: str | None = None
    amount_cents: int = 0
    balance_cents: int | None = None
    entries: int = 0
    answered_at: WireTime

    @property
    def routing_key(self) -> str:
        """The card; the request's id when the answer names no card."""
        return self.card_id or self.request_id

    @property
    def event_id(self) -> str:
        return f"answer/{self.request_id}"

    @property
    def event_source(self) -> str:
        return "/caisse/answers"


class DecisionRecorded(Event):
    """A decision of a caisse's citizen committee, with its vote."""

    schema_name: ClassVar[str] = "org.vivres.caisse.DecisionRecorded"
    id_field: ClassVar[str | None] = "decision_id"
    time_field: ClassVar[str] = "decided_at"

    decision_id: str
    caisse_id: str
    kind: DecisionKind
    subject_id: str | None = None
    shop_type: str | None = None
    effective_on: date
    criteria: tuple[str, ...]
    votes_for: int
    votes_against: int
    votes_abstain: int
    rules: AllowanceRules | None = None
    note: str | None = None
    decided_at: WireTime

    @property
    def event_source(self) -> str:
        return f"/caisse/{self.caisse_id}/committee"


class ContributionRecorded(Event):
    """What a household gave to the caisse for a month (sliding scale, self-assessed)."""

    schema_name: ClassVar[str] = "org.vivres.caisse.ContributionRecorded"
    id_field: ClassVar[str | None] = "contribution_id"
    time_field: ClassVar[str] = "recorded_at"

    contribution_id: str
    caisse_id: str
    card_id: str
    month: str
    amount_cents: int
    income_band: str
    recorded_at: WireTime

    @property
    def event_source(self) -> str:
        return f"/caisse/{self.caisse_id}/contributions"


class SettlementRecorded(Event):
    """What the caisse owes a shop for a month: its redemptions less its refunds."""

    schema_name: ClassVar[str] = "org.vivres.caisse.SettlementRecorded"
    time_field: ClassVar[str] = "computed_at"

    caisse_id: str
    shop_id: str
    month: str
    currency: str
    redeemed_cents: int
    refunded_cents: int
    net_cents: int
    redemptions: int
    refunds: int
    computed_at: WireTime

    @property
    def settlement_key(self) -> str:
        """`<caisse_id>/<month>/<shop_id>`: one settlement per caisse, month and shop."""
        return settlement_key(self.caisse_id, self.month, self.shop_id)

    @property
    def event_id(self) -> str:
        return f"settlement/{self.settlement_key}/{int(self.computed_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/caisse/{self.caisse_id}/settlements"


def settlement_key(caisse_id: str, month: str, shop_id: str) -> str:
    return f"{caisse_id}/{month}/{shop_id}"
