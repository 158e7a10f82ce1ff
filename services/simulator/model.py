"""A shop's day at the till, from a seed to the uploads its tills send. Pure and deterministic:
each shop-day draws from its own sub-seeds, so the output does not depend on iteration order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from random import Random
from zoneinfo import ZoneInfo

from services.events.sales import PaymentMethod, QuantityUnit, ticket_id
from services.sales.intake import LineIn, PaymentIn, RefundIn, RefundLineIn, SalesBatch, TicketIn
from services.simulator.territories import (
    PRODUCTS,
    TERRITORIES,
    Product,
    Shop,
    card_id,
    till_code,
    till_label,
)

WEEKDAY_FACTOR = (0.65, 0.85, 0.95, 0.95, 1.15, 1.25, 1.0)  # Monday first; busier Fri and Sat
MIN_TICKETS, MAX_TICKETS = 15, 40
MEAN_LINES, MAX_LINES = 15, 40
REFUND_RATE = 0.01
INCOME_BANDS = ((10, 40), (20, 35), (30, 25))  # "solidaire" shops: (% of market price, weight)
REFUND_REASONS = ("produit abîmé", "erreur de pesée", "article en double", "erreur de prix")
LATE_AFTER = timedelta(minutes=1)  # an upload later than this after its first ticket is late
Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Upload:
    """What a till sends at `deliver_at`: one ticket when online, its backlog when back online."""

    deliver_at: datetime
    batch: SalesBatch

    @property
    def shop_id(self) -> str:
        return (self.batch.tickets or self.batch.refunds)[0].shop_id

    @property
    def late(self) -> bool:
        first = min(t.occurred_at for t in [*self.batch.tickets, *self.batch.refunds])
        return self.deliver_at - first > LATE_AFTER

    def sort_key(self) -> tuple[datetime, str, str]:
        """Delivery order, ties broken by shop and first ticket: independent of input order."""
        first = (self.batch.tickets or self.batch.refunds)[0]
        return self.deliver_at, self.shop_id, first.ticket_id


@dataclass
class _Draft:
    """A ticket (or a refund of `original`) before its till number is known."""

    at: datetime
    till: str
    lines: list[LineIn] = field(default_factory=list)
    payments: list[PaymentIn] = field(default_factory=list)
    original: _Draft | None = None
    refunded: list[int] = field(default_factory=list)  # line numbers on the original
    reason: str = ""
    number: int = 0


def simulate(shops: Iterable[Shop], start: date, days: int, seed: int) -> Iterator[Upload]:
    """Every upload of `shops` over `days` days from `start`, in delivery order."""
    shops = sorted(shops, key=lambda s: s.id)
    pending: list[tuple[tuple[datetime, str, str], Upload]] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        for shop in shops:
            for upload in simulate_day(shop, day, seed):
                heapq.heappush(pending, (upload.sort_key(), upload))
        # nothing from a later day can be delivered before the next day starts, in any timezone
        horizon = datetime.combine(day + timedelta(days=1), time.min, UTC) - timedelta(hours=14)
        while pending and pending[0][0][0] < horizon:
            yield heapq.heappop(pending)[1]
    while pending:
        yield heapq.heappop(pending)[1]


def simulate_day(shop: Shop, day: date, seed: int) -> list[Upload]:
    """The uploads of `shop`'s tickets of `day`, in delivery order (none on a closed day)."""
    sessions = shop.sessions_on(day)
    if not sessions:
        return []
    zone = ZoneInfo(shop.timezone)
    spans = [(datetime.combine(day, s.start, zone), datetime.combine(day, s.end, zone))
             for s in sessions]

    def rng(aspect: str) -> Random:
        return Random(f"{seed}:{shop.id}:{day.isoformat()}:{aspect}")

    tickets = rng("tickets")
    mean = shop.tickets_per_day * WEEKDAY_FACTOR[day.weekday()]
    count = min(MAX_TICKETS, max(MIN_TICKETS, round(tickets.gauss(mean, 3))))
    shelf = _on_shelf(shop, day, rng("shelf"))
    sales = [_sale(shop, at, shelf, tickets) for at in _ticket_times(spans, count, tickets)]
    refunds = _refunds(sales, spans, rng("refunds"))
    _number(day, sales + refunds)
    backlog = _offline(shop, day, spans, rng("offline"))
    return _uploads(shop, sales + refunds, backlog, rng("delivery"))


