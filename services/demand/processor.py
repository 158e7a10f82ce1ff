"""The demand processor: a faust-streaming app turning sales, refunds and shelf changes into
live demand signals per territory × product (and shop × product).

    sales.tickets ─┐  all keyed by shop, 6 partitions: a shop's records meet in one partition
    sales.refunds ─┼─▶ agent `fold` (concurrency 1), a batch at a time: each record decoded,
    stock.alerts ──┘   its lines mapped to products and bucketed on the shop's local day,
                       folded into DemandState (services.demand.state); the records it changed
                       are written to table `demand` (RocksDB, changelog) on the partition of
                       their source
    every 0.02 s: the territory × product pairs that changed ──▶ demand.signals (territory)
                                                            └─▶ demand.shop-signals (shops)

Why this shape: a shop's sales never cross partitions, so there is no repartition topic (the
throughput is one consume, not two); the table holds one small record per shop and day rather
than a key's whole history, so a batch writes a few records; territory sums happen in memory
at signal time. One worker holds every partition; several workers would each publish partial
territory sums (a second stage combining the shop signals per territory would lift that).

Days are buckets of event time, not faust windows (their expiry runs on wall-clock time). The
fold is idempotent by source offset per record, which absorbs faust's redeliveries after a
crash or a table restore; the positions of each source partition, kept with the records, find
the records faust acks without handing them over during a rebalance (state.Positions).
Stock on hand, offers, orders, till-code mappings and shops are read with our TableView; a
change to stock, offers or orders refreshes the pairs it touches.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterable
import weakref
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import faust
import structlog
from faust.streams import _current_event
import uvloop
from aiokafka import ConsumerRecord

from services.bus.catalog import (
    DEMAND_SIGNALS,
    MAPPINGS,
    OFFERS,
    ORDERS,
    REFUNDS,
    SALES,
    SHOP_SIGNALS,
    SHOPS,
    STOCK_ALERTS,
    STOCK_LEVELS,
)
from services.bus.admin import brokers_of
from services.bus.codec import AvroCodec
from services.bus.deadletter import Stage, describe, send_to_dead_letter
from services.bus.logging import configure_logging
from services.bus.metrics import Metrics, MetricsServer
from services.bus.partitions import read_range
from services.bus.publisher import Publisher, make_producer
from services.bus.registry import SchemaRegistry
from services.bus.runtime import freeze_startup_heap
from services.bus.settings import BusSettings
from services.bus.table import TableView
from services.demand.signals import committed_supply
from services.demand.state import DemandState, Key, Shelf, Sold, position_key, to_wire
from services.events.catalog import code_key
from services.events.checks import first, id_problem, time_problem
from services.sales.checks import ticket_problem
from services.events.sales import SaleRefunded
from services.events.stock import StockAlerted, StockStatus

# The consumer group, the table's changelog and the RocksDB directory are named after it. Bump
# it when the table's layout changes: the new app replays the sources into the new layout.
# (-2: records per shop and day, 2026-11-26.)
APP_ID = "vivres-demand-2"
PARTITIONS = 6
BATCH = 2000  # records per batch at most
BATCH_S = 0.005  # how long a batch waits to fill
FLUSH_S = 0.02  # signals of the pairs changed are published this often
CATCHING_UP_FLUSH_S = 2.0  # ... and this often while the fold is far behind a source's end:
BEHIND = 500  # records; a replay would otherwise spend its time on signals about to change
FLUSH_BUDGET_S = 0.015  # computing time per flush; the remaining pairs wait for the next one
TAIL_CHECK_S = 1.0  # how often partitions whose position stands below their end are checked
TAIL_GRACE_S = 3.0  # ... and how long a position must stand still before the end is read
TAIL_READ_MAX = 5_000  # records read at most per partition and check
EMPTY = frozenset({StockStatus.OUT, StockStatus.NEGATIVE})
SOURCES = (SALES, REFUNDS, STOCK_ALERTS)  # all keyed by shop, with as many partitions
log = structlog.get_logger("vivres.demand")


class References:
    """The tables the agent looks things up in, and the signals' publisher, opened once."""

    def __init__(self, settings: BusSettings) -> None:
        self.settings = settings
        self.metrics = Metrics("demand")
        self._ready: asyncio.Task[None] | None = None
        self.tables: dict[str, TableView[Any]] = {}
        self.on_hand: dict[Key, dict[str, int]] = {}  # pair → shop → units on hand
        self._supply: tuple[tuple[int, int], date, dict[Key, list], dict[str, list]] | None = None

    async def ready(self) -> None:
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._open())
        await asyncio.shield(self._ready)

    async def _open(self) -> None:
        self.registry = SchemaRegistry(self.settings.schema_registry_url)
        self.codecs = {t.name: AvroCodec.for_topic(self.registry, t) for t in SOURCES}
        for topic in (MAPPINGS, SHOPS, OFFERS, ORDERS, STOCK_LEVELS):
            self.tables[topic.name] = await TableView(self.settings, self.registry,
                                                      topic).__aenter__()
        self.producer = make_producer(self.settings, client_id=APP_ID)
        await self.producer.start()
        self.publisher = Publisher(self.producer, self.registry, self.metrics)
        for level in self.tables[STOCK_LEVELS.name].values():
            self._level(level)
        log.info("demand references loaded", mappings=len(self.tables[MAPPINGS.name]),
                 shops=len(self.tables[SHOPS.name]))
        freeze_startup_heap()

    async def close(self) -> None:
        if self._ready is None or not self._ready.done() or self._ready.exception():
            return
        await self.producer.stop()
        for table in self.tables.values():
            await table.__aexit__(None, None, None)
        await self.registry.aclose()

    def mapping(self, shop_id: str, line: Any) -> str | None:
        found = self.tables[MAPPINGS.name].get(code_key(shop_id, line.code_kind,
                                                        line.product_code))
        return found.product_id if found is not None else None

    def shop(self, shop_id: str) -> Any:
        return self.tables[SHOPS.name].get(shop_id)

    def _level(self, level: Any) -> Key | None:
        shop = self.shop(level.shop_id)
        if shop is None:
            return None
        pair = (shop.territory, level.product_id)
        self.on_hand.setdefault(pair, {})[level.shop_id] = level.on_hand
        return pair

    async def follow_changes(self, dirty: dict[Key, None]) -> None:
        """Stock levels, offers and orders that change mark their pairs for a new signal."""
        queues = {name: self.tables[name].watch() for name in (STOCK_LEVELS.name, OFFERS.name,
                                                               ORDERS.name)}
        getters = {asyncio.ensure_future(q.get()): name for name, q in queues.items()}
        while True:
            done, _ = await asyncio.wait(getters, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                name = getters.pop(task)
                row = self.tables[name].get(task.result())
                if row is not None:
                    dirty.update(dict.fromkeys(self._pairs(name, row)))
                getters[asyncio.ensure_future(queues[name].get())] = name

    def _pairs(self, table: str, row: Any) -> Iterable[Key]:
        if table == STOCK_LEVELS.name:
            pair = self._level(row)
            return [pair] if pair is not None else []
        if table == OFFERS.name:
            return [(row.territory, row.product_id)]
        return [(row.territory, line.product_id) for line in row.lines]

    def committed(self, pair: Key, today: date) -> int:
        """Committed supply of a pair over the next 7 days (indexes rebuilt on change)."""
        offers, orders = self.tables[OFFERS.name], self.tables[ORDERS.name]
        version = (offers.version, orders.version)
        if self._supply is None or self._supply[:2] != (version, today):
            by_pair: dict[Key, list] = {}
            for offer in offers.values():
                by_pair.setdefault((offer.territory, offer.product_id), []).append(offer)
            by_territory: dict[str, list] = {}
            for order in orders.values():
                by_territory.setdefault(order.territory, []).append(order)
            self._supply = (version, today, by_pair, by_territory)
        _, _, by_pair, by_territory = self._supply
        return committed_supply(by_pair.get(pair, []), by_territory.get(pair[0], []),
                                pair[0], pair[1], today)


def effect_of(refs: References, event: Any, topic: str, partition: int, offset: int
              ) -> Sold | Shelf | None:
    """What one source record does (nothing for a shop nobody registered, or a shelf change
    that neither empties nor restocks it)."""
    shop = refs.shop(event.shop_id)
    if shop is None:
        return None
    src = f"{topic}:{partition}"
    moment = event.occurred_at
    day = moment.astimezone(ZoneInfo(shop.timezone)).date()
    if isinstance(event, StockAlerted):
        if (event.previous in EMPTY) == (event.status in EMPTY):
            return None
        return Shelf(shop_id=shop.shop_id, territory=shop.territory,
                     product_id=event.product_id, day=day, empty=event.status in EMPTY,
                     src=src, offset=offset)
    sign = -1 if isinstance(event, SaleRefunded) else 1
    units: dict[str, int] = {}
    for line in event.lines:
        product = refs.mapping(event.shop_id, line)
        if product is not None:
            units[product] = units.get(product, 0) + sign * line.quantity
    if not units:
        return None
    return Sold(shop_id=shop.shop_id, territory=shop.territory, day=day, units=units,
                at_ms=int(moment.timestamp() * 1000), src=src, offset=offset)


def create_app(settings: BusSettings, datadir: str, *, app_id: str = APP_ID,
               territories: frozenset[str] = frozenset(), brokers: int = 1) -> faust.App:
    """The app; `territories`, when given, is all it folds (a processor per territory); its
    table's changelog is replicated as the catalog's topics are on `brokers` brokers."""
    app = faust.App(
        app_id, broker=f"kafka://{settings.kafka_bootstrap_servers}", store="rocksdb://",
        datadir=datadir, topic_partitions=PARTITIONS,
        topic_replication_factor=SALES.replication(brokers)[0],
        table_standby_replicas=0, web_enabled=False, autodiscover=False,
        processing_guarantee="at_least_once", consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=1.0, broker_rebalance_timeout=30.0,
        broker_commit_interval=0.5, stream_buffer_maxsize=4 * BATCH,
        broker_credentials=_credentials(settings))
    refs = References(settings)
    sources = app.topic(*(t.name for t in SOURCES), key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw")
    table = app.Table("demand", default=None, partitions=PARTITIONS, key_type=str)
    events = {t.name: t.event for t in SOURCES}
    dirty: dict[Key, None] = {}  # pairs to publish: outlives a reloaded state
    worker = _Worker()

    @app.on_partitions_revoked.connect
    async def revoked(*_args: Any, **_kwargs: Any) -> None:
        worker.state = None  # the next batch reloads what this worker still owns

    def state() -> DemandState:
        if worker.state is None:  # after a (re)assignment, its tables recovered
            worker.state = DemandState(dirty)
            for key, record in table.items():
                worker.state.load(key, record)
            log.info("demand state loaded", records=len(worker.state.records))
        return worker.state

    async def apply(current: DemandState, src: str, messages: list[Any],
                    pending: dict[str, Any]) -> None:
        """Fold records of one source partition, in order; what changed goes to `pending`."""
        today = _today()
        for one in messages:
            changed: list[tuple[str, Any]] = []
            effect = await _effect(refs, events, one, territories)
            if effect is not None:
                changed = (current.apply_shelf(effect) if isinstance(effect, Shelf)
                           else current.apply_sold(effect, today))
            current.positions.applied(src, one.offset)
            changed.append((position_key(src), {"next": one.offset + 1}))
            for key, record in changed:  # in the order of their last change: a
                pending.pop(key, None)  # position goes after the records it covers
                pending[key] = record

    def write(partition: int, pending: dict[str, Any]) -> None:
        """A table write goes to the changelog partition of the "current event": make it one
        of this partition's, so a record is restored where its shop lives."""
        _current_event.set(weakref.ref(worker.last_event[partition]))
        for key, record in pending.items():
            if record is None:
                table.pop(key, None)
            else:
                table[key] = record

    @app.agent(sources, concurrency=1)
    async def fold(stream):  # type: ignore[no-untyped-def]
        await refs.ready()
        async for batch in stream.take_events(BATCH, within=BATCH_S):
            worker.catching_up = _behind(app, batch)
            async with worker.lock:  # the tail check folds too
                current = state()
                writes: dict[int, dict[str, Any]] = {}  # partition → records to write
                for event in batch:
                    message = event.message
                    src = f"{message.topic}:{message.partition}"
                    start = current.positions.admit(src, message.offset)
                    if start is None:
                        continue  # applied before
                    messages = [message]
                    if start < message.offset:
                        log.warning("records faust never handed over: read them directly",
                                    src=src, offset=message.offset, expected=start)
                        messages = await read_range(settings, message.topic,
                                                    message.partition, start,
                                                    message.offset) + messages
                    worker.last_event[message.partition] = event
                    await apply(current, src, messages, writes.setdefault(message.partition,
                                                                          {}))
                for partition, pending in writes.items():
                    write(partition, pending)

    @app.timer(TAIL_CHECK_S)
    async def tail_check() -> None:
        """A record faust drops and acks at the very end of a partition reveals no hole (no
        later record comes): when a partition's position has stood still below its end for a
        while, its remaining records are read directly and folded."""
        current = worker.state
        if current is None:
            return
        now = time.monotonic()
        for tp in app.consumer.assignment():
            src = f"{tp.topic}:{tp.partition}"
            position, end = current.positions.next.get(src), app.consumer.highwater(tp)
            if position is None or end is None or position >= end:
                worker.still.pop(src, None)
                continue
            seen = worker.still.get(src)
            if seen is None or seen[0] != position:  # new, or it moved: the agent is on it
                worker.still[src] = (position, now)
                continue
            if now - seen[1] < TAIL_GRACE_S or tp.partition not in worker.last_event:
                continue
            async with worker.lock:
                start = current.positions.next.get(src)
                if start is None or start >= end or worker.state is not current:
                    continue
                stop = min(end, start + TAIL_READ_MAX)
                log.warning("partition end not handed over for a while: read directly",
                            src=src, expected=start, end=end)
                records = await read_range(settings, tp.topic, tp.partition, start, stop)
                if app.rebalancing or worker.state is not current:
                    continue  # revoked meanwhile: its next owner folds them
                pending: dict[str, Any] = {}
                await apply(current, src, records, pending)
                if current.positions.next[src] < stop:  # nothing there (markers): a real hole
                    current.positions.applied(src, stop - 1)
                    pending[position_key(src)] = {"next": stop}
                write(tp.partition, pending)
            worker.still.pop(src, None)

    @app.task
    async def follow_references() -> None:
        await refs.ready()
        await refs.follow_changes(dirty)

    @app.timer(FLUSH_S)
    async def flush() -> None:
        current = worker.state
        if not dirty or current is None:
            return
        if worker.catching_up and time.monotonic() - worker.flushed < CATCHING_UP_FLUSH_S:
            return
        worker.flushed = time.monotonic()
        await refs.ready()
        now = datetime.now(UTC)
        today = _today()
        deadline = time.perf_counter() + FLUSH_BUDGET_S
        while current.dirty and time.perf_counter() < deadline:
            for pair in current.take_dirty(8):
                for signal in current.signals(pair, today, on_hand=refs.on_hand.get(pair, {}),
                                              committed_7d=refs.committed(pair, today),
                                              now=now):
                    topic = DEMAND_SIGNALS if signal.shop_id is None else SHOP_SIGNALS
                    await refs.publisher.enqueue(topic, to_wire(signal))
        await refs.publisher.settle()

    @app.task
    async def serve_metrics() -> None:
        async with MetricsServer(refs.metrics, settings.metrics_host,
                                 settings.metrics_port) as server:
            log.info("metrics served", url=server.url)
            await asyncio.Event().wait()  # until the worker stops and cancels its tasks

    @app.on_before_shutdown.connect
    async def close(*_args: Any, **_kwargs: Any) -> None:
        await refs.close()

    return app


@dataclass
class _Worker:
    """What the agent and the flush share."""

    state: DemandState | None = None  # None: to be (re)loaded from the table
    catching_up: bool = False  # some source partition was far behind in the last batch
    flushed: float = 0.0  # monotonic time of the last flush
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one fold at a time
    last_event: dict[int, Any] = field(default_factory=dict)  # partition → an event of it
    still: dict[str, tuple[int, float]] = field(default_factory=dict)  # src → (position, since)


async def _effect(refs: References, events: dict[str, Any], message: Any,
                  territories: frozenset[str]) -> Sold | Shelf | None:
    """What a source record does; a record that cannot be decoded, or whose content cannot be
    folded, is dead-lettered (nothing of it is folded) and does nothing."""
    if territories:  # sources are keyed by shop: skip other territories undecoded
        shop = refs.shop(message.key.decode(errors="replace") if message.key else "")
        if shop is None or shop.territory not in territories:
            return None
    with structlog.contextvars.bound_contextvars(
            topic=message.topic, partition=message.partition, offset=message.offset):
        refs.metrics.consumed.labels("demand", message.topic).inc()
        try:
            data = await refs.codecs[message.topic].decode(message.value)
            decoded = events[message.topic].from_avro(data)
        except Exception as err:  # noqa: BLE001 - one bad record never stops the fold
            await _dead_letter(refs, message, Stage.DECODE, err)
            return None
        try:
            effect = foldable(refs, decoded, message.topic, message.partition, message.offset)
        except Exception as err:  # noqa: BLE001 - pure: only the record's content fails it
            await _dead_letter(refs, message, Stage.HANDLE, err)
            return None
        # faust gives its messages' append time in seconds, aiokafka (read_range) in ms
        appended = message.timestamp / (1000 if isinstance(message, ConsumerRecord) else 1)
        refs.metrics.applied(message.topic, decoded.event_time.timestamp(), appended)
        refs.metrics.handled.labels("demand", message.topic).inc()
        return effect


class Unfoldable(ValueError):
    """A source record whose content the fold cannot take: it is dead-lettered."""


def foldable(refs: References, event: Any, topic: str, partition: int, offset: int
             ) -> Sold | Shelf | None:
    """`effect_of`, for a record checked first (services.sales.checks): raises Unfoldable
    for one with a problem, or whose day cannot be told (its shop's timezone unknown)."""
    problem = (alert_problem(event) if isinstance(event, StockAlerted)
               else ticket_problem(event))
    if problem:
        raise Unfoldable(problem)
    try:
        return effect_of(refs, event, topic, partition, offset)
    except (ZoneInfoNotFoundError, ValueError, OverflowError) as err:
        raise Unfoldable(f"{type(err).__name__}: {err}") from err


def alert_problem(event: StockAlerted) -> str | None:
    return first([id_problem("shop_id", event.shop_id),
                  id_problem("product_id", event.product_id),
                  time_problem("occurred_at", event.occurred_at)])


async def _dead_letter(refs: References, message: Any, stage: Stage, err: BaseException
                       ) -> None:
    log.warning("record dead-lettered", stage=stage.value, error=describe(err)[:500],
                dead_letter_topic=f"{message.topic}.dlq")
    await send_to_dead_letter(refs.producer, message, stage, err, "demand")
    refs.metrics.dead_lettered.labels("demand", message.topic, stage.value).inc()


def _credentials(settings: BusSettings) -> faust.auth.Credentials | None:
    """The same identity as our own clients (services.bus.settings), in faust's terms."""
    options = settings.kafka_options()
    if settings.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    if not settings.kafka_security_protocol.startswith("SASL"):
        return None
    return faust.SASLCredentials(username=options["sasl_plain_username"],
                                 password=options["sasl_plain_password"],
                                 ssl_context=options.get("ssl_context"),
                                 mechanism=options["sasl_mechanism"])


def _behind(app: faust.App, batch: list[Any]) -> bool:
    """Whether the batch's last record of some partition is far from its end (a backlog)."""
    last = {event.message.tp: event.message.offset for event in batch}
    return any((app.consumer.highwater(tp) or 0) - offset > BEHIND
               for tp, offset in last.items())


def _today() -> date:
    """Today in the épiceries' timezone (the signals' 'today')."""
    return datetime.now(ZoneInfo("Europe/Paris")).date()


def main() -> None:
    settings = BusSettings()
    configure_logging(settings.log_level, settings.log_format)
    datadir = os.environ.get("VIVRES_DEMAND_DATADIR", ".vivres/demand")
    territories = os.environ.get("VIVRES_DEMAND_TERRITORIES", "")
    app = create_app(settings, datadir, app_id=os.environ.get("VIVRES_DEMAND_APP_ID", APP_ID),
                     territories=frozenset(t for t in territories.split(",") if t),
                     brokers=asyncio.run(brokers_of(settings)))
    sys.argv = sys.argv[:1]  # mode's worker parses argv: give it none of ours
    uvloop.install()  # faust's consumer path runs a third faster on it (measured)
    faust.Worker(app, loglevel=settings.log_level.lower()).execute_from_commandline()
