"""The demand processor: a faust-streaming app turning sales, refunds and stock movements into
live demand signals per territory × product (and shop × product).

    sales.tickets ─┐                       (keyed by shop)
    sales.refunds ─┼─▶ agent `facts`: decode, map till codes to products, bucket on the
    stock.changes ─┘   shop's local day ──▶ vivres-demand-facts (keyed territory/product)
                                                  │
                        agent `fold` (table `demand` on RocksDB, changelog) ◀──┘
                        every 0.2 s, the keys that changed ──▶ demand.signals, demand.shop-signals

Both agents run with concurrency=1. Days are buckets of event time in ordinary tables, not
faust windows (their expiry runs on wall-clock time). The fold is idempotent by source position
(services.demand.state), which also absorbs faust 0.15.3's double processing after a table
restore. Offers and orders are read as tables (supply.offers, orders.orders) for the committed
supply; till-code mappings and the shops' territories likewise.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import faust
import structlog

from services.bus.catalog import (
    DEMAND_SIGNALS,
    MAPPINGS,
    OFFERS,
    ORDERS,
    REFUNDS,
    SALES,
    SHOP_SIGNALS,
    SHOPS,
    STOCK_CHANGES,
)
from services.bus.codec import AvroCodec
from services.bus.logging import configure_logging
from services.bus.publisher import Publisher, make_producer
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.bus.table import TableView
from services.demand import state as demand_state
from services.demand.signals import committed_supply
from services.events.catalog import code_key
from services.events.sales import SaleRecorded, SaleRefunded
from services.events.stock import StockChanged

APP_ID = "vivres-demand"
PARTITIONS = 6
FLUSH_S = 0.2
FLUSH_KEYS = 40  # keys recomputed per flush at most; the rest wait for the next
log = structlog.get_logger("vivres.demand")


class References:
    """The tables the agents look things up in, and the signals' publisher, opened once."""

    def __init__(self, settings: BusSettings) -> None:
        self.settings = settings
        self._ready: asyncio.Task[None] | None = None
        self.tables: dict[str, TableView[Any]] = {}

    async def ready(self) -> None:
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._open())
        await asyncio.shield(self._ready)

    async def _open(self) -> None:
        self.registry = SchemaRegistry(self.settings.schema_registry_url)
        self.codecs = {t.name: AvroCodec.for_topic(self.registry, t)
                       for t in (SALES, REFUNDS, STOCK_CHANGES)}
        for topic in (MAPPINGS, SHOPS, OFFERS, ORDERS):
            self.tables[topic.name] = await TableView(self.settings, self.registry,
                                                      topic).__aenter__()
        self.producer = make_producer(self.settings, client_id=APP_ID)
        await self.producer.start()
        self.publisher = Publisher(self.producer, self.registry)
        log.info("demand references loaded", mappings=len(self.tables[MAPPINGS.name]),
                 shops=len(self.tables[SHOPS.name]))

    def mapping(self, shop_id: str, line: Any) -> str | None:
        found = self.tables[MAPPINGS.name].get(code_key(shop_id, line.code_kind,
                                                        line.product_code))
        return found.product_id if found is not None else None

    def shop(self, shop_id: str) -> Any:
        return self.tables[SHOPS.name].get(shop_id)


def facts_of(refs: References, event: Any, topic: str, partition: int, offset: int
             ) -> list[demand_state.Fact]:
    """The facts one source record makes (none for a shop or till code nobody mapped)."""
    shop = refs.shop(event.shop_id)
    if shop is None:
        return []
    src = f"{topic}:{partition}"
    at_ms = int(event.event_time.timestamp() * 1000)
    day = event.event_time.astimezone(ZoneInfo(shop.timezone)).date()
    if isinstance(event, StockChanged):
        return [demand_state.stock_fact(territory=shop.territory, product_id=event.product_id,
                                        shop_id=shop.shop_id, day=day, on_hand=event.on_hand,
                                        at_ms=at_ms, src=src, offset=offset)]
    sign = -1 if isinstance(event, SaleRefunded) else 1
    facts = []
    for index, line in enumerate(event.lines):
        product = refs.mapping(event.shop_id, line)
        if product is not None:
            facts.append(demand_state.sold_fact(
                territory=shop.territory, product_id=product, shop_id=shop.shop_id, day=day,
                units=sign * line.quantity, at_ms=at_ms, src=src, offset=offset, index=index))
    return facts


