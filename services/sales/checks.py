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

from collections.abc import Mapping, Sequence
from typing import Any

from services.events.checks import (
    MAX_QUANTITY,
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
    return record_problem(event.model_dump(), refund=isinstance(event, SaleRefunded))


def record_problem(record: Mapping[str, Any], *, refund: bool) -> str | None:
    """`ticket_problem` of a ticket (or, `refund`, a refund) in its Avro form, as a reader
    decodes it: a consumer folding records in bulk checks them without building events."""
    own_id = record["refund_id" if refund else "ticket_id"]
    shop_id, till_id, number = record["shop_id"], record["till_id"], record["ticket_number"]
    paid = "refunded_cents" if refund else "paid_cents"
    return (id_problem("shop_id", shop_id)  # the first problem, each asked only when none before
            or id_problem("till_id", till_id)
            or (None if 0 <= number else f"ticket_number {number} < 0")
            or (None if own_id == ticket_id(shop_id, till_id, number)
                else f"id {own_id!r} is not shop/till/number of the ticket")
            or time_problem("occurred_at", record["occurred_at"])
            or timezone_problem(record["timezone"])
            or (_refund_problem(record) if refund else None)
            or _lines_problem(record["lines"], paid)
            or _payments_problem(record, paid))


def _refund_problem(record: Mapping[str, Any]) -> str | None:
    if not record["original_ticket_id"].startswith(f"{record['shop_id']}/"):
        return "original_ticket_id is not a ticket of the same shop"
    if record["original_ticket_id"] == record["refund_id"]:
        return "a refund cannot correct itself"
    return None


def _lines_problem(lines: Sequence[Mapping[str, Any]], paid: str) -> str | None:
    if not 1 <= len(lines) <= MAX_LINES:
        return f"{len(lines)} lines, not 1..{MAX_LINES}"
    if len({line["line_number"] for line in lines}) != len(lines):
        return "two lines have the same line_number"
    money = ("unit_price_cents", paid) if paid == "paid_cents" else (paid,)
    price = money[0]
    for line in lines:
        if (line["line_number"] >= 1 and 1 <= line["quantity"] <= MAX_QUANTITY
                and 0 <= line[paid] <= MAX_CENTS and 0 <= line[price] <= MAX_CENTS
                and id_problem("", line["product_code"]) is None):
            continue  # the common case, told without building a message
        number = line["line_number"]
        return first([
            None if number >= 1 else f"line_number {number} < 1",
            id_problem(f"line {number} product_code", line["product_code"]),
            quantity_problem(f"line {number} quantity", line["quantity"]),
            *(cents_problem(f"line {number} {name}", line[name]) for name in money),
        ])
    return None


def _payments_problem(record: Mapping[str, Any], paid: str) -> str | None:
    payments = record["payments"]
    if not 1 <= len(payments) <= 10:
        return f"{len(payments)} payments, not 1..10"
    for payment in payments:
        problem = cents_problem("payment amount_cents", payment["amount_cents"])
        if problem:
            return problem
        if payment["method"] == "CAISSE" and id_problem("card_id", payment["card_id"]):
            return "a CAISSE payment has no card_id"
    lines = sum(line[paid] for line in record["lines"])
    total = sum(payment["amount_cents"] for payment in payments)
    if total != lines:
        return f"payments add up to {total} cents but the lines to {lines}"
    return None
