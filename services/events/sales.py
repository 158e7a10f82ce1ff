"""Till events: a ticket recorded, a ticket refunded. Their wire form is schemas/sales/*.avsc."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from services.events.base import Event, WireTime


class CodeKind(StrEnum):
    PLU = "PLU"
    EAN = "EAN"
    INTERNAL = "INTERNAL"


class QuantityUnit(StrEnum):
    PIECE = "PIECE"
    GRAM = "GRAM"
    MILLILITRE = "MILLILITRE"


class PaymentMethod(StrEnum):
    CASH = "CASH"
    CARD = "CARD"
    CAISSE = "CAISSE"
    VOUCHER = "VOUCHER"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SaleLine(_Part):
    line_number: int
    product_code: str
    code_kind: CodeKind
    label: str
    quantity: int
    unit: QuantityUnit
    unit_price_cents: int
    paid_cents: int


class Payment(_Part):
    method: PaymentMethod
    amount_cents: int
    card_id: str | None = None


class RefundLine(_Part):
    line_number: int
    product_code: str
    code_kind: CodeKind
    quantity: int
    unit: QuantityUnit
    refunded_cents: int


class RefundPayment(_Part):
    method: PaymentMethod
    amount_cents: int
    card_id: str | None = None


def ticket_id(shop_id: str, till_id: str, ticket_number: int) -> str:
    """The stable id of a till ticket: the same ticket always gets the same id."""
    return f"{shop_id}/{till_id}/{ticket_number}"


class _TillTicket(Event):
    time_field: ClassVar[str] = "occurred_at"
    shop_id: str
    till_id: str
    ticket_number: int
    occurred_at: WireTime
    timezone: str

    @property
    def event_source(self) -> str:
        return f"/shops/{self.shop_id}/tills/{self.till_id}"


class SaleRecorded(_TillTicket):
    """A till ticket as recorded."""

    schema_name: ClassVar[str] = "org.vivres.sales.SaleRecorded"
    id_field: ClassVar[str | None] = "ticket_id"

    ticket_id: str
    lines: tuple[SaleLine, ...]
    payments: tuple[Payment, ...]


class SaleRefunded(_TillTicket):
    """A refund ticket correcting an earlier sale."""

    schema_name: ClassVar[str] = "org.vivres.sales.SaleRefunded"
    id_field: ClassVar[str | None] = "refund_id"

    refund_id: str
    original_ticket_id: str
    reason: str | None = None
    lines: tuple[RefundLine, ...]
    payments: tuple[RefundPayment, ...]
