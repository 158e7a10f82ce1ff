"""The pooled-orders service: shops' needs consolidated by the hub into one order per producer
per delivery slot, chosen with the selection grid, followed from allocation to receipt.

Needs and requests are keyed by territory and read with the range assignor, so one member owns
a territory's partition; its orders live in the same partition of the compacted
`orders.orders`, each snapshot listing the requests it applied, so a redelivered request changes
nothing. A request that opens orders (a consolidation, a refusal's re-allocation) is worked out
again when it is redelivered, against what the orders other requests opened hold: it comes to
the same orders, named by the request, and only those that never made it to `orders.orders` are
written. A receipt at a shop becomes `stock.deliveries` records whose stock position is the
order itself, so the stock service counts a delivery once even if it is sent twice.
"""

from __future__ import annotations

from datetime import date, datetime

import structlog

from services.bus.catalog import NEEDS, OFFERS, ORDER_COMMANDS, ORDERS, STOCK_DELIVERIES
from services.bus.ownership import PartitionStates
from services.bus.partitions import read_partition
from services.bus.platform import Platform
from services.bus.runtime import ErrorPolicy, Received, Reject, Route
from services.bus.table import TableView
from services.events import orders as wire
from services.events.stock import DeliveryReceived
from services.events.supply import OfferDeclared
from services.orders import lifecycle
from services.orders.checks import command_problem, need_problem, offer_problem
from services.orders.allocation import (
    AllocationRules,
    Hub,
    Need,
    Order,
    OrderLine,
    ShopPart,
    allocate,
    reallocate,
)
from services.orders.grid import DEFAULT_WEIGHTS, GridResult, Location, MixedCandidates, Offer

GROUP = "vivres-orders"
RULES = AllocationRules(DEFAULT_WEIGHTS, tolerance_per_mille=100)
COMMANDS = {wire.OrderAction.CONFIRM: lifecycle.Confirm, wire.OrderAction.SHIP: lifecycle.Ship,
            wire.OrderAction.RECEIVE_AT_HUB: lifecycle.ReceiveAtHub,
            wire.OrderAction.DISPATCH: lifecycle.Dispatch,
            wire.OrderAction.RECEIVE_AT_SHOP: lifecycle.ReceiveAtShop}
log = structlog.get_logger("vivres.orders")


class Territories:
    """What one input partition holds: needs, orders, and the requests already applied."""

    def __init__(self) -> None:
        self.needs: dict[str, wire.NeedStated] = {}
        self.orders: dict[str, lifecycle.OrderState] = {}
        self.commands: dict[str, tuple[str, ...]] = {}  # order id -> request id of each step
        self.hubs: dict[str, Location] = {}  # order id -> the hub it is delivered to

    @property
    def applied(self) -> set[str]:
        return {command for ids in self.commands.values() for command in ids}

    def opened_by_others(self, request_id: str) -> list[lifecycle.OrderState]:
        """The orders some other request opened (the first step of each names its request; a
        snapshot without steps, which another tool may write, counts as another's)."""
        return [state for order_id, state in self.orders.items()
                if self.commands.get(order_id, ())[:1] != (request_id,)]

    def allocated_needs(self, request_id: str) -> set[str]:
        """Needs an order of another request holds: a refused one's stay with its
        re-allocation (its producer is never asked again), a cancelled one's are free again."""
        return {part.need_id for state in self.opened_by_others(request_id)
                if state.status is not wire.OrderStatus.CANCELLED
                for line in state.order.lines for part in line.parts}

    def reserved(self, slot: date, request_id: str) -> dict[str, int]:
        """What the standing orders of other requests take of each offer on the slot."""
        taken: dict[str, int] = {}
        for state in self.opened_by_others(request_id):
            if state.status in wire.STANDING and state.order.delivery_slot == slot:
                for line in state.order.lines:
                    taken[line.offer_id] = taken.get(line.offer_id, 0) + line.quantity
        return taken