def create_app(settings: BusSettings, datadir: str, *, app_id: str = APP_ID,
               territories: frozenset[str] = frozenset()) -> faust.App:
    """The app; `territories`, when given, is all it folds (a processor per territory)."""
    app = faust.App(
        app_id, broker=f"kafka://{settings.kafka_bootstrap_servers}", store="rocksdb://",
        datadir=datadir, topic_partitions=PARTITIONS, topic_replication_factor=1,
        table_standby_replicas=0, web_enabled=False, autodiscover=False,
        processing_guarantee="at_least_once", consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=1.0, broker_rebalance_timeout=30.0,
        broker_commit_interval=0.5)
    refs = References(settings)
    sources = app.topic(SALES.name, REFUNDS.name, STOCK_CHANGES.name, key_type=bytes,
                        value_type=bytes, key_serializer="raw", value_serializer="raw")
    facts_topic = app.topic(f"{app_id}-facts", key_type=str,
                            key_serializer="raw", value_serializer="json",
                            partitions=PARTITIONS, internal=True)
    table = app.Table("demand", default=dict, partitions=PARTITIONS, key_type=str)
    dirty: set[str] = set()
    events = {SALES.name: SaleRecorded, REFUNDS.name: SaleRefunded,
              STOCK_CHANGES.name: StockChanged}

    @app.agent(sources, concurrency=1)
    async def facts(stream):  # type: ignore[no-untyped-def]
        await refs.ready()
        async for event in stream.events():
            message = event.message
            if territories:  # sources are keyed by shop: skip other territories undecoded
                shop = refs.shop(message.key.decode() if message.key else "")
                if shop is None or shop.territory not in territories:
                    continue
            with structlog.contextvars.bound_contextvars(
                    topic=message.topic, partition=message.partition, offset=message.offset):
                try:
                    data = await refs.codecs[message.topic].decode(event.value)
                    decoded = events[message.topic].from_avro(data)
                except Exception as err:  # noqa: BLE001 - logged and counted, never fatal
                    log.warning("record not decodable, skipped", error=repr(err)[:300])
                    continue
                for fact in facts_of(refs, decoded, message.topic, message.partition,
                                     message.offset):
                    await facts_topic.send(
                        key=demand_state.key_of(fact["territory"], fact["product"]),
                        value=fact)

    @app.agent(facts_topic, concurrency=1)
    async def fold(stream):  # type: ignore[no-untyped-def]
        # One event at a time: faust acks an event when the next one is taken, so batching
        # with take() would commit offsets of facts not folded yet (lost on a crash).
        async for key, fact in stream.items():
            today = _today()
            current = dict(table[key])
            if demand_state.apply(current, fact, today):
                demand_state.prune(current, today)
                current["territory"], current["product"] = fact["territory"], fact["product"]
                table[key] = current
                dirty.add(key)

    @app.timer(FLUSH_S)
    async def flush() -> None:
        if not dirty:
            return
        await refs.ready()
        keys = sorted(dirty)[:FLUSH_KEYS]  # a bounded slice: the loop must not stall
        dirty.difference_update(keys)
        now = datetime.now(UTC)
        today = _today()
        offers = list(refs.tables[OFFERS.name].values())
        orders = list(refs.tables[ORDERS.name].values())
        for key in keys:
            current = table[key]
            if not current:
                continue
            territory, product = current["territory"], current["product"]
            committed = committed_supply(offers, orders, territory, product, today)
            for signal in demand_state.signals(current, territory, product, today,
                                               committed_7d=committed, now=now):
                topic = DEMAND_SIGNALS if signal.shop_id is None else SHOP_SIGNALS
                await refs.publisher.enqueue(topic, demand_state.to_wire(signal))
        await refs.publisher.settle()

    return app


def _today():
    """Today in the épiceries' timezone (the signals' 'today')."""
    return datetime.now(ZoneInfo("Europe/Paris")).date()


def main() -> None:
    settings = BusSettings()
    configure_logging(settings.log_level, settings.log_format)
    datadir = os.environ.get("VIVRES_DEMAND_DATADIR", ".vivres/demand")
    territories = os.environ.get("VIVRES_DEMAND_TERRITORIES", "")
    app = create_app(settings, datadir, app_id=os.environ.get("VIVRES_DEMAND_APP_ID", APP_ID),
                     territories=frozenset(t for t in territories.split(",") if t))
    sys.argv = sys.argv[:1]  # mode's worker parses argv: give it none of ours
    faust.Worker(app, loglevel=settings.log_level.lower()).execute_from_commandline()
