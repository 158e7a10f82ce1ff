"""The « Comité de la caisse » page in headless Chromium, on a real gateway and broker with the
caisse service as its own process: a caisse has its rules and one household; its committee opens
the page with its token, enrols a second household, records a decision approving a shop (first
refused, a vote not adopted: the French sentence next to the votes, the values kept), credits
the month after a confirmation (a double click crediting once, and asking again crediting
nobody twice), and, once the shop took a payment at its till, sees the spend in the report's
chart. The treasurer then settles the month and downloads the CSV (fetched with the token,
saved from a Blob under the strict policy): UTF-8 with its byte order mark, the shop's line.
axe-core finds no serious violation; screenshots at 1280 px and 390 px wide are kept in
tests/artifacts/caisse-page*.png."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from services.bus.settings import BusSettings
from services.events.auth import Role
from tests.e2e.browser import (
    kept_at_both_widths,
    accessibility_problems,
    french_browser,
    page_problems,
)
from tests.integration.caisse_support import RULES
from tests.integration.test_caisse_http import post  # asks again on a 504
from tests.integration.sales_stack import running_sales_stack
from tests.support import eventually

pytestmark = pytest.mark.integration
WAIT_MS = 30_000
BOM = b"\xef\xbb\xbf"




async def shop_products(http: httpx.AsyncClient, stack, till: str, shop: str,
                        run: str) -> None:
    """Three products at the shop's till: one local, one organic, one neither."""
    operator = {"Authorization": f"Bearer {await stack.token(Role.OPERATOR, None)}"}
    for code, organic, labels in (("7001", False, ["local"]), ("7002", True, ["ab"]),
                                  ("7003", False, [])):
        product = {"product_id": f"produit-{code}-{run}", "name": f"Produit {code}",
                   "category": "epicerie", "unit": "PIECE", "organic": organic,
                   "labels": labels}
        created = await http.post("/v1/catalog/products", json=product, headers=operator)
        assert created.status_code == 201, created.text
        mapped = await http.post("/v1/catalog/mappings", headers={
            "Authorization": f"Bearer {till}"}, json={
            "shop_id": shop, "code": code, "code_kind": "PLU",
            "product_id": product["product_id"]})
        assert mapped.status_code == 201, mapped.text


def basket(shop: str, card: str) -> dict:
    """A ticket of 23,50 € paid with the caisse: 14,10 € local, 4,70 € organic, 4,70 € other."""
    lines = [("7001", 1_410), ("7002", 470), ("7003", 470)]
    return {"shop_id": shop, "till_id": "t1", "ticket_number": 1,
            "occurred_at": datetime.now(UTC).isoformat(), "timezone": "Europe/Paris",
            "lines": [{"product_code": code, "code_kind": "PLU", "label": f"Produit {code}",
                       "quantity": 1, "unit": "PIECE", "unit_price_cents": paid,
                       "paid_cents": paid} for code, paid in lines],
            "payments": [{"method": "CAISSE", "amount_cents": 2_350, "card_id": card}]}


async def joined(http: httpx.AsyncClient, token: str, month: str) -> bool:
    report = await http.get("/v1/caisse/reports", params={"month": month},
                            headers={"Authorization": f"Bearer {token}"})
    return report.json()["total"]["joined_cents"] == 2_350


