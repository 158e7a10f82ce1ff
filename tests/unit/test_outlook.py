"""The season outlook on hand-made weekly histories: no history, a product that started mid-year,
holiday weeks, a summer-only product, its band, and that it never reads today's week or later."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from random import Random

import pytest

from services.demand.calendar import is_public_holiday
from services.planning.outlook import HORIZON_WEEKS, WeekOutlook, monday, outlook

EVEN = (1.0,) * 6 + (0.0,)  # Monday to Saturday alike, closed on Sundays
NO_MONDAYS = (0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0)


def sold(first: date, today: date, per_day: Callable[[date], float],
         share: tuple[float, ...] = EVEN) -> dict[date, float]:
    """Units per week (keyed by Monday) from `first` to the week before `today`'s: per_day(day)
    on each day, times the weekday's share, nothing on public holidays."""
    weeks: dict[date, float] = {}
    day = first
    while day < monday(today):
        if not is_public_holiday(day):
            units = per_day(day) * share[day.weekday()]
            weeks[monday(day)] = weeks.get(monday(day), 0.0) + units
        day += timedelta(days=1)
    return weeks


def by_week(result: list[WeekOutlook]) -> dict[date, WeekOutlook]:
    return {w.week: w for w in result}


def test_no_history_gives_zeros_for_26_mondays():
    result = outlook({}, date(2026, 3, 4))
    assert len(result) == HORIZON_WEEKS
    assert result[0].week == date(2026, 3, 2)
    assert all(w.week.weekday() == 0 for w in result)
    assert all((w.mean, w.p10, w.p90) == (0.0, 0.0, 0.0) for w in result)


def test_a_product_started_mid_year_goes_on_at_its_recent_rate():
    today = date(2026, 2, 2)
    weekly = sold(date(2025, 9, 1), today, lambda day: 100.0)
    weeks = by_week(outlook(weekly, today))
    assert weeks[date(2026, 2, 2)].mean == pytest.approx(600.0)
    assert weeks[date(2026, 7, 20)].mean == pytest.approx(600.0)
    assert weeks[date(2026, 4, 6)].mean == pytest.approx(500.0)  # Easter Monday: 5 open days


def test_holiday_weeks_get_fewer_units_in_proportion_to_their_open_days():
    today = date(2026, 3, 23)
    weekly = sold(date(2023, 1, 2), today, lambda day: 100.0)
    weeks = by_week(outlook(weekly, today))
    assert weeks[date(2026, 3, 30)].mean == pytest.approx(600.0, rel=0.01)
    assert weeks[date(2026, 4, 6)].mean == pytest.approx(500.0, rel=0.01)  # Easter Monday
    assert weeks[date(2026, 4, 27)].mean == pytest.approx(500.0, rel=0.01)  # 1 May, a Friday
    assert weeks[date(2026, 5, 4)].mean == pytest.approx(500.0, rel=0.01)  # 8 May, a Friday
    assert weeks[date(2026, 5, 11)].mean == pytest.approx(500.0, rel=0.01)  # Ascension
    assert weeks[date(2026, 6, 1)].mean == pytest.approx(600.0, rel=0.01)


def test_a_shop_closed_on_mondays_loses_nothing_to_easter_monday():
    today = date(2026, 3, 23)
    weekly = sold(date(2023, 1, 2), today, lambda day: 120.0, NO_MONDAYS)
    weeks = by_week(outlook(weekly, today, weekday_share=NO_MONDAYS))
    assert weeks[date(2026, 4, 6)].mean == pytest.approx(600.0, rel=0.01)  # Easter Monday
    assert weeks[date(2026, 4, 27)].mean == pytest.approx(480.0, rel=0.01)  # 1 May, a Friday


def summer_only(day: date) -> float:
    return 100.0 if day.month in (6, 7, 8) else 0.0


def test_a_summer_product_is_near_zero_in_winter_and_at_its_level_in_summer():
    today = date(2026, 3, 16)
    weeks = by_week(outlook(sold(date(2023, 1, 2), today, summer_only), today))
    for week in (date(2026, 3, 16), date(2026, 4, 20), date(2026, 5, 18)):
        assert weeks[week].mean == pytest.approx(0.0, abs=1.0)
    assert weeks[date(2026, 5, 25)].mean == pytest.approx(0.0, abs=1.0)  # ends on 31 May
    for week in (date(2026, 6, 1), date(2026, 6, 22), date(2026, 8, 3), date(2026, 8, 24)):
        assert weeks[week].mean == pytest.approx(600.0, rel=0.02)
    assert weeks[date(2026, 7, 13)].mean == pytest.approx(500.0, rel=0.02)  # 14 July
    # the season ends on Monday 31 August: one day of that week in season, not a blur
    assert weeks[date(2026, 8, 31)].mean == pytest.approx(100.0, rel=0.05)
    assert weeks[date(2026, 9, 7)].mean == pytest.approx(0.0, abs=1.0)


def noisy(seed: int) -> Callable[[date], float]:
    rng = Random(seed)
    return lambda day: summer_only(day) + 50.0 * rng.uniform(0.6, 1.4)


def test_the_band_holds_the_mean_and_comes_from_past_errors():
    today = date(2026, 3, 16)
    result = outlook(sold(date(2023, 1, 2), today, noisy(7)), today)
    assert all(w.p10 <= w.mean <= w.p90 for w in result)
    assert all(w.p10 < w.p90 for w in result)
    spread = [(w.p90 - w.p10) / w.mean for w in result]
    assert 0.05 < min(spread) and max(spread) < 0.8  # measured, not the 0.5–1.5 default


def test_weeks_at_or_after_today_are_not_read():
    today = date(2026, 3, 18)  # a Wednesday: its own week is not over
    weekly = sold(date(2023, 1, 2), today, noisy(3))
    future = {monday(today) + timedelta(weeks=k): 1e9 for k in range(40)}
    assert outlook({**weekly, **future}, today) == outlook(weekly, today)
    young = sold(date(2025, 11, 3), today, noisy(4))
    assert outlook({**young, **future}, today) == outlook(young, today)
