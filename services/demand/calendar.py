"""The French calendar the épiceries live by: public holidays (jours fériés), when they close.
Pure. A forecast that knows them neither predicts sales on a closed day nor mistakes the week
around one for a drop in demand."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

FIXED = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))
AFTER_EASTER = (1, 39, 50)  # lundi de Pâques, Ascension, lundi de Pentecôte


def is_public_holiday(day: date) -> bool:
    """French public holidays (jours fériés), when the épiceries are closed."""
    return day in holidays(day.year)


@cache
def holidays(year: int) -> frozenset[date]:
    """The year's public holidays (a forecast asks hundreds of times per signal)."""
    easter = _easter(year)
    return frozenset([date(year, m, d) for m, d in FIXED]
                     + [easter + timedelta(days=d) for d in AFTER_EASTER])


def _easter(year: int) -> date:
    """Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)