async def test_the_committee_credits_the_month_once_and_the_treasurer_downloads_the_csv(
        settings: BusSettings, caisse_service, tmp_path) -> None:
    run = uuid.uuid4().hex[:6]
    caisse, shop = f"caisse-page-{run}", f"epicerie-page-{run}"
    single, family = f"{caisse}-seul", f"{caisse}-famille"
    now = datetime.now(ZoneInfo("Europe/Paris"))
    month, first_day = now.strftime("%Y-%m"), now.strftime("%Y-%m-01")
    next_month = (now.replace(day=1) + timedelta(days=32)).strftime("%Y-%m-01")
    async with running_sales_stack(settings) as stack, \
            httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        committee = await stack.token(Role.COMMITTEE, caisse)
        treasurer = await stack.token(Role.TREASURER, caisse)
        till = await stack.token(Role.SHOP, shop)
        await shop_products(http, stack, till, shop, run)
        await post(http, "/v1/caisse/decisions", committee, {
            "kind": "SET_RULES", "rules": RULES.model_dump(mode="json"),
            "effective_on": "2026-01-01", "votes_for": 9, "votes_against": 1}, expect=201)
        enrolled = await post(http, "/v1/caisse/households", committee, {
            "card_id": single, "adults": 1, "children": 0, "income_band": "T4"})
        assert enrolled["outcome"] == "DONE"  # the caisse service answers: it is up

        async with async_playwright() as playwright, \
                french_browser(playwright, tmp_path / "profile", width=1280) as browser:
            page = await browser.new_page()
            # (the refused decision's 422 is the only failed load the console may show)
            problems = page_problems(page, re.compile(
                r"Failed to load resource: the server responded with a status of 422"))
            credits: list[str] = []
            page.on("request", lambda r: credits.append(r.url) if r.method == "POST" and
                    r.url.endswith("/v1/caisse/credits") else None)
            loaded = await page.goto(f"{stack.url}/caisse#token={committee}")
            assert loaded is not None and loaded.ok
            await expect(page.locator("#qui")).to_contain_text(caisse, timeout=WAIT_MS)
            await expect(page.locator("#qui")).to_contain_text("comité")
            await expect(page.locator(f'#foyers article[data-carte="{single}"]')).to_contain_text(
                "1 adulte, 0 enfant")
            assert committee not in page.url  # the token left the address bar

            # a household enrolled through the form
            await page.locator("#inscrire summary").click()
            await page.get_by_label("Numéro de carte").fill(family)
            await page.get_by_label("Adultes").fill("2")
            await page.get_by_label("Enfants").fill("3")
            await page.get_by_label("Tranche de revenus").fill("T1")
            await page.get_by_role("button", name="Inscrire le foyer").click()
            await expect(page.locator("#form-foyer .annonce")).to_contain_text(
                f"Foyer de la carte {family} enregistré", timeout=WAIT_MS)
            card = page.locator(f'#foyers article[data-carte="{family}"]')
            await expect(card).to_contain_text("2 adultes, 3 enfants")
            await expect(card).to_contain_text("jamais crédité")

            # a decision: refused first (not adopted), said next to the votes, values kept
            await page.locator("#decider summary").click()
            await page.get_by_label("Décision", exact=True).select_option("APPROVE_SHOP")
            await page.get_by_label("Commerce ou producteur").fill(shop)
            await page.get_by_label("Type de commerce").fill("épicerie solidaire")
            await page.get_by_label("En vigueur le").fill(first_day)
            await page.get_by_label("Critères").fill("qualité, prix")
            await page.get_by_label("Pour", exact=True).fill("2")
            await page.get_by_label("Contre", exact=True).fill("14")
            await page.get_by_role("button", name="Enregistrer la décision").click()
            await expect(page.locator("#refus-pour")).to_contain_text(
                "Décision non adoptée : 2 voix pour, 14 contre", timeout=WAIT_MS)
            await expect(page.get_by_label("Pour", exact=True)).to_have_attribute(
                "aria-invalid", "true")
            assert await page.get_by_label("Commerce ou producteur").input_value() == shop
            assert await page.get_by_label("Contre", exact=True).input_value() == "14"
            await page.get_by_label("Pour", exact=True).fill("15")
            await page.get_by_role("button", name="Enregistrer la décision").click()
            await expect(page.locator("#form-decision .annonce")).to_contain_text(
                "Décision enregistrée : Commerce conventionné", timeout=WAIT_MS)
            await expect(page.locator("#refus-pour")).to_be_empty()
            decided = page.locator("#decisions article").filter(has_text=shop)
            await expect(decided).to_contain_text("15 pour, 14 contre, 0 abstention")
            await expect(decided).to_contain_text("épicerie solidaire")

            # new rules from next month, through the form (a capped carry-over needs its cap)
            await page.get_by_label("Décision", exact=True).select_option("SET_RULES")
            await expect(page.get_by_label("Commerce ou producteur")).to_be_hidden()
            await page.get_by_label("Base par foyer").fill("160")
            await page.get_by_label("Par adulte en plus").fill("75,50")
            await page.get_by_label("Par enfant").fill("40")
            await page.get_by_label("Ce qui reste à la fin du mois").select_option("CAPPED")
            await page.get_by_label("En vigueur le").fill(next_month)
            await page.get_by_label("Pour", exact=True).fill("12")
            await page.get_by_label("Contre", exact=True).fill("1")
            await page.get_by_role("button", name="Enregistrer la décision").click()
            await expect(page.locator('[data-champ="carry_over_cap_cents"] .erreur-champ')
                         ).to_have_text("Indiquez le plafond du report.", timeout=WAIT_MS)
            assert await page.get_by_label("Par adulte en plus").input_value() == "75,50"
            await page.get_by_label("Plafond du report").fill("100")
            await page.get_by_role("button", name="Enregistrer la décision").click()
            await expect(page.locator("#form-decision .annonce")).to_contain_text(
                "Décision enregistrée : Règles d'allocation", timeout=WAIT_MS)
            await expect(page.locator("#decisions article").first).to_contain_text(
                re.compile(r"160,00\s€ par foyer, \+ 75,50\s€ par adulte en plus, \+ 40,00\s€ "
                           r"par enfant ; ce qui reste est reporté jusqu'à 100,00\s€"))

            # the month's credit: a confirmation, a double click crediting once
            await expect(page.locator("#credit-resume")).to_contain_text(
                "2 foyers n'ont pas encore reçu l'allocation")
            await page.locator("#crediter").click()
            await expect(page.locator("#confirmer-texte")).to_contain_text("à 2 foyers ?")
            await page.get_by_role("button", name="Oui, créditer").dblclick()
            await expect(page.locator("#credit-annonce")).to_have_text(
                re.compile(r"crédité : 2 foyers, 495,00\s€ en tout\."), timeout=WAIT_MS)
            assert len(credits) == 1, credits
            await expect(page.locator("#confirmer")).to_be_hidden()
            await expect(card.locator(".solde")).to_have_text(re.compile(r"345,00\s€"))
            await expect(page.locator("#credit-resume")).to_contain_text(
                "Tous les foyers ont déjà reçu")
            await expect(page.locator('#cotisations tr[data-tranche="T1"]')).to_contain_text(
                re.compile(r"345,00\s€"))
            # asked again: nobody is credited twice, and the page says so
            await page.locator("#crediter").click()
            await page.get_by_role("button", name="Oui, créditer").click()
            await expect(page.locator("#credit-annonce")).to_contain_text(
                "Déjà crédité : 0 foyer de plus", timeout=WAIT_MS)
            assert len(credits) == 2, credits
            await expect(card.locator(".solde")).to_have_text(re.compile(r"345,00\s€"))

            # the shop takes a payment at its till: the committee sees it in the chart
            sold = await http.post("/v1/sales", headers={"Authorization": f"Bearer {till}"},
                                   json=basket(shop, family))
            assert sold.status_code == 202, sold.text
            paid = await post(http, "/v1/caisse/redemptions", till, {
                "redemption_id": f"page-{run}", "card_id": family, "amount_cents": 2_350,
                "ticket_id": f"{shop}/t1/1"})
            assert paid["outcome"] == "AUTHORIZED", paid
            await eventually(lambda: joined(http, committee, month), timeout=60,
                             what="the ticket joined to the payment in the report")
            await page.get_by_role("button", name="Actualiser").click()
            await expect(page.locator("#g-commerce svg")).to_contain_text(shop, timeout=WAIT_MS)
            await expect(page.locator("#g-commerce svg")).to_contain_text(
                re.compile(r"23,50\s€"))
            await expect(page.locator("#g-type svg")).to_contain_text("épicerie solidaire")
            await expect(page.locator("#g-mois svg g.ligne-graphe")).to_have_count(6)
            await expect(card.locator(".solde")).to_have_text(re.compile(r"321,50\s€"))
            shares = page.locator("#g-part svg g.ligne-graphe")
            await expect(shares.filter(has_text="Produits locaux")).to_contain_text("60 %")
            await expect(shares.filter(has_text="Produits bio")).to_contain_text("20 %")
            await kept_at_both_widths(page, "caisse-page")

            # the treasurer settles the month and downloads the CSV
            # (through the access form: a mistyped token first, said next to the field)
            books = await browser.new_page()
            books_problems = page_problems(books, re.compile(
                r"Failed to load resource: the server responded with a status of 401"))
            await books.goto(f"{stack.url}/caisse")
            await books.get_by_label("Jeton d'accès").fill("vvr_mal-copie")
            await books.get_by_role("button", name="Ouvrir").click()
            await expect(books.locator('[data-champ="jeton"] .erreur-champ')).to_contain_text(
                "Jeton refusé", timeout=WAIT_MS)
            assert await books.get_by_label("Jeton d'accès").input_value() == "vvr_mal-copie"
            await expect(books.get_by_role("button", name="Ouvrir")).to_be_enabled()
            await books.get_by_label("Jeton d'accès").fill(treasurer)
            await books.get_by_label("Jeton d'accès").press("Enter")
            await expect(books.locator("#qui")).to_contain_text("trésorerie", timeout=WAIT_MS)
            await expect(books.locator("#acces")).to_be_hidden()
            await expect(books.locator("#decider")).to_be_hidden()
            await expect(books.locator("#inscrire")).to_be_hidden()
            await books.get_by_role("button", name="Calculer le règlement du mois").click()
            line = books.locator(f'#reglements tr[data-commerce="{shop}"]')
            await expect(line).to_contain_text(re.compile(r"23,50\s€"), timeout=WAIT_MS)
            await expect(books.locator("#reglement-annonce")).to_contain_text(
                "1 commerce")
            async with books.expect_download() as download:
                await books.get_by_role("button", name="Télécharger le CSV").click()
            saved = await (await download.value).path()
            content = saved.read_bytes()
            assert content.startswith(BOM + b"caisse;commerce;mois;"), content[:40]
            assert f"{caisse};{shop};{month};EUR;1;0;2350;0;2350;23,50".encode() in content
            assert "encaissé".encode() in content  # UTF-8, the accents kept
            assert (await download.value).suggested_filename == f"reglements-{caisse}-{month}.csv"
            await expect(books.locator("#reglement-annonce")).to_contain_text("téléchargé")
            assert await accessibility_problems(books) == []
            assert problems == [] and books_problems == []
