"""Daily till exports: good tickets kept, bad rows reported by line number. No broker."""

from __future__ import annotations

from services.sales.csv_import import parse

HEADER = ("till_id,ticket_number,occurred_at,timezone,product_code,code_kind,label,quantity,"
          "unit,unit_price_cents,paid_cents,cash_cents,card_cents,caisse_cents,caisse_card_id,"
          "voucher_cents")


def test_rows_group_into_tickets_and_local_times_get_the_shops_zone() -> None:
    parsed = parse([HEADER,
                    "t1,1,2026-07-03T10:05:00,Europe/Paris,2001,PLU,Tomates,750,GRAM,480,72,142,0,0,,0",
                    "t1,1,2026-07-03T10:05:00,Europe/Paris,376,EAN,Pain,1,PIECE,350,70,142,0,0,,0",
                    "t1,2,2026-07-03T10:09:00+02:00,,2002,PLU,Poireaux,500,GRAM,300,45,0,0,45,card-1,0"],
                   "lyon-graine")
    assert parsed.errors == []
    first, second = parsed.tickets
    assert first.ticket_id == "lyon-graine/t1/1" and len(first.lines) == 2
    assert first.occurred_at.utcoffset().total_seconds() == 7200  # Paris summer time
    assert second.payments[0].card_id == "card-1"


def test_a_bad_row_leaves_its_ticket_out_and_is_reported_by_line() -> None:
    parsed = parse([HEADER,
                    "t1,1,2026-07-03T10:05:00,Europe/Paris,2001,PLU,Tomates,750,GRAM,480,72,72,0,0,,0",
                    "t1,2,2026-07-03T10:06:00,Europe/Paris,2001,PLU,Tomates,750,GRAM,480,72,72,0,0,,0",
                    "t1,2,2026-07-03T10:06:00,Europe/Paris,2002,PLU,Poireaux,-1,GRAM,300,45,72,0,0,,0",
                    "t1,3,hier,Europe/Paris,2001,PLU,Tomates,750,GRAM,480,72,72,0,0,,0"],
                   "lyon-graine")
    assert [t.ticket_number for t in parsed.tickets] == [1]
    assert [(e.line, e.message.split(":")[0]) for e in parsed.errors] == [
        (4, "quantity"), (5, "occurred_at")]
    assert parsed.rows == 4


def test_semicolons_and_a_missing_column_are_understood() -> None:
    assert parse([HEADER.replace(",", ";")], "s").errors == []
    [error] = parse(["till_id;ticket_number"], "s").errors
    assert error.line == 1 and "occurred_at" in error.message


def test_ticket_numbers_are_numbers_and_missing_local_times_are_refused() -> None:
    row = "t1,{n},{at},Europe/Paris,2001,PLU,Tomates,750,GRAM,480,72,{cash},0,0,,0"
    parsed = parse([HEADER, row.format(n="01", at="2026-07-03T10:05:00", cash=144),
                    row.format(n="1", at="2026-07-03T10:05:00", cash=144),
                    row.format(n="2", at="2026-03-29T02:30:00", cash=72)], "s")
    [ticket] = parsed.tickets  # "01" and "1" are one ticket with two lines
    assert len(ticket.lines) == 2
    [error] = parsed.errors
    assert error.line == 4 and "does not exist" in error.message


def test_a_one_column_file_is_reported_not_raised() -> None:
    [error] = parse(["nothing useful"], "s").errors
    assert error.line == 1 and "missing column" in error.message
