"""A season's outlook: expected units per week for the next 26 weeks of a territory × product,
with a p10–p90 band, for producers who plant months ahead. Pure.

A vegetable is sown 2 to 4 months before it is sold, so a farmer needs the shape of the season,
not next week. What the shops sold is seasonal (a product is on the shelves in its months,
more at the season's heart) and interrupted by public holidays (the shops close). The method:

- weeks are measured per open day (Monday to Saturday, public holidays out), so that a week with
  a holiday is neither a drop in demand nor a forecast of a normal week;
- a seasonal index per week of the year: each earlier year's weekly rate as a share of that
  year's mean, averaged over the years and smoothed over neighbouring weeks (a single year's
  week is noisy; the same week of last year alone is the seasonal-naive forecast this beats);
- a level: the last LEVEL_WEEKS weeks' rate over their seasonal index (how this year compares);
- the outlook for a week: level × its index × its open days; with less than a year of history,
  the level alone (flat), a product that started mid-year at its own recent rate;
- the band: the method's own relative errors on the past year, their 10th and 90th percentiles.

`bench/season_outlook.py` backtests it against the seasonal-naive forecast on two years and
more of simulated sales.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from services.demand.calendar import is_public_holiday

HORIZON_WEEKS = 26
LEVEL_WEEKS = 8  # recent weeks that give this year's level
SMOOTH = 2  # neighbouring weeks of the year on each side averaged into an index
YEAR_WEEKS = 52
MIN_INDEX = 0.02  # an index below this is a week out of season: its level is not asked of it


@dataclass(frozen=True)
class WeekOutlook:
    week: date  # its Monday
    mean: float
    p10: float
    p90: float


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def open_days(week: date) -> int:
    """Days the épiceries may open in the week of `week` (a Monday): Monday to Saturday,
    public holidays out."""
    return sum(not is_public_holiday(week + timedelta(days=d)) for d in range(6))


def _rates(weekly: Mapping[date, float], first: date, last: date) -> dict[date, float]:
    """Units per open day of every week from `first` to `last` (weeks not in `weekly`: 0)."""
    rates, week = {}, first
    while week <= last:
        days = open_days(week)
        rates[week] = weekly.get(week, 0.0) / days if days else 0.0
        week += timedelta(weeks=1)
    return rates


def _slot(week: date) -> int:
    """A week's place in the year, 0 to 51 (the 53rd ISO week goes with the 52nd)."""
    return min(week.isocalendar()[1], YEAR_WEEKS) - 1


def seasonal_index(rates: Mapping[date, float]) -> list[float] | None:
    """Per week of the year, its rate as a share of its year's mean, averaged over the whole
    years of `rates` (newest backwards) and smoothed; None with less than a year."""
    weeks = sorted(rates)
    years = len(weeks) // YEAR_WEEKS
    if years == 0:
        return None
    raw = [0.0] * YEAR_WEEKS
    for y in range(years):
        span = weeks[len(weeks) - (y + 1) * YEAR_WEEKS:len(weeks) - y * YEAR_WEEKS]
        mean = sum(rates[w] for w in span) / YEAR_WEEKS
        for w in span:
            raw[_slot(w)] += (rates[w] / mean if mean else 0.0) / years
    return [sum(raw[(s + k) % YEAR_WEEKS] for k in range(-SMOOTH, SMOOTH + 1)) / (2 * SMOOTH + 1)
            for s in range(YEAR_WEEKS)]


def _level(rates: Mapping[date, float], index: list[float] | None) -> float:
    """This year's rate per unit of index, from the last LEVEL_WEEKS weeks."""
    recent = sorted(rates)[-LEVEL_WEEKS:]
    sold = sum(rates[w] for w in recent)
    if index is None:
        return sold / len(recent) if recent else 0.0
    expected = sum(index[_slot(w)] for w in recent)
    if expected < MIN_INDEX * len(recent):  # out of season lately: the year's mean instead
        return sum(rates[w] for w in sorted(rates)[-YEAR_WEEKS:]) / YEAR_WEEKS
    return sold / expected


def point(rates: Mapping[date, float], target: date) -> float:
    """The outlook's mean for the week `target`, from the weekly rates known (all before it)."""
    index = seasonal_index(rates)
    level = _level(rates, index)
    shape = 1.0 if index is None else index[_slot(target)]
    return level * shape * open_days(target)


def outlook(weekly: Mapping[date, float], today: date, *, weeks: int = HORIZON_WEEKS
            ) -> list[WeekOutlook]:
    """The next `weeks` weeks from `today`'s week on (its Monday first), from `weekly` (units
    sold per week, keyed by Monday; only the weeks before today's count)."""
    this_week = monday(today)
    past = [w for w in weekly if w < this_week and weekly[w]]
    if not past:
        return [WeekOutlook(this_week + timedelta(weeks=h), 0.0, 0.0, 0.0)
                for h in range(weeks)]
    rates = _rates(weekly, min(past), this_week - timedelta(weeks=1))
    index = seasonal_index(rates)
    level = _level(rates, index)
    low, high = _band(rates)
    out = []
    for h in range(weeks):
        week = this_week + timedelta(weeks=h)
        mean = level * (1.0 if index is None else index[_slot(week)]) * open_days(week)
        out.append(WeekOutlook(week, mean, mean * low, mean * high))
    return out


def _band(rates: Mapping[date, float]) -> tuple[float, float]:
    """The 10th and 90th percentiles of actual / outlook over the last year's weeks, each
    forecast 8 weeks ahead from what was known then (wide defaults without enough history)."""
    weeks = sorted(rates)
    ratios = []
    for i in range(max(LEVEL_WEEKS + 8, len(weeks) - YEAR_WEEKS), len(weeks)):
        known = {w: rates[w] for w in weeks[:i - 7]}
        expected = point(known, weeks[i]) / max(open_days(weeks[i]), 1)
        if expected > 0:
            ratios.append(rates[weeks[i]] / expected)
    if len(ratios) < 10:
        return 0.5, 1.5
    ratios.sort()
    return ratios[len(ratios) // 10], ratios[(9 * len(ratios)) // 10]
