"""The demand processor's fold: tickets, refunds and shelf changes bucketed on local days,
applied once whatever the repeats and the order sources interleave in, late uploads and refunds
included; and a state rebuilt from its persisted records equals the live one."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from services.demand.combine import territory_signal
from services.demand.state import (
    KEEP_DAYS,
    DemandState,
    Positions,
    Shelf,
    Sold,
    sold_key,
    to_wire,
)

TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
PAIR = ("lyon", "carotte")


def sold(day: date, units: int, offset: int, *, shop: str = "graine",
         src: str = "sales.tickets:0", product: str = "carotte") -> Sold:
    return Sold(shop_id=shop, territory="lyon", day=day, units={product: units},
                at_ms=int(NOW.timestamp() * 1000) - 1000 * offset, src=src, offset=offset)


def shelf(day: date, empty: bool, offset: int, shop: str = "graine") -> Shelf:
    return Shelf(shop_id=shop, territory="lyon", product_id="carotte", day=day, empty=empty,
                 src="stock.alerts:0", offset=offset)


def signal_of(state: DemandState, pair=PAIR, *, on_hand=None, committed_7d=0):
    """The territory's signal (its partitions' partials summed, as the second stage does),
    then each shop's."""
    on_hand = on_hand or {}
    territory = territory_signal(pair, state.take_partials(pair), TODAY, on_hand=on_hand,
                                 committed_7d=committed_7d, now=NOW, keep_days=KEEP_DAYS)
    return [territory, *state.shop_signals(pair, TODAY, on_hand=on_hand, owns=lambda _: True,
                                           now=NOW)]


def rebuilt(state: DemandState) -> DemandState:
    """What a restarted worker has: its records only (as the table gives them back)."""
    fresh = DemandState()
    for key, record in state.records.items():
        fresh.load(key, record)
    return fresh


def test_a_record_is_applied_once() -> None:
    state = DemandState()
    yesterday = TODAY - timedelta(days=1)
    [(key, record)] = state.apply_sold(sold(yesterday, 500, 10), TODAY)
    assert key == sold_key("graine", yesterday) and record["units"] == {"carotte": 500}
    assert state.apply_sold(sold(yesterday, 500, 10), TODAY) == []  # redelivered
    assert state.apply_sold(sold(yesterday, 500, 9), TODAY) == []  # older
    assert state.sold(PAIR) == {"graine": {yesterday: 500}}
    assert list(state.dirty) == [PAIR]


def test_late_uploads_land_on_their_day_and_refunds_subtract() -> None:
    state = DemandState()
    ten_days_ago = TODAY - timedelta(days=10)
    state.apply_sold(sold(TODAY - timedelta(days=1), 700, 1), TODAY)
    state.apply_sold(sold(ten_days_ago, 400, 2), TODAY)  # a till's late backlog
    state.apply_sold(sold(ten_days_ago, -150, 0, src="sales.refunds:3"), TODAY)  # a refund
    assert state.sold(PAIR)["graine"][ten_days_ago] == 250
    too_old = TODAY - timedelta(days=KEEP_DAYS + 1)
    assert state.apply_sold(sold(too_old, 100, 3), TODAY) == []
    [territory, _shop] = signal_of(state)
    assert dict(territory.sold)[ten_days_ago] == 250


def test_any_interleaving_of_sources_with_repeats_gives_the_same_state() -> None:
    rng = random.Random(3)
    by_source = {src: [sold(TODAY - timedelta(days=rng.randint(0, 20)), rng.randint(-50, 900),
                            n, shop=rng.choice(["graine", "tonkin"]), src=src,
                            product=rng.choice(["carotte", "poireau"]))
                       for n in range(40)] for src in ("sales.tickets:0", "sales.refunds:0")}
    reference = DemandState()
    for records in by_source.values():
        for record in records:
            reference.apply_sold(record, TODAY)
    for _ in range(20):
        queues = {src: list(records) for src, records in by_source.items()}
        state = DemandState()
        while any(queues.values()):
            src = rng.choice([s for s, q in queues.items() if q])
            record = queues[src].pop(0)
            state.apply_sold(record, TODAY)
            if rng.random() < 0.3:  # a crash: the last records come again, in order
                done = 40 - len(queues[src])
                for again in by_source[src][max(0, done - 3):done]:
                    state.apply_sold(again, TODAY)
        for pair in (PAIR, ("lyon", "poireau")):
            assert state.sold(pair) == reference.sold(pair)


def test_a_rebuilt_state_gives_the_same_signals_as_the_live_one() -> None:
    rng = random.Random(8)
    state = DemandState()
    for n in range(300):
        state.apply_sold(sold(TODAY - timedelta(days=rng.randint(0, 60)), rng.randint(-30, 900),
                              n, shop=rng.choice(["graine", "tonkin", "part-dieu"]),
                              product=rng.choice(["carotte", "poireau"])), TODAY)
        if n % 25 == 0:
            state.apply_shelf(shelf(TODAY - timedelta(days=rng.randint(0, 9)), n % 50 == 0, n))
    again = rebuilt(state)
    assert again.records == state.records
    for pair in (PAIR, ("lyon", "poireau")):
        live = signal_of(state, pair, on_hand={"graine": 40}, committed_7d=10)
        assert signal_of(again, pair, on_hand={"graine": 40}, committed_7d=10) == live


def test_newest_input_time_is_per_product() -> None:
    state = DemandState()
    yesterday = TODAY - timedelta(days=1)
    state.apply_sold(sold(yesterday, 100, 5), TODAY)  # carotte, the older sale
    state.apply_sold(sold(yesterday, 100, 1, product="poireau"), TODAY)  # same day, newer
    carotte = signal_of(state)[0].inputs_at
    assert carotte == datetime.fromtimestamp(NOW.timestamp() - 5, UTC)
    assert signal_of(rebuilt(state))[0].inputs_at == carotte


