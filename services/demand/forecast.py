"""Forecasting units per day for intermittent, weekly-seasonal demand. Pure.

Épicerie demand per product is lumpy (donations make products appear and vanish, a family buys
a kilo of carrots at once), strongly weekly (closed on Sundays and often Mondays, busy on
Saturdays) and interrupted by public holidays. The method:

- a weekday profile: each weekday's average over its open occurrences in the last weeks, as a
  share of the week (a closed weekday stays at zero; a holiday does not count as a quiet day);
- a level: the last seven days' total, scaled up by the share of the week that was closed
  (on the simulated year the latest week did better than any longer smoothing: seasons switch
  products on and off within weeks);
- the forecast for an open day is level × its weekday's share, and zero on a closed day; the
  p10–p90 band comes from the method's relative errors on recent open days.

`bench/demand_forecast.py` backtests it against the seasonal-naive forecast (the same weekday
last week).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from services.demand.calendar import is_public_holiday

PROFILE_WEEKS = 12  # weeks the weekday profile looks at
SPREAD_DAYS = 28  # recent days whose errors give the band
Z90 = 1.2816  # the standard normal's 90th percentile
Closed = Callable[[date], bool]


@dataclass(frozen=True)
class DayForecast:
    day: date
    mean: float
    p10: float
    p90: float


@dataclass(frozen=True)
class Forecast:
    days: tuple[DayForecast, ...]

    def total(self, horizon: int) -> tuple[float, float, float]:
        """(mean, p10, p90) of the sum over the first `horizon` days (days independent)."""
        chosen = self.days[:horizon]
        mean = sum(d.mean for d in chosen)
        spread = math.sqrt(sum(((d.p90 - d.p10) / (2 * Z90)) ** 2 for d in chosen))
        return mean, max(0.0, mean - Z90 * spread), mean + Z90 * spread


class _Past:
    """The days before `today` as arrays indexed by how far back they are (1 = yesterday):
    units, closed or not, weekday. Built once per forecast; the method then only adds."""

    def __init__(self, sold: Mapping[date, float], today: date, closed: Closed, days: int
                 ) -> None:
        back = [today - timedelta(days=offset) for offset in range(days + 1)]
        self.units = [float(sold.get(day, 0)) for day in back]
        self.closed = [closed(day) for day in back]
        self.weekday = [day.weekday() for day in back]

    def profile(self, weeks: int) -> list[float]:
        sums, counts = [0.0] * 7, [0] * 7
        for offset in range(1, 7 * weeks + 1):
            if not self.closed[offset]:
                sums[self.weekday[offset]] += max(0.0, self.units[offset])
                counts[self.weekday[offset]] += 1
        averages = [sums[w] / counts[w] if counts[w] else 0.0 for w in range(7)]
        total = sum(averages)
        return [a / total for a in averages] if total > 0 else [0.0] * 7

    def level(self, shares: list[float], skip: int = 0) -> float:
        """The weekly total the seven days before day `skip` (0 = today) point at."""
        total = open_share = 0.0
        for offset in range(skip + 1, skip + 8):
            if not self.closed[offset]:
                total += self.units[offset]
                open_share += shares[self.weekday[offset]]
        return max(0.0, total / open_share) if open_share > 0 else 0.0


def profile(sold: Mapping[date, float], today: date, closed: Closed = is_public_holiday,
            weeks: int = PROFILE_WEEKS) -> list[float]:
    """Each weekday's share of a week (Monday first), from its open days before `today`."""
    return _Past(sold, today, closed, 7 * weeks).profile(weeks)


def expected(sold: Mapping[date, float], day: date, closed: Closed = is_public_holiday) -> float:
    """What the method says for `day` from the days before it."""
    if closed(day):
        return 0.0
    past = _Past(sold, day, closed, 7 * PROFILE_WEEKS)
    shares = past.profile(PROFILE_WEEKS)
    return past.level(shares) * shares[day.weekday()]


def forecast(sold: Mapping[date, float], today: date, horizon: int = 14,
             closed: Closed = is_public_holiday) -> Forecast:
    """Units per day for `today` and the `horizon - 1` days after it, with a p10–p90 band."""
    past = _Past(sold, today, closed, max(7 * PROFILE_WEEKS, SPREAD_DAYS + 7))
    shares = past.profile(PROFILE_WEEKS)
    base = past.level(shares)
    errors = []  # of the method on recent days (today's profile: it moves slowly)
    for offset in range(1, SPREAD_DAYS + 1):
        guess = 0.0 if past.closed[offset] else (past.level(shares, skip=offset)
                                                 * shares[past.weekday[offset]])
        if guess > 0:
            errors.append((past.units[offset] - guess) / guess)
    relative_sd = math.sqrt(sum(e * e for e in errors) / len(errors)) if errors else 1.0
    days = []
    for k in range(horizon):
        day = today + timedelta(days=k)
        mean = 0.0 if closed(day) else base * shares[day.weekday()]
        sd = relative_sd * mean
        days.append(DayForecast(day, mean, max(0.0, mean - Z90 * sd), mean + Z90 * sd))
    return Forecast(tuple(days))


def seasonal_naive(sold: Mapping[date, float], origin: date, day: date) -> float:
    """The latest same weekday known at `origin`."""
    back = 7 * ((day - origin).days // 7 + 1)
    return float(sold.get(day - timedelta(days=back), 0))


def wape(pairs: list[tuple[float, float]]) -> float:
    """Weighted absolute percentage error of (actual, forecast) pairs: Σ|a − f| / Σ|a|."""
    actual = sum(abs(a) for a, _ in pairs)
    return sum(abs(a - f) for a, f in pairs) / actual if actual else 0.0
