"""A territory × product's season, week by week: what the shops will likely sell (the outlook),
what they said they will buy (forward needs, firm ones being contrats de culture), what the
producers plan to harvest, and the gap. Pure.

- The history the outlook learns from is Vivres's own weekly totals (kept from the demand
  signals) from the pair's first week with sales on the bus, and the imported weeks (from the
  shops' former till software) before it.
- A week's demand is the larger of the outlook and the stated needs: the shops that stated
  needs are a floor, the outlook covers the others. Its gap is demand − plans: above 0, still to
  be grown; below 0, a surplus.
- Revisions: a need or a plan is the newest statement of its shop (producer) × product × week;
  units 0 withdraws it (both topics are compacted by that key, so the caller passes the newest).
- Privacy: the record names each shop's need and each producer's plan; `view` is what one
  person sees: the totals, how many producers plan a week, and their own lines only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.planning.outlook import HORIZON_WEEKS, WeekOutlook, monday, outlook
from services.events.catalog import ShopRegistered
from services.events.planning import (
    CoverageRecorded,
    CoverageWeek,
    CropPlanned,
    ForwardNeedStated,
    NeedLine,
    PlanLine,
    WeekUnits,
    pair_key,
)


def merge_observed(kept: Iterable[WeekUnits], fresh: Iterable[tuple[date, int]]
                   ) -> tuple[WeekUnits, ...]:
    """The weeks kept, with those a newer signal carries replacing theirs, oldest first."""
    weeks = {w.week: w.units for w in kept}
    weeks.update(fresh)
    return tuple(WeekUnits(week=w, units=u) for w, u in sorted(weeks.items()))


def history(observed: Iterable[WeekUnits], imported: Mapping[date, int]) -> dict[date, float]:
    """Units per week the outlook learns from: Vivres's own from the first week it saw a sale
    of the pair (its zeros before that only mean it was not there yet), imported before."""
    seen = {w.week: float(w.units) for w in observed}
    first = min((w for w, u in seen.items() if u > 0), default=None)
    if first is None:
        return {w: float(u) for w, u in imported.items()}
    older = {w: float(u) for w, u in imported.items() if w < first}
    return older | {w: u for w, u in seen.items() if w >= first}


def weekday_share(shops: Iterable[ShopRegistered], territory: str) -> tuple[float, ...] | None:
    """Each weekday's share of a normal week, Monday first, from the territory's open shops'
    opening days in the directory (a shop that gives none opens Monday to Saturday); None
    when the directory knows no shop of it."""
    open_on = [0.0] * 7
    for shop in shops:
        if shop.territory == territory and shop.closed_at is None:
            for day in shop.opening_days or range(1, 7):
                open_on[day - 1] += 1
    total = sum(open_on)
    return tuple(n / total for n in open_on) if total else None


def _weeks(first: date) -> list[date]:
    return [first + timedelta(weeks=k) for k in range(HORIZON_WEEKS)]


def compute(territory: str, product_id: str, sold: Mapping[date, float],
            needs: Iterable[ForwardNeedStated], plans: Iterable[CropPlanned], today: date,
            now: datetime, expected: list[WeekOutlook] | None = None,
            share: tuple[float, ...] | None = None) -> CoverageRecorded:
    """The pair's coverage of the 26 weeks from `today`'s, from its weekly history, and the
    newest need of each shop × week and plan of each producer × week (other pairs' and weeks'
    are left out); `share`: the territory's weekday_share; `expected`: the outlook of `sold`
    from `today` with it, when the caller has it."""
    first = monday(today)
    weeks = set(_weeks(first))

    def ours(line: ForwardNeedStated | CropPlanned) -> bool:
        return (line.territory == territory and line.product_id == product_id
                and line.week in weeks and line.units > 0)

    need_lines = sorted((NeedLine(shop_id=n.shop_id, week=n.week, units=n.units, firm=n.firm,
                                  price_cents=n.price_cents) for n in needs if ours(n)),
                        key=lambda n: (n.week, n.shop_id))
    plan_lines = sorted((PlanLine(producer_id=p.producer_id, week=p.week, units=p.units)
                         for p in plans if ours(p)), key=lambda p: (p.week, p.producer_id))
    return CoverageRecorded(
        pair_key=pair_key(territory, product_id), territory=territory, product_id=product_id,
        first_week=first, history_weeks=history_weeks(sold, first),
        weeks=_rows(expected or outlook(sold, today, weeks=HORIZON_WEEKS, weekday_share=share),
                    need_lines, plan_lines),
        needs=tuple(need_lines), plans=tuple(plan_lines), computed_at=now)


def _rows(expected: list[WeekOutlook], needs: list[NeedLine], plans: list[PlanLine]
          ) -> tuple[CoverageWeek, ...]:
    stated = _sum((n.week, n.units) for n in needs)
    firm = _sum((n.week, n.units) for n in needs if n.firm)
    planned = _sum((p.week, p.units) for p in plans)
    growers = _sum((p.week, 1) for p in plans)  # one plan line per producer and week
    rows = []
    for band in expected:
        week = band.week
        demand = max(band.mean, float(stated.get(week, 0)))
        rows.append(CoverageWeek(
            week=week, outlook=round(band.mean, 1), outlook_p10=round(band.p10, 1),
            outlook_p90=round(band.p90, 1), needs=stated.get(week, 0), firm=firm.get(week, 0),
            plans=planned.get(week, 0), demand=round(demand, 1),
            gap=round(demand - planned.get(week, 0), 1), producers=growers.get(week, 0)))
    return tuple(rows)


def history_weeks(sold: Mapping[date, float], first: date) -> int:
    """Weeks from the first with sales to the week before `first`: what the outlook learned
    from (under 52, no season yet)."""
    start = min((w for w, u in sold.items() if u > 0 and w < first), default=first)
    return (first - start).days // 7


def same(a: CoverageRecorded | None, b: CoverageRecorded) -> bool:
    """Whether two coverages say the same (their times aside): nothing worth publishing."""
    return a is not None and a.model_copy(update={"computed_at": b.computed_at}) == b


@dataclass(frozen=True)
class Viewer:
    """Who looks: a producer sees its own plan, a shop its own needs; a hub or an operator
    the totals (and, for the hub, the needs it states for its shops through GET needs)."""

    producer_id: str | None = None
    shop_id: str | None = None


def view(coverage: CoverageRecorded, viewer: Viewer, unit: str | None) -> dict[str, Any]:
    """What `viewer` sees of a coverage: the weeks' totals and its own units (`mine`), never
    another producer's plan or another shop's need."""
    mine: dict[date, int] | None = None
    if viewer.producer_id is not None:
        mine = _sum((p.week, p.units) for p in coverage.plans
                    if p.producer_id == viewer.producer_id)
    elif viewer.shop_id is not None:
        mine = _sum((n.week, n.units) for n in coverage.needs if n.shop_id == viewer.shop_id)
    weeks = [{**w.model_dump(mode="json"),
              "mine": None if mine is None else mine.get(w.week, 0)} for w in coverage.weeks]
    return {"territory": coverage.territory, "product_id": coverage.product_id, "unit": unit,
            "computed_at": coverage.computed_at.isoformat(),
            "history_weeks": coverage.history_weeks, "weeks": weeks}


def _sum(lines: Iterable[tuple[date, int]]) -> dict[date, int]:
    total: dict[date, int] = defaultdict(int)
    for week, units in lines:
        total[week] += units
    return dict(total)
