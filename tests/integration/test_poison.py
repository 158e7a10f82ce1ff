"""No record's content stops a service (issue 14): well-formed Avro records with content out of
range or contradictory, produced straight to each consuming service's input topics (as a faulty
till or a buggy integration would), are each answered, declined or dead-lettered, and the good
record produced behind each one is processed. Every service runs as its own process (the
ingest stage in the test's event loop, as the sales tests run it) and is still running after.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiokafka.partitioner import murmur2

from services.bus.catalog import (
    DEMAND_SIGNALS,
    MAPPINGS,
    NEEDS,
    OFFERS,
    ORDER_COMMANDS,
    ORDERS,
    PRODUCTS,
    REFUNDS,
    REFUNDS_SUBMITTED,
    REORDER_POINTS,
    SALES,
    SALES_SUBMITTED,
    SHOPS,
    STOCK_ALERTS,
    STOCK_COUNTS,
    STOCK_DELIVERIES,
    STOCK_LEVELS,
    STOCK_WASTE,
    SUBSCRIPTIONS,
    Topic,
)
from services.bus.admin import forget_app
from services.orders.service import GROUP as ORDERS_GROUP
from services.bus.deadletter import DeadLetter, read_dead_letters
from services.bus.publisher import Publisher
from services.bus.table import TableView
from services.caisse.ledger import redemption_request_id, refund_request_id
from services.events.base import Event
from services.events.caisse import (
    CaisseRequested,
    DecisionKind,
    DeclineReason,
    Household,
    Outcome,
    RequestKind,
)
from services.events.catalog import ProductDefined, ShopRegistered, TillCodeMapped
from services.events.demand import SubscriptionRecorded
from services.events.orders import ActorRole, NeedStated, OrderAction, OrderCommanded
from services.events.sales import (
    CodeKind,
    PaymentMethod,
    QuantityUnit,
    RefundLine,
    RefundPayment,
    SaleLine,
    SaleRecorded,
    SaleRefunded,
)
from services.events.stock import (
    AlertKind,
    DeliveryReceived,
    ReorderPointSet,
    StockAlerted,
    StockCounted,
    StockStatus,
    WasteRecorded,
    level_key,
)
from services.events.supply import OfferDeclared
from tests.integration.caisse_support import decision, enrol_request, own_caisse
from tests.integration.sales_stack import ServiceProcess, free_port, running_sales_stack
from tests.integration.test_demand import demand_process
from tests.support import consumed_to_end, demand_signal, eventually, records_since, sale

pytestmark = pytest.mark.integration
RUN = uuid.uuid4().hex[:6]
TERRITORY = f"poison-{RUN}"  # the demand processor folds only this territory
SHOP = f"{TERRITORY}-shop"  # registered in it, with a bogus-timezone neighbour
LOST_SHOP = f"{TERRITORY}-mars"
STOCK_SHOP = f"stock-poison-{RUN}"  # not registered: the demand processor skips it
PRODUCT = f"navet-{RUN}"
HOOKS_TERRITORY = f"hooks-poison-{RUN}"
GOOD_SUB, BROKEN_SUB = f"sub-ok-{RUN}", f"sub-broken-{RUN}"
CODE = "100"
LONG_MAX = 2**63 - 1
FAR = datetime(9999, 12, 31, 23, 30, tzinfo=UTC)  # a day later in Paris: past datetime.max
YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Sent:
    """A record produced for the test, and where it landed."""

    name: str
    topic: str
    partition: int
    offset: int


async def produce(publisher: Publisher, topic: Topic, event: Event, name: str,
                  partition: int | None = None) -> Sent:
    metadata = await publisher.publish(topic, event, partition=partition)
    return Sent(name, topic.name, metadata.partition, metadata.offset)


@dataclass(frozen=True)
class Pair:
    """A poison, and the good record produced right behind it."""

    name: str
    topic: Topic
    poison: Event
    good: Event
    good_topic: Topic | None = None  # the poison's own topic when None

    @property
    def behind(self) -> Topic:
        return self.good_topic or self.topic


async def produce_pairs(publisher: Publisher, pairs: list[Pair]) -> list[Sent]:
    """Each poison, then its good record on the same partition number (every input here is
    keyed by shop or territory, so that is where the good one's key goes anyway): the good
    one waits behind the poison. The poisons' positions are returned."""
    poisons = []
    for pair in pairs:
        first = await produce(publisher, pair.topic, pair.poison, pair.name,
                              _partition_of(pair.behind, pair.good))
        await publisher.publish(pair.behind, pair.good, partition=first.partition)
        poisons.append(first)
    return poisons


def _partition_of(topic: Topic, event: Event) -> int:
    """The partition the event's key goes to (a poison is pinned there: an empty id would
    hash elsewhere)."""
    return (murmur2(topic.key_of(event).encode()) & 0x7FFFFFFF) % topic.partitions


async def dead_letters(settings, sent: list[Sent], service: str, *, naming: str = ""
                       ) -> dict[str, DeadLetter]:
    """Each poison's dead letter written by `service` (whose error names `naming`, when
    given: a signal may be dead-lettered for other subscribers too), once every one is there."""
    found: dict[str, DeadLetter] = {}

    async def all_there() -> bool:
        for topic in {s.topic for s in sent}:
            letters = {(d.original_partition, d.original_offset): d
                       for d in await read_dead_letters(settings, topic, 2000)
                       if d.service == service and d.original_topic == topic
                       and naming in d.error}
            for s in sent:
                if s.topic == topic and (s.partition, s.offset) in letters:
                    found[s.name] = letters[(s.partition, s.offset)]
        return len(found) == len(sent)
    try:
        await eventually(all_there, timeout=60, interval=0.5, what="dead letters")
    except pytest.fail.Exception:
        missing = [s.name for s in sent if s.name not in found]
        pytest.fail(f"not dead-lettered by {service} within 60 s: {missing}")
    return found


def assert_alive(*processes: ServiceProcess) -> None:
    for process in processes:
        assert process.process.poll() is None, (
            f"{process.name} stopped:\n" + process.log_path.read_text(errors="replace")[-3000:])


# --- the running services ----------------------------------------------------------------


@pytest.fixture(scope="module")
async def stack(settings):
    async with running_sales_stack(settings) as running:
        yield running


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[dict[str, bytes]]:
    """A webhook endpoint: the body of each delivery, by its webhook-id."""
    received: dict[str, bytes] = {}

    async def ok(request: web.Request) -> web.Response:
        received[request.headers["webhook-id"]] = await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/ok", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    received["url"] = f"http://127.0.0.1:{port}/ok".encode()
    try:
        yield received
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
async def world(stack, receiver) -> None:
    """The territory's shops (one with a timezone no one has), a product and its till code,
    webhook subscriptions: all written before the services start, so each loads them with its
    reference tables."""
    now = datetime.now(UTC)
    publisher = stack.platform.publisher
    await publisher.publish_many(SHOPS, [
        ShopRegistered(shop_id=SHOP, name=SHOP, territory=TERRITORY, kind="épicerie",
                       timezone="Europe/Paris", registered_at=now),
        ShopRegistered(shop_id=LOST_SHOP, name=LOST_SHOP, territory=TERRITORY, kind="épicerie",
                       timezone="Mars/Olympus", registered_at=now)])
    await publisher.publish(PRODUCTS, ProductDefined(
        product_id=PRODUCT, name="Navet", category="legumes", unit=QuantityUnit.GRAM,
        organic=False, labels=(), defined_at=now))
    await publisher.publish_many(MAPPINGS, [TillCodeMapped(
        shop_id=shop, code=CODE, code_kind=CodeKind.PLU, product_id=PRODUCT, mapped_at=now)
        for shop in (SHOP, LOST_SHOP, STOCK_SHOP)])
    await publisher.publish_many(SUBSCRIPTIONS, [  # one of them with a URL httpx cannot parse
        SubscriptionRecorded(subscription_id=sub, producer_id="ferme", url=url,
                             territory=HOOKS_TERRITORY, secret="s3cret", created_at=now)
        for sub, url in ((GOOD_SUB, receiver["url"].decode()), (BROKEN_SUB, "http://[::1"))])


@pytest.fixture(scope="module")
async def services(settings, world, admin, tmp_path_factory) -> AsyncIterator[dict]:
    """stock, orders, caisse, webhooks and a demand processor of the module's own, started
    together; the processor's group and topics are deleted afterwards."""
    logs = tmp_path_factory.mktemp("poison")
    running = {name: ServiceProcess(name, settings, logs / f"{name}.log")
               for name in ("stock", "orders", "caisse", "webhooks")}
    running["webhooks"].env["VIVRES_WEBHOOK_BACKOFF_S"] = "0.01"
    app_id = f"test-poison-demand-{uuid.uuid4().hex[:6]}"
    running["demand"] = demand_process(settings, logs, TERRITORY, app_id)
    for process in running.values():
        process.start()
    try:
        for name, ready in (("stock", "partitions assigned"), ("orders", "partitions assigned"),
                            ("webhooks", "partitions assigned"),
                            ("demand", "[^Worker]: Ready")):
            log_path = running[name].log_path
            await eventually(lambda p=log_path, r=ready: r in p.read_text(errors="replace"),
                             timeout=120, interval=0.3, what=f"{name} consuming")
        yield running
    finally:
        for process in running.values():
            process.stop()
        await forget_app(settings, app_id)


# --- ingest: sales.tickets.submitted, sales.refunds.submitted ------------------------------


def _ticket(shop: str, number: int, *, at: datetime | None = None, quantity: int = 250,
            timezone: str = "Europe/Paris", **changes) -> SaleRecorded:
    """A one-line ticket of the product's till code, paid cash; `changes` override fields."""
    base = sale(shop, number, at=at or datetime.now(UTC) - timedelta(minutes=5), card_id=None)
    line = SaleLine(line_number=1, product_code=CODE, code_kind=CodeKind.PLU, label="Navets",
                    quantity=quantity, unit=QuantityUnit.GRAM, unit_price_cents=300,
                    paid_cents=40)
    payment = base.payments[0].model_copy(update={"method": PaymentMethod.CASH,
                                                   "amount_cents": 40})
    return base.model_copy(update={"lines": (line,), "payments": (payment,),
                                   "timezone": timezone, **changes})


def _refund(shop: str, number: int, *, quantity: int = 100, original: str | None = None,
            at: datetime | None = None) -> SaleRefunded:
    return SaleRefunded(
        refund_id=f"{shop}/t1/{number}", original_ticket_id=original or f"{shop}/t1/1",
        shop_id=shop, till_id="t1", ticket_number=number,
        occurred_at=at or datetime.now(UTC) - timedelta(minutes=1), timezone="Europe/Paris",
        lines=(RefundLine(line_number=1, product_code=CODE, code_kind=CodeKind.PLU,
                          quantity=quantity, unit=QuantityUnit.GRAM, refunded_cents=10),),
        payments=(RefundPayment(method=PaymentMethod.CASH, amount_cents=10),))


async def test_ingest_dead_letters_poisoned_tickets_and_passes_the_good_ones(
        settings, stack, services) -> None:
    shop = f"ingest-poison-{RUN}"
    since = datetime.now(UTC) - timedelta(seconds=1)
    goods = iter(range(1000, 2000))

    def good() -> SaleRecorded:
        return _ticket(shop, next(goods))

    def good_refund() -> SaleRefunded:
        return _refund(shop, next(goods))

    pairs = [
        Pair("year 9999", SALES_SUBMITTED, _ticket(shop, 1, at=FAR), good()),
        Pair("year 1", SALES_SUBMITTED, _ticket(shop, 2, at=YEAR_ONE), good()),
        Pair("negative quantity", SALES_SUBMITTED, _ticket(shop, 3, quantity=-5), good()),
        Pair("quantity near 2**63", SALES_SUBMITTED, _ticket(shop, 4, quantity=LONG_MAX), good()),
        Pair("id not shop/till/number", SALES_SUBMITTED,
         _ticket(shop, 5, ticket_id=f"{shop}/t1/6"), good()),
        Pair("empty shop id", SALES_SUBMITTED, _ticket("", 7), good()),
        Pair("payments not the lines' total", SALES_SUBMITTED,
         _ticket(shop, 8, payments=()), good()),
        Pair("unknown timezone", SALES_SUBMITTED, _ticket(shop, 9, timezone="Mars/Olympus"),
         good()),
        Pair("refund of another shop's ticket", REFUNDS_SUBMITTED,
         _refund(shop, 10, original="ailleurs/t1/1"), good_refund()),
        Pair("refund quantity near 2**63", REFUNDS_SUBMITTED,
         _refund(shop, 11, quantity=LONG_MAX), good_refund()),
        Pair("refund in year 9999", REFUNDS_SUBMITTED, _refund(shop, 12, at=FAR), good_refund()),
    ]
    poisons = await produce_pairs(stack.platform.publisher, pairs)

    letters = await dead_letters(settings, poisons, stack.platform.service)
    assert {letter.stage for letter in letters.values()} == {"handle"}
    kept = [dict(r.headers)["ce_id"].decode()
            for topic in (SALES, REFUNDS)
            for r in await records_since(settings, topic.name, since, key=shop, expected=sum(
                1 for p in pairs if p.topic.event is topic.event))]
    assert sorted(kept) == sorted(p.good.event_id for p in pairs)  # the good ones, once


# --- stock: sales, refunds, counts, waste, deliveries, reorder points ----------------------


def _waste(n: int) -> WasteRecorded:
    return WasteRecorded(waste_id=f"{STOCK_SHOP}-w{n}", shop_id=STOCK_SHOP, product_id=PRODUCT,
                         quantity=100, unit=QuantityUnit.GRAM, reason="abîmé",
                         recorded_at=datetime.now(UTC))


async def test_stock_dead_letters_poisons_without_half_applying_them(
        settings, registry, stack, services) -> None:
    publisher = stack.platform.publisher
    now = datetime.now(UTC)
    key = level_key(STOCK_SHOP, PRODUCT)
    async with TableView(settings, registry, STOCK_LEVELS) as levels:
        await publisher.publish(STOCK_COUNTS, StockCounted(
            count_id=f"{STOCK_SHOP}-c0", shop_id=STOCK_SHOP, product_id=PRODUCT, quantity=10_000,
            unit=QuantityUnit.GRAM, counted_at=now))
        # the count first: it sets the level, whatever came before it on the other topics
        await eventually(lambda: levels.get(key), timeout=60, what="the first count applied")
        goods = iter(range(1, 100))

        def count(quantity: int, **changes) -> StockCounted:
            return StockCounted(count_id=f"{STOCK_SHOP}-c{quantity}", shop_id=STOCK_SHOP,
                                product_id=PRODUCT, quantity=quantity, unit=QuantityUnit.GRAM,
                                counted_at=now).model_copy(update=changes)

        def reorder(point: int) -> ReorderPointSet:
            return ReorderPointSet(shop_id=STOCK_SHOP, product_id=PRODUCT, reorder_point=point,
                                   set_at=now)

        def pair(name: str, topic: Topic, poison: Event) -> Pair:
            return Pair(name, topic, poison, _waste(next(goods)), STOCK_WASTE)

        half = _ticket(STOCK_SHOP, 1)  # a good line, then a bad one: none may be applied
        half = half.model_copy(update={"lines": (half.lines[0], half.lines[0].model_copy(
            update={"line_number": 2, "quantity": -5}))})
        pairs = [
            pair("negative count", STOCK_COUNTS, count(-5)),
            pair("empty product id", STOCK_COUNTS, count(7, product_id="")),
            pair("count in year 9999", STOCK_COUNTS, count(8, counted_at=FAR)),
            pair("waste near 2**63", STOCK_WASTE,
                 _waste(0).model_copy(update={"waste_id": "w-huge", "quantity": LONG_MAX}),),
            pair("delivery near 2**63 (on hand would overflow)", STOCK_DELIVERIES, DeliveryReceived(
                delivery_id=f"order-x/{STOCK_SHOP}/{PRODUCT}", shop_id=STOCK_SHOP,
                product_id=PRODUCT, quantity=LONG_MAX, unit=QuantityUnit.GRAM, received_at=now),),
            pair("negative reorder point", REORDER_POINTS, reorder(-1)),
            pair("reorder point near 2**63", REORDER_POINTS, reorder(LONG_MAX)),
            pair("ticket with a bad second line", SALES, half),
            pair("refund near 2**63", REFUNDS, _refund(STOCK_SHOP, 2, quantity=LONG_MAX),),
        ]
        poisons = await produce_pairs(publisher, pairs)

        letters = await dead_letters(settings, poisons, "stock")
        assert {letter.stage for letter in letters.values()} == {"handle"}
        expected = 10_000 - 100 * len(pairs)  # every waste behind a poison, nothing of a poison
        await eventually(lambda: levels.get(key).on_hand == expected, timeout=60,
                         what=f"{key} at {expected}")
        assert levels.get(key).reorder_point == 0
    assert_alive(services["stock"])


# --- orders: needs and commands ------------------------------------------------------------


async def test_orders_reject_poisoned_needs_and_requests_and_still_consolidate(
        settings, registry, stack, services) -> None:
    territory = f"orders-poison-{RUN}"
    producer = f"ferme-{RUN}"
    slot = (datetime.now(UTC) + timedelta(days=7)).date()
    now = datetime.now(UTC)
    publisher = stack.platform.publisher
    await publisher.publish(OFFERS, OfferDeclared(
        offer_id=f"offer-{RUN}", producer_id=producer, territory=territory, product_id=PRODUCT,
        unit=QuantityUnit.GRAM, quantity_per_slot=1_000_000, pack_size=1000, price_cents=250,
        window_start=slot - timedelta(days=30), window_end=slot + timedelta(days=30),
        organic=False, labels=(), farm_lat_e6=45_700_000, farm_lon_e6=4_800_000,
        declared_at=now))
    goods = iter(range(1, 100))
    good_needs: list[str] = []

    def need(n: int | None = None, **changes) -> NeedStated:
        n = next(goods) if n is None else n
        made = NeedStated(need_id=f"{territory}-need-{n}", shop_id=f"{territory}-shop",
                          territory=territory, product_id=PRODUCT, quantity=2000,
                          unit=QuantityUnit.GRAM, delivery_slot=slot, stated_at=now)
        made = made.model_copy(update=changes)
        if not changes:
            good_needs.append(made.need_id)
        return made

    def command(action: OrderAction, n: int, **changes) -> OrderCommanded:
        return OrderCommanded(
            command_id=f"{territory}-cmd-{n}", territory=territory, action=action,
            delivery_slot=slot, actor_role=ActorRole.HUB, actor_id=territory,
            hub_lat_e6=45_760_000, hub_lon_e6=4_840_000, commanded_at=now,
        ).model_copy(update=changes)

    def pair(name: str, topic: Topic, poison: Event) -> Pair:
        return Pair(name, topic, poison, need(), NEEDS)

    pairs = [
        pair("negative need", NEEDS, need(900, quantity=-5)),
        pair("need near 2**63", NEEDS, need(901, quantity=LONG_MAX)),
        pair("need for year 9999", NEEDS, need(902, delivery_slot=date(9999, 12, 31))),
        pair("need of an empty shop id", NEEDS, need(903, shop_id="")),
        pair("consolidation with no hub", ORDER_COMMANDS,
         command(OrderAction.CONSOLIDATE, 900, hub_lat_e6=None)),
        pair("hub off the globe", ORDER_COMMANDS,
         command(OrderAction.CONSOLIDATE, 901, hub_lat_e6=2**31 - 1)),
        pair("confirm of an unknown order", ORDER_COMMANDS,
         command(OrderAction.CONFIRM, 902, order_id=f"{territory}/nope",
                 actor_role=ActorRole.PRODUCER, actor_id=producer)),
        pair("confirm of an empty order id", ORDER_COMMANDS,
         command(OrderAction.CONFIRM, 903, order_id="", actor_role=ActorRole.PRODUCER,
                 actor_id=producer)),
    ]
    poisons = await produce_pairs(publisher, pairs)
    # needs and commands are two topics, consumed side by side: the hub consolidates what the
    # service has taken in (seen once: a loaded fresh run consolidated before the needs came)
    await consumed_to_end(settings, ORDERS_GROUP, [NEEDS.name])
    await publisher.publish(ORDER_COMMANDS, command(OrderAction.CONSOLIDATE, 1))

    letters = await dead_letters(settings, poisons, "orders")
    assert {letter.stage for letter in letters.values()} == {"handle"}
    order_id = f"{territory}/{slot.isoformat()}/{territory}-cmd-1/{producer}"  # its request's
    async with TableView(settings, registry, ORDERS) as orders:
        order = await eventually(lambda: orders.get(order_id), timeout=60,
                                 what=f"order {order_id}")
        await publisher.publish(ORDER_COMMANDS, command(
            OrderAction.CONFIRM, 2, order_id=order_id, actor_role=ActorRole.PRODUCER,
            actor_id=producer))
        await eventually(lambda: orders.get(order_id).status.value == "CONFIRMED",
                         timeout=60, what="the order confirmed")
    assert {p.need_id for line in order.lines for p in line.parts} == set(good_needs)
    assert_alive(services["orders"])


# --- caisse: caisse.requests ---------------------------------------------------------------


async def test_caisse_declines_what_it_cannot_apply_and_answers_the_next(
        settings, registry, services) -> None:
    async with own_caisse(settings, registry) as caisse:
        cid = caisse.caisse_id
        shop = f"{cid}-shop"
        await caisse.decide(decision(cid, DecisionKind.APPROVE_SHOP, shop))
        card = f"{cid}-card"
        enrolled = await caisse.client.ask(enrol_request(cid, card, Household(
            adults=1, children=0, income_band="T1")), timeout_s=60)
        assert enrolled.outcome is Outcome.DONE
        await caisse.client.credit_month(cid, "2026-11", "test", timeout_s=60)
        now = datetime.now(UTC)

        def redeem(n: int, **changes) -> CaisseRequested:
            return CaisseRequested(
                request_id=redemption_request_id(shop, f"r{n}"), kind=RequestKind.REDEEM,
                card_id=card, shop_id=shop, redemption_id=f"r{n}", amount_cents=500,
                ticket_id=f"{shop}/t1/{n}", requested_at=now, requested_by=shop,
            ).model_copy(update=changes)

        def credit(n: int, month: str) -> CaisseRequested:
            return CaisseRequested(request_id=f"credit/{cid}/{month}/poison{n}",
                                   kind=RequestKind.CREDIT_MONTH, caisse_id=cid, month=month,
                                   requested_at=now, requested_by="test")

        invalid, amount = DeclineReason.INVALID_REQUEST, DeclineReason.INVALID_AMOUNT
        poisons = [
            ("month 0000-01", credit(1, "0000-01"), invalid),
            ("month 2026-13", credit(2, "2026-13"), invalid),
            ("month 9999-12", credit(3, "9999-12"), invalid),
            ("empty month", credit(4, ""), invalid),
            ("enrolment without household", enrol_request(cid, f"{cid}-c2", None), invalid),
            ("household of -1 adults", enrol_request(cid, f"{cid}-c3", Household(
                adults=-1, children=0, income_band="T1")), invalid),
            ("enrolment of an empty card id", enrol_request(cid, "", Household(
                adults=1, children=0, income_band="T1")).model_copy(
                    update={"request_id": f"enrol/{cid}/empty"}), invalid),
            ("negative amount", redeem(1, amount_cents=-500), amount),
            ("amount near 2**63", redeem(2, amount_cents=LONG_MAX), amount),
            ("redemption in year 9999", redeem(3, requested_at=FAR), invalid),
            ("redemption at an empty shop id", redeem(4, shop_id="", request_id=f"r/{cid}/4"),
             invalid),
            ("unknown card", redeem(5, card_id=f"{cid}-nobody"), DeclineReason.UNKNOWN_CARD),
            ("refund of an unknown redemption", CaisseRequested(
                request_id=refund_request_id(shop, "f1"), kind=RequestKind.REFUND,
                card_id=card, shop_id=shop, redemption_id="r-none", refund_id="f1",
                amount_cents=100, requested_at=now, requested_by=shop),
             DeclineReason.UNKNOWN_REDEMPTION),
        ]
        wrong = {}
        for n, (name, poison, reason) in enumerate(poisons, start=10):
            answer = await caisse.client.ask(poison, timeout_s=30, partition=0 if
                                             poison.kind is RequestKind.CREDIT_MONTH else None)
            if (answer.outcome, answer.reason) != (Outcome.DECLINED, reason):
                wrong[name] = (answer.outcome, answer.reason)
            behind = await caisse.client.ask(redeem(n, amount_cents=1), timeout_s=30)
            assert behind.outcome is Outcome.AUTHORIZED, name
        assert not wrong
    assert_alive(services["caisse"])


# --- demand processor: sales.tickets, sales.refunds, stock.alerts --------------------------


def _alert(at: datetime) -> StockAlerted:
    return StockAlerted(shop_id=SHOP, product_id=PRODUCT, alert=AlertKind.OUT,
                        previous=StockStatus.OK, status=StockStatus.OUT, on_hand=0,
                        reorder_point=0, occurred_at=at, movement_id=f"m-{uuid.uuid4().hex}")


async def test_demand_dead_letters_what_it_cannot_fold_and_folds_the_rest(
        settings, registry, stack, services) -> None:
    publisher = stack.platform.publisher
    yesterday = datetime.combine(datetime.now(PARIS).date() - timedelta(days=1),
                                 datetime.min.time().replace(hour=12), PARIS).astimezone(UTC)
    numbers = iter(range(1, 1000))
    sold: list[int] = []

    def good() -> SaleRecorded:
        n = next(numbers)
        sold.append(10 * n)
        return _ticket(SHOP, 5000 + n, at=yesterday, quantity=10 * n)

    def pair(name: str, topic: Topic, poison: Event) -> Pair:
        return Pair(name, topic, poison, good(), SALES)

    pairs = [
        pair("sale at 9999-12-31T23:30Z", SALES, _ticket(SHOP, 1, at=FAR)),
        pair("sale near 2**63", SALES, _ticket(SHOP, 2, at=yesterday, quantity=LONG_MAX)),
        pair("sale of a shop with an unknown timezone", SALES,
         _ticket(LOST_SHOP, 3, at=yesterday)),
        pair("refund of -5", REFUNDS, _refund(SHOP, 4, quantity=-5, at=yesterday)),
        pair("alert at year 9999", STOCK_ALERTS, _alert(FAR)),
    ]
    poisons = await produce_pairs(publisher, pairs)

    letters = await dead_letters(settings, poisons, "demand")
    assert {letter.stage for letter in letters.values()} == {"handle"}
    day = yesterday.astimezone(PARIS).date()
    async with TableView(settings, registry, DEMAND_SIGNALS) as signals:
        def folded() -> bool:
            signal = signals.get(f"{TERRITORY}/{PRODUCT}")
            return signal is not None and any(
                d.day == day and d.units == sum(sold) for d in signal.sold)
        await eventually(folded, timeout=60, what=f"the good sales ({sum(sold)} g) folded")
    assert_alive(services["demand"])


# --- webhooks: demand.signals --------------------------------------------------------------


async def test_webhooks_deliver_odd_signals_and_dead_letter_a_broken_subscription(
        settings, stack, receiver, services) -> None:
    base = demand_signal(HOOKS_TERRITORY)
    pairs = [
        Pair("day 9999-12-31", DEMAND_SIGNALS, base.model_copy(update={
            "day": date(9999, 12, 31), "inputs_at": FAR, "computed_at": FAR}), base),
        Pair("NaN and infinite figures", DEMAND_SIGNALS, base.model_copy(update={
            "velocity_7d": float("nan"), "forecast_7d": float("inf")}), base),
        Pair("supply near 2**63", DEMAND_SIGNALS, base.model_copy(update={
            "committed_supply_7d": LONG_MAX, "supply_gap_7d": -1e308}), base),
        Pair("empty product id", DEMAND_SIGNALS, base.model_copy(update={"product_id": ""}),
             base),
    ]
    poisons = await produce_pairs(stack.platform.publisher, pairs)

    wanted = {f"{GOOD_SUB}/demand-signal/{p.partition}/{p.offset + k}"
              for p in poisons for k in (0, 1)}
    await eventually(lambda: wanted <= set(receiver), timeout=60,
                     what="every signal, odd or not, delivered")

    def strict(token: str) -> None:
        pytest.fail(f"{token} in a delivery: not JSON")
    for delivery in wanted:
        json.loads(receiver[delivery], parse_constant=strict)
    letters = await dead_letters(settings, poisons, "webhooks", naming=BROKEN_SUB)
    assert {letter.stage for letter in letters.values()} == {"handle"}
    assert_alive(services["webhooks"])
