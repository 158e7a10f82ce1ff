"""Season outlook backtest: WAPE of the 26-week outlook (services.planning.outlook) against the
seasonal-naive forecast (the same week last year) at 4-, 8- and 16-week horizons, on three
simulated years of the four territories' tills.

    .venv/bin/python -m bench.season_outlook [--years 3] [--seed 42]

Units sold per territory × product × week (sales less refunds) come from the simulator's model
(no broker). Every fourth Monday of the last year is a forecast origin, with two years and more
of history before it: each method forecasts the weeks ahead from the weeks before the origin
only (the outlook also gets each weekday's share of the series' sales over the 52 weeks before
the origin, from its daily sales, as the demand service has them). WAPE is Σ|actual − forecast|
/ Σ actual over every series at that horizon; the median over origins of each origin's ratio
shows it is not one lucky origin; "in band" is the share of actual weeks within the outlook's
p10–p90 (80 % if the band is honest). Target (issue 17): outlook WAPE ≤ 0.85 × seasonal-naive
at 8 and 16 weeks. Also printed: the time of one outlook call (26 weeks) from the last origin.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from types import SimpleNamespace
from collections import defaultdict
from datetime import date, timedelta

from bench.demand_forecast import simulated_year
from services.demand.forecast import profile
from services.planning.coverage import weekday_share
from services.simulator.territories import SHOPS
from services.planning.outlook import monday, outlook

HORIZONS = (4, 8, 16)
TARGET = 0.85


def weekly(days: dict[date, float]) -> dict[date, float]:
    weeks: dict[date, float] = defaultdict(float)
    for day, units in days.items():
        weeks[monday(day)] += units
    return dict(weeks)


def opening_day_shares() -> dict[str, tuple[float, ...] | None]:
    """Per territory, what the planning service passes: each weekday's share from the
    shops' opening days (services.planning.coverage.weekday_share)."""
    shops = [SimpleNamespace(territory=shop.territory, closed_at=None, opening_days=tuple(
        d + 1 for d, hours in enumerate(shop.hours) if hours)) for shop in SHOPS]
    return {t: weekday_share(shops, t) for t in {shop.territory for shop in SHOPS}}


def backtest(series: dict[tuple[str, str], dict[date, float]], origins: list[date],
             shares: dict[str, tuple[float, ...] | None] | None = None
             ) -> dict[int, dict[str, float]]:
    """Per horizon: outlook's and seasonal-naive's WAPE, the median over origins of their
    ratio, and the share of actual weeks within the outlook's p10–p90."""
    # per horizon and origin: |outlook error|, |naive error|, actual, weeks in band, weeks
    sums = {h: {o: [0.0] * 5 for o in origins} for h in HORIZONS}
    for (territory, _product), days in series.items():
        weeks = weekly(days)
        for origin in origins:
            known = {w: u for w, u in weeks.items() if w < origin}
            share = shares[territory] if shares else profile(days, origin, weeks=52)
            ahead = outlook(known, origin, weeks=max(HORIZONS), weekday_share=share)
            for h in HORIZONS:
                week, at = origin + timedelta(weeks=h - 1), sums[h][origin]
                actual = weeks.get(week, 0.0)
                at[0] += abs(actual - ahead[h - 1].mean)
                at[1] += abs(actual - weeks.get(week - timedelta(weeks=52), 0.0))
                at[2] += actual
                at[3] += ahead[h - 1].p10 <= actual <= ahead[h - 1].p90
                at[4] += 1
    return {h: _summary(list(by_origin.values())) for h, by_origin in sums.items()}


def _summary(by_origin: list[list[float]]) -> dict[str, float]:
    ours, naive, actual, inside, count = (sum(col) for col in zip(*by_origin, strict=True))
    ratios = sorted(o[0] / o[1] for o in by_origin if o[1])
    return {"ours": ours / actual, "naive": naive / actual, "ratio": ours / naive,
            "median": statistics.median(ratios), "band": inside / count}


def time_per_call(series: dict[tuple[str, str], dict[date, float]], origin: date) -> float:
    """Milliseconds of one 26-week outlook call, history up to `origin`, share given."""
    calls = [({w: u for w, u in weekly(days).items() if w < origin},
              profile(days, origin, weeks=52)) for days in series.values()]
    started = time.perf_counter()
    for known, share in calls:
        outlook(known, origin, weekday_share=share)
    return (time.perf_counter() - started) / len(calls) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--shares", choices=("sales", "opening-days"), default="sales",
                        help="weekday shares from each series' daily sales, or from the "
                             "shops' opening days (what the planning service passes)")
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
    result = backtest(series, origins,
                      opening_day_shares() if args.shares == "opening-days" else None)
    backtest_s = time.perf_counter() - started
    per_call = time_per_call(series, origins[-1])
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; {len(series)} territory × product series, "
          f"{args.years} simulated years from {first} (seed {args.seed}, {simulated_s:.0f} s), "
          f"{len(origins)} origins from {origins[0]}, shares from {args.shares}, "
          f"backtest {backtest_s:.0f} s; one outlook call "
          f"({(origins[-1] - first).days // 7} weeks of history) {per_call:.1f} ms")
    print("| horizon | outlook WAPE | seasonal-naive WAPE | ratio | median ratio over origins "
          "| in p10–p90 | target |")
    print("|---|---|---|---|---|---|---|")
    for h, r in result.items():
        target = f"≤ {TARGET}" if h in (8, 16) else ""
        print(f"| {h} weeks | {r['ours']:.3f} | {r['naive']:.3f} | {r['ratio']:.2f} "
              f"| {r['median']:.2f} | {r['band']:.0%} | {target} |")


if __name__ == "__main__":
    main()
