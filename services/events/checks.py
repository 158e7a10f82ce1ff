"""Checks on the values every record carries, whoever produced it: ids, times, quantities,
timezones. Pure: no I/O, no clock (a replay judges a record as the live path did).

Each service's own checks (services/sales/checks.py, services/orders/checks.py,
services/caisse/checks.py) build on these, and so do the gateway's field types.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from zoneinfo import available_timezones

MAX_QUANTITY = 10**9  # base units (pieces, grams, millilitres) in one line or movement
MAX_ID = 200  # characters of an id
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # a till clock reset to its epoch is wrong
LATEST = datetime(2101, 1, 1, tzinfo=UTC)  # ... and so is one a century ahead
YEARS = range(EARLIEST.year, LATEST.year)  # 2000 to 2100: the years of a month or a day


def id_problem(name: str, value: str | None) -> str | None:
    """Why `value` cannot be an id (None when it can)."""
    if not value or value.isspace():
        return f"{name} is empty"
    if len(value) > MAX_ID:
        return f"{name} is longer than {MAX_ID} characters"
    return None


def quantity_problem(name: str, value: int, *, zero_allowed: bool = False) -> str | None:
    """Why `value` cannot be a quantity in base units (None when it can)."""
    low = 0 if zero_allowed else 1
    if not low <= value <= MAX_QUANTITY:
        return f"{name} {value} is outside {low}..{MAX_QUANTITY}"
    return None


def time_problem(name: str, value: datetime) -> str | None:
    """Why `value` cannot be when something happened (None when it can)."""
    if not EARLIEST <= value < LATEST:
        return f"{name} {value.isoformat()} is outside {EARLIEST.year}..{LATEST.year - 1}"
    return None


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def timezone_problem(value: str) -> str | None:
    """Why `value` is not one of the IANA zones (not merely a key ZoneInfo opens: "Europe", a
    directory, makes it raise IsADirectoryError, an over-long key OSError)."""
    if value not in _zones():
        return f"{value!r} is not an IANA timezone (e.g. Europe/Paris)"
    return None


def first(problems: Iterable[str | None]) -> str | None:
    """The first problem found, if any."""
    return next((p for p in problems if p), None)
