"""The demand processor's sources, and what one record of them does to the demand. Pure.

Records are taken in their Avro form, as a reader decodes them (a dict), never as events (an
enum symbol is a str there, a StrEnum in an event's model_dump: both hash and compare alike): the
bulk catch-up folds a few hundred thousand of them a minute, and building a validated event
per record cost more than the fold itself (bench/README.md). The checks are the services'
own (services.sales.checks), on the same form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.bus.catalog import REFUNDS, SALES, STOCK_ALERTS
from services.demand.state import Shelf, Sold
from services.events.checks import first, id_problem, time_problem
from services.sales.checks import record_problem
from services.events.stock import StockStatus

SOURCES = (SALES, REFUNDS, STOCK_ALERTS)  # all keyed by shop, with as many partitions
PARTITIONS = 6
EMPTY = frozenset({StockStatus.OUT.value, StockStatus.NEGATIVE.value})


class Lookups(Protocol):
    """What the fold looks up (services.demand.references.References, or a test's fake)."""

    def shop(self, shop_id: str) -> Any: ...

    def products_of(self, shop_id: str) -> Callable[[tuple[str, str]], str | None]: ...


class Unfoldable(ValueError):
    """A source record whose content the fold cannot take: it is dead-lettered."""


def foldable(refs: Lookups, topic: str, record: Mapping[str, Any], partition: int,
             offset: int) -> Sold | Shelf | None:
    """`effect_of` a record checked first: raises Unfoldable for one with a problem, or whose
    day cannot be told (its shop's timezone unknown)."""
    problem = (alert_problem(record) if topic == STOCK_ALERTS.name
               else record_problem(record, refund=topic == REFUNDS.name))
    if problem:
        raise Unfoldable(problem)
    try:
        return effect_of(refs, topic, record, partition, offset)
    except (ZoneInfoNotFoundError, ValueError, OverflowError) as err:
        raise Unfoldable(f"{type(err).__name__}: {err}") from err


def effect_of(refs: Lookups, topic: str, record: Mapping[str, Any], partition: int,
              offset: int) -> Sold | Shelf | None:
    """What one source record does (nothing for a shop nobody registered, or a shelf change
    that neither empties nor restocks it)."""
    shop = refs.shop(record["shop_id"])
    if shop is None:
        return None
    src = f"{topic}:{partition}"
    moment = record["occurred_at"]
    day = local_day(moment, shop.timezone)
    if topic == STOCK_ALERTS.name:
        empty = record["status"] in EMPTY
        if (record["previous"] in EMPTY) == empty:
            return None
        return Shelf(shop_id=shop.shop_id, territory=shop.territory,
                     product_id=record["product_id"], day=day, empty=empty, src=src,
                     offset=offset)
    sign = -1 if topic == REFUNDS.name else 1
    units: dict[str, int] = {}
    product_of = refs.products_of(record["shop_id"])
    for line in record["lines"]:
        product = product_of((line["code_kind"], line["product_code"]))
        if product is not None:
            units[product] = units.get(product, 0) + sign * line["quantity"]
    if not units:
        return None
    return Sold(shop_id=shop.shop_id, territory=shop.territory, day=day, units=units,
                at_ms=int(moment.timestamp() * 1000), src=src, offset=offset)


def alert_problem(record: Mapping[str, Any]) -> str | None:
    return first([id_problem("shop_id", record["shop_id"]),
                  id_problem("product_id", record["product_id"]),
                  time_problem("occurred_at", record["occurred_at"])])


def local_day(moment: Any, timezone: str) -> date:
    return moment.astimezone(_zone(timezone)).date()


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
