"""What a till sends, validated, and turned into events. Pure: no I/O, no clock.

A ticket is accepted whole or not at all: every rule here names the field it is about, so a till
(or a shop volunteer reading a CSV report) knows what to fix.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from services.events.checks import timezone_problem
from services.events.sales import (
    CodeKind,
    Payment,
    PaymentMethod,
    QuantityUnit,
    RefundLine,
    RefundPayment,
    SaleLine,
    SaleRecorded,
    SaleRefunded,
    ticket_id,
)

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Cents = Annotated[int, Field(ge=0, le=100_000_000)]
Quantity = Annotated[int, Field(gt=0, le=10**9, description="Pieces, grams or millilitres.")]
TicketNumber = Annotated[int, Field(ge=0, le=2**63 - 1)]  # an Avro long
MAX_FUTURE = timedelta(minutes=10)  # till clocks drift; beyond this a time is an error
UPLOAD_WINDOW = timedelta(days=60)  # how late a till may upload; repeats are caught within it
MAX_BATCH = 1000


class _In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PaymentIn(_In):
    method: PaymentMethod
    amount_cents: Cents
    card_id: Identifier | None = Field(
        None, description="Pseudonymous caisse card id; required for CAISSE, refused otherwise.")

    @model_validator(mode="after")
    def _card_only_for_caisse(self) -> Self:
        if self.method is PaymentMethod.CAISSE and not self.card_id:
            raise ValueError("card_id is required for a CAISSE payment")
        if self.method is not PaymentMethod.CAISSE and self.card_id:
            raise ValueError("card_id is only for CAISSE payments")
        return self


class _TicketBase(_In):
    shop_id: Identifier
    till_id: Identifier
    ticket_number: TicketNumber
    occurred_at: AwareDatetime = Field(description="When the till closed the ticket (RFC 3339 "
                                                   "with offset); kept as is on late uploads.")
    timezone: str = Field("Europe/Paris", description="The shop's IANA timezone.")
    payments: Annotated[list[PaymentIn], Field(min_length=1, max_length=10)]

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        problem = timezone_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @property
    def ticket_id(self) -> str:
        return ticket_id(self.shop_id, self.till_id, self.ticket_number)


def _check_total(payments: list[PaymentIn], expected: int, what: str) -> None:
    paid = sum(p.amount_cents for p in payments)
    if paid != expected:
        raise ValueError(f"payments add up to {paid} cents but the {what} add up to {expected}")


class LineIn(_In):
    product_code: Annotated[str, Field(min_length=1, max_length=64)]
    code_kind: CodeKind = CodeKind.INTERNAL
    label: Annotated[str, Field(max_length=200)] = ""
    quantity: Quantity
    unit: QuantityUnit
    unit_price_cents: Cents = Field(description="Market price per piece, kilogram or litre.")
    paid_cents: Cents = Field(description="What the shopper paid for the line.")


class TicketIn(_TicketBase):
    """A sale ticket as a till sends it."""

    lines: Annotated[list[LineIn], Field(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _payments_match_lines(self) -> Self:
        _check_total(self.payments, sum(line.paid_cents for line in self.lines), "lines")
        return self

    def to_event(self) -> SaleRecorded:
        return SaleRecorded(
            ticket_id=self.ticket_id, shop_id=self.shop_id, till_id=self.till_id,
            ticket_number=self.ticket_number, occurred_at=self.occurred_at,
            timezone=self.timezone,
            lines=tuple(SaleLine(line_number=n, **line.model_dump())
                        for n, line in enumerate(self.lines, start=1)),
            payments=tuple(Payment(**p.model_dump()) for p in self.payments),
        )


class RefundLineIn(_In):
    line_number: Annotated[int, Field(ge=1, le=10_000, description="The original ticket's line.")]
    product_code: Annotated[str, Field(min_length=1, max_length=64)]
    code_kind: CodeKind = CodeKind.INTERNAL
    quantity: Quantity
    unit: QuantityUnit
    refunded_cents: Cents


class RefundIn(_TicketBase):
    """A refund ticket: a correction of an earlier ticket of the same shop."""

    original_ticket_id: Annotated[str, Field(min_length=5, max_length=200)]
    reason: Annotated[str, Field(max_length=500)] | None = None
    lines: Annotated[list[RefundLineIn], Field(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.original_ticket_id.startswith(f"{self.shop_id}/"):
            raise ValueError("original_ticket_id must be a ticket of the same shop")
        _check_total(self.payments, sum(line.refunded_cents for line in self.lines), "lines")
        return self

    def to_event(self) -> SaleRefunded:
        return SaleRefunded(
            refund_id=self.ticket_id, original_ticket_id=self.original_ticket_id,
            shop_id=self.shop_id, till_id=self.till_id, ticket_number=self.ticket_number,
            occurred_at=self.occurred_at, timezone=self.timezone, reason=self.reason,
            lines=tuple(RefundLine(**line.model_dump()) for line in self.lines),
            payments=tuple(RefundPayment(**p.model_dump()) for p in self.payments),
        )


class SalesBatch(_In):
    """A till's upload: one request, many tickets (an offline till's backlog) and refunds."""

    tickets: Annotated[list[TicketIn], Field(max_length=MAX_BATCH)] = []
    refunds: Annotated[list[RefundIn], Field(max_length=MAX_BATCH)] = []

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.tickets and not self.refunds:
            raise ValueError("a batch needs at least one ticket or refund")
        return self

    def sold(self) -> list[tuple[str, datetime]]:
        """(shop, when) of every ticket and refund."""
        return [(t.shop_id, t.occurred_at) for t in self.tickets] + [
            (r.shop_id, r.occurred_at) for r in self.refunds]

    def shops(self) -> set[str]:
        return {t.shop_id for t in self.tickets} | {r.shop_id for r in self.refunds}

    def out_of_window(self, now: datetime) -> list[tuple[str, int, str]]:
        """(list name, index, why) of every ticket or refund dated in the future (beyond clock
        drift) or older than the upload window."""
        found = []
        for name, items in (("tickets", self.tickets), ("refunds", self.refunds)):
            for index, item in enumerate(items):
                if item.occurred_at > now + MAX_FUTURE:
                    found.append((name, index, "occurred_at is in the future"))
                elif item.occurred_at < now - UPLOAD_WINDOW:
                    found.append((name, index, f"occurred_at is older than the "
                                               f"{UPLOAD_WINDOW.days}-day upload window"))
        return found
