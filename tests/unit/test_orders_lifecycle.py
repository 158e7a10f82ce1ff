"""The order state machine: every legal step, every illegal one, and who may do what."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.events.sales import QuantityUnit
from services.orders.allocation import Order, OrderLine, ShopPart
from services.orders.lifecycle import (
    ROLE_OF,
    TRANSITIONS,
    Actor,
    Allocate,
    Cancel,
    Confirm,
    DeliveryReceived,
    Dispatch,
    IllegalTransition,
    NotAllowed,
    OrderAllocated,
    OrderCancelled,
    OrderCompleted,
    OrderConfirmed,
    OrderDispatched,
    OrderReceivedAtHub,
    OrderRefused,
    OrderShipped,
    OrderState,
    ReceiveAtHub,
    ReceiveAtShop,
    Refuse,
    Role,
    Ship,
    Status,
    Step,
    apply,
    new_order,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PRODUCER = Actor(Role.PRODUCER, "ferme-a")
HUB = Actor(Role.HUB, "lyon")
GRAINE = Actor(Role.SHOP, "graine")
ESCALE = Actor(Role.SHOP, "escale")


def line(product: str, parts: dict[str, int]) -> OrderLine:
    return OrderLine(product, f"ferme-a-{product}", QuantityUnit.GRAM, 1_000,
                     sum(parts.values()) // 1_000, sum(parts.values()), 300,
                     tuple(ShopPart(f"{shop}-{product}", shop, qty) for shop, qty in parts.items()),
                     ())


ORDER = Order("lyon/2026-12-03/ferme-a", "ferme-a", "lyon", date(2026, 12, 3),
              (line("carrots", {"graine": 4_000, "escale": 2_000}),
               line("leeks", {"graine": 3_000})))


def at(status: Status) -> OrderState:
    return OrderState(ORDER, status, (Step(status, T0, HUB),))


# The actor who may give each command on ORDER.
ACTOR_FOR = {Allocate: HUB, Confirm: PRODUCER, Refuse: PRODUCER, Ship: PRODUCER,
             ReceiveAtHub: HUB, Dispatch: HUB, ReceiveAtShop: GRAINE, Cancel: HUB}


def test_an_order_walks_from_needed_to_received_in_every_shop() -> None:
    state = new_order(ORDER, T0)
    assert state.status is Status.NEEDED
    walk = [(Allocate(HUB), Status.ALLOCATED, OrderAllocated),
            (Confirm(PRODUCER), Status.CONFIRMED, OrderConfirmed),
            (Ship(PRODUCER), Status.SHIPPED, OrderShipped),
            (ReceiveAtHub(HUB), Status.RECEIVED_AT_HUB, OrderReceivedAtHub),
            (Dispatch(HUB), Status.DISPATCHED, OrderDispatched)]
    for hours, (command, status, event_type) in enumerate(walk, 1):
        state, events = apply(state, command, T0 + timedelta(hours=hours))
        assert state.status is status
        (event,) = events
        assert type(event) is event_type
        assert (event.order_id, event.at, event.by) == (
            ORDER.order_id, T0 + timedelta(hours=hours), command.by)
    assert state.pending_shops == {"graine", "escale"}

    state, events = apply(state, ReceiveAtShop(ESCALE), T0 + timedelta(hours=9))
    assert state.status is Status.DISPATCHED and state.pending_shops == {"graine"}
    assert events == (DeliveryReceived(ORDER.order_id, T0 + timedelta(hours=9), ESCALE,
                                       "escale", "carrots", 2_000, QuantityUnit.GRAM),)
    assert events[0].delivery_id == "lyon/2026-12-03/ferme-a/escale/carrots"

    state, events = apply(state, ReceiveAtShop(GRAINE), T0 + timedelta(hours=10))
    assert state.status is Status.RECEIVED_AT_SHOP and state.pending_shops == frozenset()
    *received, completed = events
    assert [(e.shop_id, e.product_id, e.quantity) for e in received] == [
        ("graine", "carrots", 4_000), ("graine", "leeks", 3_000)]
    assert all(isinstance(e, DeliveryReceived) for e in received)
    assert completed == OrderCompleted(ORDER.order_id, T0 + timedelta(hours=10), GRAINE)
    assert [(s.status, s.by) for s in state.history] == [
        (Status.NEEDED, HUB), (Status.ALLOCATED, HUB), (Status.CONFIRMED, PRODUCER),
        (Status.SHIPPED, PRODUCER), (Status.RECEIVED_AT_HUB, HUB), (Status.DISPATCHED, HUB),
        (Status.RECEIVED_AT_SHOP, ESCALE), (Status.RECEIVED_AT_SHOP, GRAINE)]
    assert [s.at for s in state.history] == sorted(s.at for s in state.history)


def test_the_allocated_event_carries_the_order_for_the_producer() -> None:
    _, (event,) = apply(new_order(ORDER, T0), Allocate(HUB), T0)
    assert isinstance(event, OrderAllocated) and event.order is ORDER


def test_a_refusal_records_its_reason() -> None:
    state, (event,) = apply(at(Status.ALLOCATED), Refuse(PRODUCER, "grêle"), T0)
    assert state.status is Status.REFUSED
    assert event == OrderRefused(ORDER.order_id, T0, PRODUCER, "grêle")


@pytest.mark.parametrize("status", [Status.ALLOCATED, Status.CONFIRMED])
def test_the_hub_may_cancel_before_shipping(status) -> None:
    state, (event,) = apply(at(status), Cancel(HUB, "créneau annulé"), T0)
    assert state.status is Status.CANCELLED
    assert event == OrderCancelled(ORDER.order_id, T0, HUB, "créneau annulé")
    assert state.history[-1] == Step(Status.CANCELLED, T0, HUB, "créneau annulé")  # kept


MATRIX = [(status, command) for status in Status for command in ACTOR_FOR]


@pytest.mark.parametrize(("status", "command_type"), MATRIX,
                         ids=[f"{s}-{c.__name__}" for s, c in MATRIX])
def test_every_status_and_command_is_either_a_transition_or_illegal(status, command_type
                                                                       ) -> None:
    command = command_type(ACTOR_FOR[command_type])
    state = at(status)
    if (status, command_type) in TRANSITIONS:
        after, events = apply(state, command, T0)
        assert events
        assert after.status in (TRANSITIONS[status, command_type], status)
        assert state.status is status  # the old state is untouched
    else:
        with pytest.raises(IllegalTransition) as raised:
            apply(state, command, T0)
        assert (raised.value.status, raised.value.command) == (status, command_type.__name__)
        assert str(status) in str(raised.value) and command_type.__name__ in str(raised.value)


def test_the_matrix_has_the_documented_transitions_only() -> None:
    assert {(s.value, c.__name__, t.value) for (s, c), t in TRANSITIONS.items()} == {
        ("NEEDED", "Allocate", "ALLOCATED"), ("ALLOCATED", "Confirm", "CONFIRMED"),
        ("ALLOCATED", "Refuse", "REFUSED"), ("CONFIRMED", "Ship", "SHIPPED"),
        ("SHIPPED", "ReceiveAtHub", "RECEIVED_AT_HUB"),
        ("RECEIVED_AT_HUB", "Dispatch", "DISPATCHED"),
        ("DISPATCHED", "ReceiveAtShop", "RECEIVED_AT_SHOP"),
        ("ALLOCATED", "Cancel", "CANCELLED"), ("CONFIRMED", "Cancel", "CANCELLED")}


def test_a_shop_cannot_receive_its_part_twice() -> None:
    state, _ = apply(at(Status.DISPATCHED), ReceiveAtShop(ESCALE), T0)
    with pytest.raises(IllegalTransition, match="already received"):
        apply(state, ReceiveAtShop(ESCALE), T0)


STRANGERS = [Actor(Role.PRODUCER, "ferme-z"), Actor(Role.HUB, "grenoble"),
             Actor(Role.SHOP, "autre-epicerie")]
WRONG_ROLES = [(command, actor) for command, role in ROLE_OF.items()
               for actor in (PRODUCER, HUB, GRAINE) if actor.role is not role]


@pytest.mark.parametrize(("command_type", "actor"), WRONG_ROLES,
                         ids=[f"{c.__name__}-by-{a.role}" for c, a in WRONG_ROLES])
def test_each_command_belongs_to_one_role(command_type, actor) -> None:
    with pytest.raises(NotAllowed):
        apply(at(Status.NEEDED), command_type(actor), T0)


@pytest.mark.parametrize("command_type", list(ROLE_OF))
def test_nobody_acts_on_someone_elses_order(command_type) -> None:
    stranger = next(a for a in STRANGERS if a.role is ROLE_OF[command_type])
    legal_from = next(s for (s, c) in TRANSITIONS if c is command_type)
    with pytest.raises(NotAllowed) as raised:
        apply(at(legal_from), command_type(stranger), T0)
    assert raised.value.actor == stranger
    assert stranger.id in str(raised.value)


def test_permission_is_checked_before_the_status() -> None:
    with pytest.raises(NotAllowed):  # not IllegalTransition: a stranger learns nothing
        apply(at(Status.CANCELLED), Confirm(Actor(Role.PRODUCER, "ferme-z")), T0)


def test_times_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError):
        apply(at(Status.NEEDED), Allocate(HUB), datetime(2026, 12, 1, 8, 0))  # noqa: DTZ001
    with pytest.raises(ValueError):
        new_order(ORDER, datetime(2026, 12, 1, 8, 0))  # noqa: DTZ001
