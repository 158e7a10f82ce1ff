"""The demand processor's fold: facts bucketed on local days, applied once whatever the
repeats and the order sources interleave in, late uploads and refunds included."""

from __future__ import annotations

import copy
import random
from datetime import UTC, date, datetime, timedelta

from services.demand.state import KEEP_DAYS, apply, prune, signals, sold_fact, stock_fact, to_wire

TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def sold(day: date, units: int, offset: int, *, shop: str = "graine", index: int = 0,
         src: str = "sales.tickets:0") -> dict:
    return sold_fact(territory="lyon", product_id="carotte", shop_id=shop, day=day,
                     units=units, at_ms=int(NOW.timestamp() * 1000) - offset, src=src,
                     offset=offset, index=index)


def test_a_fact_is_applied_once() -> None:
    state: dict = {}
    fact = sold(TODAY - timedelta(days=1), 500, 10)
    assert apply(state, fact, TODAY) is True
    assert apply(state, fact, TODAY) is False  # redelivered
    assert apply(state, sold(TODAY - timedelta(days=1), 500, 9), TODAY) is False  # older
    assert state["sold"]["graine"] == {(TODAY - timedelta(days=1)).isoformat(): 500}


def test_lines_of_one_record_are_distinct_facts() -> None:
    state: dict = {}
    for index in range(3):
        assert apply(state, sold(TODAY, 100, 10, index=index), TODAY)
    assert state["sold"]["graine"][TODAY.isoformat()] == 300


def test_late_uploads_land_on_their_day_and_refunds_subtract() -> None:
    state: dict = {}
    ten_days_ago = TODAY - timedelta(days=10)
    apply(state, sold(TODAY - timedelta(days=1), 700, 1), TODAY)
    apply(state, sold(ten_days_ago, 400, 2), TODAY)  # a till's late backlog
    apply(state, sold(ten_days_ago, -150, 0, src="sales.refunds:3"), TODAY)  # a refund
    assert state["sold"]["graine"][ten_days_ago.isoformat()] == 250
    too_old = TODAY - timedelta(days=KEEP_DAYS + 1)
    assert apply(state, sold(too_old, 100, 3), TODAY) is False


def test_any_interleaving_of_sources_with_repeats_gives_the_same_state() -> None:
    rng = random.Random(3)
    by_source = {src: [sold(TODAY - timedelta(days=rng.randint(0, 20)), rng.randint(-50, 900),
                            n, shop=rng.choice(["graine", "tonkin"]), src=src)
                       for n in range(40)] for src in ("sales.tickets:0", "sales.tickets:4")}
    reference: dict = {}
    for facts in by_source.values():
        for fact in facts:
            apply(reference, fact, TODAY)
    for _ in range(20):
        queues = {src: list(facts) for src, facts in by_source.items()}
        state: dict = {}
        while any(queues.values()):
            src = rng.choice([s for s, q in queues.items() if q])
            fact = queues[src].pop(0)
            apply(state, fact, TODAY)
            if rng.random() < 0.3:  # a crash: the last facts come again, in order
                for again in by_source[src][max(0, 40 - len(queues[src]) - 3):
                                            40 - len(queues[src])]:
                    apply(state, again, TODAY)
        assert state["sold"] == reference["sold"]


def test_stock_facts_set_on_hand_and_remember_empty_days() -> None:
    state: dict = {}
    for offset, on_hand in enumerate((300, 0, -20, 500)):
        apply(state, stock_fact(territory="lyon", product_id="carotte", shop_id="graine",
                                day=TODAY - timedelta(days=4 - offset), on_hand=on_hand,
                                at_ms=offset, src="stock.changes:1", offset=offset), TODAY)
    assert state["on_hand"] == {"graine": 500}
    assert sorted(state["empty"]["graine"]) == [(TODAY - timedelta(days=3)).isoformat(),
                                                (TODAY - timedelta(days=2)).isoformat()]
    [territory, shop] = signals(state, "lyon", "carotte", TODAY, committed_7d=0, now=NOW)
    assert territory.stockout_days_7d == 2 and shop.on_hand == 500


def test_signals_sum_the_shops_for_the_territory_and_keep_each_shop() -> None:
    state: dict = {}
    for n in range(1, 8):
        apply(state, sold(TODAY - timedelta(days=n), 100, n), TODAY)
        apply(state, sold(TODAY - timedelta(days=n), 40, n, shop="tonkin",
                          src="sales.tickets:2"), TODAY)
    territory, *shops = signals(state, "lyon", "carotte", TODAY, committed_7d=300, now=NOW)
    assert territory.shop_id is None and territory.velocity_7d == 140
    assert {s.shop_id: s.velocity_7d for s in shops} == {"graine": 100, "tonkin": 40}
    assert territory.committed_supply_7d == 300 and shops[0].committed_supply_7d == 0
    wire = to_wire(territory)
    assert wire.signal_key == "lyon/carotte" and wire.sold[-1].units == 140


def test_prune_forgets_what_is_older_than_kept() -> None:
    state: dict = {}
    apply(state, sold(TODAY - timedelta(days=KEEP_DAYS - 1), 5, 1), TODAY)
    later = TODAY + timedelta(days=5)
    prune(copy.deepcopy(state), TODAY)
    prune(state, later)
    assert state["sold"]["graine"] == {}
