"""The Lyon selection grid: each criterion's arithmetic, the weighted total, ties, explanations."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.events.sales import QuantityUnit
from services.orders.grid import (
    DEFAULT_WEIGHTS,
    InvalidWeights,
    Location,
    MixedCandidates,
    Offer,
    Weights,
    accessibility_score,
    distance_m,
    locality_score,
    quality_score,
    rank,
    total_score,
)

HUB = Location(45_000_000, 5_000_000)
SLOT = date(2026, 12, 3)


def offer(producer_id: str, *, price: int = 280, lat_e6: int = 45_000_000, organic: bool = False,
          labels: frozenset[str] = frozenset(), **changes) -> Offer:
    values = dict(producer_id=producer_id, offer_id=f"{producer_id}-o1", territory="lyon",
                  product_id="carrots", delivery_slot=SLOT, unit=QuantityUnit.GRAM,
                  unit_price_cents=price, pack_size=10_000, capacity=100_000, organic=organic,
                  labels=labels, farm=Location(lat_e6, 5_000_000))
    values.update(changes)
    return Offer(**values)


def test_distance_is_haversine_rounded_to_the_metre() -> None:
    assert distance_m(HUB, HUB) == 0
    assert distance_m(Location(46_000_000, 5_000_000), HUB) == 111_195  # one degree of meridian
    lyon, paris = Location(45_764_043, 4_835_659), Location(48_856_614, 2_352_222)
    assert distance_m(lyon, paris) == distance_m(paris, lyon) == 391_494


@pytest.mark.parametrize(("organic", "labels", "score", "counted"), [
    (False, set(), 0, ()),
    (True, set(), 60, ()),
    (True, {"label-rouge"}, 80, ("label-rouge",)),
    (False, {"hve", "local", "unknown"}, 20, ("hve",)),  # "local" is locality's business
    (True, {"label-rouge", "hve", "aop"}, 100, ("aop", "hve", "label-rouge")),  # 120 capped
])
def test_quality_counts_organic_and_recognised_labels(organic, labels, score, counted) -> None:
    assert quality_score(organic, frozenset(labels)) == (score, counted)


@pytest.mark.parametrize(("distance", "score"), [
    (0, 100), (1_250, 100), (1_251, 99), (42_000, 83), (125_000, 50), (249_999, 0),
    (250_000, 0), (900_000, 0),
])
def test_locality_falls_linearly_to_zero_at_250_km(distance, score) -> None:
    assert locality_score(distance) == score  # 1 250 m is 99.5: half up to 100


@pytest.mark.parametrize(("price", "cheapest", "score"), [
    (280, 280, 100), (350, 280, 80), (300, 200, 67), (1_000, 1, 0),
])
def test_accessibility_is_the_cheapest_over_the_price(price, cheapest, score) -> None:
    assert accessibility_score(price, cheapest) == score


def test_total_is_the_weighted_mean_rounded_half_up() -> None:
    assert total_score(Weights(50, 50, 0), 44, 45, 0) == 45  # 44.5: up, where round() gives 44
    assert total_score(Weights(40, 35, 25), 80, 83, 100) == 86  # 86.05
    assert total_score(Weights(100, 0, 0), 100, 0, 0) == 100


def test_the_grid_scores_hand_made_candidates_and_explains_them() -> None:
    near = offer("ferme-a", price=280, lat_e6=45_377_715, organic=True,
                 labels=frozenset({"label-rouge"}))
    far = offer("ferme-b", price=350, lat_e6=46_000_000, labels=frozenset({"hve", "local"}))
    first, second = rank([far, near], HUB, DEFAULT_WEIGHTS)

    assert (first.rank, first.producer_id) == (1, "ferme-a")
    assert (first.quality, first.locality, first.accessibility, first.total) == (80, 83, 100, 86)
    assert (first.distance_m, first.unit_price_cents, first.cheapest_price_cents) == (
        42_000, 280, 280)
    assert first.labels_counted == ("label-rouge",)
    assert first.explanation == ("bio (+60), label rouge (+20) ; 42 km du pôle ; "
                                 "2,80 €/kg, le moins cher")

    assert (second.rank, second.producer_id) == (2, "ferme-b")
    # quality 20, locality 55.5 → 56, accessibility 80: (800 + 1960 + 2000) / 100 = 47.6 → 48
    assert (second.quality, second.locality, second.accessibility, second.total) == (
        20, 56, 80, 48)
    assert second.explanation == "HVE (+20) ; 111 km du pôle ; 3,50 €/kg, +25 % sur le moins cher"


def test_explanations_cover_no_label_short_and_long_distances_caps_and_pieces() -> None:
    plain = offer("p", lat_e6=45_007_644, unit=QuantityUnit.PIECE, price=45)
    (result,) = rank([plain], HUB, DEFAULT_WEIGHTS)
    assert result.explanation == ("ni bio ni label reconnu ; 850 m du pôle ; "
                                  "0,45 €/pièce, le moins cher")
    rich = offer("r", lat_e6=48_000_000, organic=True,
                 labels=frozenset({"label-rouge", "hve", "aop"}), unit=QuantityUnit.MILLILITRE)
    (result,) = rank([rich], HUB, DEFAULT_WEIGHTS)
    assert result.explanation == ("bio (+60), AOP (+20), HVE (+20), label rouge (+20) "
                                  "(plafonné à 100) ; 334 km du pôle (au-delà de 250 km) ; "
                                  "2,80 €/L, le moins cher")


def test_ties_go_to_the_lower_price_then_the_nearer_then_producer_id() -> None:
    # equal totals with different prices: weights make price count for nothing
    quality_only = Weights(100, 0, 0)
    dear, cheap = offer("a", price=300), offer("b", price=200)
    assert [r.producer_id for r in rank([dear, cheap], HUB, quality_only)] == ["b", "a"]
    far, near = offer("a", lat_e6=45_100_000), offer("b", lat_e6=45_050_000)
    assert [r.producer_id for r in rank([far, near], HUB, quality_only)] == ["b", "a"]
    twin_b, twin_a = offer("b"), offer("a")
    assert [r.producer_id for r in rank([twin_b, twin_a], HUB, quality_only)] == ["a", "b"]
    assert [r.rank for r in rank([twin_b, twin_a], HUB, quality_only)] == [1, 2]


@pytest.mark.parametrize("values", [
    (40, 35, 20), (40, 35, 30), (-10, 60, 50), (100.0, 0, 0), (True, 99, 0), (0, 0, 0),
])
def test_weights_must_be_non_negative_integers_adding_up_to_100(values) -> None:
    with pytest.raises(InvalidWeights):
        Weights(*values)
    assert issubclass(InvalidWeights, ValueError)


def test_weights_may_put_everything_on_one_criterion() -> None:
    assert Weights(0, 0, 100).accessibility == 100


def test_candidates_must_be_for_one_product_slot_territory_and_unit() -> None:
    with pytest.raises(MixedCandidates):
        rank([offer("a"), offer("b", product_id="leeks")], HUB, DEFAULT_WEIGHTS)
    with pytest.raises(MixedCandidates):
        rank([offer("a"), offer("b", unit=QuantityUnit.PIECE)], HUB, DEFAULT_WEIGHTS)
    assert rank([], HUB, DEFAULT_WEIGHTS) == ()


@pytest.mark.parametrize("changes", [{"unit_price_cents": 0}, {"pack_size": 0},
                                     {"capacity": -1}])
def test_offers_refuse_impossible_numbers(changes) -> None:
    with pytest.raises(ValueError):
        offer("a", **changes)


def test_offers_refuse_float_money_and_quantities() -> None:
    for changes in ({"unit_price_cents": 2.8}, {"pack_size": 10.0}, {"capacity": 1e5}):
        with pytest.raises(TypeError):
            offer("a", **changes)


def test_locations_must_be_on_earth() -> None:
    with pytest.raises(ValueError):
        Location(90_000_001, 0)
    with pytest.raises(ValueError):
        Location(0, -180_000_001)


candidate = st.builds(
    lambda i, price, lat, organic, labels: offer(f"p{i}", price=price, lat_e6=lat,
                                                 organic=organic, labels=frozenset(labels)),
    st.integers(0, 50), st.integers(1, 5_000), st.integers(40_000_000, 50_000_000), st.booleans(),
    st.sets(st.sampled_from(["label-rouge", "hve", "aop", "local", "demeter", "x"])))
weights = st.tuples(st.integers(0, 100), st.integers(0, 100)).filter(
    lambda w: sum(w) <= 100).map(lambda w: Weights(w[0], w[1], 100 - w[0] - w[1]))


@given(st.lists(candidate, min_size=1, max_size=8, unique_by=lambda o: o.producer_id), weights,
       st.randoms(use_true_random=False))
def test_ranking_is_ordered_bounded_and_independent_of_input_order(
        offers, weights, rnd: random.Random) -> None:
    results = rank(offers, HUB, weights)
    shuffled = list(offers)
    rnd.shuffle(shuffled)
    assert rank(shuffled, HUB, weights) == results
    assert [r.rank for r in results] == list(range(1, len(offers) + 1))
    assert [r.total for r in results] == sorted((r.total for r in results), reverse=True)
    assert any(r.accessibility == 100 for r in results)  # the cheapest
    for r in results:
        scores = (r.quality, r.locality, r.accessibility)
        assert all(isinstance(s, int) and 0 <= s <= 100 for s in (*scores, r.total))
        assert min(scores) <= r.total <= max(scores)
        assert isinstance(r.distance_m, int)


def test_capacity_is_shown_but_not_scored() -> None:
    full, empty = offer("a"), replace(offer("b"), capacity=0)
    a, b = rank([full, empty], HUB, DEFAULT_WEIGHTS)
    assert (a.total, a.capacity) == (b.total, 100_000) and b.capacity == 0
