"""Integer rounding of the supply side: half-up division, whole packs with a tolerance (as in
Foodsoft), and exact proportional splits (largest remainder). No float anywhere."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

PER_MILLE = 1000


def require_ints(**values: object) -> None:
    """Refuse anything but integers (bool and float included) where money or quantities go."""
    wrong = {name: value for name, value in values.items() if type(value) is not int}
    if wrong:
        raise TypeError(f"integers required, got {wrong}")


def div_half_up(numerator: int, denominator: int) -> int:
    """`numerator / denominator` rounded to the nearest integer, halves away from zero (2.5 → 3).

    Python's `round` rounds halves to even (2.5 → 2), which people reading a score or a bill do not
    expect; this is the rule taught at school, in exact integer arithmetic.
    """
    require_ints(numerator=numerator, denominator=denominator)
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    return sign * ((2 * abs(numerator) + denominator) // (2 * denominator))


@dataclass(frozen=True, slots=True)
class PackRounding:
    """A need rounded to whole packs: `quantity` is what is ordered, in base units."""

    need: int
    pack_size: int
    packs: int

    @property
    def quantity(self) -> int:
        return self.packs * self.pack_size

    @property
    def difference(self) -> int:
        """Ordered minus needed: positive is a surplus, negative a shortfall the shops accepted."""
        return self.quantity - self.need


def _check_per_mille(name: str, value: int) -> None:
    if not 0 <= value <= PER_MILLE:
        raise ValueError(f"{name} must be between 0 and {PER_MILLE} per mille, got {value}")


def round_to_packs(
    need: int, pack_size: int, tolerance_per_mille: int = 0, *, min_fill_per_mille: int = 0
) -> PackRounding:
    """The need (base units) rounded to whole packs of `pack_size`.

    Rounds down when the shortfall (need minus the packs below it) is at most `tolerance_per_mille`
    of the need (100 = 10 %), otherwise up. A positive need never gets zero packs, with one
    documented exception: a need smaller than `min_fill_per_mille` of one pack gets none (ordering
    a 10 kg crate for 500 g is waste); with the default of 0 any positive need gets a pack.
    """
    require_ints(need=need, pack_size=pack_size, tolerance_per_mille=tolerance_per_mille,
                 min_fill_per_mille=min_fill_per_mille)
    if need < 0:
        raise ValueError(f"need must not be negative, got {need}")
    if pack_size <= 0:
        raise ValueError(f"pack size must be positive, got {pack_size}")
    _check_per_mille("tolerance", tolerance_per_mille)
    _check_per_mille("minimum fill", min_fill_per_mille)
    below, shortfall = divmod(need, pack_size)
    if shortfall == 0:
        return PackRounding(need, pack_size, below)
    if below == 0:
        too_small = need * PER_MILLE < min_fill_per_mille * pack_size
        return PackRounding(need, pack_size, 0 if too_small else 1)
    within_tolerance = shortfall * PER_MILLE <= tolerance_per_mille * need
    return PackRounding(need, pack_size, below if within_tolerance else below + 1)


def split_largest_remainder(total: int, weights: Mapping[K, int]) -> dict[K, int]:
    """`total` split across the keys in proportion to their weights, as integers that add up to
    `total` exactly (largest-remainder method).

    Each part is the floor of its exact share, and the units left over go one each to the largest
    remainders; equal remainders favour the larger weight, then the earlier key. The result keeps
    the keys' order.
    """
    require_ints(total=total, **{str(key): weight for key, weight in weights.items()})
    if total < 0:
        raise ValueError(f"total must not be negative, got {total}")
    if any(weight < 0 for weight in weights.values()):
        raise ValueError("weights must not be negative")
    weight_sum = sum(weights.values())
    if weight_sum == 0:
        if total:
            raise ValueError("cannot split a positive total over zero weights")
        return dict.fromkeys(weights, 0)
    parts: dict[K, int] = {}
    remainders: list[tuple[int, int, int, K]] = []
    for position, (key, weight) in enumerate(weights.items()):
        parts[key], remainder = divmod(total * weight, weight_sum)
        remainders.append((-remainder, -weight, position, key))
    left_over = total - sum(parts.values())
    for *_, key in sorted(remainders)[:left_over]:
        parts[key] += 1
    return parts
