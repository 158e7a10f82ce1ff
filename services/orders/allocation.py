"""Consolidation and allocation: a territory's needs become one order per producer per delivery
slot, producers taken in grid order within their capacity, every part rounded to whole packs.

Each order line carries the grid results of all candidates for its product, so the choice can be
explained. A refusal is handled by `reallocate`, which places the refused lines with the next
candidates as new orders. Whatever no candidate can take is returned as `Unallocated`, per need:
it is never dropped silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum

from services.events.sales import QuantityUnit
from services.orders.grid import PRICE_BASIS, GridResult, Location, Offer, Weights, rank
from services.orders.rounding import (
    div_half_up,
    require_ints,
    round_to_packs,
    split_largest_remainder,
)


@dataclass(frozen=True, slots=True)
class Need:
    """What one shop asks of one product for one delivery slot, in base units."""

    need_id: str
    shop_id: str
    territory: str
    product_id: str
    quantity: int
    delivery_slot: date

    def __post_init__(self) -> None:
        require_ints(quantity=self.quantity)
        if self.quantity <= 0:
            raise ValueError(f"need {self.need_id}: quantity must be positive")


@dataclass(frozen=True, slots=True)
class Hub:
    """The territory's logistics hub: where orders are delivered, and the grid's centre."""

    territory: str
    location: Location


@dataclass(frozen=True, slots=True)
class AllocationRules:
    """The committee's weights and the pack rounding rule (see `rounding.round_to_packs`)."""

    weights: Weights
    tolerance_per_mille: int = 0
    min_fill_per_mille: int = 0


@dataclass(frozen=True, slots=True)
class ShopPart:
    need_id: str
    shop_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One product from one offer; `requested` is the part of the consolidated need still open
    when this producer's turn came, `quantity` what is ordered (whole packs, within capacity)."""

    product_id: str
    offer_id: str
    unit: QuantityUnit
    pack_size: int
    packs: int
    requested: int
    unit_price_cents: int
    parts: tuple[ShopPart, ...]
    candidates: tuple[GridResult, ...]

    @property
    def quantity(self) -> int:
        return self.packs * self.pack_size

    @property
    def amount_cents(self) -> int:
        return div_half_up(self.quantity * self.unit_price_cents, PRICE_BASIS[self.unit][0])

    @property
    def chosen(self) -> GridResult:
        return next(c for c in self.candidates if c.offer_id == self.offer_id)


@dataclass(frozen=True, slots=True)
class Order:
    """One producer's order for one delivery slot; `refused_by` lists the producers who refused
    these lines before (never asked again), `replaces` the refused order it comes from."""

    order_id: str
    producer_id: str
    territory: str
    delivery_slot: date
    lines: tuple[OrderLine, ...]
    replaces: str | None = None
    refused_by: frozenset[str] = field(default_factory=frozenset)

    @property
    def shops(self) -> frozenset[str]:
        return frozenset(part.shop_id for line in self.lines for part in line.parts)

    @property
    def amount_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    def parts_for(self, shop_id: str) -> dict[str, int]:
        """Base units per product that this shop receives from this order."""
        received: dict[str, int] = defaultdict(int)
        for line in self.lines:
            for part in line.parts:
                if part.shop_id == shop_id:
                    received[line.product_id] += part.quantity
        return dict(received)


class UnallocatedReason(StrEnum):
    NO_CANDIDATE = "NO_CANDIDATE"  # no (other) producer offers the product for the slot
    CAPACITY_EXHAUSTED = "CAPACITY_EXHAUSTED"  # the candidates' capacity ran out
    BELOW_MINIMUM = "BELOW_MINIMUM"  # what is left is under the minimum fill of a pack


@dataclass(frozen=True, slots=True)
class Unallocated:
    need_id: str
    shop_id: str
    product_id: str
    delivery_slot: date
    quantity: int
    reason: UnallocatedReason


@dataclass(frozen=True, slots=True)
class Allocation:
    orders: tuple[Order, ...]
    unallocated: tuple[Unallocated, ...]

    def reserved(self) -> dict[str, int]:
        """Base units taken from each offer, to pass as `reserved` to a later allocation."""
        taken: dict[str, int] = defaultdict(int)
        for order in self.orders:
            for line in order.lines:
                taken[line.offer_id] += line.quantity
        return dict(taken)


def allocate(needs: Sequence[Need], offers: Iterable[Offer], hub: Hub, rules: AllocationRules,
             *, reserved: Mapping[str, int] | None = None, batch: str | None = None
             ) -> Allocation:
    """The hub territory's needs consolidated per product and slot, and placed with producers.

    Offers of other territories are ignored; `reserved` (offer id → base units) is capacity
    already promised elsewhere. Order ids are `territory/slot/producer`, or
    `territory/slot/batch/producer` for a named batch: the orders service names each
    consolidation by its request, so a later one never takes an earlier one's ids.
    """
    foreign = [need.need_id for need in needs if need.territory != hub.territory]
    if foreign:
        raise ValueError(f"needs {foreign} are not for territory {hub.territory}")
    if len({need.need_id for need in needs}) != len(needs):
        raise ValueError("need ids must be unique")
    named = () if batch is None else (batch,)
    return _allocate(needs, offers, hub, rules, reserved or {}, frozenset(),
                     lambda producer, slot: "/".join((hub.territory, slot.isoformat(), *named,
                                                      producer)), None)


