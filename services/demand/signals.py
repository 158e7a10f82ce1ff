"""Demand signals for one product in one territory (or one shop): what producers plan on. Pure.

Days are the shop's local calendar days, by event time: a ticket uploaded late counts on the
day it was sold. Units are the product's base units (pieces, grams, millilitres), sales less
refunds (a refund counts on the day it was made).

- `velocity_7d`: units over the last 7 complete days (before today) / 7;
- `trend`: velocity_7d over the velocity of the 7 days before those (None when that is zero);
- `days_of_cover`: on hand / velocity_7d (None without stock figures or without sales);
- `stockout_days_7d`: days of the last 7 complete ones on which the shelf was empty;
- the forecast (services.demand.forecast) for the next 7 and 14 days, with a p10–p90 band;
- `supply_gap_7d` = max(0, forecast over 7 days − on hand − committed supply over 7 days);
- `sold`: the last HISTORY_DAYS complete days, day by day; `sold_weeks`: the HISTORY_WEEKS
  complete weeks (Monday to Sunday) before today's week, week by week, for the longer chart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.demand.forecast import Closed, DayForecast, forecast
from services.events.orders import OrderRecorded, OrderStatus
from services.events.supply import OfferDeclared
from services.demand.calendar import is_public_holiday

HISTORY_DAYS = 28  # days of sales a signal carries, for charts
HISTORY_WEEKS = 16  # complete weeks of weekly totals it carries (KEEP_DAYS covers them)


def velocity(sold: Mapping[date, float], today: date, days: int = 7, skip: int = 0) -> float:
    """Units per day over the `days` complete days ending `skip` days before yesterday."""
    first = today - timedelta(days=skip + days)
    return sum(sold.get(first + timedelta(days=k), 0) for k in range(days)) / days


def trend(sold: Mapping[date, float], today: date) -> float | None:
    before = velocity(sold, today, skip=7)
    return round(velocity(sold, today) / before, 4) if before > 0 else None


def days_of_cover(on_hand: int | None, velocity_7d: float) -> float | None:
    if on_hand is None or velocity_7d <= 0:
        return None
    return round(max(0, on_hand) / velocity_7d, 2)


def stockout_days(empty_days: Iterable[date], today: date, days: int = 7) -> int:
    window = {today - timedelta(days=k) for k in range(1, days + 1)}
    return len(window & set(empty_days))


def weekly(sold: Mapping[date, float], today: date, weeks: int = HISTORY_WEEKS
           ) -> tuple[tuple[date, float], ...]:
    """(Monday, units of that Monday to Sunday) for the `weeks` complete weeks before today's
    week, oldest first."""
    this_week = today - timedelta(days=today.weekday())
    starts = [this_week - timedelta(weeks=k) for k in range(weeks, 0, -1)]
    return tuple((start, float(sum(sold.get(start + timedelta(days=d), 0) for d in range(7))))
                 for start in starts)


@dataclass(frozen=True)
class Signal:
    territory: str
    product_id: str
    shop_id: str | None  # None: the territory's aggregate
    day: date  # the local day it is computed for ("today")
    sold: tuple[tuple[date, float], ...]  # the last HISTORY_DAYS complete days
    velocity_7d: float
    trend: float | None
    on_hand: int | None
    days_of_cover: float | None
    stockout_days_7d: int
    forecast: tuple[DayForecast, ...]  # today and the 13 days after
    forecast_7d: tuple[float, float, float]  # (mean, p10, p90)
    forecast_14d: tuple[float, float, float]
    committed_supply_7d: int
    supply_gap_7d: float
    inputs_at: datetime | None  # event time of the newest input it reflects
    computed_at: datetime
    sold_weeks: tuple[tuple[date, float], ...] = ()  # weekly(): Monday, units of its week


def compute(*, territory: str, product_id: str, shop_id: str | None,
            sold: Mapping[date, float], today: date, on_hand: int | None,
            empty_days: Iterable[date] = (), committed_supply_7d: int = 0,
            inputs_at: datetime | None, now: datetime,
            closed: Closed = is_public_holiday) -> Signal:
    v7 = velocity(sold, today)
    predicted = forecast(sold, today, 14, closed)
    week = predicted.total(7)
    gap = max(0.0, week[0] - max(0, on_hand or 0) - committed_supply_7d)
    history = tuple((today - timedelta(days=k), float(sold.get(today - timedelta(days=k), 0)))
                    for k in range(HISTORY_DAYS, 0, -1))
    return Signal(territory, product_id, shop_id, today, history, round(v7, 4),
                  trend(sold, today), on_hand, days_of_cover(on_hand, v7),
                  stockout_days(empty_days, today), predicted.days, week,
                  predicted.total(14), committed_supply_7d, round(gap, 2), inputs_at, now,
                  sold_weeks=weekly(sold, today))


def empty_days_of(spans: list[list[str | None]], today: date, days: int = 7) -> set[date]:
    """The days of the last `days` complete ones a shelf was empty on (part of the day counts)."""
    first = today - timedelta(days=days)
    found: set[date] = set()
    for start, end in spans:
        since = max(first, date.fromisoformat(start))  # type: ignore[arg-type]
        until = min(today - timedelta(days=1), date.fromisoformat(end) if end else today)
        found.update(since + timedelta(days=k) for k in range((until - since).days + 1))
    return found


OPEN_ORDERS = frozenset({OrderStatus.CONFIRMED, OrderStatus.SHIPPED, OrderStatus.RECEIVED_AT_HUB,
                         OrderStatus.DISPATCHED})


def committed_supply(offers: Iterable[OfferDeclared], orders: Iterable[OrderRecorded],
                     territory: str, product_id: str, today: date, days: int = 7) -> int:
    """What is coming in the next `days` days: declared availability open on one of them (one
    delivery slot each) plus confirmed orders not yet received at the shops delivering then."""
    window = [today + timedelta(days=k) for k in range(days)]
    offered = sum(o.quantity_per_slot for o in offers
                  if o.territory == territory and o.product_id == product_id
                  and any(o.open_on(day) for day in window))
    ordered = sum(line.packs * line.pack_size for order in orders
                  if order.territory == territory and order.status in OPEN_ORDERS
                  and today <= order.delivery_slot < today + timedelta(days=days)
                  for line in order.lines if line.product_id == product_id)
    return offered + ordered
