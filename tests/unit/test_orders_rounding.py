"""Pack rounding with a tolerance, and exact proportional splits. Pure, integer-only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.orders.rounding import div_half_up, round_to_packs, split_largest_remainder


@pytest.mark.parametrize(("numerator", "denominator", "expected"), [
    (5, 2, 3), (7, 2, 4), (72_49, 100, 72), (72_50, 100, 73), (0, 7, 0), (-5, 2, -3), (1, 3, 0),
])
def test_div_half_up_rounds_halves_up_not_to_even(numerator, denominator, expected) -> None:
    assert div_half_up(numerator, denominator) == expected


@given(st.integers(-10**12, 10**12), st.integers(1, 10**6))
def test_div_half_up_is_within_half_of_the_exact_quotient(numerator, denominator) -> None:
    result = div_half_up(numerator, denominator)
    assert isinstance(result, int)
    assert abs(2 * (result * denominator - numerator)) <= denominator


def test_div_half_up_refuses_a_non_positive_denominator() -> None:
    with pytest.raises(ValueError):
        div_half_up(1, 0)


@pytest.mark.parametrize(("need", "pack", "tolerance", "packs"), [
    (24_000, 6_000, 0, 4),  # exact
    (25_000, 6_000, 0, 5),  # no tolerance: always up
    (25_000, 6_000, 40, 4),  # shortfall 1 kg = 4.0 % of 25 kg: within 4 %, down
    (25_000, 6_000, 39, 5),  # 4.0 % is more than 3.9 %: up
    (31, 12, 100, 3),  # 31 eggs in boxes of 12: shortfall 7 = 22 % > 10 %, up
    (26, 12, 100, 2),  # 26 eggs: shortfall 2 = 7.7 % ≤ 10 %, down
])
def test_round_to_packs_rounds_down_only_within_the_tolerance(need, pack, tolerance, packs
                                                                ) -> None:
    rounded = round_to_packs(need, pack, tolerance)
    assert rounded.packs == packs
    assert rounded.quantity == packs * pack
    assert rounded.difference == packs * pack - need


def test_round_to_packs_never_gives_zero_packs_for_a_positive_need_by_default() -> None:
    assert round_to_packs(1, 10_000, 1000).packs == 1  # even with a 100 % tolerance
    assert round_to_packs(0, 10_000).packs == 0


def test_round_to_packs_gives_zero_packs_below_the_minimum_fill() -> None:
    assert round_to_packs(2_499, 10_000, min_fill_per_mille=250).packs == 0
    assert round_to_packs(2_500, 10_000, min_fill_per_mille=250).packs == 1
    # the minimum only concerns needs smaller than one pack
    assert round_to_packs(10_001, 10_000, min_fill_per_mille=999).packs == 2


@pytest.mark.parametrize("arguments", [
    (-1, 10, 0), (10, 0, 0), (10, 10, -1), (10, 10, 1001),
])
def test_round_to_packs_refuses_bad_input(arguments) -> None:
    with pytest.raises(ValueError):
        round_to_packs(*arguments)


@given(need=st.integers(1, 10**9), pack=st.integers(1, 10**6), tolerance=st.integers(0, 1000))
def test_rounding_is_to_whole_packs_and_the_shortfall_stays_within_tolerance(need, pack,
                                                                              tolerance) -> None:
    rounded = round_to_packs(need, pack, tolerance)
    assert isinstance(rounded.quantity, int)
    assert rounded.packs >= 1
    assert rounded.quantity % pack == 0
    assert abs(rounded.difference) < pack  # the nearest pack below or above
    if rounded.difference < 0:
        assert -rounded.difference * 1000 <= tolerance * need
    if tolerance == 0:
        assert rounded.difference >= 0


def test_split_gives_integer_parts_in_proportion_that_add_up() -> None:
    # 30 kg ordered for needs of 10, 10 and 5 kg: shares 12, 12, 6
    assert split_largest_remainder(30_000, {"a": 10_000, "b": 10_000, "c": 5_000}) == {
        "a": 12_000, "b": 12_000, "c": 6_000}
    # 10 over three equal needs: 3.33 each, the left-over unit goes to the first
    assert split_largest_remainder(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    # equal remainders favour the larger weight
    assert split_largest_remainder(1, {"small": 1, "big": 3}) == {"small": 0, "big": 1}


def test_split_keeps_order_and_handles_zero() -> None:
    assert list(split_largest_remainder(7, {"z": 1, "a": 2})) == ["z", "a"]
    assert split_largest_remainder(0, {"a": 0}) == {"a": 0}
    assert split_largest_remainder(0, {}) == {}
    with pytest.raises(ValueError):
        split_largest_remainder(5, {"a": 0})
    with pytest.raises(ValueError):
        split_largest_remainder(5, {"a": -1, "b": 2})


weights = st.dictionaries(st.text(min_size=1, max_size=4), st.integers(0, 10**7), min_size=1,
                          max_size=12).filter(lambda w: sum(w.values()) > 0)


@given(total=st.integers(0, 10**9), weights=weights)
def test_split_adds_up_exactly_and_each_part_is_its_share_rounded(total, weights) -> None:
    parts = split_largest_remainder(total, weights)
    weight_sum = sum(weights.values())
    assert sum(parts.values()) == total
    assert parts.keys() == weights.keys()
    for key, part in parts.items():
        assert isinstance(part, int)
        floor = total * weights[key] // weight_sum  # the exact share, rounded down
        assert floor <= part <= floor + 1


@given(total=st.integers(0, 10**6), weights=weights)
def test_split_is_deterministic(total, weights) -> None:
    assert split_largest_remainder(total, weights) == split_largest_remainder(total, weights)


@pytest.mark.parametrize("call", [
    lambda: round_to_packs(10.0, 5),
    lambda: round_to_packs(10, 5.0),
    lambda: round_to_packs(10, 5, 100.0),
    lambda: round_to_packs(True, 5),
    lambda: split_largest_remainder(10.0, {"a": 1}),
    lambda: split_largest_remainder(10, {"a": 0.5}),
    lambda: div_half_up(5.0, 2),
])
def test_floats_are_refused_where_quantities_go(call) -> None:
    with pytest.raises(TypeError):
        call()
