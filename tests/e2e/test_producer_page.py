"""The producers' demand page in headless Chromium (the system's, driven by Playwright), on a
real gateway following the real broker: a card per product with its chart and figures, updated
live when a new signal lands on `demand.signals`, and a clear French message for a bad token.
A full-page screenshot is kept in tests/artifacts/producer-page.png."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Locator, async_playwright, expect

from services.bus.catalog import DEMAND_SIGNALS, PRODUCTS
from services.bus.settings import BusSettings
from services.events.auth import Role
from services.events.catalog import ProductDefined
from services.events.demand import DayForecast, DaySold, DemandSignalRecorded, WeekSold
from services.events.sales import QuantityUnit
from tests.e2e.browser import ARTIFACTS, CHROMIUM_ARGS, page_problems, png_size, require_chromium
from tests.integration.sales_stack import running_gateway
from tests.support import eventually

pytestmark = pytest.mark.integration

ARTIFACT = ARTIFACTS / "producer-page.png"
WAIT_MS = 30_000  # a signal goes broker -> gateway table -> SSE -> page within this
PARIS = ZoneInfo("Europe/Paris")


def demand(territory: str, product_id: str, at: datetime, *, level: float, on_hand: int,
           committed: int, forecast_7d: float) -> DemandSignalRecorded:
    """A territory signal with 28 days of sales, 16 weeks (one of them without sales) and a
    14-day forecast around `level` a day."""
    today = at.astimezone(PARIS).date()
    monday = today - timedelta(days=today.weekday())
    weeks = tuple(WeekSold(week=monday - timedelta(weeks=16 - i),
                           units=0 if i == 3 else int(level * 7 * (0.8 + 0.05 * (i % 5))))
                  for i in range(16))
    sold = tuple(DaySold(day=today - timedelta(days=28 - i),
                         units=int(level * (0.6 + 0.1 * ((i * 3) % 7)))) for i in range(28))
    forecast = tuple(DayForecast(day=today + timedelta(days=i), mean=level * (1 + 0.05 * (i % 7)),
                                 p10=level * 0.7, p90=level * (1.3 + 0.05 * (i % 7)))
                     for i in range(14))
    return DemandSignalRecorded(
        territory=territory, product_id=product_id, day=today, sold=sold,
        velocity_7d=level, trend=1.12, on_hand=on_hand, days_of_cover=round(on_hand / level, 2),
        stockout_days_7d=1, forecast=forecast, forecast_7d=forecast_7d,
        forecast_7d_p10=forecast_7d * 0.75, forecast_7d_p90=forecast_7d * 1.3,
        forecast_14d=forecast_7d * 2, forecast_14d_p10=forecast_7d * 1.5,
        forecast_14d_p90=forecast_7d * 2.6, committed_supply_7d=committed,
        supply_gap_7d=max(0.0, forecast_7d - on_hand - committed), inputs_at=at, computed_at=at,
        sold_weeks=weeks)






def figure(card: Locator, name: str) -> Locator:
    return card.locator(f'dd[data-champ="{name}"]')


async def test_the_producer_page_shows_each_product_and_follows_live_signals(tmp_path) -> None:
    chromium = require_chromium()
    settings = BusSettings()
    territory = f"t-{uuid.uuid4().hex[:6]}"
    squash, eggs = f"courge-{territory}", f"oeufs-{territory}"
    now = datetime.now(UTC)
    async with running_gateway(settings, "producer-page-test") as gateway:
        publisher = gateway.platform.publisher
        await publisher.publish_many(PRODUCTS, [
            ProductDefined(product_id=squash, name="Courge butternut", category="legumes",
                           unit=QuantityUnit.GRAM, organic=True, labels=(), defined_at=now),
            ProductDefined(product_id=eggs, name="Œufs plein air", category="oeufs",
                           unit=QuantityUnit.PIECE, organic=False, labels=(), defined_at=now)])
        producer = await gateway.token(Role.PRODUCER, "ferme-du-test")
        shop = await gateway.token(Role.SHOP, f"{territory}-shop")
        first = demand(territory, squash, now, level=4200, on_hand=4500, committed=20000,
                       forecast_7d=30000)  # gap 5,5 kg
        covered = demand(territory, eggs, now, level=12.5, on_hand=30, committed=120,
                         forecast_7d=90)  # no gap
        await publisher.publish_many(DEMAND_SIGNALS, [first, covered])
        await eventually(lambda: all(gateway.deps.signals.get(s.signal_key) is not None
                                     and gateway.deps.products.get(s.product_id) is not None
                                     for s in (first, covered)), what="the gateway's tables")

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=chromium, headless=True,
                args=CHROMIUM_ARGS, locale="fr-FR", timezone_id="Europe/Paris",
                viewport={"width": 1100, "height": 800})
            try:
                page = await browser.new_page()
                problems = page_problems(page)
                loaded = await page.goto(f"{gateway.url}/producteurs"
                                         f"#token={producer}&territoire={territory}")
                assert loaded is not None and loaded.ok
                assert "script-src 'sha256-" in loaded.headers["content-security-policy"]

                cards = page.locator(f'article[data-territoire="{territory}"]')
                await expect(cards).to_have_count(2, timeout=WAIT_MS)
                await expect(cards.locator("h2")).to_have_text(
                    ["Courge butternut", "Œufs plein air"])  # sorted, named by the catalog
                await expect(page.locator("#etat")).to_have_text("en direct", timeout=WAIT_MS)
                assert "token=" not in page.url  # wiped from the address bar, kept in the tab
                assert await page.evaluate("sessionStorage.getItem('vivres-jeton')") == producer

                card = cards.nth(0)
                chart = card.locator("svg").first
                await expect(chart.locator("rect.vente")).to_have_count(28)
                await expect(chart.locator("path.bande")).to_have_count(1)
                await expect(chart.locator("path.moyenne")).to_have_count(1)
                band = await chart.locator("path.bande").get_attribute("d") or ""
                assert band.startswith("M") and band.endswith("Z") and band.count("L") == 27
                await expect(chart.locator("title").first).to_contain_text("Courge butternut")
                weeks = card.locator("svg.semaines")
                await expect(weeks.locator("rect.semaine")).to_have_count(15)  # one week sold 0
                await expect(weeks.locator("title").first).to_contain_text(
                    "ventes par semaine des 16 dernières semaines complètes")
                assert await weeks.locator("rect.semaine").first.get_attribute(
                    "data-semaine") == first.sold_weeks[0].week.isoformat()
                await expect(figure(card, "vitesse")).to_have_text("4,2 kg / jour")
                await expect(figure(card, "tendance")).to_have_text("+12 %")
                await expect(figure(card, "stock")).to_have_text("4,5 kg")
                await expect(figure(card, "couverture")).to_have_text("1,1 j")
                await expect(figure(card, "ruptures")).to_have_text("1 j")
                await expect(figure(card, "prevision")).to_have_text("30 kg (de 22,5 à 39)")
                await expect(figure(card, "offre")).to_have_text("20 kg")
                await expect(figure(card, "ecart")).to_have_text("5,5 kg")
                await expect(figure(card, "ecart")).to_have_class("manque")
                await expect(card.locator(".maj")).to_have_text(
                    f"mis à jour à {now.astimezone(PARIS):%H:%M:%S}")
                eggs_card = cards.nth(1)
                await expect(figure(eggs_card, "offre")).to_have_text("120 pièces")
                await expect(figure(eggs_card, "vitesse")).to_have_text("12,5 pièces / jour")
                await expect(figure(eggs_card, "ecart")).to_have_class("couvert")

                # live: a new signal for the squash, and the page changes without a reload
                await page.evaluate("window.sansRecharger = true")
                later = now + timedelta(seconds=7)
                updated = demand(territory, squash, later, level=4200, on_hand=4500,
                                 committed=23500, forecast_7d=36000)  # gap 8 kg
                await publisher.publish(DEMAND_SIGNALS, updated)
                await expect(figure(card, "ecart")).to_have_text("8 kg", timeout=WAIT_MS)
                await expect(figure(card, "offre")).to_have_text("23,5 kg")
                await expect(card.locator(".maj")).to_have_text(
                    f"mis à jour à {later.astimezone(PARIS):%H:%M:%S}")
                assert await page.evaluate("window.sansRecharger") is True
                await expect(cards).to_have_count(2)
                await expect(page.locator("#erreur")).to_be_empty()

                ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
                ARTIFACT.unlink(missing_ok=True)
                await page.screenshot(path=str(ARTIFACT), full_page=True)
                width, height = png_size(ARTIFACT)
                assert width >= 1000 and height >= 600 and ARTIFACT.stat().st_size > 20_000
                assert problems == []

                # a wrong token, and one of a role without access, each say so in French
                for token, message in (("vvr_pas-un-vrai-jeton", "Jeton refusé"),
                                       (shop, "Ce jeton ne donne pas accès à la demande")):
                    other = await browser.new_page()
                    await other.goto(f"{gateway.url}/producteurs#token={token}")
                    await expect(other.locator("#erreur")).to_contain_text(message,
                                                                            timeout=WAIT_MS)
                    await expect(other.locator("#etat")).to_have_text("arrêté")
                    await expect(other.locator("article")).to_have_count(0)
                    await other.close()
            finally:
                await browser.close()
