"""The stock service's handlers with fakes: records built by hand go through the handler its
routes give each input topic, what it would publish is recorded, and the partition reads of
`stock.levels` come from lists. No broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.bus.catalog import (
    REORDER_POINTS,
    SALES,
    STOCK_ALERTS,
    STOCK_CHANGES,
    STOCK_COUNTS,
    STOCK_DELIVERIES,
    STOCK_LEVELS,
    STOCK_WASTE,
)
from services.bus.metrics import Metrics
from services.bus.runtime import Reject
from services.events.catalog import ProductDefined, TillCodeMapped, code_key
from services.events.sales import CodeKind, QuantityUnit
from services.events.stock import (
    AlertKind,
    DeliveryReceived,
    MovementKind,
    ReorderPointSet,
    SourcePosition,
    StockCounted,
    StockLevelRecorded,
    StockStatus,
    WasteRecorded,
)
from services.stock import service as stock_service
from services.stock.ledger import LONG, status_of
from services.stock.service import INPUTS, StockService
from tests.support import sale
from tests.unit.fakes import FakePartitions, FakePublisher, deliver

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SHOP, PRODUCT = "epi-gerland", "poireau"
TOMATO, BREAD = "tomate-ancienne", "pain-campagne"  # the two lines of tests.support.sale()


@pytest.fixture
def kafka(monkeypatch) -> FakePartitions:
    partitions = FakePartitions()
    monkeypatch.setattr(stock_service, "read_partition", partitions.read_partition)
    return partitions


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


def make_service(publisher: FakePublisher, *, mappings: dict | None = None,
                 products: dict | None = None) -> StockService:
    platform = SimpleNamespace(settings=None, registry=None, publisher=publisher,
                               metrics=Metrics("stock"))
    return StockService(platform, mappings or {}, products or {})


@pytest.fixture
def stock(publisher, kafka) -> StockService:
    return make_service(publisher)


async def commit(service: StockService, *partitions: int) -> None:
    await service.shelves.save(partitions)  # as the runtime does before it commits


def count(quantity: int, *, at: datetime = T0, shop: str = SHOP, product: str = PRODUCT,
          count_id: str = "count-1") -> StockCounted:
    return StockCounted(count_id=count_id, shop_id=shop, product_id=product, quantity=quantity,
                        unit=QuantityUnit.GRAM, counted_at=at)


def waste(quantity: int, *, at: datetime = T0, waste_id: str = "waste-1") -> WasteRecorded:
    return WasteRecorded(waste_id=waste_id, shop_id=SHOP, product_id=PRODUCT, quantity=quantity,
                         unit=QuantityUnit.GRAM, reason="abîmé", recorded_at=at)


def delivery(quantity: int) -> DeliveryReceived:
    return DeliveryReceived(delivery_id=f"order-1/{SHOP}/{PRODUCT}", shop_id=SHOP,
                            product_id=PRODUCT, quantity=quantity, unit=QuantityUnit.GRAM,
                            order_id="order-1", received_at=T0)


def level(on_hand: int, *, product: str = PRODUCT, reorder_point: int = 0,
          positions: tuple[SourcePosition, ...] = ()) -> StockLevelRecorded:
    status = status_of(on_hand, reorder_point)
    return StockLevelRecorded(shop_id=SHOP, product_id=product, on_hand=on_hand,
                              reorder_point=reorder_point, status=status, positions=positions,
                              updated_at=T0 - timedelta(days=1))


def levels_written(publisher: FakePublisher) -> dict[str, StockLevelRecorded]:
    return {s.key: s.event for s in publisher.take() if s.topic == STOCK_LEVELS.name}


def test_every_input_topic_is_routed_to_a_handler_with_retries() -> None:
    service = make_service(FakePublisher())
    routes = service.routes()
    assert [route.topic for route in routes] == list(INPUTS)
    assert all(route.policy.retries > 0 for route in routes)


async def test_a_count_sets_the_level_and_commit_writes_it(
    stock, publisher
) -> None:
    await deliver(stock, STOCK_COUNTS, count(10_000), offset=5, partition=2)
    changed, alerted = publisher.take()
    assert (changed.topic, changed.key, changed.partition) == (STOCK_CHANGES.name, SHOP, 2)
    assert (changed.event.kind, changed.event.delta, changed.event.on_hand) == (
        MovementKind.COUNT, 10_000, 10_000)
    assert changed.event.movement_id == "count-1"
    assert (alerted.topic, alerted.event.alert, alerted.event.previous) == (
        STOCK_ALERTS.name, AlertKind.RECOVERED, StockStatus.OUT)

    await commit(stock, 2)
    [written] = publisher.take()
    assert (written.topic, written.key, written.partition) == (
        STOCK_LEVELS.name, f"{SHOP}/{PRODUCT}", 2)
    assert (written.event.on_hand, written.event.status, written.event.updated_at) == (
        10_000, StockStatus.OK, T0)
    assert written.event.positions == (SourcePosition(topic=STOCK_COUNTS.name, partition=2,
                                                      offset=5, index=0),)
    await commit(stock, 2)
    assert publisher.take() == []  # nothing changed since: nothing written again


async def test_waste_lowers_the_level_read_from_the_partition_on_assignment(
    stock, publisher, kafka
) -> None:
    before = SourcePosition(topic=STOCK_COUNTS.name, partition=1, offset=3, index=0)
    kafka.held[STOCK_LEVELS.name, 1] = [level(9_000, positions=(before,))]
    await stock.shelves.own({1})
    assert kafka.reads == [(STOCK_LEVELS.name, 1)]

    await deliver(stock, STOCK_WASTE, waste(500), offset=8, partition=1)
    [changed] = publisher.take()
    assert (changed.event.kind, changed.event.delta, changed.event.on_hand) == (
        MovementKind.WASTE, -500, 8_500)
    await commit(stock, 1)
    written = levels_written(publisher)[f"{SHOP}/{PRODUCT}"]
    assert written.on_hand == 8_500
    assert written.positions == (
        before, SourcePosition(topic=STOCK_WASTE.name, partition=1, offset=8, index=0))
    assert kafka.reads == [(STOCK_LEVELS.name, 1)]


async def test_a_redelivered_record_is_applied_once_even_by_the_next_owner(
    stock, publisher, kafka
) -> None:
    await deliver(stock, STOCK_COUNTS, count(10_000), offset=0)
    await deliver(stock, STOCK_WASTE, waste(500), offset=0)
    await deliver(stock, STOCK_WASTE, waste(500), offset=0)  # the same record again
    assert [s.event.on_hand for s in publisher.sent(STOCK_CHANGES)] == [
        10_000, 9_500]
    await commit(stock, 0)
    written = levels_written(publisher)
    assert written[f"{SHOP}/{PRODUCT}"].on_hand == 9_500

    # A crash before the offsets were committed: the next owner reads the level written and is
    # handed both records again.
    kafka.held[STOCK_LEVELS.name, 0] = list(written.values())
    successor = make_service(publisher)
    await deliver(successor, STOCK_COUNTS, count(10_000), offset=0)
    await deliver(successor, STOCK_WASTE, waste(500), offset=0)
    await commit(successor, 0)
    assert publisher.take() == []
    # ... while the next record is applied on top of the level read
    await deliver(successor, STOCK_WASTE, waste(200, waste_id="waste-2"), offset=1)
    [changed] = publisher.take()
    assert changed.event.on_hand == 9_300


async def test_a_delivery_sent_twice_at_two_offsets_is_counted_once(stock, publisher) -> None:
    await deliver(stock, STOCK_DELIVERIES, delivery(2_000), offset=4)
    await deliver(stock, STOCK_DELIVERIES, delivery(2_000), offset=9)  # resent after a crash
    changes = [s.event for s in publisher.sent(STOCK_CHANGES)]
    assert [(c.kind, c.on_hand) for c in changes] == [(MovementKind.DELIVERY, 2_000)]


def _catalog(bread_unit: QuantityUnit | None) -> tuple[dict, dict]:
    """Till codes of the ticket of tests.support.sale(): the tomatoes' PLU always mapped, the
    bread's EAN mapped to a product of `bread_unit` (unmapped when None)."""
    mappings = {code_key(SHOP, CodeKind.PLU, "2001"): TillCodeMapped(
        shop_id=SHOP, code="2001", code_kind=CodeKind.PLU, product_id=TOMATO, mapped_at=T0)}
    products = {TOMATO: ProductDefined(product_id=TOMATO, name="Tomates", category="legumes",
                                       unit=QuantityUnit.GRAM, organic=False, labels=(),
                                       defined_at=T0)}
    if bread_unit is not None:
        mappings[code_key(SHOP, CodeKind.EAN, "3760123450012")] = TillCodeMapped(
            shop_id=SHOP, code="3760123450012", code_kind=CodeKind.EAN, product_id=BREAD,
            mapped_at=T0)
        products[BREAD] = ProductDefined(product_id=BREAD, name="Pain", category="pain",
                                         unit=bread_unit, organic=False, labels=(),
                                         defined_at=T0)
    return mappings, products


