"""Daily till exports (CSV) read into tickets, with every problem reported by line number. Pure.

One row per ticket line; the payment columns repeat on each row of a ticket. Columns:

    till_id, ticket_number, occurred_at, timezone, product_code, code_kind, label, quantity,
    unit, unit_price_cents, paid_cents, cash_cents, card_cents, caisse_cents, caisse_card_id,
    voucher_cents

`occurred_at` is ISO 8601; without an offset it is the shop's local time in `timezone`
(default Europe/Paris). Commas or semicolons separate fields. A ticket with a bad row is left out
whole, so the report names all its rows; the other tickets are imported.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from services.events.sales import PaymentMethod
from services.sales.intake import TicketIn

COLUMNS = ("till_id", "ticket_number", "occurred_at", "timezone", "product_code", "code_kind",
           "label", "quantity", "unit", "unit_price_cents", "paid_cents", "cash_cents",
           "card_cents", "caisse_cents", "caisse_card_id", "voucher_cents")
REQUIRED = ("till_id", "ticket_number", "occurred_at", "product_code", "quantity", "unit",
            "unit_price_cents", "paid_cents")
PAYMENT_COLUMNS = {"cash_cents": PaymentMethod.CASH, "card_cents": PaymentMethod.CARD,
                   "caisse_cents": PaymentMethod.CAISSE, "voucher_cents": PaymentMethod.VOUCHER}


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


@dataclass
class ParsedFile:
    tickets: list[TicketIn] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


def parse(lines: Iterable[str], shop_id: str) -> ParsedFile:
    """Tickets of one shop's export, and the errors of the rows left out."""
    text = list(lines)
    result = ParsedFile()
    if not text:
        result.errors.append(RowError(1, "empty file: a header line is expected"))
        return result
    delimiter = ";" if text[0].count(";") > text[0].count(",") else ","
    reader = csv.DictReader(text, delimiter=delimiter)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        result.errors.append(RowError(1, f"missing column(s): {', '.join(missing)}"))
        return result
    groups: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = {}
    for row in reader:
        result.rows += 1
        number = (row.get("ticket_number") or "").strip()
        key = ((row.get("till_id") or "").strip(), str(int(number)) if number.isdigit() else number)
        groups.setdefault(key, []).append((reader.line_num, row))
    for rows in groups.values():
        ticket, errors = _ticket(shop_id, rows)
        if errors:
            result.errors.extend(errors)
        else:
            result.tickets.append(ticket)
    result.errors.sort(key=lambda e: e.line)
    return result


def _ticket(shop_id: str, rows: list[tuple[int, dict[str, str]]]
            ) -> tuple[TicketIn | None, list[RowError]]:
    first_line, first = rows[0]
    errors: list[RowError] = []
    for line, row in rows[1:]:
        for column in (*PAYMENT_COLUMNS, "caisse_card_id", "occurred_at"):
            if (row.get(column) or "") != (first.get(column) or ""):
                errors.append(RowError(line, f"{column} differs from line {first_line} of the "
                                             "same ticket"))
    try:
        occurred_at = _time(first["occurred_at"], first.get("timezone") or "Europe/Paris")
    except ValueError as err:
        return None, [RowError(first_line, f"occurred_at: {err}")]
    payments = [{"method": method, "amount_cents": _int(first.get(column)),
                 **({"card_id": first.get("caisse_card_id") or None}
                    if method is PaymentMethod.CAISSE else {})}
                for column, method in PAYMENT_COLUMNS.items() if _int(first.get(column))]
    data = {
        "shop_id": shop_id, "till_id": first["till_id"], "ticket_number": first["ticket_number"],
        "occurred_at": occurred_at, "timezone": first.get("timezone") or "Europe/Paris",
        "payments": payments,
        "lines": [{"product_code": row["product_code"], "code_kind": row.get("code_kind") or
                   "INTERNAL", "label": row.get("label") or "", "quantity": row["quantity"],
                   "unit": row["unit"], "unit_price_cents": row["unit_price_cents"],
                   "paid_cents": row["paid_cents"]} for _line, row in rows],
    }
    try:
        ticket = TicketIn.model_validate(data)
    except ValidationError as err:
        for problem in err.errors():
            loc = problem["loc"]
            line = rows[loc[1]][0] if len(loc) > 1 and loc[0] == "lines" else first_line
            field_name = loc[2] if len(loc) > 2 and loc[0] == "lines" else loc[0] if loc \
                else "ticket"
            errors.append(RowError(line, f"{field_name}: {problem['msg']}"))
        return None, errors
    return (None, errors) if errors else (ticket, [])


def _int(value: str | None) -> int:
    try:
        return int(value) if value and value.strip() else 0
    except ValueError:
        return -1  # refused by the model, which names the column


def _time(value: str, timezone: str) -> datetime:
    local = datetime.fromisoformat(value.strip())
    if local.tzinfo is not None:
        return local
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {timezone!r}") from None
    moment = local.replace(tzinfo=zone)
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        raise ValueError(f"{value.strip()} does not exist in {timezone} (clocks went forward)")
    return moment
