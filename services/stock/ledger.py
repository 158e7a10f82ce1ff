"""Stock on hand per shop × product as a fold of movements, idempotent under redelivery.

Every movement comes from an input record at a source position: topic, partition, offset, and its
index within the record. A level remembers, per input (topic, partition), the last position it
applied; a movement at or before it is already in the level, so `apply` returns the level unchanged
and records no event. Kafka keeps order within a partition, so a consumer that writes the level
(positions included) together with its events, in one transaction, can crash, be redelivered or
replay a topic from the start and reach the same state; `already_applied` lets it skip a
redelivered record up front. Duplicates written upstream at a new offset are removed upstream
(stable ids, e.g. the sales de-duplicating stage); each movement's stable id is carried into its
events so that followers can do the same.

Stock may go negative (tills sell what was never received): it is kept, shown and flagged NEGATIVE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from services.events.stock import (
    AlertKind,
    DeliveryReceived,
    MovementKind,
    ReorderPointSet,
    StockCounted,
    StockStatus,
    WasteRecorded,
)
from services.events.checks import first, id_problem, quantity_problem, time_problem

LONG = (-(2**63), 2**63 - 1)  # what an Avro long holds: every level and delta stays inside


_SIGN = {MovementKind.SALE: -1, MovementKind.REFUND: 1, MovementKind.DELIVERY: 1,
         MovementKind.WASTE: -1}


@dataclass(frozen=True, slots=True, order=True)
class SourcePosition:
    """Where a movement comes from: an input record, and the movement's index within it (a ticket
    selling the same product on two lines gives two movements from one record)."""

    topic: str
    partition: int
    offset: int
    index: int = 0


@dataclass(frozen=True, slots=True)
class Movement:
    """A change of stock with a stable id; `quantity` in base units (the counted quantity for a
    COUNT, a positive amount otherwise)."""

    movement_id: str
    shop_id: str
    product_id: str
    kind: MovementKind
    quantity: int
    at: datetime
    source: SourcePosition

    def __post_init__(self) -> None:
        if type(self.quantity) is not int:
            raise TypeError(f"movement {self.movement_id}: quantity must be an integer")
        if self.quantity < 0 or (self.quantity == 0 and self.kind is not MovementKind.COUNT):
            raise ValueError(f"movement {self.movement_id}: quantity must be positive "
                             "(or zero for a count)")


@dataclass(frozen=True, slots=True)
class StockLevel:
    shop_id: str
    product_id: str
    on_hand: int = 0
    reorder_point: int = 0
    positions: tuple[SourcePosition, ...] = ()  # last applied offset per (topic, partition)

    @property
    def status(self) -> StockStatus:
        return status_of(self.on_hand, self.reorder_point)

    def position_of(self, topic: str, partition: int) -> SourcePosition | None:
        """The last position applied from this input partition, if any."""
        return next((p for p in self.positions
                     if (p.topic, p.partition) == (topic, partition)), None)


@dataclass(frozen=True, slots=True)
class StockChanged:
    """A movement applied; for a count, `delta` is the adjustment it made."""

    movement_id: str
    shop_id: str
    product_id: str
    kind: MovementKind
    delta: int
    on_hand: int
    status: StockStatus
    at: datetime


@dataclass(frozen=True, slots=True)
class StockAlerted:
    """The status changed; `movement_id` is what caused it (None for a new reorder point)."""

    shop_id: str
    product_id: str
    alert: AlertKind
    previous: StockStatus
    status: StockStatus
    on_hand: int
    reorder_point: int
    at: datetime
    movement_id: str | None


StockEvent = StockChanged | StockAlerted
Key = tuple[str, str]  # (shop_id, product_id)


class Unappliable(ValueError):
    """A movement whose result an Avro long cannot hold: the record behind it is rejected."""


StaffRecord = StockCounted | WasteRecorded | DeliveryReceived | ReorderPointSet


def record_problem(event: StaffRecord) -> str | None:
    """Why a count, waste, delivery or reorder point can never be applied (None when it can):
    empty ids, a quantity out of bounds, an impossible time. Tickets: services.sales.checks."""
    if isinstance(event, ReorderPointSet):
        amount = quantity_problem("reorder_point", event.reorder_point, zero_allowed=True)
    else:
        amount = quantity_problem("quantity", event.quantity,
                                  zero_allowed=isinstance(event, StockCounted))
    own_id = {StockCounted: "count_id", WasteRecorded: "waste_id",
              DeliveryReceived: "delivery_id"}.get(type(event))
    return first([
        id_problem("shop_id", event.shop_id),
        id_problem("product_id", event.product_id),
        id_problem(own_id, getattr(event, own_id)) if own_id else None,
        amount,
        time_problem(event.time_field, event.event_time),
    ])


def _within_long(name: str, value: int) -> int:
    if not LONG[0] <= value <= LONG[1]:
        raise Unappliable(f"{name} {value} would not fit an Avro long")
    return value


def status_of(on_hand: int, reorder_point: int) -> StockStatus:
    if on_hand < 0:
        return StockStatus.NEGATIVE
    if on_hand == 0:
        return StockStatus.OUT
    return StockStatus.LOW if on_hand <= reorder_point else StockStatus.OK


def already_applied(level: StockLevel, source: SourcePosition) -> bool:
    """Whether the record at this position is already in the level (a redelivery)."""
    last = level.position_of(source.topic, source.partition)
    return last is not None and (source.offset, source.index) <= (last.offset, last.index)


def _alerts(before: StockLevel, after: StockLevel, at: datetime,
            movement_id: str | None) -> tuple[StockAlerted, ...]:
    if before.status is after.status:
        return ()
    alert = (AlertKind.RECOVERED if after.status is StockStatus.OK
             else AlertKind(after.status.value))
    return (StockAlerted(after.shop_id, after.product_id, alert, before.status, after.status,
                         after.on_hand, after.reorder_point, at, movement_id),)


def apply(level: StockLevel, movement: Movement) -> tuple[StockLevel, tuple[StockEvent, ...]]:
    """The level after the movement, with a `StockChanged` and, if the status changed, a
    `StockAlerted`; a movement already applied changes nothing and records nothing.
    Raises Unappliable when the level or the change would not fit an Avro long."""
    if (movement.shop_id, movement.product_id) != (level.shop_id, level.product_id):
        raise ValueError(f"movement {movement.movement_id} is not for this shop and product")
    if already_applied(level, movement.source):
        return level, ()
    if movement.kind is MovementKind.COUNT:
        delta = movement.quantity - level.on_hand
    else:
        delta = _SIGN[movement.kind] * movement.quantity
    _within_long(f"movement {movement.movement_id}: delta", delta)
    on_hand = _within_long(f"movement {movement.movement_id}: on hand", level.on_hand + delta)
    source = movement.source
    positions = tuple(sorted(
        [p for p in level.positions if (p.topic, p.partition) != (source.topic, source.partition)]
        + [source]))
    after = replace(level, on_hand=on_hand, positions=positions)
    changed = StockChanged(movement.movement_id, level.shop_id, level.product_id, movement.kind,
                           delta, after.on_hand, after.status, movement.at)
    return after, (changed, *_alerts(level, after, movement.at, movement.movement_id))


def set_reorder_point(level: StockLevel, reorder_point: int, at: datetime
                      ) -> tuple[StockLevel, tuple[StockEvent, ...]]:
    """A new reorder point; alerts if it moves the level in or out of LOW."""
    if type(reorder_point) is not int:
        raise TypeError("reorder point must be an integer")
    if reorder_point < 0:
        raise ValueError("reorder point must not be negative")
    after = replace(level, reorder_point=reorder_point)
    return after, _alerts(level, after, at, None)


def fold(levels: Mapping[Key, StockLevel], movements: Iterable[Movement]
         ) -> tuple[dict[Key, StockLevel], tuple[StockEvent, ...]]:
    """Many movements over many shops and products; a level is created empty on first sight."""
    result = dict(levels)
    events: list[StockEvent] = []
    for movement in movements:
        key = (movement.shop_id, movement.product_id)
        level = result.get(key) or StockLevel(*key)
        result[key], recorded = apply(level, movement)
        events.extend(recorded)
    return result, tuple(events)
