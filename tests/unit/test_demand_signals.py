"""Demand signals on hand-made days: velocity, trend, cover, stock-outs, the forecast and its
band around the calendar, and the supply gap."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.demand.calendar import is_public_holiday
from services.demand.forecast import expected, forecast, profile, seasonal_naive, wape
from services.demand.signals import (
    HISTORY_WEEKS,
    compute,
    days_of_cover,
    stockout_days,
    trend,
    velocity,
)
from services.demand.signals import weekly as weekly_totals

TODAY = date(2026, 11, 25)  # a Wednesday
NOW = datetime(2026, 11, 25, 10, tzinfo=UTC)
NEVER_CLOSED = staticmethod(lambda _day: False)


def days_back(*units: float, today: date = TODAY) -> dict[date, float]:
    """units[0] was sold yesterday, units[1] the day before, ..."""
    return {today - timedelta(days=k + 1): u for k, u in enumerate(units)}


def weekly(per_weekday: list[float], weeks: int, today: date = TODAY) -> dict[date, float]:
    """A perfectly regular history: per_weekday[Monday..Sunday], for `weeks` weeks."""
    return {today - timedelta(days=k): per_weekday[(today - timedelta(days=k)).weekday()]
            for k in range(1, 7 * weeks + 1)}


def test_velocity_is_the_last_seven_complete_days_over_seven() -> None:
    sold = days_back(7, 0, 14, 0, 0, 7, 0, 700)  # the eighth day back is outside the window
    sold[TODAY] = 1_000  # today is not complete: not counted
    assert velocity(sold, TODAY) == 4.0


def test_trend_compares_with_the_seven_days_before() -> None:
    assert trend(days_back(*([2] * 7 + [1] * 7)), TODAY) == 2.0
    assert trend(days_back(*([2] * 7)), TODAY) is None  # nothing the week before


def test_cover_and_stock_out_days() -> None:
    assert days_of_cover(30, 4.0) == 7.5
    assert days_of_cover(-5, 4.0) == 0.0  # negative stock covers nothing
    assert days_of_cover(30, 0.0) is None and days_of_cover(None, 3.0) is None
    empty = [TODAY - timedelta(days=1), TODAY - timedelta(days=3), TODAY - timedelta(days=9),
             TODAY]
    assert stockout_days(empty, TODAY) == 2


def test_a_regular_week_is_forecast_exactly_with_a_tight_band() -> None:
    pattern = [0, 10, 20, 20, 30, 50, 0]  # closed Mondays and Sundays
    result = forecast(weekly(pattern, 20), TODAY, 14, NEVER_CLOSED)
    assert [round(d.mean, 6) for d in result.days[:7]] == [
        pattern[(TODAY + timedelta(days=k)).weekday()] for k in range(7)]
    assert all(d.p10 == pytest.approx(d.mean) == pytest.approx(d.p90) for d in result.days)
    assert result.total(7)[0] == pytest.approx(sum(pattern))


def test_a_public_holiday_is_forecast_closed_and_does_not_drag_the_level() -> None:
    today = date(2026, 11, 16)  # the Monday after Armistice Day (Wednesday 11 November)
    pattern = [0, 10, 20, 20, 30, 50, 0]
    sold = weekly(pattern, 20, today)
    sold[date(2026, 11, 11)] = 0  # closed that Wednesday
    result = forecast(sold, today, 14)
    assert result.total(7)[0] == pytest.approx(sum(pattern))
    christmas = forecast(weekly(pattern, 20, date(2026, 12, 21)), date(2026, 12, 21), 7)
    assert christmas.days[4].day == date(2026, 12, 25) and christmas.days[4].mean == 0
    assert is_public_holiday(date(2026, 4, 6))  # Easter Monday 2026


def test_the_band_widens_with_noisy_days() -> None:
    pattern = [0, 10, 20, 20, 30, 50, 0]
    noisy = weekly(pattern, 20)
    for k, day in enumerate(sorted(noisy)):
        noisy[day] *= (1.5 if k % 2 else 0.5)
    day = forecast(noisy, TODAY, 7, NEVER_CLOSED).days[3]
    assert day.p10 < day.mean < day.p90
    assert profile(noisy, TODAY, NEVER_CLOSED)[6] == 0  # a closed weekday stays closed


def test_the_forecast_follows_a_new_level_within_a_week() -> None:
    pattern = [0, 10, 20, 20, 30, 50, 0]
    sold = weekly(pattern, 20)
    for k in range(1, 8):  # demand doubled last week (a product came into season)
        day = TODAY - timedelta(days=k)
        sold[day] *= 2
    ahead = forecast(sold, TODAY, 7, NEVER_CLOSED).days[3]
    assert ahead.mean == pytest.approx(2 * pattern[ahead.day.weekday()])
    assert expected(sold, TODAY - timedelta(days=8), NEVER_CLOSED) == pytest.approx(
        pattern[(TODAY - timedelta(days=8)).weekday()])  # before the change: the old level


def test_wape_and_seasonal_naive() -> None:
    assert wape([(10, 8), (0, 2), (10, 10)]) == pytest.approx(0.2)
    sold = days_back(*range(1, 15))
    assert seasonal_naive(sold, TODAY, TODAY + timedelta(days=2)) == sold[
        TODAY + timedelta(days=2) - timedelta(days=7)]
    assert seasonal_naive(sold, TODAY, TODAY + timedelta(days=9)) == sold[
        TODAY + timedelta(days=9) - timedelta(days=14)]


def test_the_supply_gap_is_what_neither_stock_nor_supply_covers() -> None:
    pattern = [0, 1000, 2000, 2000, 3000, 5000, 0]  # grams a day
    signal = compute(territory="lyon", product_id="carotte", shop_id=None,
                     sold=weekly(pattern, 20), today=TODAY, on_hand=4_000,
                     committed_supply_7d=3_000, inputs_at=NOW, now=NOW,
                     closed=lambda _d: False)
    assert signal.forecast_7d[0] == pytest.approx(13_000)
    assert signal.supply_gap_7d == pytest.approx(6_000)
    assert signal.days_of_cover == round(4_000 / (13_000 / 7), 2)
    assert len(signal.sold) == 28 and signal.sold[-1][0] == TODAY - timedelta(days=1)
    covered = compute(territory="lyon", product_id="carotte", shop_id=None,
                      sold=weekly(pattern, 20), today=TODAY, on_hand=20_000,
                      inputs_at=NOW, now=NOW, closed=lambda _d: False)
    assert covered.supply_gap_7d == 0


def test_the_weekly_series_sums_each_complete_week_before_todays() -> None:
    sold = {TODAY - timedelta(days=k): float(k) for k in range(0, 140)}  # k units k days back
    weeks = weekly_totals(sold, TODAY)
    this_monday = TODAY - timedelta(days=TODAY.weekday())
    assert len(weeks) == HISTORY_WEEKS
    assert [start for start, _ in weeks] == [this_monday - timedelta(weeks=k)
                                             for k in range(HISTORY_WEEKS, 0, -1)]
    for start, units in weeks:  # Monday to Sunday, whatever today's weekday
        assert start.weekday() == 0
        assert units == sum((TODAY - start).days - d for d in range(7))
    assert weekly_totals(sold, this_monday)[-1][0] == this_monday - timedelta(weeks=1)


def test_the_weekly_series_counts_a_week_without_sales_as_zero() -> None:
    monday = TODAY - timedelta(days=TODAY.weekday() + 14)
    sold = {monday + timedelta(days=d): 10.0 for d in range(7)}
    weeks = dict(weekly_totals(sold, TODAY, weeks=4))
    assert weeks == {monday - timedelta(weeks=1): 0, monday: 70,
                     monday + timedelta(weeks=1): 0, monday - timedelta(weeks=2): 0}
    signal = compute(territory="lyon", product_id="carotte", shop_id=None, sold=sold,
                     today=TODAY, on_hand=None, inputs_at=NOW, now=NOW, closed=lambda _d: False)
    assert dict(signal.sold_weeks)[monday] == 70 and len(signal.sold_weeks) == HISTORY_WEEKS
