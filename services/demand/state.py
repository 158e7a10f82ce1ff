"""The demand processor's state: every shop's sales by local day and its empty shelves, indexed
by territory × product for the signals. Pure.

What comes in is one source record at a time, already decoded and mapped:

- `Sold`: a ticket or a refund, as units per product on the shop's local day (event time);
- `Shelf`: a stock status change of one product in one shop (empty or not any more).

What is kept is a set of small records, each a faust table value (JSON) under its key:

    sold/<shop>/<day>   {"territory": t, "units": {product: units},
                         "at": {product: newest event time, ms}, "pos": {source: offset}}
    shelf/<shop>        {"territory": t, "empty": {product: [[first day, last day | null]]},
                         "pos": {source: offset}}
    next/<source>       {"next": the next offset of the source partition to apply}

Exactly once, from two guards. Each record remembers the last offset applied per source
partition (`topic:partition`): every record of a shop comes from one partition of each source,
in order, so a record delivered again (a worker killed before it committed, faust re-processing
after a table restore, a record persisted without its position) changes nothing. And
`Positions` says how far each source partition is applied, so a record faust skipped is read
again rather than lost. Replaying the sources from the start rebuilds the same records. The
in-memory index (territory × product → shop → day → units) is derived from the records and
rebuilt from them after a restart (`load`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.demand.combine import Key, Partial, take_oldest
from services.demand.signals import Signal, compute, empty_days_of
from services.events.demand import DayForecast, DaySold, DemandSignalRecorded, WeekSold

KEEP_DAYS = 120  # days of sales kept per shop: the forecast needs 12 weeks; late uploads 14 days

Record = dict[str, Any]
Write = tuple[str, Record | None]  # a table key and its new value (None: delete it)


@dataclass(slots=True)  # not frozen: built by the hundred thousand in a catch-up, and
class Sold:  # a frozen dataclass's init costs three times as much (measured)
    """One ticket (units > 0) or refund (units < 0) of a shop, per product, on its local day."""

    shop_id: str
    territory: str
    day: date
    units: Mapping[str, int]
    at_ms: int  # event time
    src: str  # topic:partition
    offset: int
    newest: Mapping[str, int] | None = None  # per product, for tickets folded as one


@dataclass(frozen=True)
class Shelf:
    """A product's shelf in a shop became empty (`empty`) or was restocked (not `empty`)."""

    shop_id: str
    territory: str
    product_id: str
    day: date
    empty: bool
    src: str
    offset: int


class Positions:
    """How far each source partition is applied.

    faust 0.15.3 acks, without handing them to the agent, records it drops while a rebalance
    pauses the flow, so its committed offset can pass records never folded (seen as a lost
    refund after SIGKILLs). These positions, persisted with the records, are the truth: a
    record past the next expected offset reveals a hole, and the records of the hole are read
    directly and applied first (a hole with no records in it is a real one: transaction
    markers, compaction)."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}  # src → next offset to apply

    def admit(self, src: str, offset: int) -> int | None:
        """None when the record was applied before; else the offset to apply from: its own,
        or an earlier one when records before it never arrived (read those first)."""
        expected = self.next.get(src)
        if expected is None:
            return offset  # a first record: start anywhere
        return None if offset < expected else expected

    def applied(self, src: str, offset: int) -> None:
        self.next[src] = offset + 1

    def version(self, partition: int) -> int:
        """How far the sources' `partition` is applied, summed: only grows."""
        return sum(n for src, n in self.next.items() if src.endswith(f":{partition}"))


def position_key(src: str) -> str:
    return f"next/{src}"


def sold_key(shop_id: str, day: date) -> str:
    return f"sold/{shop_id}/{day.isoformat()}"


def shelf_key(shop_id: str) -> str:
    return f"shelf/{shop_id}"


