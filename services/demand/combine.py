"""The second stage: a territory's signal from the sums of every source partition. Pure.

Workers share the source partitions (keyed by shop), so none sees a whole territory. Each
publishes, for a territory × product it changed, one `Partial` per source partition it holds:
the units per local day of that partition's shops, their empty shelves and newest sale time.
Partials go to the app's topic `<app id>-partials` (compacted: one record per pair and
partition), on the partition of their territory × product, so one worker's combining agent
receives every partition's partial of a pair and keeps the newest of each (`Combined`); the
territory signal is computed from their sum.

A partial is a whole partition's sum, not a change, so taking it again changes nothing and a
lost one is made good by the next: every worker publishes all its partials after each
rebalance (its state is reloaded, every pair marked), and again every REFRESH_S, so that one
faust dropped on its way (it acks records it drops during a rebalance) is made good within
that; the unchanged ones are taken as nothing. Its `version`, the sum of the
partition's source positions, only grows, so a partial of an earlier owner arriving late
cannot replace a newer one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from itertools import islice
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.demand.signals import Signal, compute, empty_days_of

Key = tuple[str, str]  # (territory, product)


@dataclass
class Partial:
    """What one source partition's shops sold of a product in a territory."""

    territory: str
    product_id: str
    partition: int
    version: int  # the partition's positions summed over the sources: only grows
    sold: dict[date, float] = field(default_factory=dict)  # units per local day
    empty: dict[str, list[list[str | None]]] = field(default_factory=dict)  # shop → spans
    at_ms: int = 0  # event time of the newest sale or refund

    @property
    def pair(self) -> Key:
        return self.territory, self.product_id

    @property
    def key(self) -> str:
        """Its key in the combining table."""
        return json.dumps([self.territory, self.product_id, self.partition])

    def to_json(self) -> dict[str, Any]:
        """Its JSON form; the days as a first day and the units of each day from it (a
        partition's 120 days in a few hundred bytes)."""
        first = min(self.sold, default=None)
        units = [] if first is None else [0] * ((max(self.sold) - first).days + 1)
        for day, sold in self.sold.items():
            units[(day - first).days] = sold  # type: ignore[operator]
        return {"territory": self.territory, "product_id": self.product_id,
                "partition": self.partition, "version": self.version, "at_ms": self.at_ms,
                "first": first and first.isoformat(), "units": units, "empty": self.empty}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Partial:
        first = data["first"] and date.fromisoformat(data["first"])
        return cls(territory=data["territory"], product_id=data["product_id"],
                   partition=data["partition"], version=data["version"], at_ms=data["at_ms"],
                   sold={first + timedelta(days=k): u for k, u in enumerate(data["units"])
                         if u},
                   empty=data["empty"])


def pair_key(pair: Key) -> bytes:
    """What routes a partial: a pair's partials meet in the partition this hashes to."""
    return json.dumps(list(pair)).encode()


def take_oldest(dirty: dict[Key, None], limit: int) -> list[Key]:
    """Up to `limit` pairs of `dirty` (a set kept in a dict), the longest waiting first."""
    keys = list(islice(dirty, limit))
    for key in keys:
        del dirty[key]
    return keys


class Combined:
    """The newest partial of each pair and source partition, and the pairs to signal again."""

    def __init__(self, dirty: dict[Key, None] | None = None) -> None:
        self._parts: dict[Key, dict[int, Partial]] = {}
        self.dirty: dict[Key, None] = {} if dirty is None else dirty

    def take(self, partial: Partial) -> bool:
        """Keep `partial` unless a newer one of its partition, or the same, is kept; whether it
        was kept (a partial sent again unchanged changes nothing, its signal included)."""
        parts = self._parts.setdefault(partial.pair, {})
        kept = parts.get(partial.partition)
        if kept is not None and (partial.version < kept.version or partial == kept):
            return False
        parts[partial.partition] = partial
        self.dirty[partial.pair] = None
        return True

    def knows(self, pair: Key) -> bool:
        return pair in self._parts

    def take_dirty(self, limit: int) -> list[Key]:
        return take_oldest(self.dirty, limit)

    def signal(self, pair: Key, today: date, *, on_hand: Mapping[str, int], committed_7d: int,
               now: datetime, keep_days: int) -> Signal:
        """The territory's signal (its stock is `on_hand` per shop)."""
        return territory_signal(pair, self._parts.get(pair, {}).values(), today,
                                on_hand=on_hand, committed_7d=committed_7d, now=now,
                                keep_days=keep_days)


def territory_signal(pair: Key, partials: Iterable[Partial], today: date, *,
                     on_hand: Mapping[str, int], committed_7d: int, now: datetime,
                     keep_days: int) -> Signal:
    """The signal of the territory whose source partitions summed to `partials` (days older
    than `keep_days` left out: a partial kept since before they expired still holds them)."""
    oldest = today - timedelta(days=keep_days)
    total: dict[date, float] = {}
    empty: set[date] = set()
    at = 0
    for partial in partials:
        for day, units in partial.sold.items():
            if day >= oldest:
                total[day] = total.get(day, 0) + units
        for spans in partial.empty.values():
            empty |= empty_days_of(spans, today)
        at = max(at, partial.at_ms)
    territory, product = pair
    return compute(territory=territory, product_id=product, shop_id=None, sold=total,
                   today=today, on_hand=sum(on_hand.values()) if on_hand else None,
                   empty_days=empty, committed_supply_7d=committed_7d,
                   inputs_at=datetime.fromtimestamp(at / 1000, UTC) if at else None,
                   now=now)