def test_an_empty_shelf_counts_every_day_until_restocked() -> None:
    state = DemandState()
    state.apply_shelf(shelf(TODAY - timedelta(days=5), True, 1))  # empty for three days
    state.apply_shelf(shelf(TODAY - timedelta(days=3), False, 2))
    state.apply_shelf(shelf(TODAY - timedelta(days=1), True, 3, shop="tonkin"))  # still empty
    assert state.apply_shelf(shelf(TODAY - timedelta(days=1), True, 3, shop="tonkin")) == []
    territory, graine, tonkin = signal_of(state, on_hand={"graine": 500, "tonkin": 0})
    assert (graine.stockout_days_7d, tonkin.stockout_days_7d) == (3, 1)
    assert territory.stockout_days_7d == 4  # days some shop of the territory was empty
    assert territory.on_hand == 500 and graine.on_hand == 500


def test_signals_sum_the_shops_for_the_territory_and_keep_each_shop() -> None:
    state = DemandState()
    for n in range(1, 8):
        state.apply_sold(sold(TODAY - timedelta(days=n), 100, n), TODAY)
        state.apply_sold(sold(TODAY - timedelta(days=n), 40, n, shop="tonkin",
                              src="sales.tickets:2"), TODAY)
    territory, *shops = signal_of(state, committed_7d=300)
    assert territory.shop_id is None and territory.velocity_7d == 140
    assert {s.shop_id: s.velocity_7d for s in shops} == {"graine": 100, "tonkin": 40}
    assert territory.committed_supply_7d == 300 and shops[0].committed_supply_7d == 0
    wire = to_wire(territory)
    assert wire.signal_key == "lyon/carotte" and wire.sold[-1].units == 140
    last_week = wire.sold_weeks[-1]
    assert last_week.week == TODAY - timedelta(days=TODAY.weekday() + 7)
    assert last_week.units == 140 * sum(  # the days of that week among the seven sold
        1 for n in range(1, 8) if 0 <= (TODAY - timedelta(days=n) - last_week.week).days < 7)


def test_a_new_day_expires_the_shops_days_older_than_kept() -> None:
    state = DemandState()
    old = TODAY - timedelta(days=KEEP_DAYS - 1)
    state.apply_sold(sold(old, 5, 1), TODAY)
    later = TODAY + timedelta(days=5)
    writes = state.apply_sold(sold(later, 7, 2), later)
    assert (sold_key("graine", old), None) in writes  # deleted from the table too
    assert state.sold(PAIR) == {"graine": {later: 7}}
    assert sold_key("graine", old) not in state.records


def test_dirty_pairs_come_out_longest_waiting_first() -> None:
    state = DemandState()
    for n, product in enumerate(["poireau", "carotte", "poireau", "ail"]):
        state.apply_sold(sold(TODAY, 1, n, product=product), TODAY)
    assert state.take_dirty(2) == [("lyon", "poireau"), PAIR]
    assert state.take_dirty(5) == [("lyon", "ail")]


def test_positions_say_what_was_applied_and_where_a_hole_starts() -> None:
    positions = Positions()
    assert positions.admit("s:0", 40) == 40  # no position yet: start anywhere
    positions.applied("s:0", 40)
    assert positions.admit("s:0", 40) is None and positions.admit("s:0", 12) is None
    assert positions.admit("s:0", 41) == 41
    # 41 and 42 were dropped by the consumer (acked, never handed over): 43 reveals them
    assert positions.admit("s:0", 43) == 41
    for offset in (41, 42, 43):
        positions.applied("s:0", offset)
    assert positions.next == {"s:0": 44}


def test_positions_survive_a_restart_with_the_records() -> None:
    state = DemandState()
    state.load("next/sales.tickets:0", {"next": 12})
    assert state.positions.admit("sales.tickets:0", 11) is None
    assert state.positions.admit("sales.tickets:0", 12) == 12


def test_a_record_of_another_layout_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="lyon/carotte"):
        DemandState().load("lyon/carotte", {"sold": {}})


@pytest.mark.parametrize("seed", range(20))
def test_a_chunk_folded_at_once_equals_its_records_folded_one_by_one(seed: int) -> None:
    """The catch-up folds a chunk's tickets per shop-day: the same records, the same newest
    time per product, the same writes' last values, repeats still skipped; old days expire."""
    rng = random.Random(seed)
    chunks, offsets = [], {}
    for _ in range(6):
        chunk = []
        for _ in range(rng.randint(1, 40)):
            src = rng.choice(["sales.tickets:0", "sales.refunds:0"])
            offsets[src] = offsets.get(src, -1) + rng.randint(0, 2)  # 0: a repeat
            units = {rng.choice(["carotte", "navet", "chou"]): rng.randint(-3, 900)
                     for _ in range(rng.randint(1, 3))}
            chunk.append(Sold(shop_id=rng.choice(["graine", "pousse"]), territory="lyon",
                              day=TODAY - timedelta(days=rng.choice([0, 1, 2, KEEP_DAYS + 1])),
                              units=units, at_ms=rng.randint(0, 10**12), src=src,
                              offset=max(0, offsets[src])))
        chunks.append(chunk)
    one_by_one, at_once = DemandState(), DemandState()
    for chunk in chunks:
        written_one: dict = {}
        for item in chunk:
            written_one.update(one_by_one.apply_sold(item, TODAY))
        assert dict(at_once.apply_sold_all(chunk, TODAY)) == written_one
    assert at_once.records == one_by_one.records
    assert at_once.sold(PAIR) == one_by_one.sold(PAIR)
