"""The season view of the producers' page in headless Chromium, on a real gateway, broker and
planning service: two years of a product's weekly sales are imported and another producer has a
plan; the producer opens the page with its token, switches to « Saison » (keyboard), sees the
26 weeks drawn (the outlook band, the others' plans) and the weeks' gaps in words, declares a
plan through the form (first refused, a week in the past: the French sentence next to the
field, the values kept; then accepted, a double click sending it once), and sees its plan in
the chart and the list, live. axe-core finds no serious violation; screenshots at 1280 px
and 390 px wide are kept in tests/artifacts/season-page*.png."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Request, async_playwright, expect

from services.bus.settings import BusSettings
from services.events.auth import Role
from services.planning.outlook import monday
from tests.e2e.browser import (
    kept_at_both_widths,
    french_browser,
    page_problems,
)
from tests.integration.sales_stack import running_gateway
from tests.integration.test_planning import planning_service, seasonal_history  # noqa: F401

pytestmark = pytest.mark.integration
WAIT_MS = 30_000



@pytest.mark.usefixtures("planning_service")  # `vivres serve planning`, a child process
async def test_a_producer_sees_the_season_and_declares_a_plan_through_the_form(
        settings: BusSettings, tmp_path) -> None:
    run = uuid.uuid4().hex[:6]
    territory, product = f"saison-{run}", f"carotte-{run}"
    farm, neighbour = f"ferme-{run}", f"voisin-{run}"
    this_week = monday(datetime.now(UTC).date())
    async with running_gateway(settings, "season-page-test") as stack, \
            httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        operator = {"Authorization": f"Bearer {await stack.token(Role.OPERATOR, None)}"}
        token = await stack.token(Role.PRODUCER, farm, territory)
        other = {"Authorization":
                 f"Bearer {await stack.token(Role.PRODUCER, neighbour, territory)}"}
        for path, body in (
                ("/v1/catalog/products", {"product_id": product, "name": "Carotte des sables",
                                          "category": "legumes", "unit": "GRAM"}),
                ("/v1/planning/history", {"territory": territory, "product_id": product,
                                          "weeks": seasonal_history(this_week)})):
            answer = await http.post(path, json=body, headers=operator)
            assert answer.status_code in (200, 201), answer.text
        answer = await http.post("/v1/planning/plans", headers=other, json={
            "territory": territory, "product_id": product,
            "weeks": [{"week": (this_week + timedelta(weeks=k)).isoformat(), "units": 2_000}
                      for k in range(8, 14)]})
        assert answer.status_code == 201, answer.text

        async with async_playwright() as playwright, \
                french_browser(playwright, tmp_path / "profile", width=1280) as browser:
            page = await browser.new_page()
            # (the refused plan's 422 is the only failed load the console may show)
            problems = page_problems(page, re.compile(
                r"Failed to load resource: the server responded with a status of 422"))
            posts: list[str] = []

            def count(request: Request) -> None:
                if request.method == "POST" and request.url.endswith("/v1/planning/plans"):
                    posts.append(request.url)
            page.on("request", count)
            loaded = await page.goto(
                f"{stack.url}/producteurs#token={token}&territoire={territory}")
            assert loaded is not None and loaded.ok
            await page.locator("#onglet-demande").focus()
            await page.keyboard.press("ArrowRight")  # the tabs work from the keyboard
            await expect(page.locator("#onglet-saison")).to_have_attribute("aria-selected", "true")
            await expect(page.locator("#vue-saison")).to_be_visible()
            await expect(page.locator("#saison-titre")).to_have_text(
                f"Carotte des sables — {territory}", timeout=WAIT_MS)
            chart = page.locator("svg.saison")
            await expect(chart.locator("g.semaine-saison")).to_have_count(26)
            await expect(chart.locator("path.bande")).to_have_count(1)
            await expect(chart.locator("rect.plan-autres")).to_have_count(6, timeout=WAIT_MS)
            await expect(chart.locator("rect.plan-mien")).to_have_count(0)
            await expect(page.locator("#saison-historique")).to_contain_text(
                "mêmes semaines des années passées (104 semaines")
            week9 = (this_week + timedelta(weeks=9)).isoformat()
            await expect(page.locator(f'#ecarts li[data-semaine="{week9}"]')).to_contain_text(
                "il manque")
            assert neighbour not in await page.content()

            # refused: a week in the past, said next to the field, the values kept
            past = (this_week - timedelta(weeks=2)).isoformat()
            await page.get_by_label("Première semaine").fill(past)
            await page.get_by_label("Dernière semaine").fill(week9)
            await page.get_by_label("Quantité par semaine").fill("3.5")
            await page.get_by_role("button", name="Enregistrer mon plan").click()
            await expect(page.locator("#refus-debut")).to_contain_text("est passée",
                                                                       timeout=WAIT_MS)
            assert await page.get_by_label("Quantité par semaine").input_value() == "3.5"
            assert await page.get_by_label("Dernière semaine").input_value() == week9
            # accepted, a double click sending it once
            week8 = (this_week + timedelta(weeks=8)).isoformat()
            await page.get_by_label("Première semaine").fill(week8)
            await page.get_by_role("button", name="Enregistrer mon plan").dblclick()
            await expect(page.locator("#plan-etat")).to_have_text("Plan enregistré : 2 semaines.",
                                                                  timeout=WAIT_MS)
            await expect(page.locator("#refus-debut")).to_be_empty()
            assert len(posts) == 2, posts  # the refused one, then the double click's one
            await expect(chart.locator("rect.plan-mien")).to_have_count(2, timeout=WAIT_MS)
            await expect(page.locator(f'#ecarts li[data-semaine="{week9}"]')).to_contain_text(
                "mon plan : 3,5 kg")
            await kept_at_both_widths(page, "season-page")
            assert problems == []

