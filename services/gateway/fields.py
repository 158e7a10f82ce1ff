"""The field types of the public API, in one place: every router's request models use these.

Each type says its domain in the OpenAPI document (pattern, bounds) and is checked by pydantic,
so a value out of range is a 422 naming the field, never a record the services downstream
cannot encode (Avro `int` and `long`, UTF-8 strings: no lone surrogate) or cannot handle (year
0, an unknown timezone). Dates and months stay within YEARS; integers going on the wire as an
Avro `int` stay within AVRO_INT.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import HTTPException, status
from pydantic import AfterValidator, Field

from services.events.checks import timezone_problem
from services.sales.intake import Cents, Identifier, Quantity, TicketNumber

__all__ = [
    "AVRO_INT", "FIRST_DAY", "LAST_DAY", "YEARS", "Band", "CaisseAmount", "CaisseCents",
    "Cents", "Code", "Count", "Day", "Identifier", "Label", "Latitude", "Longitude", "Month",
    "Name", "Note", "OrderId", "Quantity", "Reason", "ShopId", "Slug", "StockQuantity",
    "TicketNumber", "TicketRef", "Timezone", "refused", "text",
]

YEARS = (2000, 2100)  # the years a month or a day of the API may fall in
FIRST_DAY, LAST_DAY = date(YEARS[0], 1, 1), date(YEARS[1], 12, 31)
AVRO_INT = (-(2**31), 2**31 - 1)


def text(max_length: int, *, min_length: int = 0) -> object:
    """Free text of at most `max_length` characters. A constrained string also refuses a lone
    UTF-16 surrogate (JSON's \\u escapes allow one; UTF-8, hence Avro, cannot encode it): so
    a request model never takes a bare `str`."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length)]


def refused(field: str | None, kind: str, msg: str, fr: str | None = None,
            code: int = status.HTTP_422_UNPROCESSABLE_CONTENT, *, where: str = "body"
            ) -> HTTPException:
    """A refusal located at a field of the body (or of the query: `where="query"`; the whole
    body: no field), as a validation error is (`loc`, `type`, `msg`), with its French sentence
    (`fr`) for the pages to show next to that field."""
    item = {"loc": [where, field] if field else [where], "type": kind, "msg": msg}
    return HTTPException(code, [item | ({"fr": fr} if fr is not None else {})])


def _iana(value: str) -> str:
    problem = timezone_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# ids: a shop is named as its tills name it; catalog ids (products, territories, categories,
# labels, offers) are lower-case slugs
ShopId = Identifier
Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
OrderId = text(300, min_length=1)  # the orders service makes them (`a>b` after a refusal)
Band = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9._-]+$",
                            examples=["T2"])]

# free text
Name = text(120, min_length=1)
Code = text(64, min_length=1)  # a till's code for a product
Label = text(200)
Reason = text(500)
Note = text(2000)
TicketRef = text(200)  # a till's ticket id, as the till wrote it

# time
Month = Annotated[str, Field(pattern=r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$",
                             description=f"YYYY-MM, years {YEARS[0]} to {YEARS[1]}.",
                             examples=["2026-11"])]
Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY,
                            description=f"YYYY-MM-DD, years {YEARS[0]} to {YEARS[1]}.")]
Timezone = Annotated[str, Field(min_length=1, max_length=64, examples=["Europe/Paris"]),
                     AfterValidator(_iana)]

# numbers
CaisseCents = Annotated[int, Field(gt=0, le=10_000_000,
                                   description="Cents of the caisse's currency.")]
CaisseAmount = Annotated[int, Field(ge=0, le=10_000_000,
                                    description="Cents of the caisse's currency (0 allowed).")]
Count = Annotated[int, Field(ge=0, le=1_000_000, description="A number of people or votes.")]
StockQuantity = Annotated[int, Field(ge=0, le=10**9, description="In the product's base unit.")]
Latitude = Annotated[int, Field(ge=-90_000_000, le=90_000_000, description="Degrees × 10⁶.")]
Longitude = Annotated[int, Field(ge=-180_000_000, le=180_000_000, description="Degrees × 10⁶.")]
