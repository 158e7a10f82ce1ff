"""Season outlook backtest: WAPE of the 26-week outlook (services.demand.outlook) against the
seasonal-naive forecast (the same week last year) at 4-, 8- and 16-week horizons, on three
simulated years of the four territories' tills.

    .venv/bin/python -m bench.season_outlook [--years 3] [--seed 42]

Units sold per territory × product × week (sales less refunds) come from the simulator's model
(no broker). Every fourth Monday of the last year is a forecast origin, with two years and more
of history before it: each method forecasts the weeks ahead from the weeks before the origin
only. WAPE is Σ|actual − forecast| / Σ actual over every series at that horizon. Target
(issue 17): outlook WAPE ≤ 0.85 × seasonal-naive at 8 and 16 weeks.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import defaultdict
from datetime import date, timedelta

from bench.demand_forecast import simulated_year
from services.demand.outlook import monday, outlook

HORIZONS = (4, 8, 16)
TARGET = 0.85


def weekly(days: dict[date, float]) -> dict[date, float]:
    weeks: dict[date, float] = defaultdict(float)
    for day, units in days.items():
        weeks[monday(day)] += units
    return dict(weeks)


def backtest(series: dict[tuple[str, str], dict[date, float]], origins: list[date]
             ) -> dict[int, tuple[float, float]]:
    """Per horizon, (outlook's WAPE, seasonal-naive's WAPE)."""
    errors = {h: [0.0, 0.0, 0.0] for h in HORIZONS}  # |outlook error|, |naive error|, actual
    for days in series.values():
        weeks = weekly(days)
        for origin in origins:
            known = {w: u for w, u in weeks.items() if w < origin}
            ahead = outlook(known, origin, weeks=max(HORIZONS))
            for h in HORIZONS:
                week = origin + timedelta(weeks=h - 1)
                actual = weeks.get(week, 0.0)
                naive = weeks.get(week - timedelta(weeks=52), 0.0)
                errors[h][0] += abs(actual - ahead[h - 1].mean)
                errors[h][1] += abs(actual - naive)
                errors[h][2] += actual
    return {h: (e[0] / e[2], e[1] / e[2]) for h, e in errors.items() if e[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    first = monday(date(2023, 1, 2))
    days = args.years * 364
    started = time.perf_counter()
    series = simulated_year(first, days, args.seed)
    simulated_s = time.perf_counter() - started
    last = first + timedelta(days=days)
    origins = [last - timedelta(weeks=52) + timedelta(weeks=4 * k) for k in range(10)]
    origins = [o for o in origins if o + timedelta(weeks=max(HORIZONS)) <= last]
    started = time.perf_counter()
    result = backtest(series, origins)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; {len(series)} territory × product series, "
          f"{args.years} simulated years from {first} (seed {args.seed}, {simulated_s:.0f} s), "
          f"{len(origins)} origins from {origins[0]}, backtest {time.perf_counter() - started:.0f} s")
    print("| horizon | outlook WAPE | seasonal-naive WAPE | ratio | target |")
    print("|---|---|---|---|---|")
    for h, (ours, naive) in result.items():
        ratio = ours / naive
        target = f"≤ {TARGET}" if h in (8, 16) else ""
        print(f"| {h} weeks | {ours:.3f} | {naive:.3f} | {ratio:.2f} | {target} |")


if __name__ == "__main__":
    main()