def _at(spans: list[Span], offset: float) -> datetime:
    """The moment `offset` seconds of opening time after the first opening."""
    for begin, end in spans:
        length = (end - begin).total_seconds()
        if offset < length:
            return begin + timedelta(seconds=int(offset))
        offset -= length
    return spans[-1][1] - timedelta(seconds=1)


def _ticket_times(spans: list[Span], count: int, rng: Random) -> list[datetime]:
    """Ticket times within the sessions, thickest towards the end of each session."""
    lengths = [(end - begin).total_seconds() for begin, end in spans]
    times = []
    for _ in range(count):
        index = rng.choices(range(len(spans)), weights=lengths)[0]
        offset = rng.triangular(0, lengths[index], 0.7 * lengths[index])
        times.append(_at(spans[index:index + 1], offset))
    return sorted(times)


def _on_shelf(shop: Shop, day: date, rng: Random) -> list[Product]:
    return [p for p in PRODUCTS if p.in_season(day) and p.sold_in(shop.territory)
            and rng.random() < p.availability]


def _sale(shop: Shop, at: datetime, shelf: list[Product], rng: Random) -> _Draft:
    territory = TERRITORIES[shop.territory]
    till = rng.choices(shop.tills, weights=range(len(shop.tills), 0, -1))[0]  # first busiest
    card = None
    if shop.caisse_approved and rng.random() < territory.caisse_share:
        card = card_id(territory.id, rng.randrange(territory.caisse_members))
    pct = shop.rate_pct if shop.kind == "sociale" else \
        rng.choices([b for b, _ in INCOME_BANDS], weights=[w for _, w in INCOME_BANDS])[0]
    wanted = min(MAX_LINES, max(1, round(rng.gammavariate(4.0, MEAN_LINES / 4.0))))
    # weighted draw without replacement, then repeats once the shelf is exhausted
    keyed = sorted(shelf, key=lambda p: rng.random() ** (1.0 / p.popularity), reverse=True)
    chosen = keyed[:wanted] + rng.choices(shelf, k=max(0, wanted - len(shelf)))
    lines = [_line(shop, product, pct, rng) for product in chosen]
    return _Draft(at, till, lines, _payments(sum(li.paid_cents for li in lines), card, rng))


def market_cents(quantity: int, unit: QuantityUnit, unit_price_cents: int) -> int:
    """The market value of a line: price per piece, or per kilogram / litre for grams / ml."""
    if unit is QuantityUnit.PIECE:
        return quantity * unit_price_cents
    return (quantity * unit_price_cents + 500) // 1000


