"""What a record must say to be handled at all, whoever produced it. Pure: no I/O, no clock.

The gateway validates what tills send over HTTP (services.sales.intake), but a till producing
straight to Kafka, a CSV import or a buggy integration can put any well-formed Avro record on
the bus. A consumer asks these checks first and rejects (dead-letters) a record that has a
problem, before it changes any state: such a record can never be handled, whatever the retry.

The bounds are the intake's (a quantity of at most 10**9 base units, a tonne of grams, keeps
every sum far inside an Avro long) and fixed times (no clock), so a replay judges a record as
the live path did. The generic checks are services/events/checks.py.
"""

from __future__ import annotations

from services.events.checks import (
    first,
    id_problem,
    quantity_problem,
    time_problem,
    timezone_problem,
)
from services.events.sales import SaleRecorded, SaleRefunded, ticket_id

MAX_CENTS = 100_000_000  # one amount, as the intake allows
MAX_LINES = 200


def cents_problem(name: str, value: int) -> str | None:
    if not 0 <= value <= MAX_CENTS:
        return f"{name} {value} is outside 0..{MAX_CENTS} cents"
    return None


def ticket_problem(event: SaleRecorded | SaleRefunded) -> str | None:
    """Why a ticket or refund cannot be handled, or None: ids, times, lines, amounts."""
    own_id = event.ticket_id if isinstance(event, SaleRecorded) else event.refund_id
    return first([
        id_problem("shop_id", event.shop_id),
        id_problem("till_id", event.till_id),
        None if 0 <= event.ticket_number else f"ticket_number {event.ticket_number} < 0",
        None if own_id == ticket_id(event.shop_id, event.till_id, event.ticket_number)
        else f"id {own_id!r} is not shop/till/number of the ticket",
        time_problem("occurred_at", event.occurred_at),
        timezone_problem(event.timezone),
        _refund_problem(event) if isinstance(event, SaleRefunded) else None,
        _lines_problem(event),
        _payments_problem(event),
    ])


def _refund_problem(event: SaleRefunded) -> str | None:
    if not event.original_ticket_id.startswith(f"{event.shop_id}/"):
        return "original_ticket_id is not a ticket of the same shop"
    if event.original_ticket_id == event.refund_id:
        return "a refund cannot correct itself"
    return None


def _lines_problem(event: SaleRecorded | SaleRefunded) -> str | None:
    if not 1 <= len(event.lines) <= MAX_LINES:
        return f"{len(event.lines)} lines, not 1..{MAX_LINES}"
    numbers = [line.line_number for line in event.lines]
    if len(set(numbers)) != len(numbers):
        return "two lines have the same line_number"
    for line in event.lines:
        money = (("unit_price_cents", line.unit_price_cents), ("paid_cents", line.paid_cents)) \
            if isinstance(event, SaleRecorded) else (("refunded_cents", line.refunded_cents),)
        problem = first([
            None if line.line_number >= 1 else f"line_number {line.line_number} < 1",
            id_problem(f"line {line.line_number} product_code", line.product_code),
            quantity_problem(f"line {line.line_number} quantity", line.quantity),
            *(cents_problem(f"line {line.line_number} {name}", value) for name, value in money),
        ])
        if problem:
            return problem
    return None


def _payments_problem(event: SaleRecorded | SaleRefunded) -> str | None:
    if not 1 <= len(event.payments) <= 10:
        return f"{len(event.payments)} payments, not 1..10"
    for payment in event.payments:
        problem = cents_problem("payment amount_cents", payment.amount_cents)
        if problem:
            return problem
        if payment.method.value == "CAISSE" and id_problem("card_id", payment.card_id):
            return "a CAISSE payment has no card_id"
    lines = sum(line.paid_cents if isinstance(event, SaleRecorded) else line.refunded_cents
                for line in event.lines)
    paid = sum(payment.amount_cents for payment in event.payments)
    if paid != lines:
        return f"payments add up to {paid} cents but the lines to {lines}"
    return None