async def test_a_ticket_lowers_the_stock_of_each_line_s_product(publisher, kafka) -> None:
    mappings, products = _catalog(QuantityUnit.PIECE)
    service = make_service(publisher, mappings=mappings, products=products)
    ticket = sale(SHOP, 1)
    await deliver(service, SALES, ticket, offset=12, partition=3)
    changes = {s.event.product_id: s.event for s in publisher.take()
               if s.topic == STOCK_CHANGES.name}
    assert {p: (c.kind, c.delta, c.movement_id) for p, c in changes.items()} == {
        TOMATO: (MovementKind.SALE, -750, f"{ticket.ticket_id}#1"),
        BREAD: (MovementKind.SALE, -1, f"{ticket.ticket_id}#2")}
    await commit(service, 3)
    written = levels_written(publisher)
    assert written[f"{SHOP}/{BREAD}"].positions == (
        SourcePosition(topic=SALES.name, partition=3, offset=12, index=1),)


async def test_a_ticket_s_second_line_of_a_product_starts_from_its_first(
    publisher, kafka
) -> None:
    mappings, products = _catalog(None)
    service = make_service(publisher, mappings=mappings, products=products)
    kafka.held[STOCK_LEVELS.name, 0] = [level(5_000, product=TOMATO)]
    ticket = sale(SHOP, 1)
    tomatoes = ticket.lines[0]
    again = tomatoes.model_copy(update={"line_number": 2, "quantity": 250, "paid_cents": 70})
    await deliver(service, SALES, ticket.model_copy(update={"lines": (tomatoes, again)}),
                  offset=6)
    assert [s.event.on_hand for s in publisher.sent(STOCK_CHANGES)] == [4_250, 4_000]
    await commit(service, 0)
    written = levels_written(publisher)[f"{SHOP}/{TOMATO}"]
    assert (written.on_hand, written.positions) == (4_000, (
        SourcePosition(topic=SALES.name, partition=0, offset=6, index=1),))