def reallocate(refused: Order, offers: Iterable[Offer], hub: Hub, rules: AllocationRules,
               *, reserved: Mapping[str, int] | None = None) -> Allocation:
    """The refused order's shop parts placed again, as new orders, with the next candidates:
    the refusing producer and all who refused these lines before are excluded. New order ids are
    `<refused order id>><producer>`."""
    merged: dict[tuple[str, str], int] = defaultdict(int)
    shop_of: dict[str, str] = {}
    for line in refused.lines:
        for part in line.parts:
            merged[part.need_id, line.product_id] += part.quantity
            shop_of[part.need_id] = part.shop_id
    needs = [Need(need_id, shop_of[need_id], refused.territory, product_id, quantity,
                  refused.delivery_slot)
             for (need_id, product_id), quantity in merged.items() if quantity > 0]
    return _allocate(needs, offers, hub, rules, reserved or {},
                     refused.refused_by | {refused.producer_id},
                     lambda producer, _slot: f"{refused.order_id}>{producer}", refused.order_id)


def _allocate(needs: Sequence[Need], offers: Iterable[Offer], hub: Hub, rules: AllocationRules,
              reserved: Mapping[str, int], excluded: frozenset[str],
              order_id: Callable[[str, date], str], replaces: str | None) -> Allocation:
    groups: dict[tuple[str, date], list[Need]] = defaultdict(list)
    for need in needs:
        groups[need.product_id, need.delivery_slot].append(need)
    candidates: dict[tuple[str, date], list[Offer]] = defaultdict(list)
    for offer in offers:
        if offer.territory == hub.territory and offer.producer_id not in excluded:
            available = max(0, offer.capacity - reserved.get(offer.offer_id, 0))
            candidates[offer.product_id, offer.delivery_slot].append(
                replace(offer, capacity=available))
    lines: dict[tuple[str, date], list[OrderLine]] = defaultdict(list)
    unallocated: list[Unallocated] = []
    for key in sorted(groups):
        placed, left = _place(groups[key], candidates[key], hub, rules)
        for producer_id, line in placed:
            lines[producer_id, key[1]].append(line)
        unallocated.extend(left)
    orders = tuple(Order(order_id(producer_id, slot), producer_id, hub.territory, slot,
                         tuple(order_lines), replaces, excluded)
                   for (producer_id, slot), order_lines in sorted(lines.items()))
    return Allocation(orders, tuple(unallocated))


def _place(needs: list[Need], offers: list[Offer], hub: Hub, rules: AllocationRules
           ) -> tuple[list[tuple[str, OrderLine]], list[Unallocated]]:
    """One product and slot: candidates in grid order, each taking what is left, in packs."""
    grid = rank(offers, hub.location, rules.weights)
    offer_by_id = {offer.offer_id: offer for offer in offers}
    weights = {need.need_id: need.quantity for need in needs}
    shop_of = {need.need_id: need.shop_id for need in needs}
    remaining = sum(weights.values())
    placed: list[tuple[str, OrderLine]] = []
    reason = UnallocatedReason.CAPACITY_EXHAUSTED if grid else UnallocatedReason.NO_CANDIDATE
    for result in grid:
        if remaining == 0:
            break
        offer = offer_by_id[result.offer_id]
        rounded = round_to_packs(remaining, offer.pack_size, rules.tolerance_per_mille,
                                 min_fill_per_mille=rules.min_fill_per_mille)
        packs = min(rounded.packs, offer.capacity // offer.pack_size)
        if rounded.packs == 0:
            reason = UnallocatedReason.BELOW_MINIMUM
        if packs == 0:
            continue
        split = split_largest_remainder(packs * offer.pack_size, weights)
        parts = tuple(ShopPart(need_id, shop_of[need_id], quantity)
                      for need_id, quantity in split.items() if quantity)
        placed.append((offer.producer_id, OrderLine(
            offer.product_id, offer.offer_id, offer.unit, offer.pack_size, packs, remaining,
            offer.unit_price_cents, parts, grid)))
        remaining = 0 if packs == rounded.packs else remaining - packs * offer.pack_size
    left = split_largest_remainder(remaining, weights)
    first = needs[0]
    return placed, [Unallocated(need_id, shop_of[need_id], first.product_id, first.delivery_slot,
                                quantity, reason)
                    for need_id, quantity in left.items() if quantity]
