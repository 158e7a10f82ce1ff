"""The demand processor's state for one territory × product, and the facts that change it. Pure.

A fact is one ticket line sold or refunded, or one stock movement, already mapped to its
product and territory and bucketed on the shop's local day by event time. Facts carry their
source position (`src` = topic:partition, `pos` = offset × 1000 + line index); the state keeps
the last position applied per source, so a fact delivered again (a worker killed before it
committed, faust re-processing after a table restore) changes nothing, and replaying the
sources from the start rebuilds the same state. The state is a JSON-able dict (a faust table
value):

    {"applied": {src: pos}, "sold": {shop: {day: units}}, "on_hand": {shop: units},
     "empty": {shop: [day, ...]}, "at": newest event time (ms)}
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.demand.signals import Signal, compute
from services.events.demand import DayForecast, DaySold, DemandSignalRecorded

KEEP_DAYS = 120  # days of sales kept per shop: the forecast needs 12 weeks; late uploads 14 days
LINES_PER_RECORD = 1000  # pos = offset × this + line index

Fact = dict[str, Any]
State = dict[str, Any]


def key_of(territory: str, product_id: str) -> str:
    return f"{territory}/{product_id}"


def sold_fact(*, territory: str, product_id: str, shop_id: str, day: date, units: int,
              at_ms: int, src: str, offset: int, index: int) -> Fact:
    return {"kind": "sold", "territory": territory, "product": product_id, "shop": shop_id,
            "day": day.isoformat(), "units": units, "at": at_ms, "src": src,
            "pos": offset * LINES_PER_RECORD + index}


def stock_fact(*, territory: str, product_id: str, shop_id: str, day: date, on_hand: int,
               at_ms: int, src: str, offset: int) -> Fact:
    return {"kind": "stock", "territory": territory, "product": product_id, "shop": shop_id,
            "day": day.isoformat(), "on_hand": on_hand, "at": at_ms, "src": src,
            "pos": offset * LINES_PER_RECORD}


def apply(state: State, fact: Fact, today: date) -> bool:
    """Fold one fact into the state (in place); False when it was applied before or is older
    than what is kept."""
    applied = state.setdefault("applied", {})
    if fact["pos"] <= applied.get(fact["src"], -1):
        return False
    applied[fact["src"]] = fact["pos"]
    if date.fromisoformat(fact["day"]) < today - timedelta(days=KEEP_DAYS):
        return False
    shop = fact["shop"]
    if fact["kind"] == "sold":
        days = state.setdefault("sold", {}).setdefault(shop, {})
        days[fact["day"]] = days.get(fact["day"], 0) + fact["units"]
    else:
        state.setdefault("on_hand", {})[shop] = fact["on_hand"]
        if fact["on_hand"] <= 0:
            empty = state.setdefault("empty", {}).setdefault(shop, [])
            if fact["day"] not in empty:
                empty.append(fact["day"])
    state["at"] = max(state.get("at", 0), fact["at"])
    return True


def prune(state: State, today: date) -> None:
    """Forget days older than what is kept."""
    oldest = (today - timedelta(days=KEEP_DAYS)).isoformat()
    for days in state.get("sold", {}).values():
        for day in [d for d in days if d < oldest]:
            del days[day]
    for shop, days in state.get("empty", {}).items():
        state["empty"][shop] = [d for d in days if d >= oldest]


def _days(by_day: dict[str, int]) -> dict[date, float]:
    return {date.fromisoformat(d): float(u) for d, u in by_day.items()}


def signals(state: State, territory: str, product_id: str, today: date, *,
            committed_7d: int, now: datetime) -> list[Signal]:
    """The territory's signal, then each shop's."""
    inputs_at = datetime.fromtimestamp(state["at"] / 1000, UTC) if state.get("at") else None
    sold_by_shop = state.get("sold", {})
    on_hand = state.get("on_hand", {})
    empty = state.get("empty", {})
    total: dict[date, float] = {}
    for by_day in sold_by_shop.values():
        for day, units in _days(by_day).items():
            total[day] = total.get(day, 0.0) + units
    shops = sorted(set(sold_by_shop) | set(on_hand))
    result = [compute(territory=territory, product_id=product_id, shop_id=None, sold=total,
                      today=today, on_hand=sum(on_hand.values()) if on_hand else None,
                      empty_days=_dates(d for days in empty.values() for d in days),
                      committed_supply_7d=committed_7d, inputs_at=inputs_at, now=now)]
    for shop in shops:
        result.append(compute(territory=territory, product_id=product_id, shop_id=shop,
                              sold=_days(sold_by_shop.get(shop, {})), today=today,
                              on_hand=on_hand.get(shop), empty_days=_dates(empty.get(shop, [])),
                              inputs_at=inputs_at, now=now))
    return result


def _dates(days: Iterable[str]) -> list[date]:
    return [date.fromisoformat(d) for d in days]


def to_wire(signal: Signal) -> DemandSignalRecorded:
    (w, w10, w90), (f, f10, f90) = signal.forecast_7d, signal.forecast_14d
    return DemandSignalRecorded(
        territory=signal.territory, product_id=signal.product_id, shop_id=signal.shop_id,
        day=signal.day, sold=tuple(DaySold(day=d, units=round(u)) for d, u in signal.sold),
        velocity_7d=signal.velocity_7d, trend=signal.trend, on_hand=signal.on_hand,
        days_of_cover=signal.days_of_cover, stockout_days_7d=signal.stockout_days_7d,
        forecast=tuple(DayForecast(day=d.day, mean=round(d.mean, 3), p10=round(d.p10, 3),
                                   p90=round(d.p90, 3)) for d in signal.forecast),
        forecast_7d=round(w, 3), forecast_7d_p10=round(w10, 3), forecast_7d_p90=round(w90, 3),
        forecast_14d=round(f, 3), forecast_14d_p10=round(f10, 3),
        forecast_14d_p90=round(f90, 3), committed_supply_7d=signal.committed_supply_7d,
        supply_gap_7d=signal.supply_gap_7d, inputs_at=signal.inputs_at,
        computed_at=signal.computed_at)
