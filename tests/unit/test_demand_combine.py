"""The second stage: a territory's signal summed from its source partitions' partials is the
same whatever the number of workers sharing the partitions, the order the partials arrive in
and their repeats; an earlier owner's late partial never replaces a newer one."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from services.demand.combine import Combined, Partial, territory_signal
from services.demand.signals import compute
from services.demand.state import KEEP_DAYS, DemandState, Shelf, Sold

TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
PAIR = ("lyon", "carotte")
SHOPS = {f"shop-{n}": n % 6 for n in range(9)}  # shop → its source partition


def history(seed: int, count: int = 400) -> list[Sold | Shelf]:
    """Tickets, refunds and shelf changes of the shops, in order per source partition."""
    rng, offsets, records = random.Random(seed), {}, []
    for _ in range(count):
        shop = rng.choice(list(SHOPS))
        topic = rng.choice(["sales.tickets", "sales.tickets", "sales.refunds", "stock.alerts"])
        src = f"{topic}:{SHOPS[shop]}"
        offsets[src] = offset = offsets.get(src, -1) + 1
        day = TODAY - timedelta(days=rng.randint(0, 90))
        if topic == "stock.alerts":
            records.append(Shelf(shop_id=shop, territory="lyon", product_id="carotte",
                                 day=TODAY - timedelta(days=rng.randint(0, 9)),
                                 empty=rng.random() < 0.5, src=src, offset=offset))
            continue
        units = rng.randint(1, 900) * (-1 if topic == "sales.refunds" else 1)
        records.append(Sold(shop_id=shop, territory="lyon", day=day,
                            units={rng.choice(["carotte", "navet"]): units},
                            at_ms=rng.randint(10**12, 2 * 10**12), src=src, offset=offset))
    return records


def folded(records, partitions) -> DemandState:
    """A worker's state: the records of its source partitions."""
    state = DemandState()
    for record in records:
        if int(record.src.rpartition(":")[2]) in partitions:
            if isinstance(record, Shelf):
                state.apply_shelf(record)
            else:
                state.apply_sold(record, TODAY)
            state.positions.applied(record.src, record.offset)  # as the fold moves them
    return state


def signal(partials, on_hand=None):
    return territory_signal(PAIR, partials, TODAY, on_hand=on_hand or {}, committed_7d=25,
                            now=NOW, keep_days=KEEP_DAYS)


