"""The demo's season: two years of weekly sales from before the tills joined Vivres (as a
territory would import them from its former till software), and, for the coming season, a few
épiceries' forward needs (the first weeks firm: contrats de culture) and the producers' crop
plans. Pure and deterministic; `vivres demo season` writes them once per stack.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.planning.outlook import monday
from services.events.planning import CropPlanned, ForwardNeedStated, HistoryWeekImported
from services.sales.intake import RefundIn
from services.simulator import model
from services.simulator.supply import PRODUCERS, Producer
from services.simulator.territories import PRODUCTS, SHOP_BY_ID, Product, Shop, till_code

HISTORY_YEARS = 2
PLANNED = 3  # products each producer plans
PLAN_SHARE = 0.7  # of last year's week, spread over the territory's producers of the product
NEED_SHOPS = 2  # épiceries of each territory stating needs
NEED_SHARE = 0.6  # of their own share of last year's week
FIRM_WEEKS = 8  # the first weeks of those needs are firm
HORIZON = 26
Series = dict[tuple[str, str], dict[date, float]]


def daily_units(shops: Iterable[Shop], first: date, days: int, seed: int,
                progress: Callable[[int], None] | None = None) -> Series:
    """Units sold per (territory, product) and local day, sales less refunds, from the
    simulator's model (what its tills would send)."""
    shops = list(shops)
    product_of = {(shop.id, till_code(shop.id, p.id)[0]): p.id for shop in shops
                  for p in PRODUCTS}
    series: Series = defaultdict(lambda: defaultdict(float))
    for offset in range(days):
        day = first + timedelta(days=offset)
        for shop in shops:
            for upload in model.simulate_day(shop, day, seed):
                for item in [*upload.batch.tickets, *upload.batch.refunds]:
                    _add(series, shop, item, product_of)
        if progress is not None:
            progress(1)
    return series


def _add(series: Series, shop: Shop, item, product_of) -> None:
    day = item.occurred_at.astimezone(ZoneInfo(SHOP_BY_ID[shop.id].timezone)).date()
    sign = -1 if isinstance(item, RefundIn) else 1
    for line in item.lines:
        product = product_of.get((shop.id, line.product_code))
        if product is not None:
            series[(shop.territory, product)][day] += sign * line.quantity


def weekly(days: dict[date, float]) -> dict[date, int]:
    weeks: dict[date, float] = defaultdict(float)
    for day, units in days.items():
        weeks[monday(day)] += units
    return {week: round(units) for week, units in weeks.items()}


def imported(series: Series, now: datetime) -> Iterator[HistoryWeekImported]:
    for (territory, product), days in sorted(series.items()):
        for week, units in sorted(weekly(days).items()):
            yield HistoryWeekImported(
                history_key=HistoryWeekImported.key(territory, product, week),
                territory=territory, product_id=product, week=week, units=max(0, units),
                imported_at=now)


def _last_year(history: dict[date, int], week: date) -> int:
    return history.get(week - timedelta(weeks=52), 0)


def _planned_products(producer: Producer) -> list[Product]:
    """PLANNED local products of the producer's categories sold in its territory (each
    producer its own, where it has enough)."""
    fit = [p for p in PRODUCTS if p.local and p.category in producer.categories
           and p.sold_in(producer.territory)]
    start = PRODUCERS.index(producer) % max(len(fit), 1)  # neighbours share some
    return (fit[start:] + fit[:start])[:PLANNED]


def plans(history: dict[tuple[str, str], dict[date, int]], today: date, now: datetime
          ) -> list[CropPlanned]:
    """Each producer's plan for its products: its share of PLAN_SHARE of last year's week,
    in the product's months only."""
    growers: dict[tuple[str, str], list[Producer]] = defaultdict(list)
    for producer in PRODUCERS:
        for product in _planned_products(producer):
            growers[(producer.territory, product.id)].append(producer)
    found = []
    for (territory, product_id), producers in sorted(growers.items()):
        product = next(p for p in PRODUCTS if p.id == product_id)
        for k in range(HORIZON):
            week = monday(today) + timedelta(weeks=k)
            units = round(PLAN_SHARE * _last_year(history.get((territory, product_id), {}),
                                                    week) / len(producers))
            if units <= 0 or not product.in_season(week + timedelta(days=3)):
                continue
            found += [CropPlanned(plan_key=CropPlanned.key(p.id, territory, product_id, week),
                                  producer_id=p.id, territory=territory, product_id=product_id,
                                  week=week, units=units, planned_at=now) for p in producers]
    return found


def needs(history: dict[tuple[str, str], dict[date, int]], shops: Iterable[Shop],
          planned: Iterable[CropPlanned], today: date, now: datetime) -> list[ForwardNeedStated]:
    """The first NEED_SHOPS shops of each territory state NEED_SHARE of their share of last
    year's week for the planned products, the first FIRM_WEEKS firm at 80 % of the price."""
    by_territory: dict[str, list[Shop]] = defaultdict(list)
    for shop in shops:
        by_territory[shop.territory].append(shop)
    price = {p.id: p.price_cents for p in PRODUCTS}
    pairs = sorted({(p.territory, p.product_id) for p in planned})
    found = []
    for territory, product_id in pairs:
        every = by_territory[territory]
        for shop in every[:NEED_SHOPS]:
            for k in range(HORIZON):
                week = monday(today) + timedelta(weeks=k)
                units = round(NEED_SHARE * _last_year(history.get((territory, product_id), {}),
                                                      week) / len(every))
                if units <= 0:
                    continue
                firm = k < FIRM_WEEKS
                found.append(ForwardNeedStated(
                    need_key=ForwardNeedStated.key(shop.id, product_id, week),
                    territory=territory, shop_id=shop.id, product_id=product_id, week=week,
                    units=units, firm=firm, price_cents=price[product_id] * 8 // 10 if firm
                    else None, stated_by=shop.id, stated_at=now))
    return found


def history_span(before: date) -> tuple[date, int]:
    """(first day, days) of the HISTORY_YEARS × 52 weeks before the Monday `before`."""
    first = before - timedelta(weeks=52 * HISTORY_YEARS)
    return first, (before - first).days

