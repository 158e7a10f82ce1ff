"""The producers' demand page in headless Chromium (the system's, driven by Playwright), on a
real gateway following the real broker: a card per product with its charts and figures, updated
live when a new signal lands on `demand.signals`, and a clear French message for a bad token.
A full-page screenshot is kept in tests/artifacts/producer-page.png. And `make run` itself on a
fresh launcher stack: months of weekly history on the page (how soon: bench/make_run_ready.py)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import structlog
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page, async_playwright, expect

from services.bus.admin import partitions_of
from services.bus.catalog import DEMAND_SIGNALS, PRODUCTS, SALES
from services.bus.partitions import bounds
from services.bus.settings import BusSettings
from services.events.auth import Role
from services.events.catalog import ProductDefined
from services.events.demand import DayForecast, DaySold, DemandSignalRecorded, WeekSold
from services.events.sales import QuantityUnit
from tests.e2e.browser import ARTIFACTS, french_browser, keep_screenshot, page_problems
from tests.integration.sales_stack import ROOT, running_gateway
from tests.make_run import (
    GUARD_S,
    ctrl_c,
    fresh_env,
    months_of_history,
    procs,
    served_signals,
    start_make_run,
)
from tests.support import eventually, launched

pytestmark = pytest.mark.integration
log = structlog.get_logger("tests.demo")

ARTIFACT = ARTIFACTS / "producer-page.png"
WAIT_MS = 30_000  # a signal goes broker -> gateway table -> SSE -> page within this
PARIS = ZoneInfo("Europe/Paris")
DEMO_ARTIFACT = ARTIFACTS / "producer-page-demo.png"


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

        async with async_playwright() as playwright, \
                french_browser(playwright, tmp_path / "profile") as browser:
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

            await keep_screenshot(page, ARTIFACT)
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


def demo_data(env: dict[str, str], tokens: Path) -> str:
    """`make demo-data`, what `make run` and `make up` run once the stack answers."""
    done = subprocess.run(["make", "--no-print-directory", "demo-data", f"DEMO_TOKENS={tokens}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def weekly_bars(page: Page, http: httpx.AsyncClient, token: str) -> list[int] | None:
    """The weekly bars of each Lyon card, once the page shows every Lyon signal the gateway
    serves and most of them with MIN_WEEKS weeks or more."""
    served = await served_signals(http, token)
    counts = await page.locator('article[data-territoire="lyon"]').evaluate_all(
        """(cards) => cards.map((card) => card.querySelectorAll("svg.semaines rect.semaine")
                                           .length)""")
    enough = served and len(counts) == len(served) and months_of_history(counts)
    return counts if enough else None


async def test_make_run_shows_months_of_weekly_history(tmp_path) -> None:
    """`make run` on a fresh stack of the test's own (tests/make_run.py), as a newcomer runs
    it; Ctrl-C stops everything it started."""
    env, port = fresh_env(tmp_path / "stack")
    tokens = tmp_path / "demo-tokens.json"
    output = tmp_path / "make-run.log"
    began = time.monotonic()
    make_run = start_make_run(env, tokens, output)
    try:
        def tokens_written() -> bool:
            assert make_run.poll() is None, output.read_text()
            return tokens.exists()
        await eventually(tokens_written, timeout=GUARD_S, interval=0.5,
                         what="make run seeding the demo")
        producer = next(iter(json.loads(tokens.read_text())["producers"].values()))
        async with async_playwright() as playwright, \
                french_browser(playwright, tmp_path / "profile") as browser, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            page = await browser.new_page()
            # (the gateway answers 503 until its tables are read: the page retries)
            problems = page_problems(page, re.compile(r"Failed to load resource"))

            async def page_served() -> bool:
                assert make_run.poll() is None, output.read_text()
                try:
                    # from a blank page each time: a second visit of the same url differing
                    # only by its fragment is a same-document navigation, with no response
                    await page.goto("about:blank")
                    return bool((await page.goto(f"http://127.0.0.1:{port}/producteurs"
                                                 f"#token={producer}&territoire=lyon")).ok)
                except PlaywrightError:
                    return False  # the gateway is not listening yet
            await eventually(page_served, timeout=GUARD_S, interval=1.0,
                             what="the gateway serving the producers' page")
            counts = await eventually(
                lambda: weekly_bars(page, http, producer), interval=1.0,
                timeout=GUARD_S - (time.monotonic() - began),
                what="months of history on the producers' page")
            shown = time.monotonic() - began
            weeks = await page.locator("svg.semaines rect.semaine").evaluate_all(
                "(bars) => bars.map((bar) => bar.dataset.semaine)")
            DEMO_ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(DEMO_ARTIFACT))
            await pages_open_with_their_tokens(http, output.read_text())
        assert f"http://127.0.0.1:{port}/producteurs" in output.read_text()  # where to look
    finally:
        await ctrl_c(make_run)
        launched(env, "stop")  # stopped by make run already, unless it failed before
    log.info("demo history shown by make run", seconds=round(shown), weekly_bars=sorted(counts))
    today = datetime.now(PARIS).date()
    assert max(weeks) == (today - timedelta(days=today.weekday(), weeks=1)).isoformat()
    assert problems == []
    assert " up " not in procs(env, "status")  # nothing left running
    # once per stack: setting the demo up again writes no sales
    launched(env, "start")
    try:
        settings = BusSettings(**dict(line.split("=", 1)
                                      for line in launched(env, "env").split()))
        written = await bounds(settings, await partitions_of(settings, SALES.name))
        assert "Historique déjà présent" in demo_data(env, tokens)
        assert await bounds(settings, await partitions_of(settings, SALES.name)) == written
    finally:
        launched(env, "stop")


PAGE_ROLES = {"producteurs": {"PRODUCER"}, "epicerie": {"SHOP"}, "pole": {"HUB"},
              "caisse": {"COMMITTEE", "TREASURER"}, "annuaire": {"OPERATOR"}}


async def pages_open_with_their_tokens(http: httpx.AsyncClient, printed: str) -> None:
    """Each person's page is printed with a demo token in its fragment, the page is served,
    and the token is one the gateway accepts, of the role the page is for."""
    links = re.findall(r"http://127\.0\.0\.1:\d+/([a-z]+)#token=(vvr_[A-Za-z0-9_-]+)", printed)
    assert {name for name, _ in links} == set(PAGE_ROLES), printed
    roles = set()
    for name, token in links:
        assert (await http.get(f"/{name}")).status_code == 200
        me = await http.get("/v1/tokens/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["role"] in PAGE_ROLES[name], (name, me.text)
        roles.add(me.json()["role"])
    assert roles == set().union(*PAGE_ROLES.values())  # the committee's and the treasurer's


