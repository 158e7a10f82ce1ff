"""What a till sends: validation that names fields, and the events it becomes. No broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.events.sales import PaymentMethod, QuantityUnit
from services.sales.intake import UPLOAD_WINDOW, RefundIn, SalesBatch, TicketIn

NOW = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)


def ticket(**changes) -> dict:
    body = {"shop_id": "lyon-graine", "till_id": "t1", "ticket_number": 7,
            "occurred_at": "2026-11-25T16:45:00+01:00",
            "lines": [{"product_code": "2001", "code_kind": "PLU", "label": "Poireaux",
                       "quantity": 500, "unit": "GRAM", "unit_price_cents": 300, "paid_cents": 45},
                      {"product_code": "INT-9", "label": "Pain", "quantity": 1, "unit": "PIECE",
                       "unit_price_cents": 350, "paid_cents": 70}],
            "payments": [{"method": "CASH", "amount_cents": 15},
                         {"method": "CAISSE", "amount_cents": 100, "card_id": "card-3f9a1c"}]}
    body.update(changes)
    return body


def locations(error: ValidationError) -> list[tuple]:
    return [e["loc"] for e in error.errors()]


def test_a_ticket_becomes_a_sale_with_a_stable_id_and_numbered_lines() -> None:
    sale = TicketIn.model_validate(ticket()).to_event()
    assert sale.ticket_id == "lyon-graine/t1/7"
    assert [line.line_number for line in sale.lines] == [1, 2]
    assert sale.lines[0].unit is QuantityUnit.GRAM
    assert sale.occurred_at == datetime(2026, 11, 25, 15, 45, tzinfo=UTC)
    assert sale.timezone == "Europe/Paris"
    assert sale.payments[1].method is PaymentMethod.CAISSE
    assert sale == TicketIn.model_validate(ticket()).to_event()  # same input, same event


@pytest.mark.parametrize(("change", "where"), [
    ({"ticket_number": -1}, ("ticket_number",)),
    ({"shop_id": "lyon graine"}, ("shop_id",)),
    ({"occurred_at": "2026-11-25T16:45:00"}, ("occurred_at",)),  # no offset: ambiguous
    ({"timezone": "Paris"}, ("timezone",)),
    ({"timezone": "Europe"}, ("timezone",)),  # a directory of the zone database
    ({"timezone": "x" * 10_000}, ("timezone",)),  # longer than a file name
    ({"lines": []}, ("lines",)),
    ({"payments": []}, ("payments",)),
])
def test_each_rule_names_its_field(change: dict, where: tuple) -> None:
    with pytest.raises(ValidationError) as caught:
        TicketIn.model_validate(ticket(**change))
    assert where in locations(caught.value)


def test_payments_must_add_up_to_what_was_paid() -> None:
    with pytest.raises(ValidationError, match="payments add up to 114 cents but the lines"):
        TicketIn.model_validate(ticket(payments=[{"method": "CASH", "amount_cents": 114}]))


def test_card_ids_belong_to_caisse_payments_only() -> None:
    with pytest.raises(ValidationError, match="card_id is required"):
        TicketIn.model_validate(ticket(payments=[{"method": "CAISSE", "amount_cents": 115}]))
    with pytest.raises(ValidationError, match="only for CAISSE"):
        TicketIn.model_validate(ticket(payments=[{"method": "CARD", "amount_cents": 115,
                                                  "card_id": "card-1"}]))


def test_a_refund_points_at_a_ticket_of_the_same_shop() -> None:
    refund = {"shop_id": "lyon-graine", "till_id": "t1", "ticket_number": 8,
              "occurred_at": "2026-11-25T17:00:00+01:00", "original_ticket_id": "lyon-graine/t1/7",
              "lines": [{"line_number": 2, "product_code": "INT-9", "quantity": 1,
                         "unit": "PIECE", "refunded_cents": 70}],
              "payments": [{"method": "CASH", "amount_cents": 70}]}
    event = RefundIn.model_validate(refund).to_event()
    assert (event.refund_id, event.original_ticket_id) == ("lyon-graine/t1/8", "lyon-graine/t1/7")
    with pytest.raises(ValidationError, match="same shop"):
        RefundIn.model_validate({**refund, "original_ticket_id": "autre/t1/7"})


def test_a_batch_finds_tickets_outside_the_upload_window() -> None:
    fresh = TicketIn.model_validate(ticket(occurred_at=(NOW - timedelta(days=2)).isoformat()))
    future = TicketIn.model_validate(ticket(occurred_at=(NOW + timedelta(hours=1)).isoformat()))
    stale = TicketIn.model_validate(ticket(occurred_at=(NOW - UPLOAD_WINDOW
                                                        - timedelta(days=1)).isoformat()))
    batch = SalesBatch(tickets=[fresh, future, stale])
    assert [(name, index) for name, index, _why in batch.out_of_window(NOW)] == [
        ("tickets", 1), ("tickets", 2)]
    assert batch.shops() == {"lyon-graine"}
    with pytest.raises(ValidationError, match="at least one"):
        SalesBatch()
