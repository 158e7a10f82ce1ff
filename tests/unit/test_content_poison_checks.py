"""The pure checks that keep a record's content from stopping a service (issue 14): what a
ticket, a stock record, a need, a request and an offer must say to be handled at all."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from services.demand.sources import Unfoldable, foldable
from services.events.orders import ActorRole, NeedStated, OrderAction, OrderCommanded
from services.events.sales import QuantityUnit
from services.events.stock import DeliveryReceived, ReorderPointSet, StockCounted
from services.orders.checks import command_problem, need_problem
from services.sales.checks import ticket_problem
from services.stock import ledger
from tests.support import sale

FAR = datetime(9999, 12, 31, 23, 30, tzinfo=UTC)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _line(ticket, **changes):
    return ticket.model_copy(update={"lines": (ticket.lines[0].model_copy(update=changes),
                                               *ticket.lines[1:])})


def test_a_sound_ticket_has_no_problem() -> None:
    assert ticket_problem(sale()) is None


@pytest.mark.parametrize(("poison", "said"), [
    (lambda t: t.model_copy(update={"occurred_at": FAR}), "occurred_at"),
    (lambda t: t.model_copy(update={"shop_id": ""}), "shop_id is empty"),
    (lambda t: t.model_copy(update={"ticket_id": "other/t1/1"}), "is not shop/till/number"),
    (lambda t: t.model_copy(update={"timezone": "Mars/Olympus"}), "timezone"),
    (lambda t: _line(t, quantity=-5), "quantity -5"),
    (lambda t: _line(t, quantity=2**63 - 1), "quantity"),
    (lambda t: _line(t, line_number=2), "same line_number"),
    (lambda t: t.model_copy(update={"payments": t.payments[:1]}), "payments add up"),
    (lambda t: t.model_copy(update={"lines": ()}), "0 lines"),
])
def test_a_poisoned_ticket_is_named(poison, said) -> None:
    problem = ticket_problem(poison(sale()))
    assert problem is not None and said in problem


def _count(quantity: int, **changes) -> StockCounted:
    return StockCounted(count_id="c1", shop_id="s", product_id="p", quantity=quantity,
                        unit=QuantityUnit.GRAM, counted_at=NOW).model_copy(update=changes)


def test_stock_records_out_of_bounds_are_named_and_a_zero_count_is_not() -> None:
    assert ledger.record_problem(_count(0)) is None
    assert "quantity -1" in ledger.record_problem(_count(-1))
    assert "product_id is empty" in ledger.record_problem(_count(5, product_id=""))
    assert "counted_at" in ledger.record_problem(_count(5, counted_at=FAR))
    assert ledger.record_problem(DeliveryReceived(
        delivery_id="d", shop_id="s", product_id="p", quantity=0, unit=QuantityUnit.GRAM,
        received_at=NOW)) is not None
    assert "reorder_point" in ledger.record_problem(ReorderPointSet(
        shop_id="s", product_id="p", reorder_point=-1, set_at=NOW))


def test_a_movement_that_would_overflow_a_long_changes_nothing() -> None:
    level = ledger.StockLevel("s", "p", on_hand=2**63 - 10)
    movement = ledger.Movement("m", "s", "p", ledger.MovementKind.DELIVERY, 100, NOW,
                               ledger.SourcePosition("t", 0, 1))
    with pytest.raises(ledger.Unappliable):
        ledger.apply(level, movement)
    count = ledger.Movement("c", "s", "p", ledger.MovementKind.COUNT, 10, NOW,
                            ledger.SourcePosition("t", 0, 2))
    with pytest.raises(ledger.Unappliable):  # the count's delta would not fit
        ledger.apply(ledger.StockLevel("s", "p", on_hand=-(2**63) + 1), count)


def _need(**changes) -> NeedStated:
    return NeedStated(need_id="n", shop_id="s", territory="t", product_id="p", quantity=1000,
                      unit=QuantityUnit.GRAM, delivery_slot=date(2026, 12, 1), stated_at=NOW
                      ).model_copy(update=changes)


def test_needs_and_requests_that_can_never_be_carried_out_are_named() -> None:
    assert need_problem(_need()) is None
    assert "quantity" in need_problem(_need(quantity=-5))
    assert "delivery_slot" in need_problem(_need(delivery_slot=date(9999, 12, 31)))
    assert "shop_id" in need_problem(_need(shop_id=""))
    consolidate = OrderCommanded(command_id="c", territory="t",
                                 action=OrderAction.CONSOLIDATE, delivery_slot=date(2026, 12, 1),
                                 actor_role=ActorRole.HUB, actor_id="t", hub_lat_e6=45_000_000,
                                 hub_lon_e6=4_000_000, commanded_at=NOW)
    assert command_problem(consolidate) is None
    assert "location" in command_problem(consolidate.model_copy(update={"hub_lat_e6": None}))
    assert "microdegrees" in command_problem(consolidate.model_copy(
        update={"hub_lon_e6": 2**31 - 1}))
    confirm = consolidate.model_copy(update={"action": OrderAction.CONFIRM, "order_id": ""})
    assert "order_id" in command_problem(confirm)


def test_the_demand_fold_refuses_what_it_cannot_fold() -> None:
    def refs(timezone: str) -> SimpleNamespace:
        return SimpleNamespace(
            shop=lambda s: SimpleNamespace(shop_id=s, territory="t", timezone=timezone),
            products_of=lambda _s: lambda _code: "p")
    assert foldable(refs("Europe/Paris"), "sales.tickets", sale().model_dump(), 0, 1) is not None
    with pytest.raises(Unfoldable, match="timezone|key"):
        foldable(refs("Mars/Olympus"), "sales.tickets", sale().model_dump(), 0, 1)
    with pytest.raises(Unfoldable, match="quantity"):
        foldable(refs("Europe/Paris"), "sales.tickets",
                 _line(sale(), quantity=2**63 - 1).model_dump(), 0, 1)
