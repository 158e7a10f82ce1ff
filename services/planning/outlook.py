"""A season's outlook: expected units per week for the next 26 weeks of a territory × product,
with a p10–p90 band, for producers who plant months ahead. Pure.

A vegetable is sown 2 to 4 months before it is sold, so a farmer needs the shape of the season,
not next week. What the shops sold is seasonal (a product is on the shelves in its months) and
interrupted by public holidays (the shops close). One year's week is noisy: the same week of last
year alone is the seasonal-naive forecast this has to beat, so the outlook averages every earlier
year and neighbouring weeks, without blurring the day a season starts or ends. The method:

- a week's *rate* is its units per open share of the week: each weekday counts for its share of a
  normal week's sales (`weekday_share`, e.g. `forecast.profile(daily, today, weeks=52)`: a shop
  closed on Mondays loses little to Easter Monday) and a public holiday counts for nothing;
- a season switches on a day, not a week: a week whose rate lies between a much lower and a much
  higher neighbour is read as part at the previous week's level and part at the next week's, the
  change falling on the weekday that gives the week its total;
- a target week is looked up at its *calendar position* in each earlier year (the same dates, not
  the same ISO week, which drifts a day or two a year against months), as the rate of those
  seven days weighted by the target's own weekdays and open days (a date the shops were closed
  on that year says nothing of the season and is left out);
- the years are averaged, each scaled by how the last 52 weeks compare with the same dates a year
  (two years…) before: a year-over-year change, shrunk towards none by its own noise
  (`GROWTH_PRIOR`) so one noisy year does not move the outlook;
- neighbouring weeks (±`SMOOTH`) are averaged in, each weighted down the more it differs from the
  week itself (`EDGE`): the season's plateau is smoothed, its start and end are not;
- the mean is that rate × the target's open share (a holiday week gets fewer units);
- with less than a year of history, the recent level alone (`RECENT_WEEKS`, flat): a product that
  started mid-year at its own recent rate; with no history, zeros;
- the band: the method's own errors (actual / outlook) on the past year, forecast from 26 and 52
  weeks back with only what was known then; their 10th and 90th percentiles.

Nothing in it knows which months a product is in season: that comes from the past years' sales.
`bench/season_outlook.py` backtests it against the seasonal-naive forecast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from services.demand.calendar import is_public_holiday

HORIZON_WEEKS = 26
YEAR_WEEKS = 52
MAX_YEARS = 5  # earlier years averaged at most
RECENT_WEEKS = 8  # weeks that give the level with less than a year of history
SMOOTH = 2  # neighbouring weeks on each side averaged into a week
EDGE = 0.35  # a neighbour this far from the week (relative) weighs e^-1; a season's edge ~0
STEP = 0.5  # neighbours this far apart (relative) make a week a season's start or end
GROWTH_PRIOR = 0.1  # the year-over-year change (log) expected before the noise is known
BAND_ORIGINS = (26, 52)  # weeks back from which the method's own errors are measured
DEFAULT_BAND = (0.5, 1.5)  # actual / outlook, without enough history to measure it
EVEN_WEEK = (1.0,) * 6 + (0.0,)  # Monday to Saturday alike, closed on Sundays
WEEK = timedelta(weeks=1)


@dataclass(frozen=True)
class WeekOutlook:
    week: date  # its Monday
    mean: float
    p10: float
    p90: float


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _years_back(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


class _History:
    """The weeks from the first sale to `end` (excluded) as rates, per open share of the week."""

    def __init__(self, weekly: Mapping[date, float], end: date, share: Sequence[float]) -> None:
        self.share, self.end = share, end
        self._weights: dict[date, list[float]] = {}
        past = [w for w in weekly if w < end and weekly[w]]
        self.first = min(past) if past else end
        self.rates: dict[date, float | None] = {}
        week = self.first
        while week < end:
            open_share = sum(self.weights(week))
            self.rates[week] = weekly.get(week, 0.0) / open_share if open_share > 0 else None
            week += WEEK
        self._levels: dict[date, list[float] | None] = {}

    def weights(self, week: date) -> list[float]:
        """Each day's share of a normal week's sales, 0 on a public holiday."""
        if week not in self._weights:
            self._weights[week] = [s * (not is_public_holiday(week + timedelta(days=d)))
                                   for d, s in enumerate(self.share)]
        return self._weights[week]

    def years(self) -> int:
        """Whole years of history, at most MAX_YEARS (a target's dates in the earliest may still
        fall before the first sale: that year is then left out for it)."""
        return min(MAX_YEARS, (self.end - self.first).days // (7 * YEAR_WEEKS))

    def recent(self) -> float:
        rates = [r for w in list(self.rates)[-RECENT_WEEKS:] if (r := self.rates[w]) is not None]
        return sum(rates) / len(rates) if rates else 0.0

    def dated(self, week: date, years: int) -> list[float | None] | None:
        """The levels on `week`'s dates `years` earlier, day by day, None on a day the shops
        were closed (it says nothing of the season); None before the history."""
        start = _years_back(week, years)
        shift, first = start.weekday(), monday(start)
        this, following = self.day_levels(first), self.day_levels(first + WEEK)
        if this is None or (shift and following is None):
            return None
        levels = this[shift:] + (following or [])[:shift]
        opened = self.weights(first)[shift:] + self.weights(first + WEEK)[:shift]
        return [level if o > 0 else None for level, o in zip(levels, opened, strict=True)]

    def at(self, week: date, years: int) -> float | None:
        """The rate of `week`'s dates `years` earlier, weighted by `week`'s own open days."""
        days = self.dated(week, years)
        return None if days is None else _weighted(self.weights(week), [days])

    def day_levels(self, week: date) -> list[float] | None:
        """The week's rate per weekday (None outside the history), see _split."""
        if week not in self._levels:
            self._levels[week] = self._split(week)
        return self._levels[week]

    def _split(self, week: date) -> list[float] | None:
        """The week's rate per weekday: its own, or, between a much lower and a much higher
        neighbour, the previous week's level then the next's, switching so the total holds."""
        rate = self.rates.get(week)
        before, after = self.rates.get(week - WEEK), self.rates.get(week + WEEK)
        if rate is None or before is None or after is None \
                or not min(before, after) < rate < max(before, after) \
                or abs(after - before) <= STEP * max(before, after):
            return None if rate is None else [rate] * 7
        weights = self.weights(week)
        at_after = (rate - before) / (after - before) * sum(weights)  # share at after's level
        levels = [before] * 7
        for d in range(6, -1, -1):  # the next week's level holds at the end of this one
            if at_after <= 0:
                break
            part = min(1.0, at_after / weights[d]) if weights[d] > 0 else 1.0
            levels[d] = before + (after - before) * part
            at_after -= weights[d]
        return levels