class OrdersService:
    def __init__(self, platform: Platform, offers: TableView[OfferDeclared]) -> None:
        self.platform = platform
        self.offers = offers
        self.partitions = PartitionStates(self._load)

    def routes(self) -> list[Route]:
        policy = ErrorPolicy(retries=3, backoff_s=0.2)
        return [Route(NEEDS, self.handle, policy), Route(ORDER_COMMANDS, self.handle, policy)]

    async def _load(self, partition: int) -> Territories:
        """The partition's orders (compacted snapshots) and every need stated in it."""
        state = Territories()
        settings, registry = self.platform.settings, self.platform.registry
        async for snapshot in read_partition(settings, registry, ORDERS, partition):
            order_state, commands = order_from_wire(snapshot)
            state.orders[snapshot.order_id] = order_state
            state.commands[snapshot.order_id] = commands
            state.hubs[snapshot.order_id] = Location(snapshot.hub_lat_e6, snapshot.hub_lon_e6)
        async for need in read_partition(settings, registry, NEEDS, partition):
            if need_problem(need) is None:  # one rejected when it came: not kept now either
                state.needs[need.need_id] = need
        log.info("orders partition loaded", partition=partition, orders=len(state.orders),
                 needs=len(state.needs))
        return state

    async def handle(self, received: Received) -> None:
        state = await self.partitions.get(received.partition)
        event = received.event
        problem = (need_problem(event) if isinstance(event, wire.NeedStated)
                   else command_problem(event))
        if problem:
            raise Reject(problem)
        if isinstance(event, wire.NeedStated):
            state.needs[event.need_id] = event
            return
        if event.action is wire.OrderAction.CONSOLIDATE:  # idempotent: worked out again
            await self._consolidate(received.partition, state, event)
            return
        current = state.orders.get(event.order_id or "")
        if current is None:
            raise Reject(f"unknown order {event.order_id}")
        if event.command_id in state.applied:  # redelivered: its effect is in a snapshot
            if event.action is wire.OrderAction.REFUSE:  # but maybe not all its replacements
                await self._replace(received.partition, state, current, event)
            return
        actor = lifecycle.Actor(event.actor_role, event.actor_id)
        if event.action is wire.OrderAction.REFUSE:
            command = lifecycle.Refuse(actor, event.reason or "")
        elif event.action is wire.OrderAction.CANCEL:
            command = lifecycle.Cancel(actor, event.reason or "")
        else:
            command = COMMANDS[event.action](actor)
        try:
            after, events = lifecycle.apply(current, command, event.commanded_at)
        except (lifecycle.IllegalTransition, lifecycle.NotAllowed) as err:
            raise Reject(str(err)) from err
        for done in events:
            if isinstance(done, lifecycle.DeliveryReceived):
                await self.platform.publisher.enqueue(STOCK_DELIVERIES, DeliveryReceived(
                    delivery_id=f"{done.order_id}/{done.shop_id}/{done.product_id}",
                    shop_id=done.shop_id, product_id=done.product_id, quantity=done.quantity,
                    unit=done.unit, order_id=done.order_id, received_at=done.at))
        await self._record(received.partition, state, after, event)
        if event.action is wire.OrderAction.REFUSE:
            await self._replace(received.partition, state, after, event)

    async def _replace(self, partition: int, state: Territories, refused: lifecycle.OrderState,
                       request: wire.OrderCommanded) -> None:
        """The refused order's lines re-allocated to the next candidates: again when the
        refusal is redelivered, besides the replacements it opened, so only missing ones open."""
        order = refused.order
        hub = state.hubs[order.order_id]
        offers = await self._offers(order.territory, order.delivery_slot)
        try:
            replacement = reallocate(order, offers, Hub(order.territory, hub), RULES,
                                     reserved=state.reserved(order.delivery_slot,
                                                             request.command_id))
        except MixedCandidates as err:
            raise Reject(str(err)) from err
        fresh = [o for o in replacement.orders if o.order_id not in state.orders]
        await self._open(partition, state, fresh, request, hub)
        for left in replacement.unallocated:
            log.warning("refused need not re-allocated", need=left.need_id, shop=left.shop_id,
                        product=left.product_id, reason=left.reason.value)

    async def _consolidate(self, partition: int, state: Territories,
                           request: wire.OrderCommanded) -> None:
        """The slot's needs no other request's order holds, in orders named by this request:
        redelivered, it finds the same needs and capacity, so only missing orders open."""
        territory, slot, request_id = request.territory, request.delivery_slot, request.command_id
        hub = Location(request.hub_lat_e6, request.hub_lon_e6)
        taken = state.allocated_needs(request_id)
        needs = [Need(n.need_id, n.shop_id, n.territory, n.product_id, n.quantity,
                      n.delivery_slot) for n in state.needs.values()
                 if n.territory == territory and n.delivery_slot == slot
                 and n.need_id not in taken]
        if not needs:
            log.info("nothing to consolidate", territory=territory, slot=slot.isoformat())
            return
        offers = await self._offers(territory, slot)
        try:
            allocation = allocate(needs, offers, Hub(territory, hub), RULES,
                                  reserved=state.reserved(slot, request_id), batch=request_id)
        except MixedCandidates as err:  # the same every time: set aside at once, not retried
            raise Reject(str(err)) from err
        fresh = [order for order in allocation.orders if order.order_id not in state.orders]
        await self._open(partition, state, fresh, request, hub)
        for left in allocation.unallocated:
            log.warning("need not allocated", need=left.need_id, shop=left.shop_id,
                        product=left.product_id, reason=left.reason.value)

    async def _open(self, partition: int, state: Territories, orders, request,
                    hub: Location) -> None:
        coordinator = lifecycle.Actor(lifecycle.Role.HUB, request.territory)
        for order in orders:
            started = lifecycle.new_order(order, request.commanded_at)
            allocated, _ = lifecycle.apply(started, lifecycle.Allocate(coordinator),
                                           request.commanded_at)
            state.commands[order.order_id] = (request.command_id,)  # the NEEDED step
            state.hubs[order.order_id] = hub
            await self._record(partition, state, allocated, request)

    async def _record(self, partition: int, state: Territories, after: lifecycle.OrderState,
                      request: wire.OrderCommanded) -> None:
        commands = state.commands.get(after.order.order_id, ()) + (request.command_id,)
        state.orders[after.order.order_id] = after
        state.commands[after.order.order_id] = commands
        await self.platform.publisher.enqueue(
            ORDERS, order_to_wire(after, commands, state.hubs[after.order.order_id],
                                  request.commanded_at), partition=partition)

    async def _offers(self, territory: str, slot: date) -> list[Offer]:
        """The territory's offers open on the slot; one the grid cannot use is left out. Every
        offer written before the request was handled is known first: one a producer declared
        just before the hub consolidated is not left out because its table lagged."""
        if not await self.offers.catch_up():
            log.warning("offers not caught up, allocating with those known", territory=territory)
        found = []
        for o in self.offers.values():
            if o.territory != territory or not o.open_on(slot):
                continue
            problem = offer_problem(o)
            if problem:
                log.warning("offer left out of the grid", offer=o.offer_id, problem=problem)
                continue
            found.append(Offer(o.producer_id, o.offer_id, o.territory, o.product_id, slot,
                               o.unit, o.price_cents, o.pack_size, o.quantity_per_slot,
                               o.organic, frozenset(o.labels),
                               Location(o.farm_lat_e6, o.farm_lon_e6)))
        return found


