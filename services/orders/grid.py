"""The producer selection grid agreed by the Lyon structures: three batteries of criteria —
quality, locality, accessibility (price) — scored 0–100 each and weighted by the committee.

Every score comes with the inputs that produced it and a one-line French explanation, so that an
allocation can always show why a producer was chosen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from services.events.sales import QuantityUnit
from services.orders.rounding import div_half_up, require_ints

ORGANIC_POINTS = 60
LABEL_POINTS = 20
LOCALITY_RANGE_M = 250_000
EARTH_RADIUS_M = 6_371_000
# Labels the grid counts, with their French names. "local" is deliberately absent: locality is
# measured from the farm's distance to the hub, and a label would count it twice. The organic
# label ("ab", "bio") is the `organic` flag, not a label.
RECOGNISED_LABELS: dict[str, str] = {
    "label-rouge": "label rouge",
    "aop": "AOP",
    "igp": "IGP",
    "hve": "HVE",
    "commerce-equitable": "commerce équitable",
    "nature-et-progres": "Nature & Progrès",
    "demeter": "Demeter",
}
# How many base units a unit price is for (per kg, per litre, per piece), and its French name.
PRICE_BASIS: dict[QuantityUnit, tuple[int, str]] = {
    QuantityUnit.GRAM: (1000, "kg"),
    QuantityUnit.MILLILITRE: (1000, "L"),
    QuantityUnit.PIECE: (1, "pièce"),
}


class InvalidWeights(ValueError):
    """The committee's weights are not non-negative integers adding up to 100."""


class MixedCandidates(ValueError):
    """Candidates compared by one grid must share territory, product, delivery slot and unit."""


@dataclass(frozen=True, slots=True)
class Location:
    """A point in integer microdegrees (45.764043° → 45_764_043)."""

    lat_e6: int
    lon_e6: int

    def __post_init__(self) -> None:
        require_ints(lat_e6=self.lat_e6, lon_e6=self.lon_e6)
        if not (-90_000_000 <= self.lat_e6 <= 90_000_000
                and -180_000_000 <= self.lon_e6 <= 180_000_000):
            raise ValueError(f"not a location: {self.lat_e6}, {self.lon_e6}")


@dataclass(frozen=True, slots=True)
class Weights:
    """The committee's weights, in points out of 100."""

    quality: int
    locality: int
    accessibility: int

    def __post_init__(self) -> None:
        values = (self.quality, self.locality, self.accessibility)
        if any(type(value) is not int or value < 0 for value in values):
            raise InvalidWeights(f"weights must be non-negative integers, got {values}")
        if sum(values) != 100:
            raise InvalidWeights(f"weights must add up to 100, got {sum(values)}")


DEFAULT_WEIGHTS = Weights(quality=40, locality=35, accessibility=25)


@dataclass(frozen=True, slots=True)
class Offer:
    """What a producer can supply of one product for one delivery slot in one territory."""

    producer_id: str
    offer_id: str
    territory: str
    product_id: str
    delivery_slot: date
    unit: QuantityUnit
    unit_price_cents: int  # per kg, litre or piece: see PRICE_BASIS
    pack_size: int  # base units
    capacity: int  # base units available for the slot
    organic: bool
    labels: frozenset[str]
    farm: Location

    def __post_init__(self) -> None:
        require_ints(unit_price_cents=self.unit_price_cents, pack_size=self.pack_size,
                     capacity=self.capacity)
        if self.unit_price_cents <= 0 or self.pack_size <= 0 or self.capacity < 0:
            raise ValueError(f"offer {self.offer_id}: price and pack size must be positive, "
                             "capacity not negative")


@dataclass(frozen=True, slots=True)
class GridResult:
    """One candidate's place in the grid: scores, the inputs behind them, and why, in French.

    `capacity` is not scored; it is shown so that skipping a full producer is explained too.
    """

    rank: int
    producer_id: str
    offer_id: str
    quality: int
    locality: int
    accessibility: int
    total: int
    organic: bool
    labels_counted: tuple[str, ...]
    distance_m: int
    unit_price_cents: int
    cheapest_price_cents: int
    capacity: int
    explanation: str


def distance_m(a: Location, b: Location) -> int:
    """Great-circle (haversine) distance on a 6,371 km sphere, rounded to the metre."""
    lat_a, lon_a, lat_b, lon_b = (math.radians(v / 1_000_000)
                                  for v in (a.lat_e6, a.lon_e6, b.lat_e6, b.lon_e6))
    h = (math.sin((lat_b - lat_a) / 2) ** 2
         + math.cos(lat_a) * math.cos(lat_b) * math.sin((lon_b - lon_a) / 2) ** 2)
    return math.floor(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))) + 0.5)