def _growth(history: _History, years: int) -> float:
    """How the last 52 weeks compare with the same dates `years` earlier, shrunk towards 1 by
    the noise of the weekly ratios."""
    now = then = 0.0
    logs = []
    for week in [history.end - k * WEEK for k in range(1, YEAR_WEEKS + 1)]:
        rate, earlier = history.rates.get(week), history.at(week, years)
        if rate is not None and earlier is not None:
            now, then = now + rate, then + earlier
            if rate > 0 and earlier > 0:
                logs.append(math.log(rate / earlier))
    if len(logs) < YEAR_WEEKS // 4 or now <= 0 or then <= 0:
        return 1.0
    mean = sum(logs) / len(logs)
    noise = sum((x - mean) ** 2 for x in logs) / (len(logs) - 1) / len(logs)
    return math.exp(math.log(now / then) * GROWTH_PRIOR ** 2 / (GROWTH_PRIOR ** 2 + noise))


def _weighted(weights: Sequence[float], years: list[list[float | None]]) -> float | None:
    """A week's rate from its dates' levels in earlier years: per day the mean of the years
    it was open in, the days weighted by the week's own (a day open in no year left out)."""
    total = weight = 0.0
    for d, w in enumerate(weights):
        known = [year[d] for year in years if year[d] is not None]
        if w > 0 and known:
            total, weight = total + w * sum(known) / len(known), weight + w
    return total / weight if weight > 0 else None