@pytest.mark.parametrize(("bread_unit", "reason"), [(None, "unmapped"),
                                                    (QuantityUnit.GRAM, "unit")])
async def test_a_line_the_stock_cannot_count_is_skipped_and_counted_as_such(
    publisher, kafka, bread_unit, reason
) -> None:
    mappings, products = _catalog(bread_unit)
    service = make_service(publisher, mappings=mappings, products=products)
    await deliver(service, SALES, sale(SHOP, 1), offset=0)
    assert {s.event.product_id for s in publisher.take() if s.topic == STOCK_CHANGES.name} == {
        TOMATO}
    registry = service.platform.metrics.registry
    assert registry.get_sample_value("vivres_stock_lines_skipped_total",
                                     {"reason": reason}) == 1


async def test_a_reorder_point_above_the_level_alerts_low_and_is_written(
    stock, publisher
) -> None:
    await deliver(stock, STOCK_COUNTS, count(3_000), offset=0)
    publisher.take()
    await deliver(stock, REORDER_POINTS, ReorderPointSet(
        shop_id=SHOP, product_id=PRODUCT, reorder_point=5_000, set_at=T0 + timedelta(hours=1)),
        offset=0)
    [alerted] = publisher.take()
    assert (alerted.topic, alerted.event.alert, alerted.event.movement_id) == (
        STOCK_ALERTS.name, AlertKind.LOW, None)
    await commit(stock, 0)
    written = levels_written(publisher)[f"{SHOP}/{PRODUCT}"]
    assert (written.on_hand, written.reorder_point, written.status) == (
        3_000, 5_000, StockStatus.LOW)


