"""The till simulator: deterministic, within opening hours, priced and paid like an épicerie
sociale or solidaire, with each shop's own codes, seasons, late uploads and refunds."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.events.sales import CodeKind, PaymentMethod, QuantityUnit
from services.sales.client import GatewayError
from services.sales.intake import RefundIn, SalesBatch, TicketIn
from services.simulator.model import MAX_LINES, Upload, market_cents, simulate, simulate_day
from services.simulator.runner import SimulationFailed, run
from services.simulator.territories import (
    PRODUCT_BY_ID,
    PRODUCTS,
    SHOP_BY_ID,
    SHOPS,
    Product,
    till_code,
)

AUTUMN_WEEK = date(2025, 10, 6)  # Monday 6 to Sunday 12 October 2025
WINTER_WEEK = date(2026, 1, 12)
SUMMER_WEEK = date(2025, 8, 18)


PRODUCT_OF_CODE = {(shop.id, till_code(shop.id, p.id)[0]): p for shop in SHOPS for p in PRODUCTS}


@pytest.fixture(scope="module")
def week() -> list[Upload]:
    """Seven days of every shop: also the speed check (it takes well under a second)."""
    return list(simulate(SHOPS, AUTUMN_WEEK, 7, seed=42))


@pytest.fixture(scope="module")
def four_weeks() -> list[Upload]:
    return list(simulate(SHOPS, AUTUMN_WEEK, 28, seed=7))


def tickets(uploads: list[Upload]) -> list[TicketIn]:
    return [t for u in uploads for t in u.batch.tickets]


def refunds(uploads: list[Upload]) -> list[RefundIn]:
    return [r for u in uploads for r in u.batch.refunds]


def sold_product(shop_id: str, code: str) -> Product:
    return PRODUCT_OF_CODE[shop_id, code]


def local(moment: datetime, shop_id: str) -> datetime:
    return moment.astimezone(ZoneInfo(SHOP_BY_ID[shop_id].timezone))


def test_the_same_seed_gives_the_same_uploads(week: list[Upload]) -> None:
    again = list(simulate(SHOPS, AUTUMN_WEEK, 7, seed=42))
    assert [u.deliver_at for u in again] == [u.deliver_at for u in week]
    assert [u.batch.model_dump() for u in again] == [u.batch.model_dump() for u in week]


def test_a_shop_day_does_not_depend_on_which_shops_or_days_are_simulated(
        week: list[Upload]) -> None:
    shop = SHOPS[4]
    day = AUTUMN_WEEK + timedelta(days=4)
    alone = simulate_day(shop, day, seed=42)
    in_week = [u for u in week if u.shop_id == shop.id
               and min(t.occurred_at for t in [*u.batch.tickets, *u.batch.refunds]).date() == day]
    assert [u.batch for u in alone] == [u.batch for u in in_week]
    assert list(simulate(reversed(SHOPS), AUTUMN_WEEK, 2, 42)) == \
        list(simulate(SHOPS, AUTUMN_WEEK, 2, 42))


def test_another_seed_gives_other_tickets() -> None:
    shop, day = SHOPS[0], AUTUMN_WEEK + timedelta(days=5)
    one = [u.batch.model_dump() for u in simulate_day(shop, day, seed=1)]
    two = [u.batch.model_dump() for u in simulate_day(shop, day, seed=2)]
    assert one != two


def test_uploads_come_in_delivery_order_and_ticket_ids_are_unique(week: list[Upload]) -> None:
    assert [u.deliver_at for u in week] == sorted(u.deliver_at for u in week)
    ids = [t.ticket_id for t in tickets(week)] + [r.ticket_id for r in refunds(week)]
    assert len(ids) == len(set(ids))
    assert all(u.deliver_at.tzinfo is not None for u in week)


def test_no_ticket_when_the_shop_is_closed(week: list[Upload]) -> None:
    for item in [*tickets(week), *refunds(week)]:
        shop = SHOP_BY_ID[item.shop_id]
        at = local(item.occurred_at, shop.id)
        sessions = shop.hours[at.weekday()]
        assert any(s.start <= at.time() < s.end for s in sessions), (shop.id, at)
    sunday = AUTUMN_WEEK + timedelta(days=6)
    assert all(simulate_day(shop, sunday, 42) == [] for shop in SHOPS)
    labour_day = date(2025, 5, 1)  # a Thursday, but a public holiday
    assert all(simulate_day(shop, labour_day, 42) == [] for shop in SHOPS)


def test_some_shops_open_on_monday_afternoon_only(week: list[Upload]) -> None:
    mondays = {t.shop_id: local(t.occurred_at, t.shop_id) for t in tickets(week)
               if local(t.occurred_at, t.shop_id).weekday() == 0}
    assert mondays
    assert all(at.hour >= 13 for at in mondays.values())
    assert set(mondays) == {s.id for s in SHOPS if s.hours[0]}


def test_every_open_store_day_has_15_to_40_tickets_and_fridays_are_busier(
        four_weeks: list[Upload]) -> None:
    per_day = Counter((t.shop_id, local(t.occurred_at, t.shop_id).date())
                      for t in tickets(four_weeks))
    for shop in SHOPS:
        for offset in range(28):
            day = AUTUMN_WEEK + timedelta(days=offset)
            if shop.sessions_on(day):
                assert 15 <= per_day[shop.id, day] <= 40, (shop.id, day)
            else:
                assert per_day[shop.id, day] == 0
    by_weekday = Counter()
    for (_, day), count in per_day.items():
        by_weekday[day.weekday()] += count
    assert by_weekday[4] > by_weekday[1] and by_weekday[5] > by_weekday[1]


def test_lines_per_ticket_average_about_15(week: list[Upload]) -> None:
    lines = [len(t.lines) for t in tickets(week)]
    assert 13 <= sum(lines) / len(lines) <= 17
    assert max(lines) <= MAX_LINES


def test_every_ticket_and_batch_validates_and_payments_add_up(week: list[Upload]) -> None:
    for upload in week:
        again = SalesBatch.model_validate_json(upload.batch.model_dump_json(exclude_none=True))
        assert again == upload.batch
        assert len(upload.batch.shops()) == 1
    for ticket in tickets(week):
        assert sum(p.amount_cents for p in ticket.payments) == \
            sum(line.paid_cents for line in ticket.lines)
        assert all(p.amount_cents > 0 for p in ticket.payments)


def test_caisse_payments_only_in_approved_shops_with_a_card(week: list[Upload]) -> None:
    caisse = [(t.shop_id, p) for t in tickets(week) for p in t.payments
              if p.method is PaymentMethod.CAISSE]
    assert caisse
    assert all(SHOP_BY_ID[shop].caisse_approved for shop, _ in caisse)
    assert all(re.fullmatch(r"card-[0-9a-f]{6}", p.card_id or "") for _, p in caisse)
    methods = Counter(p.method for t in tickets(week) for p in t.payments)
    assert set(methods) == set(PaymentMethod)
    cards_by_territory = defaultdict(set)
    for shop, payment in caisse:
        cards_by_territory[SHOP_BY_ID[shop].territory].add(payment.card_id)
    for territory, cards in cards_by_territory.items():  # members come back: ids repeat
        others = set().union(*(c for t, c in cards_by_territory.items() if t != territory))
        assert not cards & others


def test_shoppers_pay_10_to_30_percent_of_the_market_price(week: list[Upload]) -> None:
    for ticket in tickets(week):
        for line in ticket.lines:
            product = sold_product(ticket.shop_id, line.product_code)
            assert line.unit_price_cents == product.price_cents
            assert line.unit is product.unit
            market = market_cents(line.quantity, line.unit, line.unit_price_cents)
            assert line.paid_cents == 1 or \
                10 * market - 50 <= 100 * line.paid_cents <= 30 * market + 50, line


def test_sociale_shops_have_one_rate_and_solidaire_shops_vary_by_income(
        week: list[Upload]) -> None:
    rates = defaultdict(set)
    for ticket in tickets(week):
        line = max(ticket.lines, key=lambda li: market_cents(li.quantity, li.unit,
                                                             li.unit_price_cents))
        market = market_cents(line.quantity, line.unit, line.unit_price_cents)
        rates[ticket.shop_id].add(round(100 * line.paid_cents / market / 5) * 5)
    for shop in SHOPS:
        assert len(rates[shop.id]) == (1 if shop.kind == "sociale" else 3), shop.id


def test_loose_produce_is_weighed_in_grams_with_its_plu(week: list[Upload]) -> None:
    lines = [line for t in tickets(week) for line in t.lines if line.unit is QuantityUnit.GRAM]
    assert lines
    produce = [li for li in lines if li.code_kind is CodeKind.PLU]
    assert produce and all(re.fullmatch(r"\d{4}", li.product_code) for li in produce)
    assert {li.code_kind for t in tickets(week) for li in t.lines} == set(CodeKind)


def test_each_shop_has_its_own_till_codes() -> None:
    for shop in SHOPS:
        codes = [till_code(shop.id, p.id) for p in PRODUCTS]
        assert len(set(codes)) == len(codes), shop.id
    for product in PRODUCTS:
        codes = [till_code(shop.id, product.id)[0] for shop in SHOPS]
        assert len(set(codes)) == len(SHOPS), product.id


def test_the_same_tomato_sold_in_different_shops_has_different_codes(
        week: list[Upload]) -> None:
    tomato_codes = {(t.shop_id, li.product_code) for t in tickets(week) for li in t.lines
                    if sold_product(t.shop_id, li.product_code).id == "tomate"}
    assert len({shop for shop, _ in tomato_codes}) >= 3
    assert len({code for _, code in tomato_codes}) == len(tomato_codes)


@pytest.mark.parametrize("start", [AUTUMN_WEEK, WINTER_WEEK, SUMMER_WEEK])
def test_products_are_sold_in_season_and_where_they_grow(start: date) -> None:
    uploads = list(simulate(SHOPS, start, 7, seed=3))
    sold = defaultdict(set)
    for ticket in tickets(uploads):
        day = local(ticket.occurred_at, ticket.shop_id).date()
        territory = SHOP_BY_ID[ticket.shop_id].territory
        for line in ticket.lines:
            product = sold_product(ticket.shop_id, line.product_code)
            assert product.in_season(day) and product.sold_in(territory), (product.id, day)
            sold[territory].add(product.id)
    winter, summer = start == WINTER_WEEK, start == SUMMER_WEEK
    assert ("poireau" in sold["lyon"]) is not summer
    assert ("tomate" in sold["lyon"]) is not winter
    assert ("gombo" in sold["marseille"]) is not winter
    assert not any("gombo" in sold[t] for t in ("lyon", "montpellier", "toulouse"))


def test_intermittent_products_are_sold_on_some_days_only() -> None:
    uploads = list(simulate([SHOPS[0]], AUTUMN_WEEK, 28, seed=5))
    days_sold = defaultdict(set)
    for ticket in tickets(uploads):
        for line in ticket.lines:
            days_sold[sold_product(ticket.shop_id, line.product_code).id].add(
                local(ticket.occurred_at, ticket.shop_id).date())
    open_days = len(days_sold["baguette"])
    assert 0 < len(days_sold["cafe-250"]) < open_days
    assert PRODUCT_BY_ID["cafe-250"].availability < 1


def test_offline_tills_upload_their_backlog_late_with_the_original_times(
        week: list[Upload]) -> None:
    late = [u for u in week if u.late]
    assert late
    for upload in week:
        times = [t.occurred_at for t in [*upload.batch.tickets, *upload.batch.refunds]]
        assert max(times) < upload.deliver_at
        if not upload.late:
            assert len(times) == 1 and upload.deliver_at - times[0] <= timedelta(seconds=10)
    for upload in late:
        shop = SHOP_BY_ID[upload.shop_id]
        times = [t.occurred_at for t in upload.batch.tickets]
        assert len({t.till_id for t in upload.batch.tickets}) == 1
        assert all(shop.is_open(at) for at in times)  # the till's times, not the upload's
        deliver, first = local(upload.deliver_at, shop.id), local(min(times), shop.id)
        closing = shop.sessions_on(first.date())[-1].end
        at_closing = deliver.date() == first.date() and deliver.time() >= closing
        before_next_opening = deliver.date() > first.date() and \
            deliver.time() < shop.sessions_on(deliver.date())[0].start
        assert at_closing or before_next_opening, (shop.id, first, deliver)
    assert any(local(u.deliver_at, u.shop_id).date()
               > local(u.batch.tickets[0].occurred_at, u.shop_id).date() for u in late)


def test_refunds_point_at_an_earlier_ticket_of_the_same_shop(
        four_weeks: list[Upload]) -> None:
    uploads = four_weeks
    sales = {t.ticket_id: t for t in tickets(uploads)}
    delivered = {item.ticket_id: u.deliver_at for u in uploads
                 for item in [*u.batch.tickets, *u.batch.refunds]}
    found = refunds(uploads)
    assert 0.003 < len(found) / len(sales) < 0.02
    for refund in found:
        original = sales[refund.original_ticket_id]
        assert original.shop_id == refund.shop_id
        assert original.occurred_at < refund.occurred_at
        assert delivered[original.ticket_id] <= delivered[refund.ticket_id]
        for line in refund.lines:
            sold = original.lines[line.line_number - 1]
            assert (line.product_code, line.quantity) == (sold.product_code, sold.quantity)
            assert line.refunded_cents <= sold.paid_cents
        paid = {(p.method, p.card_id): p.amount_cents for p in original.payments}
        assert all(p.amount_cents <= paid[p.method, p.card_id] for p in refund.payments)


class FakeGateway:
    """Records what each token posted; refuses the shops in `refused`."""

    def __init__(self, refused: set[str] = frozenset()) -> None:
        self.posted: list[tuple[str, SalesBatch]] = []
        self.refused = refused
        self.in_flight = self.most_in_flight = 0

    def client(self, token: str, base_url: str) -> Any:
        gateway = self

        class Client:
            async def __aenter__(self) -> Client:
                return self

            async def __aexit__(self, *exc: object) -> None:
                return None

            async def post_sales(self, batch: SalesBatch) -> dict[str, Any]:
                gateway.in_flight += 1
                gateway.most_in_flight = max(gateway.most_in_flight, gateway.in_flight)
                await asyncio.sleep(0.001)
                gateway.in_flight -= 1
                shop = next(iter(batch.shops()))
                if shop in gateway.refused:
                    raise GatewayError(422, "refused")
                gateway.posted.append((token, batch))
                return {"tickets": [t.ticket_id for t in batch.tickets],
                        "refunds": [r.ticket_id for r in batch.refunds]}

        return Client()


def a_day_of(shops: int) -> list[Upload]:
    return list(simulate(SHOPS[:shops], AUTUMN_WEEK + timedelta(days=4), 1, seed=42))


async def test_the_runner_posts_each_shop_in_order_with_its_token() -> None:
    uploads, gateway = a_day_of(4), FakeGateway()
    tokens = {s.id: f"token-{s.id}" for s in SHOPS}
    summary = await run(uploads, tokens, speed=None, concurrency=4,
                        client_factory=gateway.client)
    assert summary.tickets == len(tickets(uploads)) and summary.errors == 0
    assert 1 < gateway.most_in_flight <= 4
    for token, batch in gateway.posted:
        assert token == f"token-{next(iter(batch.shops()))}"
    for shop in SHOPS[:4]:
        sent = [b for _, b in gateway.posted if shop.id in b.shops()]
        assert sent == [u.batch for u in uploads if u.shop_id == shop.id]


async def test_the_runner_counts_refusals_and_fails_only_when_everything_fails() -> None:
    uploads = a_day_of(2)
    tokens = {s.id: "t" for s in SHOPS}
    summary = await run(uploads, tokens, client_factory=FakeGateway({SHOPS[0].id}).client)
    assert summary.errors == sum(u.shop_id == SHOPS[0].id for u in uploads)
    assert summary.tickets == sum(len(u.batch.tickets) for u in uploads
                                  if u.shop_id == SHOPS[1].id)
    with pytest.raises(SimulationFailed):
        await run(uploads, {}, client_factory=FakeGateway().client)


async def test_the_runner_paces_uploads_on_the_simulated_clock() -> None:
    uploads, now, slept = a_day_of(1)[:20], [0.0], []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    await run(uploads, {SHOPS[0].id: "t"}, speed=60.0, clock=lambda: now[0], sleep=sleep,
              client_factory=FakeGateway().client)
    span = (uploads[-1].deliver_at - uploads[0].deliver_at).total_seconds()
    assert now[0] == pytest.approx(span / 60)


@pytest.mark.parametrize("today", [AUTUMN_WEEK + timedelta(days=k) for k in range(7)])
def test_the_demo_history_ends_where_the_live_days_start(today: date) -> None:
    from services.demand.signals import HISTORY_WEEKS as CHARTED_WEEKS
    from services.demand.state import KEEP_DAYS
    from services.simulator.backfill import HISTORY_WEEKS, history_span, live_start

    first, days = history_span(today)
    assert first + timedelta(days=days) == live_start(today) < today  # no gap, no overlap
    assert first.weekday() == 0 and today - first <= timedelta(days=KEEP_DAYS)
    this_monday = today - timedelta(days=today.weekday())
    assert this_monday - first == timedelta(weeks=HISTORY_WEEKS) >= timedelta(weeks=CHARTED_WEEKS)
