"""Dead letters read as an operator sees them, whoever wrote them."""

from __future__ import annotations

from types import SimpleNamespace

from services.bus.deadletter import DeadLetter, Stage, dead_letter_headers


def _record(headers, *, topic="stock.waste", partition=2, offset=41):
    return SimpleNamespace(topic=topic, partition=partition, offset=offset, key=b"shop",
                           value=b"\x00\x00\x00\x00\x01", headers=headers)


def test_a_letter_keeps_why_and_where_from_and_the_records_own_headers() -> None:
    headers = dead_letter_headers(_record([("ce_id", b"x/1")]), Stage.HANDLE,
                                  ValueError("quantity must be positive"), "stock")
    letter = DeadLetter.from_record(_record(headers, topic="stock.waste.dlq", offset=0))
    assert (letter.original_topic, letter.original_partition, letter.original_offset) == (
        "stock.waste", 2, 41)
    assert (letter.stage, letter.error_type, letter.service) == ("handle", "ValueError", "stock")
    assert letter.original_headers == [("ce_id", b"x/1")]


def test_a_letter_with_broken_or_missing_headers_is_still_read() -> None:
    letter = DeadLetter.from_record(_record([("dlq_original_partition", b"deux"),
                                             ("dlq_original_offset", "\u00b2".encode())]))
    assert (letter.original_partition, letter.original_offset) == (-1, -1)
    assert DeadLetter.from_record(_record(None)).original_topic == ""