# --- wire <-> domain --------------------------------------------------------------------------


def order_to_wire(state: lifecycle.OrderState, commands: tuple[str, ...], hub: Location,
                  at: datetime) -> wire.OrderRecorded:
    """The snapshot of an order; `commands` names the request behind each step of its history."""
    order = state.order
    return wire.OrderRecorded(
        order_id=order.order_id, territory=order.territory, producer_id=order.producer_id,
        delivery_slot=order.delivery_slot, hub_lat_e6=hub.lat_e6, hub_lon_e6=hub.lon_e6,
        status=state.status,
        lines=tuple(wire.OrderLine(
            product_id=line.product_id, offer_id=line.offer_id, unit=line.unit,
            pack_size=line.pack_size, packs=line.packs, requested=line.requested,
            unit_price_cents=line.unit_price_cents,
            parts=tuple(wire.ShopPart(need_id=p.need_id, shop_id=p.shop_id, quantity=p.quantity)
                        for p in line.parts),
            candidates=tuple(wire.Candidate(
                rank=c.rank, producer_id=c.producer_id, offer_id=c.offer_id, quality=c.quality,
                locality=c.locality, accessibility=c.accessibility, total=c.total,
                distance_m=c.distance_m, unit_price_cents=c.unit_price_cents,
                organic=c.organic, labels_counted=c.labels_counted,
                cheapest_price_cents=c.cheapest_price_cents, capacity=c.capacity,
                explanation=c.explanation) for c in line.candidates))
            for line in order.lines),
        history=tuple(wire.Step(status=step.status, at=step.at,
                                actor_role=step.by.role,
                                actor_id=step.by.id, command_id=command_id,
                                reason=step.reason or None)
                      for step, command_id in zip(state.history, commands, strict=True)),
        received_by=tuple(sorted(state.received_by)), replaces=order.replaces,
        refused_by=tuple(sorted(order.refused_by)), recorded_at=at)


def order_from_wire(snapshot: wire.OrderRecorded) -> tuple[lifecycle.OrderState, tuple[str, ...]]:
    order = Order(
        order_id=snapshot.order_id, producer_id=snapshot.producer_id,
        territory=snapshot.territory, delivery_slot=snapshot.delivery_slot,
        lines=tuple(OrderLine(
            product_id=line.product_id, offer_id=line.offer_id, unit=line.unit,
            pack_size=line.pack_size, packs=line.packs, requested=line.requested,
            unit_price_cents=line.unit_price_cents,
            parts=tuple(ShopPart(p.need_id, p.shop_id, p.quantity) for p in line.parts),
            candidates=tuple(GridResult(
                rank=c.rank, producer_id=c.producer_id, offer_id=c.offer_id, quality=c.quality,
                locality=c.locality, accessibility=c.accessibility, total=c.total,
                organic=c.organic, labels_counted=c.labels_counted, distance_m=c.distance_m,
                unit_price_cents=c.unit_price_cents,
                cheapest_price_cents=c.cheapest_price_cents, capacity=c.capacity,
                explanation=c.explanation) for c in line.candidates))
            for line in snapshot.lines),
        replaces=snapshot.replaces, refused_by=frozenset(snapshot.refused_by))
    history = tuple(lifecycle.Step(step.status, step.at,
                                   lifecycle.Actor(step.actor_role, step.actor_id),
                                   step.reason or "")
                    for step in snapshot.history)
    state = lifecycle.OrderState(order, snapshot.status, history,
                                 frozenset(snapshot.received_by))
    return state, tuple(step.command_id for step in snapshot.history)


async def serve(platform: Platform) -> None:
    async with TableView(platform.settings, platform.registry, OFFERS) as offers:
        service = OrdersService(platform, offers)
        consumer = platform.consumer(GROUP, service.routes(), owned=service.partitions)
        async with consumer:
            await consumer.run()


def main() -> None:
    from services.bus.platform import run_service

    run_service(serve, "orders")
