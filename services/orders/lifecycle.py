"""The order state machine, from allocation to receipt in every shop, with who may do what.

`apply(state, command, at)` returns the new state and the events it records; it never publishes.
Permission is checked before the transition (`NotAllowed`), so someone who may not act on an order
learns nothing of its state; an allowed actor asking for an impossible step gets
`IllegalTransition`. A hub acts for one territory: its actor id is the territory's id.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from services.events.orders import ActorRole, OrderStatus

from services.events.sales import QuantityUnit
from services.orders.allocation import Order


# The contract's own enums: DISPATCHED stays until every shop has received its part;
# RECEIVED_AT_SHOP means complete.
Status = OrderStatus
Role = ActorRole


@dataclass(frozen=True, slots=True)
class Actor:
    role: Role
    id: str


# Commands, in the imperative.
@dataclass(frozen=True, slots=True)
class Allocate:
    by: Actor


@dataclass(frozen=True, slots=True)
class Confirm:
    by: Actor


@dataclass(frozen=True, slots=True)
class Refuse:
    by: Actor
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Ship:
    by: Actor


@dataclass(frozen=True, slots=True)
class ReceiveAtHub:
    by: Actor


@dataclass(frozen=True, slots=True)
class Dispatch:
    by: Actor


@dataclass(frozen=True, slots=True)
class ReceiveAtShop:
    by: Actor


@dataclass(frozen=True, slots=True)
class Cancel:
    by: Actor
    reason: str = ""


Command = Allocate | Confirm | Refuse | Ship | ReceiveAtHub | Dispatch | ReceiveAtShop | Cancel


# Events, in the past tense.
@dataclass(frozen=True, slots=True)
class OrderEvent:
    order_id: str
    at: datetime
    by: Actor


@dataclass(frozen=True, slots=True)
class OrderAllocated(OrderEvent):
    order: Order


@dataclass(frozen=True, slots=True)
class OrderConfirmed(OrderEvent):
    pass


@dataclass(frozen=True, slots=True)
class OrderRefused(OrderEvent):
    """The lines are to be placed again with `allocation.reallocate`."""

    reason: str


@dataclass(frozen=True, slots=True)
class OrderShipped(OrderEvent):
    pass


@dataclass(frozen=True, slots=True)
class OrderReceivedAtHub(OrderEvent):
    pass


@dataclass(frozen=True, slots=True)
class OrderDispatched(OrderEvent):
    pass


@dataclass(frozen=True, slots=True)
class DeliveryReceived(OrderEvent):
    """One product received by one shop: what the stock service counts up."""

    shop_id: str
    product_id: str
    quantity: int
    unit: QuantityUnit

    @property
    def delivery_id(self) -> str:
        """Stable id of this receipt, used as the stock movement's id."""
        return f"{self.order_id}/{self.shop_id}/{self.product_id}"


@dataclass(frozen=True, slots=True)
class OrderCompleted(OrderEvent):
    pass


@dataclass(frozen=True, slots=True)
class OrderCancelled(OrderEvent):
    reason: str


@dataclass(frozen=True, slots=True)
class Step:
    status: Status
    at: datetime
    by: Actor
    reason: str = ""  # a refusal's or cancellation's, as said


@dataclass(frozen=True, slots=True)
class OrderState:
    order: Order
    status: Status
    history: tuple[Step, ...]
    received_by: frozenset[str] = frozenset()

    @property
    def pending_shops(self) -> frozenset[str]:
        return self.order.shops - self.received_by


class IllegalTransition(Exception):
    def __init__(self, status: Status, command: Command, order_id: str, why: str = "") -> None:
        self.status, self.command = status, type(command).__name__
        super().__init__(f"cannot {self.command} order {order_id} in status {status}"
                         + (f": {why}" if why else ""))


class NotAllowed(Exception):
    def __init__(self, actor: Actor, command: Command, order_id: str) -> None:
        self.actor, self.command = actor, type(command).__name__
        super().__init__(f"{actor.role} {actor.id} may not {self.command} order {order_id}")


