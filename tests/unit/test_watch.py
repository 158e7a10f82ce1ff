"""A slow watcher of a table holds a bounded set of changed keys; an SSE client that falls
behind it gets a fresh snapshot from its cursor, with the newest rows, each once."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.bus.watch import ChangedKeys, FellBehind
from services.gateway import sse


def test_a_key_changed_twice_is_pending_once_in_the_order_of_its_last_change() -> None:
    changes = ChangedKeys(bound=10)
    for key in ("a", "b", "a", "c"):
        changes.add(key)
    assert len(changes) == 3
    assert [changes.get_nowait() for _ in range(4)] == ["b", "a", "c", None]


def test_past_its_bound_a_watcher_holds_nothing_and_says_it_fell_behind_once() -> None:
    changes = ChangedKeys(bound=3)
    for number in range(10_000):
        changes.add(f"k{number}")
        assert len(changes) <= 3
    assert len(changes) == 0 and changes.fell_behind == 1 and changes.behind
    with pytest.raises(FellBehind):
        changes.get_nowait()
    assert not changes.behind
    assert changes.get_nowait() is None  # said once; it collects again from there
    changes.add("fresh")
    assert changes.get_nowait() == "fresh"


async def test_get_waits_for_a_change_or_for_falling_behind() -> None:
    changes = ChangedKeys(bound=1)
    waiting = asyncio.create_task(changes.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    changes.add("a")
    assert await waiting == "a"
    waiting = asyncio.create_task(changes.get())
    changes.add("b")
    changes.add("c")
    with pytest.raises(FellBehind):
        await waiting


class FakeTable:
    """What `sse.stream` reads of a TableView: rows, their positions, watchers (one partition)."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.rows: dict[str, dict] = {}
        self.positions: dict[str, tuple[int, int]] = {}
        self.watchers: set[ChangedKeys] = set()
        self.next_offset = 0

    def apply(self, key: str, version: int) -> None:
        self.rows[key] = {"key": key, "version": version}
        self.positions[key] = (0, self.next_offset)
        self.next_offset += 1
        for watcher in self.watchers:
            watcher.add(key)

    def watch(self, bound: int) -> ChangedKeys:
        changes = ChangedKeys(self.bound)  # the fake's own, small bound
        self.watchers.add(changes)
        return changes

    def unwatch(self, changes: ChangedKeys) -> None:
        self.watchers.discard(changes)

    def get(self, key: str) -> dict | None:
        return self.rows.get(key)


async def read(events, count: int) -> list[tuple[str, dict]]:
    """`count` events as (id, data)."""
    found = []
    for _ in range(count):
        block = await anext(events)
        fields = dict(line.split(": ", 1) for line in block.strip().split("\n"))
        found.append((fields["id"], json.loads(fields["data"])))
    return found


@pytest.fixture
def quick_keepalive(monkeypatch):
    monkeypatch.setattr(sse, "KEEPALIVE_S", 0.01)  # silence shows at once as a keepalive


async def test_a_client_that_falls_behind_gets_the_newest_rows_from_its_cursor(
        quick_keepalive) -> None:
    table = FakeTable(bound=5)
    for number in range(3):
        table.apply(f"k{number}", 0)
    events = sse.stream(table, None, "row", lambda row: row).body_iterator
    assert [data["key"] for _, data in await read(events, 3)] == ["k0", "k1", "k2"]
    (changes,) = table.watchers
    for version in (1, 2, 3):  # a slow client: 40 distinct keys change, three times each
        for number in range(40):
            table.apply(f"k{number}", version)
            assert len(changes) <= 5
    assert changes.fell_behind >= 1
    newest = await read(events, 40)  # the snapshot from its cursor: each key once, newest
    assert sorted(data["key"] for _, data in newest) == sorted(f"k{n}" for n in range(40))
    assert {data["version"] for _, data in newest} == {3}
    assert await anext(events) == ": toujours là\n\n"  # and nothing stale after it
    table.apply("k7", 4)
    [(last_id, data)] = await read(events, 1)
    assert data == {"key": "k7", "version": 4}
    await events.aclose()
    assert not table.watchers

    resumed = sse.stream(table, last_id, "row", lambda row: row).body_iterator
    assert await anext(resumed) == ": toujours là\n\n"  # nothing was missed
    await resumed.aclose()


async def test_a_row_changed_during_the_snapshot_does_not_hide_the_rows_after_it(
        quick_keepalive) -> None:
    table = FakeTable(bound=100)
    for key in ("a", "b", "c"):
        table.apply(key, 0)
    events = sse.stream(table, None, "row", lambda row: row).body_iterator
    assert (await read(events, 1))[0][1] == {"key": "a", "version": 0}
    table.apply("b", 1)  # while the snapshot is half sent
    assert [data for _, data in await read(events, 2)] == [
        {"key": "c", "version": 0}, {"key": "b", "version": 1}]
    assert await anext(events) == ": toujours là\n\n"
    await events.aclose()