def _line(shop: Shop, product: Product, pct: int, rng: Random) -> LineIn:
    low, high = product.quantity
    quantity = low + int((high - low + 1) * rng.random() ** 2)  # mostly small quantities
    if product.unit is not QuantityUnit.PIECE:
        quantity = max(low, quantity // 5 * 5)
    code, kind = till_code(shop.id, product.id)
    value = market_cents(quantity, product.unit, product.price_cents)
    return LineIn(product_code=code, code_kind=kind, label=till_label(shop.id, product.id),
                  quantity=quantity, unit=product.unit, unit_price_cents=product.price_cents,
                  paid_cents=max(1, (value * pct + 50) // 100))


def _payments(total: int, card: str | None, rng: Random) -> list[PaymentIn]:
    """Caisse allowance (topped up in cash or card once spent), or cash, card, vouchers."""
    other = rng.choice((PaymentMethod.CASH, PaymentMethod.CARD))
    if card:
        if total > 1 and rng.random() < 0.2:
            part = rng.randint(1, total - 1)
            return [PaymentIn(method=PaymentMethod.CAISSE, amount_cents=part, card_id=card),
                    PaymentIn(method=other, amount_cents=total - part)]
        return [PaymentIn(method=PaymentMethod.CAISSE, amount_cents=total, card_id=card)]
    method = rng.choices((PaymentMethod.CASH, PaymentMethod.CARD, PaymentMethod.VOUCHER),
                         weights=(45, 40, 15))[0]
    face = rng.choice((500, 1000))  # a social-services food voucher gives no change
    if method is PaymentMethod.VOUCHER and total > face:
        return [PaymentIn(method=method, amount_cents=face),
                PaymentIn(method=other, amount_cents=total - face)]
    return [PaymentIn(method=method, amount_cents=total)]


def _refunds(sales: list[_Draft], spans: list[Span], rng: Random) -> list[_Draft]:
    """About one ticket in a hundred is partly refunded later the same day, on the same till."""
    refunds = []
    for sale in sales:
        if rng.random() >= REFUND_RATE:
            continue
        later = [(max(begin, sale.at + timedelta(minutes=1)), end) for begin, end in spans
                 if end > sale.at + timedelta(minutes=11)]
        if not later:
            continue
        room = sum((end - begin).total_seconds() for begin, end in later)
        lines = sorted(rng.sample(range(1, len(sale.lines) + 1), min(len(sale.lines),
                                                                      rng.choice((1, 1, 2)))))
        refunds.append(_Draft(_at(later, rng.uniform(0, room)), sale.till, original=sale,
                              refunded=lines, reason=rng.choice(REFUND_REASONS)))
    return refunds


def _number(day: date, drafts: list[_Draft]) -> None:
    """Number each till's tickets of the day in time order: 250314007 is the 7th of 2025-03-14."""
    by_till: dict[str, list[_Draft]] = {}
    for draft in sorted(drafts, key=lambda d: (d.at, d.original is not None)):
        by_till.setdefault(draft.till, []).append(draft)
    for tickets in by_till.values():
        for seq, draft in enumerate(tickets, start=1):
            draft.number = int(f"{day:%y%m%d}{seq:03d}")


def _offline(shop: Shop, day: date, spans: list[Span], rng: Random
             ) -> dict[str, tuple[datetime, datetime]]:
    """Tills that drop offline: till -> (offline since, backlog delivered at). Backlogs go up at
    closing time or when the till is switched on before the next opening."""
    open_seconds = sum((end - begin).total_seconds() for begin, end in spans)
    backlog = {}
    for till in shop.tills:
        if rng.random() >= shop.offline_rate:
            continue
        since = _at(spans, rng.uniform(0, 0.7 * open_seconds))
        if rng.random() < 0.6:
            deliver = spans[-1][1] + timedelta(seconds=rng.randint(180, 1500))
        else:
            deliver = _next_opening(shop, day) - timedelta(seconds=rng.randint(120, 1800))
        backlog[till] = (since, deliver)
    return backlog


def _next_opening(shop: Shop, day: date) -> datetime:
    for ahead in range(1, 15):
        later = day + timedelta(days=ahead)
        sessions = shop.sessions_on(later)
        if sessions:
            return datetime.combine(later, sessions[0].start, ZoneInfo(shop.timezone))
    raise ValueError(f"shop {shop.id} does not open in the two weeks after {day}")


def _uploads(shop: Shop, drafts: list[_Draft], backlog: dict[str, tuple[datetime, datetime]],
             rng: Random) -> list[Upload]:
    uploads, late = [], {}
    for draft in sorted(drafts, key=lambda d: (d.at, d.till, d.number)):
        item = _model(shop, draft)
        since, deliver = backlog.get(draft.till, (None, None))
        if since is not None and draft.at >= since:
            late.setdefault((draft.till, deliver), []).append(item)
        else:
            uploads.append(_upload(draft.at + timedelta(seconds=rng.randint(1, 8)), [item]))
    uploads += [_upload(deliver, items) for (_, deliver), items in late.items()]
    return sorted(uploads, key=Upload.sort_key)


def _upload(deliver_at: datetime, items: list[TicketIn | RefundIn]) -> Upload:
    return Upload(deliver_at, SalesBatch(
        tickets=[i for i in items if isinstance(i, TicketIn)],
        refunds=[i for i in items if isinstance(i, RefundIn)]))


def _model(shop: Shop, draft: _Draft) -> TicketIn | RefundIn:
    common = dict(shop_id=shop.id, till_id=draft.till, ticket_number=draft.number,
                  occurred_at=draft.at, timezone=shop.timezone)
    if draft.original is None:
        return TicketIn(**common, lines=draft.lines, payments=draft.payments)
    original = draft.original
    lines = [RefundLineIn(line_number=n, product_code=line.product_code,
                          code_kind=line.code_kind, quantity=line.quantity, unit=line.unit,
                          refunded_cents=line.paid_cents)
             for n in draft.refunded for line in [original.lines[n - 1]]]
    payments, left = [], sum(line.refunded_cents for line in lines)
    for paid in original.payments:  # back to how the shopper paid, first payment first
        amount = min(left, paid.amount_cents)
        if amount:
            payments.append(paid.model_copy(update={"amount_cents": amount}))
            left -= amount
    return RefundIn(**common, original_ticket_id=ticket_id(shop.id, original.till,
                                                           original.number),
                    reason=draft.reason, lines=lines, payments=payments)
