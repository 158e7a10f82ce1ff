"""Forecast backtest: WAPE of the demand forecast against the seasonal-naive forecast (the same
weekday last week), on a simulated year of the four territories' tills.

    .venv/bin/python -m bench.demand_forecast [--days 365] [--seed 42]

Units sold per territory × product × local day (sales less refunds) come from the simulator's
model (no broker needed). From the ninth week on, every Monday is a forecast origin: each
method forecasts the next 7 days (and the next 14) from the days before the origin only; WAPE
is Σ|actual − forecast| / Σ actual over every series and day. Target (issue 6): the forecast's
WAPE at most 0.85 × seasonal-naive's.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, date, datetime, timedelta

from services.demand.forecast import forecast, seasonal_naive, wape
from services.simulator.season import daily_units
from services.simulator.territories import SHOPS

Series = dict[tuple[str, str], dict[date, float]]


def simulated_year(first: date, days: int, seed: int) -> Series:
    """Units sold per (territory, product) and local day, sales less refunds."""
    return daily_units(SHOPS, first, days, seed)


def backtest(series: Series, first: date, days: int, horizon: int
             ) -> tuple[float, float, int]:
    ours, naive = [], []
    origin = first + timedelta(days=(7 - first.weekday()) % 7 + 7 * 8)  # a Monday, 8 weeks in
    last = first + timedelta(days=days - horizon)
    origins = 0
    while origin <= last:
        origins += 1
        for sold in series.values():
            history = {d: u for d, u in sold.items() if d < origin}
            predicted = forecast(history, origin, horizon)
            for k, day_forecast in enumerate(predicted.days):
                day = origin + timedelta(days=k)
                actual = sold.get(day, 0.0)
                ours.append((actual, day_forecast.mean))
                naive.append((actual, seasonal_naive(history, origin, day)))
        origin += timedelta(days=7)
    return wape(ours), wape(naive), origins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(sys.argv[1:])
    first = date(2025, 1, 6)
    started = time.perf_counter()
    series = simulated_year(first, args.days, args.seed)
    simulated = time.perf_counter() - started
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    for horizon in (7, 14):
        ours, naive, origins = backtest(series, first, args.days, horizon)
        print(f"| {datetime.now(UTC):%Y-%m-%d} | {machine} | {len(series)} series × "
              f"{origins} origins, {horizon}-day horizon | WAPE {ours:.3f} vs seasonal-naive "
              f"{naive:.3f}: ratio {ours / naive:.3f} | simulated in {simulated:.0f} s |")


if __name__ == "__main__":
    main()