@pytest.mark.parametrize("seed", range(8))
def test_any_number_of_workers_gives_one_workers_territory_signal(seed: int) -> None:
    records = history(seed)
    rng = random.Random(seed)
    alone = signal(folded(records, range(6)).take_partials(PAIR), on_hand={"shop-1": 300})
    total: dict[date, float] = {}  # an independent sum, straight from the records
    for record in records:
        if isinstance(record, Sold) and "carotte" in record.units:
            total[record.day] = total.get(record.day, 0) + record.units["carotte"]
    assert alone.sold == compute(territory="lyon", product_id="carotte", shop_id=None,
                                 sold=total, today=TODAY, on_hand=300, now=NOW,
                                 inputs_at=None).sold
    for workers in (1, 2, 3):
        shares = [set(range(6)[w::workers]) for w in range(workers)]  # partitions of each
        sent = [p for share in shares for p in folded(records, share).take_partials(PAIR)]
        received = sent + rng.sample(sent, len(sent) // 2)  # at least once: repeats
        rng.shuffle(received)  # partitions interleave as they will
        combined = Combined()
        for partial in received:
            combined.take(partial)
        assert combined.signal(PAIR, TODAY, on_hand={"shop-1": 300}, committed_7d=25,
                               now=NOW, keep_days=KEEP_DAYS) == alone


def test_a_late_partial_of_an_earlier_owner_changes_nothing() -> None:
    records = [r for r in history(3) if r.src.endswith(":2")]
    before, after = folded(records[:20], {2}), folded(records, {2})  # the partition moved
    [old], [new] = before.take_partials(PAIR), after.take_partials(PAIR)
    assert new.version > old.version
    combined = Combined()
    assert combined.take(new)
    assert not combined.take(old)  # the earlier owner's, arriving last
    assert combined.signal(PAIR, TODAY, on_hand={}, committed_7d=25, now=NOW,
                           keep_days=KEEP_DAYS) == signal([new])


def test_a_partial_travels_as_json_and_comes_back_the_same() -> None:
    partial = Partial("lyon", "carotte", 4, 1234, sold={TODAY: 5, TODAY - timedelta(days=9): -2},
                      empty={"shop-4": [["2026-11-20", None]]}, at_ms=1_700_000_000_000)
    data = json.loads(json.dumps(partial.to_json()))
    assert len(data["units"]) == 10  # a day per element from the first
    assert Partial.from_json(data) == partial
    empty = Partial("lyon", "carotte", 1, 0)
    assert Partial.from_json(json.loads(json.dumps(empty.to_json()))) == empty


def test_days_older_than_kept_are_left_out_of_the_sum() -> None:
    kept = Partial("lyon", "carotte", 0, 1, sold={TODAY - timedelta(days=1): 7})
    stale = Partial("lyon", "carotte", 1, 1, sold={TODAY - timedelta(days=KEEP_DAYS + 3): 99,
                                                   TODAY - timedelta(days=1): 3})
    assert dict(signal([kept, stale]).sold)[TODAY - timedelta(days=1)] == 10
    assert signal([kept, stale]) == signal([kept, Partial(
        "lyon", "carotte", 1, 1, sold={TODAY - timedelta(days=1): 3})])


def test_partials_go_out_for_the_partitions_changed_since_last_asked() -> None:
    state = folded(history(5), range(6))
    first = state.take_partials(PAIR)
    assert {p.partition for p in first} == {0, 1, 2, 3, 4, 5}
    assert state.take_partials(PAIR) == []  # nothing changed since
    state.apply_sold(Sold(shop_id="shop-4", territory="lyon", day=TODAY, units={"carotte": 3},
                          at_ms=2 * 10**12 + 1, src="sales.tickets:4", offset=10_000), TODAY)
    state.positions.applied("sales.tickets:4", 10_000)
    [again] = state.take_partials(PAIR)
    assert again.partition == 4 and again.version > first[4].version
    assert again.sold[TODAY] == first[4].sold.get(TODAY, 0) + 3


def test_a_partial_lost_on_its_way_is_made_good_by_the_refresh() -> None:
    """faust acks records it drops during a rebalance: a partition's last partial may never
    reach the combining stage; the refresh sends every partial again, and only the missing
    one changes the territory's signal."""
    state, whole = folded(history(8), range(6)), folded(history(8), range(6))
    combined = Combined()
    for partial in state.take_partials(PAIR):
        if partial.partition != 3:  # lost
            combined.take(partial)
    assert combined.take_dirty(10) == [PAIR]
    wanted = signal(whole.take_partials(PAIR))
    assert combined.signal(PAIR, TODAY, on_hand={}, committed_7d=25, now=NOW,
                           keep_days=KEEP_DAYS) != wanted
    assert PAIR in state.refresh()
    kept = [combined.take(partial) for partial in state.take_partials(PAIR)]
    assert kept.count(True) == 1  # the lost one; the five others are the same again
    assert combined.signal(PAIR, TODAY, on_hand={}, committed_7d=25, now=NOW,
                           keep_days=KEEP_DAYS) == wanted
    assert combined.take_dirty(10) == [PAIR]
    for partial in (state.refresh(), state.take_partials(PAIR))[1]:  # nothing changed since
        assert not combined.take(partial)
    assert combined.take_dirty(10) == []  # so no signal goes out again


def test_a_shop_with_only_stock_is_signalled_by_the_worker_owning_its_partition() -> None:
    state = folded(history(6), {0})  # a worker with partition 0 only
    shops = {s.shop_id for s in state.shop_signals(
        PAIR, TODAY, on_hand={"shop-0": 5, "shop-1": 8, "new-shop": 2},
        owns=lambda shop: shop == "new-shop", now=NOW)}
    assert "shop-1" not in shops  # another worker's
    assert {"shop-0", "new-shop"} <= shops