TRANSITIONS: dict[tuple[Status, type], Status] = {
    (Status.NEEDED, Allocate): Status.ALLOCATED,
    (Status.ALLOCATED, Confirm): Status.CONFIRMED,
    (Status.ALLOCATED, Refuse): Status.REFUSED,
    (Status.CONFIRMED, Ship): Status.SHIPPED,
    (Status.SHIPPED, ReceiveAtHub): Status.RECEIVED_AT_HUB,
    (Status.RECEIVED_AT_HUB, Dispatch): Status.DISPATCHED,
    (Status.DISPATCHED, ReceiveAtShop): Status.RECEIVED_AT_SHOP,
    (Status.ALLOCATED, Cancel): Status.CANCELLED,
    (Status.CONFIRMED, Cancel): Status.CANCELLED,
}
ROLE_OF: dict[type, Role] = {
    Allocate: Role.HUB, Confirm: Role.PRODUCER, Refuse: Role.PRODUCER, Ship: Role.PRODUCER,
    ReceiveAtHub: Role.HUB, Dispatch: Role.HUB, ReceiveAtShop: Role.SHOP, Cancel: Role.HUB,
}
_SIMPLE_EVENTS: dict[type, type[OrderEvent]] = {
    Confirm: OrderConfirmed, Ship: OrderShipped, ReceiveAtHub: OrderReceivedAtHub,
    Dispatch: OrderDispatched,
}


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    return at


def new_order(order: Order, at: datetime) -> OrderState:
    """An allocated order as it starts: NEEDED, recorded by its territory's hub."""
    return OrderState(order, Status.NEEDED,
                      (Step(Status.NEEDED, _aware(at), Actor(Role.HUB, order.territory)),))


def may(actor: Actor, command_type: type, order: Order) -> bool:
    """Whether this actor may give this command on this order at all (whatever its status)."""
    if actor.role is not ROLE_OF[command_type]:
        return False
    own = {Role.PRODUCER: actor.id == order.producer_id, Role.HUB: actor.id == order.territory,
           Role.SHOP: actor.id in order.shops}
    return own[actor.role]


def apply(state: OrderState, command: Command, at: datetime
          ) -> tuple[OrderState, tuple[OrderEvent, ...]]:
    """The state after the command, and the events it records."""
    order, by = state.order, command.by
    _aware(at)
    if not may(by, type(command), order):
        raise NotAllowed(by, command, order.order_id)
    target = TRANSITIONS.get((state.status, type(command)))
    if target is None:
        raise IllegalTransition(state.status, command, order.order_id)
    events: tuple[OrderEvent, ...]
    match command:
        case ReceiveAtShop():
            if by.id in state.received_by:
                raise IllegalTransition(state.status, command, order.order_id,
                                        f"shop {by.id} already received its part")
            units = {line.product_id: line.unit for line in order.lines}
            events = tuple(DeliveryReceived(order.order_id, at, by, by.id, product, qty,
                                            units[product])
                           for product, qty in sorted(order.parts_for(by.id).items()))
            received = state.received_by | {by.id}
            step = Step(Status.RECEIVED_AT_SHOP, at, by)
            if received == order.shops:
                events += (OrderCompleted(order.order_id, at, by),)
            else:
                target = state.status
            return replace(state, status=target, received_by=received,
                           history=state.history + (step,)), events
        case Allocate():
            events = (OrderAllocated(order.order_id, at, by, order),)
        case Refuse(reason=reason):
            events = (OrderRefused(order.order_id, at, by, reason),)
        case Cancel(reason=reason):
            events = (OrderCancelled(order.order_id, at, by, reason),)
        case _:
            events = (_SIMPLE_EVENTS[type(command)](order.order_id, at, by),)
    step = Step(target, at, by, getattr(command, "reason", ""))
    return replace(state, status=target, history=state.history + (step,)), events
