"""The orders service's handlers with fakes: needs and requests built by hand go through the
handlers its routes give, offers are a plain dict, what it would publish is recorded, and the
partition reads of `orders.orders` and `orders.needs` come from lists. No broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.bus.catalog import NEEDS, ORDER_COMMANDS, ORDERS, STOCK_DELIVERIES
from services.bus.runtime import Reject
from services.events.orders import (
    ActorRole,
    NeedStated,
    OrderAction,
    OrderCommanded,
    OrderRecorded,
    OrderStatus,
)
from services.events.sales import QuantityUnit
from services.events.supply import OfferDeclared
from services.orders import service as orders_service
from services.orders.service import OrdersService
from tests.unit.fakes import FakePartitions, FakePublisher, FakeTable, deliver

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SLOT = date(2026, 12, 3)
TERRITORY = "lyon"
HUB = (45_750_000, 4_850_000)
SHOPS = ("graine", "escale")
NEAR, FAR, FARTHER = "ferme-proche", "verger-lointain", "ferme-du-bout"
FIRST_ORDER = f"{TERRITORY}/{SLOT.isoformat()}/consolidate-1/{NEAR}"  # named by its request


class OrdersPublisher(FakePublisher):
    def orders(self) -> dict[str, OrderRecorded]:
        """The order snapshots taken, by order id (the newest of each)."""
        return {s.key: s.event for s in self.take() if s.topic == ORDERS.name}


def offer(producer: str, *, price: int, pack: int, lat_e6: int, organic: bool = False,
          capacity: int = 1_000_000, unit: QuantityUnit = QuantityUnit.GRAM,
          product: str = "poireau") -> OfferDeclared:
    return OfferDeclared(
        offer_id=f"{producer}-{product}", producer_id=producer, territory=TERRITORY,
        product_id=product, unit=unit, quantity_per_slot=capacity, pack_size=pack,
        price_cents=price, window_start=SLOT - timedelta(days=7),
        window_end=SLOT + timedelta(days=7), organic=organic, labels=(), farm_lat_e6=lat_e6,
        farm_lon_e6=4_850_000, declared_at=T0 - timedelta(days=3))


def grid_offers(*, far_capacity: int = 1_000_000) -> dict[str, OfferDeclared]:
    """Three producers of leeks, in grid order: organic and near, then farther and farther."""
    offers = [offer(NEAR, price=320, pack=5_000, lat_e6=45_800_000, organic=True),
              offer(FAR, price=250, pack=5_000, lat_e6=46_500_000, capacity=far_capacity),
              offer(FARTHER, price=240, pack=5_000, lat_e6=47_500_000)]
    return {o.offer_id: o for o in offers}


@pytest.fixture
def kafka(monkeypatch) -> FakePartitions:
    partitions = FakePartitions()
    monkeypatch.setattr(orders_service, "read_partition", partitions.read_partition)
    return partitions


@pytest.fixture
def publisher() -> OrdersPublisher:
    return OrdersPublisher()


def make_service(publisher: OrdersPublisher, offers: dict[str, OfferDeclared]) -> OrdersService:
    platform = SimpleNamespace(settings=None, registry=None, publisher=publisher)
    return OrdersService(platform, FakeTable(offers))


@pytest.fixture
def orders(publisher, kafka) -> OrdersService:
    return make_service(publisher, grid_offers())


def need(shop: str, quantity: int, *, slot: date = SLOT) -> NeedStated:
    return NeedStated(need_id=f"{shop}-poireau", shop_id=shop, territory=TERRITORY,
                      product_id="poireau", quantity=quantity, unit=QuantityUnit.GRAM,
                      delivery_slot=slot, stated_at=T0)


def command(action: OrderAction, command_id: str, *, order_id: str | None = FIRST_ORDER,
            role: ActorRole = ActorRole.PRODUCER, actor: str = NEAR,
            reason: str | None = None, at: datetime = T0 + timedelta(hours=1)
            ) -> OrderCommanded:
    return OrderCommanded(command_id=command_id, territory=TERRITORY, action=action,
                          order_id=order_id, actor_role=role, actor_id=actor, reason=reason,
                          commanded_at=at)


def consolidate(command_id: str = "consolidate-1", **fields) -> OrderCommanded:
    return OrderCommanded(**{
        "command_id": command_id, "territory": TERRITORY, "action": OrderAction.CONSOLIDATE,
        "delivery_slot": SLOT, "actor_role": ActorRole.HUB, "actor_id": TERRITORY,
        "hub_lat_e6": HUB[0], "hub_lon_e6": HUB[1], "commanded_at": T0, **fields})


async def needs_consolidated(service: OrdersService, partition: int = 0) -> None:
    """Two shops state 12 kg and 8 kg of leeks; the hub consolidates the slot."""
    for offset, (shop, grams) in enumerate(zip(SHOPS, (12_000, 8_000), strict=True)):
        await deliver(service, NEEDS, need(shop, grams), offset=offset, partition=partition)
    await deliver(service, ORDER_COMMANDS, consolidate(), partition=partition)


def test_needs_and_requests_are_routed_to_a_handler_with_retries() -> None:
    routes = make_service(OrdersPublisher(), {}).routes()
    assert [route.topic for route in routes] == [NEEDS, ORDER_COMMANDS]
    assert all(route.policy.retries > 0 for route in routes)


async def test_a_consolidation_allocates_the_needs_to_the_grid_s_first_offer(
    orders, publisher
) -> None:
    await needs_consolidated(orders, partition=3)
    [sent] = publisher.take()
    assert (sent.topic, sent.key, sent.partition) == (ORDERS.name, FIRST_ORDER, 3)
    order = sent.event
    assert (order.producer_id, order.status, order.delivery_slot) == (
        NEAR, OrderStatus.ALLOCATED, SLOT)
    assert (order.hub_lat_e6, order.hub_lon_e6) == HUB
    [line] = order.lines
    assert (line.offer_id, line.packs, line.pack_size) == (f"{NEAR}-poireau", 4, 5_000)
    assert {(p.shop_id, p.quantity) for p in line.parts} == {("graine", 12_000),
                                                              ("escale", 8_000)}
    assert [c.producer_id for c in line.candidates] == [NEAR, FAR, FARTHER]
    assert [(s.status, s.command_id) for s in order.history] == [
        (OrderStatus.NEEDED, "consolidate-1"), (OrderStatus.ALLOCATED, "consolidate-1")]


async def test_a_redelivered_or_repeated_consolidation_allocates_nothing_twice(
    orders, publisher
) -> None:
    await needs_consolidated(orders)
    assert list(publisher.orders()) == [FIRST_ORDER]
    await deliver(orders, ORDER_COMMANDS, consolidate())  # the same request again
    await deliver(orders, ORDER_COMMANDS, consolidate("consolidate-2"))  # or a new one
    assert publisher.take() == []


async def test_a_need_stated_after_the_slot_was_consolidated_is_allocated_later(
    orders, publisher
) -> None:
    await needs_consolidated(orders)
    publisher.take()
    await deliver(orders, NEEDS, need("vrac", 5_000), offset=7)
    await deliver(orders, ORDER_COMMANDS, consolidate("consolidate-2"))
    allocated = [p.shop_id for order in publisher.orders().values()
                 for line in order.lines for p in line.parts]
    assert allocated == ["vrac"]


async def test_needs_of_a_cancelled_order_are_allocated_by_the_next_consolidation_only(
    orders, publisher
) -> None:
    await needs_consolidated(orders)
    await deliver(orders, ORDER_COMMANDS, command(OrderAction.CANCEL, "cancel-1",
                                                  role=ActorRole.HUB, actor=TERRITORY), offset=1)
    assert publisher.orders()[FIRST_ORDER].status is OrderStatus.CANCELLED
    await deliver(orders, ORDER_COMMANDS, consolidate())  # redelivered: not opened again
    assert publisher.take() == []
    await deliver(orders, ORDER_COMMANDS, consolidate("consolidate-2"), offset=2)
    [again] = publisher.orders().values()
    assert (again.order_id, again.status) == (
        f"{TERRITORY}/{SLOT.isoformat()}/consolidate-2/{NEAR}", OrderStatus.ALLOCATED)
    assert {p.shop_id for p in again.lines[0].parts} == set(SHOPS)


async def test_an_offer_declared_just_before_the_consolidation_is_used(publisher, kafka) -> None:
    service = make_service(publisher, {})
    service.offers.late = grid_offers()  # acknowledged, not yet applied to the table
    await needs_consolidated(service)
    [sent] = publisher.take()
    assert sent.event.producer_id == NEAR


async def test_an_order_snapshot_without_steps_does_not_stop_the_partition_s_consolidations(
    publisher, kafka
) -> None:
    other = make_service(OrdersPublisher(), grid_offers())
    await needs_consolidated(other, partition=1)
    [stranger] = other.platform.publisher.orders().values()
    kafka.held[ORDERS.name, 1] = [stranger.model_copy(update={
        "order_id": "elsewhere/2026-12-10/ferme", "history": (), "lines": ()})]  # another tool's
    service = make_service(publisher, grid_offers())
    await needs_consolidated(service, partition=1)
    [sent] = publisher.take()
    assert sent.event.producer_id == NEAR


async def test_needs_a_refusal_could_not_place_are_not_consolidated_for_the_refuser_again(
    publisher, kafka
) -> None:
    offers = grid_offers()
    service = make_service(publisher, {k: o for k, o in offers.items() if o.producer_id == NEAR})
    await needs_consolidated(service)
    await deliver(service, ORDER_COMMANDS, command(OrderAction.REFUSE, "refuse-1"), offset=1)
    assert [o.status for o in publisher.orders().values()] == [OrderStatus.REFUSED]
    await deliver(service, ORDER_COMMANDS, consolidate("consolidate-2"), offset=2)
    assert publisher.take() == []  # they are the refusal's, whose re-allocation skips NEAR


async def test_a_consolidation_leaves_needs_of_other_slots_and_territories_alone(
    orders, publisher
) -> None:
    await deliver(orders, NEEDS, need("graine", 12_000, slot=SLOT + timedelta(days=7)))
    await deliver(orders, NEEDS, need("escale", 8_000).model_copy(
        update={"territory": "grenoble"}), offset=1)
    await deliver(orders, ORDER_COMMANDS, consolidate())
    assert publisher.take() == []


async def test_a_refusal_records_the_refused_order_and_re_allocates_its_lines(
    orders, publisher
) -> None:
    await needs_consolidated(orders)
    publisher.take()
    await deliver(orders, ORDER_COMMANDS, command(OrderAction.REFUSE, "refuse-1",
                                                  reason="grêle"), offset=1)
    snapshots = publisher.orders()
    refused, replacement = snapshots[FIRST_ORDER], snapshots[f"{FIRST_ORDER}>{FAR}"]
    assert refused.status is OrderStatus.REFUSED
    assert (refused.history[-1].command_id, refused.history[-1].reason) == ("refuse-1", "grêle")
    assert (replacement.producer_id, replacement.status) == (FAR, OrderStatus.ALLOCATED)
    assert (replacement.replaces, replacement.refused_by) == (FIRST_ORDER, (NEAR,))
    assert {(p.shop_id, p.quantity) for p in replacement.lines[0].parts} == {
        ("graine", 12_000), ("escale", 8_000)}


@pytest.mark.parametrize("far_capacity", [1_000_000, 30_000])
async def test_a_redelivered_refusal_re_allocates_nothing_more(
    publisher, kafka, far_capacity
) -> None:
    service = make_service(publisher, grid_offers(far_capacity=far_capacity))
    await needs_consolidated(service)
    refusal = command(OrderAction.REFUSE, "refuse-1", reason="grêle")
    await deliver(service, ORDER_COMMANDS, refusal, offset=1)
    assert list(publisher.orders()) == [FIRST_ORDER, f"{FIRST_ORDER}>{FAR}"]
    await deliver(service, ORDER_COMMANDS, refusal, offset=1)
    assert publisher.take() == []


async def test_a_refusal_whose_replacement_was_lost_is_re_allocated_on_redelivery(
    publisher, kafka
) -> None:
    """A crash after the refused snapshot was written, before its replacement was: the next
    owner reads the refused order and is handed the refusal again."""
    first = make_service(publisher, grid_offers())
    await needs_consolidated(first)
    refusal = command(OrderAction.REFUSE, "refuse-1", reason="grêle")
    await deliver(first, ORDER_COMMANDS, refusal, offset=1)
    written = publisher.orders()
    kafka.held[ORDERS.name, 0] = [written[FIRST_ORDER]]  # the replacement never made it
    kafka.held[NEEDS.name, 0] = [need(shop, grams)
                                 for shop, grams in zip(SHOPS, (12_000, 8_000), strict=True)]

    successor = make_service(publisher, grid_offers())
    await deliver(successor, ORDER_COMMANDS, refusal, offset=1)
    [sent] = publisher.take()
    assert (sent.key, sent.event.replaces, sent.event.status) == (
        f"{FIRST_ORDER}>{FAR}", FIRST_ORDER, OrderStatus.ALLOCATED)


async def test_a_consolidation_whose_second_order_was_lost_allocates_it_on_redelivery(
    publisher, kafka
) -> None:
    """The near farm can take half: the needs are split over two orders, and a crash loses
    the second snapshot; the next owner is handed the consolidation again."""
    offers = grid_offers()
    near = offers[f"{NEAR}-poireau"]
    offers[near.offer_id] = near.model_copy(update={"quantity_per_slot": 10_000})
    first = make_service(publisher, offers)
    await needs_consolidated(first)
    written = publisher.orders()
    second = f"{TERRITORY}/{SLOT.isoformat()}/consolidate-1/{FAR}"
    assert sorted(written) == [FIRST_ORDER, second]
    kafka.held[ORDERS.name, 0] = [written[FIRST_ORDER]]
    kafka.held[NEEDS.name, 0] = [need(shop, grams)
                                 for shop, grams in zip(SHOPS, (12_000, 8_000), strict=True)]

    successor = make_service(publisher, offers)
    await deliver(successor, ORDER_COMMANDS, consolidate())
    assert list(publisher.orders()) == [second]


async def test_an_order_goes_from_confirmation_to_shops_whose_receipts_become_deliveries(
    orders, publisher
) -> None:
    await needs_consolidated(orders)
    producer = {"role": ActorRole.PRODUCER, "actor": NEAR}
    hub = {"role": ActorRole.HUB, "actor": TERRITORY}
    steps = [(OrderAction.CONFIRM, producer), (OrderAction.SHIP, producer),
             (OrderAction.RECEIVE_AT_HUB, hub), (OrderAction.DISPATCH, hub)]
    for offset, (action, actor) in enumerate(steps, start=1):
        await deliver(orders, ORDER_COMMANDS, command(action, f"step-{offset}", **actor),
                      offset=offset)
    assert publisher.orders()[FIRST_ORDER].status is OrderStatus.DISPATCHED

    await deliver(orders, ORDER_COMMANDS, command(
        OrderAction.RECEIVE_AT_SHOP, "receive-graine", role=ActorRole.SHOP, actor="graine"),
        offset=9)
    sent = publisher.take()
    [received] = [s for s in sent if s.topic == STOCK_DELIVERIES.name]
    assert (received.key, received.event.delivery_id, received.event.quantity) == (
        "graine", f"{FIRST_ORDER}/graine/poireau", 12_000)
    assert received.event.order_id == FIRST_ORDER
    [snapshot] = [s.event for s in sent if s.topic == ORDERS.name]
    assert (snapshot.status, snapshot.received_by) == (OrderStatus.DISPATCHED, ("graine",))

    await deliver(orders, ORDER_COMMANDS, command(
        OrderAction.RECEIVE_AT_SHOP, "receive-escale", role=ActorRole.SHOP, actor="escale"),
        offset=10)
    assert publisher.orders()[FIRST_ORDER].status is OrderStatus.RECEIVED_AT_SHOP


async def test_a_redelivered_request_changes_nothing_even_for_the_next_owner(
    publisher, kafka
) -> None:
    first = make_service(publisher, grid_offers())
    await needs_consolidated(first)
    confirm = command(OrderAction.CONFIRM, "confirm-1")
    await deliver(first, ORDER_COMMANDS, confirm, offset=1)
    written = publisher.orders()
    assert written[FIRST_ORDER].status is OrderStatus.CONFIRMED
    await deliver(first, ORDER_COMMANDS, confirm, offset=1)
    assert publisher.take() == []

    kafka.held[ORDERS.name, 0] = list(written.values())  # what the first owner wrote
    successor = make_service(publisher, grid_offers())
    await deliver(successor, ORDER_COMMANDS, confirm, offset=1)
    assert publisher.take() == []  # the snapshot names the request: not applied again
    await deliver(successor, ORDER_COMMANDS, command(OrderAction.SHIP, "ship-1"), offset=2)
    [shipped] = publisher.orders().values()
    assert shipped.status is OrderStatus.SHIPPED
    assert [s.command_id for s in shipped.history] == [
        "consolidate-1", "consolidate-1", "confirm-1", "ship-1"]


async def test_a_revoked_partition_s_orders_are_forgotten_and_read_again_when_it_comes_back(
    orders, publisher, kafka
) -> None:
    kafka.held[NEEDS.name, 2] = [need("graine", 12_000), need("escale", 8_000),
                                 need("vrac", 0)]  # rejected when it came: skipped on reading
    await orders.partitions.own({2})
    assert sorted(kafka.reads) == [(NEEDS.name, 2), (ORDERS.name, 2)]
    orders.partitions.forget({2})

    # Meanwhile the partition's next owner consolidated the slot and wrote the order.
    other = make_service(OrdersPublisher(), grid_offers())
    await deliver(other, ORDER_COMMANDS, consolidate(), partition=2)
    kafka.held[ORDERS.name, 2] = list(other.platform.publisher.orders().values())

    reads = len(kafka.reads)
    await orders.partitions.own({2})
    assert sorted(kafka.reads[reads:]) == [(NEEDS.name, 2), (ORDERS.name, 2)]
    await deliver(orders, ORDER_COMMANDS, consolidate("consolidate-2"), partition=2)
    assert publisher.take() == []  # the needs are taken by the order read
    await deliver(orders, ORDER_COMMANDS, command(OrderAction.CONFIRM, "confirm-1"),
                  partition=2)
    [confirmed] = publisher.orders().values()
    assert confirmed.status is OrderStatus.CONFIRMED
    assert {p.shop_id for p in confirmed.lines[0].parts} == {"graine", "escale"}


async def test_a_request_loads_its_partition_once_even_alongside_the_assignment_hook(
    orders, publisher, kafka
) -> None:
    kafka.held[NEEDS.name, 1] = [need("graine", 12_000)]
    await asyncio.gather(orders.partitions.own({1}),
                         deliver(orders, ORDER_COMMANDS, consolidate(), partition=1))
    assert sorted(kafka.reads) == [(NEEDS.name, 1), (ORDERS.name, 1)]
    [order] = publisher.orders().values()
    assert [p.shop_id for p in order.lines[0].parts] == ["graine"]


@pytest.mark.parametrize(("bad", "problem"), [
    ({"quantity": 0}, "quantity 0"),
    ({"need_id": ""}, "need_id is empty"),
    ({"delivery_slot": date(1999, 12, 31)}, "delivery_slot"),
])
async def test_a_need_that_can_never_be_consolidated_is_rejected_and_not_kept(
    orders, publisher, bad, problem
) -> None:
    with pytest.raises(Reject, match=problem):
        await deliver(orders, NEEDS, need("graine", 12_000).model_copy(update=bad))
    await deliver(orders, ORDER_COMMANDS, consolidate())
    assert publisher.take() == []


@pytest.mark.parametrize(("request_", "problem"), [
    (consolidate(hub_lat_e6=None), "location is missing"),
    (consolidate(delivery_slot=None), "delivery_slot is missing"),
    (consolidate(command_id=" "), "command_id is empty"),
    (command(OrderAction.CONFIRM, "c-1", order_id=None), "order_id is empty"),
    (command(OrderAction.CONFIRM, "c-1", order_id="lyon/2026-12-03/inconnue"), "unknown order"),
    (command(OrderAction.CONFIRM, "c-1", actor=FAR), "may not Confirm"),  # not its order
    (command(OrderAction.SHIP, "c-1"), "cannot Ship order"),  # not confirmed yet
    (command(OrderAction.DISPATCH, "c-1", role=ActorRole.HUB, actor="grenoble"), "may not"),
])
async def test_a_request_that_can_never_be_carried_out_is_rejected_and_changes_nothing(
    orders, publisher, request_, problem
) -> None:
    await needs_consolidated(orders)
    before = publisher.orders()
    with pytest.raises(Reject, match=problem):
        await deliver(orders, ORDER_COMMANDS, request_, offset=5)
    assert publisher.take() == []
    await deliver(orders, ORDER_COMMANDS, command(OrderAction.CONFIRM, "confirm-1"), offset=6)
    [after] = publisher.orders().values()
    assert after.history[:-1] == before[FIRST_ORDER].history  # the rejected one left no step


async def test_offers_of_one_product_in_two_units_reject_the_consolidation(
    publisher, kafka
) -> None:
    offers = grid_offers()
    by_piece = offer("ferme-en-bottes", price=150, pack=10, lat_e6=45_700_000,
                     unit=QuantityUnit.PIECE)
    service = make_service(publisher, offers | {by_piece.offer_id: by_piece})
    with pytest.raises(Reject, match="candidates mix .*PIECE"):
        await needs_consolidated(service)
    assert publisher.take() == []


async def test_an_offer_the_grid_cannot_use_is_left_out_of_the_allocation(
    publisher, kafka
) -> None:
    offers = grid_offers()
    broken = offers[f"{NEAR}-poireau"].model_copy(update={"price_cents": 0})
    service = make_service(publisher, offers | {broken.offer_id: broken})
    await needs_consolidated(service)
    [order] = publisher.orders().values()
    assert order.producer_id == FAR
    assert [c.producer_id for c in order.lines[0].candidates] == [FAR, FARTHER]
