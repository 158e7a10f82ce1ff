"""Which records of a fetched batch an exactly-once partition takes: never one already done,
never one after a hole it has not checked."""

from __future__ import annotations

from types import SimpleNamespace

from services.bus.transactional import undone


def batch(*offsets: int) -> list:
    return [SimpleNamespace(offset=o) for o in offsets]


def offsets(records) -> list[int] | None:
    return None if records is None else [r.offset for r in records]


def test_a_contiguous_batch_is_taken_whole() -> None:
    assert offsets(undone(batch(10, 11, 12), 10, -1)) == [10, 11, 12]


def test_records_already_done_are_dropped() -> None:
    assert offsets(undone(batch(5, 6, 10, 11), 10, -1)) == [10, 11]
    assert offsets(undone(batch(5, 6), 10, -1)) == []


def test_a_batch_starting_after_the_position_is_read_again_first() -> None:
    assert undone(batch(29, 30), 10, -1) is None  # fetched from elsewhere: seek back to 10
    assert undone(batch(29, 30), 10, 3) is None


def test_a_hole_seen_again_from_the_position_is_real() -> None:
    assert offsets(undone(batch(12, 13), 10, 10)) == [12, 13]  # e.g. transaction markers