def _profile(history: _History, weeks: list[date]) -> dict[date, float | None]:
    """Per week, the earlier years' levels at its dates, each scaled by its growth, averaged."""
    growth = {k: _growth(history, k) for k in range(1, history.years() + 1)}
    profile: dict[date, float | None] = {}
    for week in weeks:
        years = [[None if v is None else g * v for v in days] for k, g in growth.items()
                 if (days := history.dated(week, k)) is not None]
        profile[week] = _weighted(history.weights(week), years)
    return profile


def _smoothed(profile: Mapping[date, float | None], week: date) -> float | None:
    """The week's rate averaged with its neighbours, the more alike the more weight."""
    own = profile.get(week)
    if own is None:
        return None
    total = weight = 0.0
    for k in range(-SMOOTH, SMOOTH + 1):
        rate = profile.get(week + k * WEEK)
        if rate is None:
            continue
        gap = (rate - own) / (EDGE * own) if own > 0 else (0.0 if rate == 0 else math.inf)
        total, weight = total + math.exp(-gap * gap) * rate, weight + math.exp(-gap * gap)
    return total / weight


def _means(history: _History, targets: list[date]) -> list[float]:
    if not history.rates or not targets:
        return [0.0] * len(targets)
    if history.years() == 0:
        return [history.recent() * sum(history.weights(t)) for t in targets]
    around = [targets[0] + k * WEEK for k in range(-SMOOTH, len(targets) + SMOOTH)]
    profile = _profile(history, around)
    recent = history.recent()
    means = []
    for target in targets:
        rate = _smoothed(profile, target)
        means.append(max(0.0, recent if rate is None else rate) * sum(history.weights(target)))
    return means


def _band(weekly: Mapping[date, float], this_week: date, share: Sequence[float]
          ) -> tuple[float, float]:
    """The 10th and 90th percentiles of actual / outlook over the past year, each outlook made
    from what was known at its origin (DEFAULT_BAND with fewer than 10 weeks to judge by)."""
    ratios = []
    for back in BAND_ORIGINS:
        origin = this_week - back * WEEK
        targets = [origin + k * WEEK for k in range(HORIZON_WEEKS) if origin + k * WEEK < this_week]
        history = _History(weekly, origin, share)
        if len(history.rates) < RECENT_WEEKS:
            continue
        for target, mean in zip(targets, _means(history, targets), strict=True):
            if mean > 0:
                ratios.append(weekly.get(target, 0.0) / mean)
    if len(ratios) < 10:
        return DEFAULT_BAND
    ratios.sort()
    return min(1.0, ratios[len(ratios) // 10]), max(1.0, ratios[9 * len(ratios) // 10])


def outlook(weekly: Mapping[date, float], today: date, *, weeks: int = HORIZON_WEEKS,
            weekday_share: Sequence[float] | None = None) -> list[WeekOutlook]:
    """The next `weeks` weeks from `today`'s week on (its Monday first), from `weekly` (units
    sold per week, keyed by Monday; only the weeks before today's count). `weekday_share`:
    each weekday's share of a normal week's sales, Monday first (default: Monday to Saturday
    alike)."""
    this_week = monday(today)
    share = tuple(weekday_share) if weekday_share and sum(weekday_share) > 0 else EVEN_WEEK
    share = tuple(s / sum(share) for s in share)
    targets = [this_week + k * WEEK for k in range(weeks)]
    history = _History(weekly, this_week, share)
    means = _means(history, targets)
    low, high = _band(weekly, this_week, share) if history.rates else (0.0, 0.0)
    return [WeekOutlook(t, m, m * low, m * high) for t, m in zip(targets, means, strict=True)]
