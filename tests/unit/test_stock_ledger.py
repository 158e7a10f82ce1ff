"""Stock on hand as a fold of movements: directions, counts, negative stock, alerts, and
idempotency under redelivery and replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.stock.ledger import (
    AlertKind,
    Movement,
    MovementKind,
    SourcePosition,
    StockAlerted,
    StockChanged,
    StockLevel,
    StockStatus,
    already_applied,
    apply,
    fold,
    set_reorder_point,
    status_of,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEY = ("graine", "carrots")
_offsets: dict[str, int] = {}


def move(kind: MovementKind, quantity: int, *, topic: str = "stock.movements", partition: int = 0,
         offset: int | None = None, index: int = 0) -> Movement:
    if offset is None:
        offset = _offsets[topic] = _offsets.get(topic, -1) + 1
    return Movement(f"{topic}/{partition}/{offset}/{index}", *KEY, kind, quantity,
                    T0 + timedelta(minutes=offset), SourcePosition(topic, partition, offset, index))


def run(*movements: Movement, level: StockLevel | None = None
        ) -> tuple[StockLevel, list[StockChanged], list[StockAlerted]]:
    level = level or StockLevel(*KEY)
    changes, alerts = [], []
    for movement in movements:
        level, events = apply(level, movement)
        changes += [e for e in events if isinstance(e, StockChanged)]
        alerts += [e for e in events if isinstance(e, StockAlerted)]
    return level, changes, alerts


def test_each_movement_moves_stock_its_way() -> None:
    level, changes, _ = run(move(MovementKind.DELIVERY, 10_000), move(MovementKind.SALE, 1_500),
                            move(MovementKind.REFUND, 500), move(MovementKind.WASTE, 1_000))
    assert level.on_hand == 8_000
    assert [(c.kind, c.delta, c.on_hand) for c in changes] == [
        (MovementKind.DELIVERY, 10_000, 10_000), (MovementKind.SALE, -1_500, 8_500),
        (MovementKind.REFUND, 500, 9_000), (MovementKind.WASTE, -1_000, 8_000)]


def test_a_count_sets_the_level_and_records_the_adjustment() -> None:
    level, changes, _ = run(move(MovementKind.DELIVERY, 10_000), move(MovementKind.COUNT, 9_200))
    assert level.on_hand == 9_200
    assert (changes[-1].kind, changes[-1].delta) == (MovementKind.COUNT, -800)
    level, changes, _ = run(move(MovementKind.COUNT, 9_200), level=level)
    assert changes[-1].delta == 0  # a count that confirms the level is still recorded


def test_negative_stock_is_kept_and_flagged() -> None:
    level, changes, alerts = run(move(MovementKind.SALE, 700))
    assert (level.on_hand, level.status) == (-700, StockStatus.NEGATIVE)
    assert changes[0].status is StockStatus.NEGATIVE
    assert [(a.alert, a.previous, a.status) for a in alerts] == [
        (AlertKind.NEGATIVE, StockStatus.OUT, StockStatus.NEGATIVE)]


@pytest.mark.parametrize(("on_hand", "reorder_point", "status"), [
    (-1, 0, StockStatus.NEGATIVE), (0, 0, StockStatus.OUT), (0, 5, StockStatus.OUT),
    (5, 5, StockStatus.LOW), (6, 5, StockStatus.OK), (1, 0, StockStatus.OK),
])
def test_status_of(on_hand, reorder_point, status) -> None:
    assert status_of(on_hand, reorder_point) is status


def test_alerts_fire_whenever_the_status_changes_and_only_then() -> None:
    level, _ = set_reorder_point(StockLevel(*KEY), 2_000, T0)
    level, _, alerts = run(
        move(MovementKind.DELIVERY, 5_000),  # OUT → OK
        move(MovementKind.SALE, 1_000),  # OK, no alert
        move(MovementKind.SALE, 2_000),  # 2 000 ≤ 2 000: LOW
        move(MovementKind.SALE, 2_000),  # OUT
        move(MovementKind.SALE, 100),  # NEGATIVE
        move(MovementKind.COUNT, 1_000),  # LOW
        move(MovementKind.DELIVERY, 6_000),  # RECOVERED
        level=level)
    assert [a.alert for a in alerts] == [AlertKind.RECOVERED, AlertKind.LOW, AlertKind.OUT,
                                         AlertKind.NEGATIVE, AlertKind.LOW, AlertKind.RECOVERED]
    assert [a.on_hand for a in alerts] == [5_000, 2_000, 0, -100, 1_000, 7_000]
    assert all(a.movement_id for a in alerts)


def test_a_new_reorder_point_can_raise_or_clear_a_low_alert() -> None:
    level, _, _ = run(move(MovementKind.DELIVERY, 3_000))
    level, events = set_reorder_point(level, 3_000, T0)
    assert [(e.alert, e.movement_id) for e in events] == [(AlertKind.LOW, None)]
    level, events = set_reorder_point(level, 1_000, T0)
    assert [e.alert for e in events] == [AlertKind.RECOVERED]
    assert set_reorder_point(level, 1_000, T0) == (level, ())
    with pytest.raises(ValueError):
        set_reorder_point(level, -1, T0)


def test_a_redelivered_movement_changes_nothing() -> None:
    delivery = move(MovementKind.DELIVERY, 10_000)
    sale = move(MovementKind.SALE, 1_000)
    level, _, _ = run(delivery, sale)
    assert already_applied(level, delivery.source) and already_applied(level, sale.source)
    assert apply(level, delivery) == (level, ())
    assert apply(level, sale) == (level, ())
    assert level.position_of("stock.movements", 0) == sale.source


def test_two_movements_from_one_record_are_both_applied() -> None:
    # one ticket selling carrots on two lines: same offset, indexes 0 and 1
    first = move(MovementKind.SALE, 300, topic="sales", offset=41, index=0)
    second = move(MovementKind.SALE, 200, topic="sales", offset=41, index=1)
    level, _, _ = run(first, second)
    assert level.on_hand == -500
    assert run(first, second, first, second)[0] == level


def test_inputs_are_tracked_separately() -> None:
    sale = move(MovementKind.SALE, 1_000, topic="sales", partition=3, offset=900)
    delivery = move(MovementKind.DELIVERY, 5_000, topic="orders", partition=0, offset=2)
    level, _, _ = run(sale, delivery)
    assert level.on_hand == 4_000
    assert level.positions == (SourcePosition("orders", 0, 2), SourcePosition("sales", 3, 900))


def test_movements_must_match_the_level_and_be_positive() -> None:
    other = Movement("m", "escale", "carrots", MovementKind.SALE, 1, T0,
                     SourcePosition("sales", 0, 0))
    with pytest.raises(ValueError):
        apply(StockLevel(*KEY), other)
    with pytest.raises(ValueError):
        move(MovementKind.SALE, 0)
    with pytest.raises(ValueError):
        move(MovementKind.COUNT, -1)
    assert move(MovementKind.COUNT, 0).quantity == 0
    with pytest.raises(TypeError):
        move(MovementKind.DELIVERY, 1.5)


def test_fold_creates_levels_per_shop_and_product() -> None:
    movements = [Movement("a", "graine", "carrots", MovementKind.DELIVERY, 5, T0,
                          SourcePosition("t", 0, 0)),
                 Movement("b", "escale", "carrots", MovementKind.SALE, 2, T0,
                          SourcePosition("t", 0, 1)),
                 Movement("c", "graine", "leeks", MovementKind.WASTE, 1, T0,
                          SourcePosition("t", 0, 2))]
    levels, events = fold({}, movements)
    assert {key: level.on_hand for key, level in levels.items()} == {
        ("graine", "carrots"): 5, ("escale", "carrots"): -2, ("graine", "leeks"): -1}
    assert len([e for e in events if isinstance(e, StockChanged)]) == 3
    assert fold(levels, movements) == (levels, ())  # a full replay changes nothing


# Property: a consumer that is redelivered records (after a crash, a rebalance, a replay from
# the start) reaches the same level and records the same events as one that saw each once.
INPUTS = [("sales", 0), ("sales", 1), ("orders", 0), ("stock.commands", 2)]
movement_body = st.tuples(st.sampled_from(list(MovementKind)), st.integers(1, 5_000),
                          st.sampled_from(INPUTS), st.integers(0, 2))


@st.composite
def deliveries(draw) -> tuple[list[Movement], list[Movement]]:
    """A log in order (offsets increasing per partition), and the same log with redeliveries."""
    bodies = draw(st.lists(movement_body, max_size=40))
    next_offset = {source: draw(st.integers(0, 1_000)) for source in INPUTS}
    log = []
    for kind, quantity, (topic, partition), same_record in bodies:
        offset = next_offset[topic, partition]
        index = 0
        previous = next((m for m in reversed(log)
                         if (m.source.topic, m.source.partition) == (topic, partition)), None)
        if same_record and previous is not None and previous.source.offset == offset - 1:
            offset, index = previous.source.offset, previous.source.index + 1
        else:
            next_offset[topic, partition] = offset + draw(st.integers(1, 3))
        log.append(Movement(f"{topic}/{partition}/{offset}/{index}", *KEY, kind, quantity,
                            T0, SourcePosition(topic, partition, offset, index)))
    delivered = list(log)
    for _ in range(draw(st.integers(0, 20))):
        if not log:
            break
        # re-insert an earlier movement somewhere after its first delivery
        first = draw(st.integers(0, len(log) - 1))
        original = delivered.index(log[first])
        delivered.insert(draw(st.integers(original + 1, len(delivered))), log[first])
    return log, delivered


@given(deliveries(), st.integers(0, 3_000))
def test_any_sequence_with_duplicates_gives_the_level_of_the_deduplicated_one(
        logs, reorder_point) -> None:
    log, delivered = logs
    start, _ = set_reorder_point(StockLevel(*KEY), reorder_point, T0)
    once_level, once_changes, once_alerts = run(*log, level=start)
    again_level, again_changes, again_alerts = run(*delivered, level=start)
    assert again_level == once_level
    assert (again_changes, again_alerts) == (once_changes, once_alerts)
    assert once_level.on_hand == _expected_on_hand(log)
    assert once_level.status is status_of(once_level.on_hand, reorder_point)


def _expected_on_hand(log: list[Movement]) -> int:
    on_hand = 0
    for m in log:
        if m.kind is MovementKind.COUNT:
            on_hand = m.quantity
        elif m.kind in (MovementKind.SALE, MovementKind.WASTE):
            on_hand -= m.quantity
        else:
            on_hand += m.quantity
    return on_hand