def quality_score(organic: bool, labels: frozenset[str]) -> tuple[int, tuple[str, ...]]:
    """Organic +60, each recognised label +20, capped at 100; with the labels counted (sorted)."""
    counted = tuple(sorted(labels & RECOGNISED_LABELS.keys()))
    return min(100, ORGANIC_POINTS * organic + LABEL_POINTS * len(counted)), counted


def locality_score(distance: int) -> int:
    """100 at the hub, falling linearly to 0 at 250 km and beyond (rounded half up)."""
    return div_half_up(100 * max(0, LOCALITY_RANGE_M - distance), LOCALITY_RANGE_M)


def accessibility_score(unit_price_cents: int, cheapest_cents: int) -> int:
    """100 for the cheapest candidate, others 100 × cheapest / price (rounded half up)."""
    return div_half_up(100 * cheapest_cents, unit_price_cents)


def total_score(weights: Weights, quality: int, locality: int, accessibility: int) -> int:
    """The weighted mean on 0–100: Σ weight × score is exact (0–10 000), then divided by 100 and
    rounded half up, so 72.50 shows as 73 and 72.49 as 72."""
    weighted = (weights.quality * quality + weights.locality * locality
                + weights.accessibility * accessibility)
    return div_half_up(weighted, 100)


def euros(cents: int) -> str:
    """French money format: 280 → "2,80 €"."""
    return f"{cents // 100},{cents % 100:02d} €"


def _explain(offer: Offer, counted: tuple[str, ...], distance: int, cheapest: int) -> str:
    quality = ([f"bio (+{ORGANIC_POINTS})"] * offer.organic
               + [f"{RECOGNISED_LABELS[label]} (+{LABEL_POINTS})" for label in counted])
    quality_text = ", ".join(quality) or "ni bio ni label reconnu"
    if ORGANIC_POINTS * offer.organic + LABEL_POINTS * len(counted) > 100:
        quality_text += " (plafonné à 100)"
    place = (f"{div_half_up(distance, 1000)} km du pôle" if distance >= 1000
             else f"{distance} m du pôle")
    if distance >= LOCALITY_RANGE_M:
        place += " (au-delà de 250 km)"
    price = f"{euros(offer.unit_price_cents)}/{PRICE_BASIS[offer.unit][1]}"
    if offer.unit_price_cents == cheapest:
        price += ", le moins cher"
    else:
        premium = div_half_up(100 * (offer.unit_price_cents - cheapest), cheapest)
        price += f", +{premium} % sur le moins cher"
    return f"{quality_text} ; {place} ; {price}"


def rank(offers: Sequence[Offer], hub: Location, weights: Weights) -> tuple[GridResult, ...]:
    """The candidates scored and ranked, best first.

    Ties on the total go to the lower price, then the nearer farm, then producer and offer id, so
    the same candidates always rank the same way. All offers must be for one territory, product,
    delivery slot and unit (`MixedCandidates` otherwise).
    """
    if not offers:
        return ()
    kinds = {(o.territory, o.product_id, o.delivery_slot, o.unit) for o in offers}
    if len(kinds) > 1:
        raise MixedCandidates(f"candidates mix {sorted(map(str, kinds))}")
    cheapest = min(offer.unit_price_cents for offer in offers)
    scored = []
    for offer in offers:
        quality, counted = quality_score(offer.organic, offer.labels)
        distance = distance_m(offer.farm, hub)
        locality = locality_score(distance)
        accessibility = accessibility_score(offer.unit_price_cents, cheapest)
        scored.append(GridResult(
            rank=0, producer_id=offer.producer_id, offer_id=offer.offer_id,
            quality=quality, locality=locality, accessibility=accessibility,
            total=total_score(weights, quality, locality, accessibility),
            organic=offer.organic, labels_counted=counted, distance_m=distance,
            unit_price_cents=offer.unit_price_cents, cheapest_price_cents=cheapest,
            capacity=offer.capacity,
            explanation=_explain(offer, counted, distance, cheapest)))
    scored.sort(key=lambda r: (-r.total, r.unit_price_cents, r.distance_m,
                               r.producer_id, r.offer_id))
    return tuple(replace(result, rank=position) for position, result in enumerate(scored, 1))
