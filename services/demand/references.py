"""What the demand processor looks things up in, opened once per worker: shops and till-code
mappings (the fold), stock on hand, offers and orders (the signals), and the signals' publisher.
Stock levels, offers and orders that change mark the pairs they touch for a new signal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import structlog

from services.bus.catalog import MAPPINGS, OFFERS, ORDERS, SHOPS, STOCK_LEVELS
from services.bus.codec import AvroCodec
from services.bus.metrics import Metrics
from services.bus.publisher import Publisher, make_producer
from services.bus.registry import SchemaRegistry
from services.bus.runtime import freeze_startup_heap
from services.bus.settings import BusSettings
from services.bus.table import TableView
from services.bus.watch import FOLLOWER_BOUND, FellBehind
from services.demand.signals import committed_supply
from services.demand.sources import SOURCES
from services.demand.state import Key

log = structlog.get_logger("vivres.demand")
_NONE: dict[tuple[str, str], str] = {}


class References:
    """The tables the agent looks things up in, and the signals' publisher, opened once."""

    def __init__(self, settings: BusSettings, client_id: str) -> None:
        self.settings = settings
        self.client_id = client_id
        self.metrics = Metrics("demand")
        self._ready: asyncio.Task[None] | None = None
        self.tables: dict[str, TableView[Any]] = {}
        self.on_hand: dict[Key, dict[str, int]] = {}  # pair → shop → units on hand
        self._mapped: dict[str, dict[tuple[str, str], str]] = {}
        self._mapped_version = -1
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
        self.producer = make_producer(self.settings, client_id=self.client_id)
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

    def products_of(self, shop_id: str) -> Callable[[tuple[str, str]], str | None]:
        """(code kind, till code) → the product it stands for in the shop, or None: a
        ticket's lines are looked up by the dozen, a catch-up's by the hundred thousand (the
        index is rebuilt when a mapping changes)."""
        table = self.tables[MAPPINGS.name]
        if self._mapped_version != table.version:
            index: dict[str, dict[tuple[str, str], str]] = {}
            for mapped in table.values():
                index.setdefault(mapped.shop_id, {})[(mapped.code_kind.value, mapped.code)] = (
                    mapped.product_id)
            self._mapped, self._mapped_version = index, table.version
        return self._mapped.get(shop_id, _NONE).get

    def shop(self, shop_id: str) -> Any:
        return self.tables[SHOPS.name].get(shop_id)

    def _level(self, level: Any) -> Key | None:
        shop = self.shop(level.shop_id)
        if shop is None:
            return None
        pair = (shop.territory, level.product_id)
        self.on_hand.setdefault(pair, {})[level.shop_id] = level.on_hand
        return pair

    async def follow_changes(self, *dirties: dict[Key, None]) -> None:
        """Stock levels, offers and orders that change mark their pairs for a new signal, in
        each of `dirties` (the shops' stage and the territories')."""
        queues = {name: self.tables[name].watch(FOLLOWER_BOUND)
                  for name in (STOCK_LEVELS.name, OFFERS.name, ORDERS.name)}
        getters = {asyncio.ensure_future(q.get()): name for name, q in queues.items()}
        while True:
            done, _ = await asyncio.wait(getters, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                name = getters.pop(task)
                try:
                    rows = [self.tables[name].get(task.result())]
                except FellBehind:  # more changed than it keeps: every row may have
                    rows = list(self.tables[name].values())
                pairs = dict.fromkeys(pair for row in rows if row is not None
                                      for pair in self._pairs(name, row))
                for dirty in dirties:
                    dirty.update(pairs)
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