class DemandState:
    """The records, their index, and which territory × product changed since last asked."""

    def __init__(self, dirty: dict[Key, None] | None = None) -> None:
        self.records: dict[str, Record] = {}
        self.positions = Positions()
        self._units: dict[Key, dict[str, dict[date, float]]] = {}  # key → shop → day → units
        self._partition: dict[str, int] = {}  # shop → the source partition of its records
        self._parts: dict[Key, set[int]] = {}  # key → source partitions with records of it
        self._touched: dict[Key, set[int]] = {}  # key → partitions changed since partials
        # (key, source partition) → newest event time of a sale or refund (ms)
        self._at: dict[tuple[Key, int], int] = {}
        self._empty: dict[Key, dict[str, list[list[str | None]]]] = {}  # key → shop → spans
        self._days: dict[str, set[date]] = {}  # shop → its days kept
        # pairs changed and not published yet, in the order they changed (a set kept in a
        # dict: the oldest go first); a reloaded state can take over its predecessor's
        self.dirty: dict[Key, None] = {} if dirty is None else dirty

    # -- folding -----------------------------------------------------------------------------

    def apply_sold(self, sold: Sold, today: date) -> list[Write]:
        """Fold a ticket or refund; the records to persist (none when it was applied before
        or is older than what is kept)."""
        oldest = today - timedelta(days=KEEP_DAYS)
        if sold.day < oldest:
            return []
        key = sold_key(sold.shop_id, sold.day)
        record = self.records.get(key)
        if record is None:
            record = {"territory": sold.territory, "units": {}, "at": {}, "pos": {}}
        elif sold.offset <= record["pos"].get(sold.src, -1):
            return []
        record["pos"][sold.src] = sold.offset
        for product, units in sold.units.items():
            record["units"][product] = record["units"].get(product, 0) + units
            at = sold.at_ms if sold.newest is None else sold.newest[product]
            record["at"][product] = max(record["at"].get(product, 0), at)
        writes: list[Write] = [(key, record)]
        if key not in self.records:
            writes += [(sold_key(sold.shop_id, day), None)
                       for day in self._days.get(sold.shop_id, ()) if day < oldest]
            for expired, _ in writes[1:]:
                self._forget(expired)
        self._index(key, record, delta=sold.units)
        return writes

    def apply_sold_all(self, solds: Iterable[Sold], today: date) -> list[Write]:
        """`apply_sold` of each, in order: the same records, but each shop-day's record folded
        once (a catch-up chunk holds a shop's day by the dozen)."""
        merged: dict[tuple[str, str], tuple[Sold, dict[str, int], dict[str, int]]] = {}
        last: dict[tuple[str, str], int] = {}  # (key, source) → the last offset merged
        for sold in solds:
            key = sold_key(sold.shop_id, sold.day)
            record = self.records.get(key)
            if record is not None and sold.offset <= record["pos"].get(sold.src, -1):
                continue  # applied before
            if sold.offset <= last.get((key, sold.src), -1):
                continue  # a repeat within the chunk
            last[(key, sold.src)] = sold.offset
            first, units, newest = merged.setdefault((key, sold.src), (sold, {}, {}))
            for product, more in sold.units.items():
                units[product] = units.get(product, 0) + more
                newest[product] = max(newest.get(product, 0), sold.at_ms)
        writes: list[Write] = []
        for (key, src), (first, units, newest) in merged.items():
            writes += self.apply_sold(replace(first, units=units, newest=newest,
                                              at_ms=max(newest.values(), default=first.at_ms),
                                              offset=last[(key, src)]), today)
        return writes

    def apply_shelf(self, shelf: Shelf) -> list[Write]:
        """Fold a shelf status change; the record to persist (none for a repeat)."""
        key = shelf_key(shelf.shop_id)
        record = self.records.setdefault(key, {"territory": shelf.territory, "empty": {},
                                               "pos": {}})
        if shelf.offset <= record["pos"].get(shelf.src, -1):
            return []
        record["pos"][shelf.src] = shelf.offset
        oldest = (shelf.day - timedelta(days=KEEP_DAYS)).isoformat()
        spans = [s for s in record["empty"].get(shelf.product_id, [])
                 if s[1] is None or s[1] >= oldest]
        day = shelf.day.isoformat()
        if shelf.empty and (not spans or spans[-1][1] is not None):
            spans.append([day, None])
        elif not shelf.empty and spans and spans[-1][1] is None:
            spans[-1][1] = day
        record["empty"][shelf.product_id] = spans
        self._index_shelf(shelf.shop_id, record, [shelf.product_id])
        return [(key, record)]

    def load(self, key: str, record: Record) -> None:
        """A persisted record, after a restart."""
        kind, _, rest = key.partition("/")
        if kind == "next":
            self.positions.next[rest] = record["next"]
        elif kind == "sold":
            self._index(key, record, delta=record["units"])
        elif kind == "shelf":
            self.records[key] = record
            self._index_shelf(rest, record, record["empty"])
        else:
            raise ValueError(f"not a record of this layout: {key!r} (a table of another "
                             "version? give the processor a new app id)")

    def _index(self, key: str, record: Record, delta: Mapping[str, int]) -> None:
        _, shop, day_text = key.split("/")
        day = date.fromisoformat(day_text)
        self.records[key] = record
        self._days.setdefault(shop, set()).add(day)
        territory, partition = record["territory"], self._partition_of(shop, record)
        for product, units in delta.items():
            pair = (territory, product)
            days = self._units.setdefault(pair, {}).setdefault(shop, {})
            days[day] = days.get(day, 0) + units
            at = (pair, partition)
            self._at[at] = max(self._at.get(at, 0), record["at"][product])
            self._touch(pair, partition)

    def _index_shelf(self, shop: str, record: Record, products: Iterable[str]) -> None:
        partition = self._partition_of(shop, record)
        for product in products:
            pair = (record["territory"], product)
            self._empty.setdefault(pair, {})[shop] = record["empty"][product]
            self._touch(pair, partition)

    def _touch(self, pair: Key, partition: int) -> None:
        self._parts.setdefault(pair, set()).add(partition)
        self._touched.setdefault(pair, set()).add(partition)
        self.dirty[pair] = None

    def _partition_of(self, shop: str, record: Record) -> int:
        """The source partition of a shop's records (a shop's records are all in one)."""
        partition = self._partition.get(shop)
        if partition is None:
            src = next(iter(record["pos"]))  # "topic:partition"
            partition = self._partition[shop] = int(src.rpartition(":")[2])
        return partition

    def _forget(self, key: str) -> None:
        record = self.records.pop(key, None)
        if record is None:
            return
        _, shop, day_text = key.split("/")
        day = date.fromisoformat(day_text)
        self._days.get(shop, set()).discard(day)
        partition = self._partition[shop]
        for product in record["units"]:
            pair = (record["territory"], product)
            self._units.get(pair, {}).get(shop, {}).pop(day, None)
            self._at[(pair, partition)] = max(
                (self.records[sold_key(s, d)]["at"].get(product, 0)
                 for s, days in self._units.get(pair, {}).items()
                 if self._partition[s] == partition for d in days), default=0)
            self._touch(pair, partition)

    # -- reading -----------------------------------------------------------------------------

    def take_dirty(self, limit: int) -> list[Key]:
        """Up to `limit` changed territory × product pairs, the longest waiting first."""
        return take_oldest(self.dirty, limit)

    def sold(self, pair: Key) -> dict[str, dict[date, float]]:
        return self._units.get(pair, {})

    def refresh(self) -> list[Key]:
        """Every pair with records here, all its partitions marked for `take_partials` again."""
        for pair, parts in self._parts.items():
            self._touched.setdefault(pair, set()).update(parts)
        return list(self._parts)

    def take_partials(self, pair: Key) -> list[Partial]:
        """What each source partition changed since last asked sold of the pair, in total,
        for the territory's sum (services.demand.combine); a partition whose records of it
        expired gives an empty one."""
        territory, product = pair
        parts = {p: Partial(territory, product, p, self.positions.version(p),
                            at_ms=self._at.get((pair, p), 0))
                 for p in sorted(self._touched.pop(pair, ()))}
        for shop, days in self._units.get(pair, {}).items():
            if (part := parts.get(self._partition[shop])) is not None:
                for day, units in days.items():
                    part.sold[day] = part.sold.get(day, 0) + units
        for shop, spans in self._empty.get(pair, {}).items():
            if (part := parts.get(self._partition[shop])) is not None:
                part.empty[shop] = spans
        return list(parts.values())

    def shop_signals(self, pair: Key, today: date, *, on_hand: Mapping[str, int],
                     owns: Callable[[str], bool], now: datetime) -> list[Signal]:
        """Each shop's signal for the product: the shops with records here, and those `owns`
        says are this worker's among the others with stock (`on_hand` per shop)."""
        territory, product = pair
        at = max((self._at.get((pair, p), 0) for p in self._parts.get(pair, ())), default=0)
        inputs_at = datetime.fromtimestamp(at / 1000, UTC) if at else None
        by_shop = self._units.get(pair, {})
        empty = self._empty.get(pair, {})
        shops = set(by_shop) | set(empty) | {s for s in on_hand if owns(s)}
        return [compute(territory=territory, product_id=product, shop_id=shop,
                        sold=by_shop.get(shop, {}), today=today, on_hand=on_hand.get(shop),
                        empty_days=empty_days_of(empty.get(shop, []), today),
                        inputs_at=inputs_at, now=now)
                for shop in sorted(shops)]