@pytest.mark.parametrize(("topic", "event", "problem"), [
    (STOCK_WASTE, waste(0), "quantity 0"),
    (STOCK_COUNTS, count(-1), "quantity -1"),
    (STOCK_COUNTS, count(10, shop=" "), "shop_id is empty"),
    (STOCK_COUNTS, count(10, at=datetime(1999, 12, 31, tzinfo=UTC)), "counted_at"),
    (STOCK_DELIVERIES, delivery(10).model_copy(update={"delivery_id": ""}), "delivery_id"),
    (SALES, sale(SHOP, 1).model_copy(update={"ticket_id": "elsewhere/t1/1"}), "ticket"),
])
async def test_a_record_that_can_never_be_applied_is_rejected_before_any_change(
    stock, publisher, topic, event, problem
) -> None:
    with pytest.raises(Reject, match=problem):
        await deliver(stock, topic, event, offset=0)
    await commit(stock, 0)
    assert publisher.take() == []


async def test_a_ticket_one_of_whose_lines_cannot_be_applied_changes_no_level(
    publisher, kafka
) -> None:
    mappings, products = _catalog(QuantityUnit.PIECE)
    service = make_service(publisher, mappings=mappings, products=products)
    # The bread's level is at the bottom of an Avro long: selling one more cannot be written.
    kafka.held[STOCK_LEVELS.name, 0] = [level(5_000, product=TOMATO),
                                        level(LONG[0], product=BREAD)]
    with pytest.raises(Reject, match="Avro long"):
        await deliver(service, SALES, sale(SHOP, 1), offset=0)
    await commit(service, 0)
    assert publisher.take() == []  # the tomatoes' line, computed first, was not applied either
    await deliver(service, STOCK_WASTE, waste(100).model_copy(update={"product_id": TOMATO}),
                  offset=0)
    [changed] = publisher.take()
    assert changed.event.on_hand == 4_900


async def test_a_revoked_partition_s_levels_are_forgotten_and_read_again_when_it_comes_back(
    stock, publisher, kafka
) -> None:
    await stock.shelves.own({0, 1})
    await deliver(stock, STOCK_COUNTS, count(10_000), offset=0)
    # As the runtime does on revocation: commit what is done, then forget.
    await commit(stock, 0)
    assert levels_written(publisher)[f"{SHOP}/{PRODUCT}"].on_hand == 10_000
    stock.shelves.forget({0})

    # Meanwhile the partition's next owner applied more and wrote its level.
    kafka.held[STOCK_LEVELS.name, 0] = [level(4_000)]
    await stock.shelves.own({0})
    assert sorted(kafka.reads) == [(STOCK_LEVELS.name, 0), (STOCK_LEVELS.name, 0),
                                   (STOCK_LEVELS.name, 1)]  # partition 1 was not read again
    await deliver(stock, STOCK_WASTE, waste(100, waste_id="waste-9"), offset=3)
    [changed] = publisher.take()
    assert changed.event.on_hand == 3_900  # from the level read again, not the one forgotten


async def test_what_a_revoked_partition_left_uncommitted_is_not_written_by_us(
    stock, publisher
) -> None:
    await deliver(stock, STOCK_COUNTS, count(10_000), offset=0)
    publisher.take()
    stock.shelves.forget({0})
    await commit(stock, 0)  # e.g. the runtime committing another partition's progress
    assert publisher.take() == []  # the partition's new owner writes its levels now


async def test_a_record_loads_its_partition_once_even_alongside_the_assignment_hook(
    stock, publisher, kafka
) -> None:
    kafka.held[STOCK_LEVELS.name, 4] = [level(1_000)]
    await asyncio.gather(
        stock.shelves.own({4}),
        deliver(stock, STOCK_WASTE, waste(300), offset=0, partition=4))
    assert kafka.reads == [(STOCK_LEVELS.name, 4)]
    [changed] = publisher.take()
    assert changed.event.on_hand == 700