def to_wire(signal: Signal) -> DemandSignalRecorded:
    (w, w10, w90), (f, f10, f90) = signal.forecast_7d, signal.forecast_14d
    return DemandSignalRecorded(
        territory=signal.territory, product_id=signal.product_id, shop_id=signal.shop_id,
        day=signal.day, sold=tuple(DaySold(day=d, units=round(u)) for d, u in signal.sold),
        sold_weeks=tuple(WeekSold(week=w, units=round(u)) for w, u in signal.sold_weeks),
        velocity_7d=signal.velocity_7d, trend=signal.trend, on_hand=signal.on_hand,
        days_of_cover=signal.days_of_cover, stockout_days_7d=signal.stockout_days_7d,
        forecast=tuple(DayForecast(day=d.day, mean=round(d.mean, 3), p10=round(d.p10, 3),
                                   p90=round(d.p90, 3)) for d in signal.forecast),
        forecast_7d=round(w, 3), forecast_7d_p10=round(w10, 3), forecast_7d_p90=round(w90, 3),
        forecast_14d=round(f, 3), forecast_14d_p10=round(f10, 3),
        forecast_14d_p90=round(f90, 3), committed_supply_7d=signal.committed_supply_7d,
        supply_gap_7d=signal.supply_gap_7d, inputs_at=signal.inputs_at,
        computed_at=signal.computed_at)
