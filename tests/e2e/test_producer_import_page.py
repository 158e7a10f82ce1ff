"""« Importer mon catalogue DFC » on the producers' page in headless Chromium, on a real gateway
and broker: a producer whose farm sells on another platform (OFN: its own IRIs and skus) picks
a file that is not JSON (refused next to the field, nothing sent), then the platform's export;
the check (a dry run) says in French that its two lines name unknown products; the producer
links each to the Vivres product from its refusal, the check then gives two offers; another
period asks for a new check first; « Importer » publishes them once (a double click) and they
show in « Mes offres », as the API gives them.
axe-core finds no serious violation; screenshots at 1280 px and 390 px wide are kept in
tests/artifacts/producer-import*.png."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import httpx
import pytest
from playwright.async_api import Request, async_playwright, expect

from services.bus.settings import BusSettings
from services.events.auth import Role
from tests.e2e.browser import french_browser, kept_at_both_widths, page_problems
from tests.integration.sales_stack import running_gateway
from tests.integration.test_dfc import foreign_catalog

pytestmark = pytest.mark.integration
WAIT_MS = 30_000


async def test_a_producer_imports_its_dfc_catalog_linking_its_products_from_the_page(
        settings: BusSettings, tmp_path) -> None:
    run = uuid.uuid4().hex[:6]
    territory, farm, carrot = f"import-{run}", f"ferme-ofn-{run}", f"carotte-{run}"
    platform = f"https://ofn-{run}.test/api/dfc"
    iri = f"{platform}/enterprises/{farm}/supplied_products/1"  # the line without a sku
    export = tmp_path / "catalogue-ofn.json"
    export.write_text(json.dumps(foreign_catalog(platform, farm)), encoding="utf-8")
    not_json = tmp_path / "catalogue.pdf"
    not_json.write_bytes(b"%PDF-1.4 not a catalog")
    today = datetime.now(UTC).date()
    async with running_gateway(settings, "producer-import-test") as stack, \
            httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        hub = {"Authorization": f"Bearer {await stack.token(Role.HUB, None)}"}
        token = await stack.token(Role.PRODUCER, farm, territory)
        made = await http.post("/v1/catalog/products", headers=hub, json={
            "product_id": carrot, "name": "Carotte des sables", "unit": "GRAM",
            "category": "legumes"})
        assert made.status_code == 201, made.text

        async with async_playwright() as playwright, \
                french_browser(playwright, tmp_path / "profile", width=1280) as browser:
            page = await browser.new_page()
            problems = page_problems(page)
            posts: list[str] = []

            def count(request: Request) -> None:
                if request.method == "POST" and "/v1/dfc/" in request.url:
                    posts.append(unquote(request.url.split("/v1/dfc/", 1)[1]))
            page.on("request", count)
            loaded = await page.goto(
                f"{stack.url}/producteurs#token={token}&territoire={territory}")
            assert loaded is not None and loaded.ok
            await page.get_by_role("tab", name="Offres et commandes").click()
            await expect(page.locator("#offres-vide")).to_be_visible(timeout=WAIT_MS)
            form = page.locator("#import")
            await expect(page.get_by_label("Territoire de ces offres")).to_have_value(territory)

            # a file that is not JSON: said next to the field, nothing sent
            await page.get_by_label("Fichier du catalogue (JSON-LD)").set_input_files(not_json)
            await page.get_by_role("button", name="Vérifier le catalogue").click()
            await expect(form.locator('[data-champ="fichier"] .erreur-champ')).to_have_text(
                "Ce fichier n'est pas un export DFC : il devrait être en JSON (JSON-LD).")
            assert posts == []

            # the platform's export, checked: both lines name products Vivres does not know
            await page.get_by_label("Fichier du catalogue (JSON-LD)").set_input_files(export)
            await page.get_by_label("Premier jour des offres sans dates").fill(
                today.isoformat())
            await page.get_by_label("Dernier jour des offres sans dates").fill(
                (today + timedelta(days=30)).isoformat())
            await page.get_by_role("button", name="Vérifier le catalogue").click()
            said = form.locator(".annonce")
            await expect(said).to_have_text("Ce catalogue ne donne aucune offre ; 2 lignes "
                                            "refusées, expliquées ci-dessous.", timeout=WAIT_MS)
            refused = form.locator("ul.refusees > li")
            await expect(refused).to_have_count(2)
            await expect(refused.first).to_contain_text("associez sa référence")
            await expect(page.locator("#import-publier")).to_be_hidden()

            # each linked from its refusal, then checked again
            for reference, then in (("CAR-5", "1 offre ; 1 ligne refusée, expliquée "
                                              "ci-dessous."),
                                    (iri, "2 offres.")):
                line = refused.filter(has=page.locator(f'select[data-reference="{reference}"]'))
                await line.get_by_label("Ce produit dans Vivres").select_option(carrot)
                await line.get_by_role("button", name="Associer").click()
                await expect(said).to_have_text(
                    f"Associé : « {reference} » est Carotte des sables. Ce catalogue donne "
                    f"{then}", timeout=WAIT_MS)
            offers = form.locator("#import-resultat li")
            await expect(offers).to_have_count(2)
            await expect(offers.first).to_contain_text("Carotte des sables")
            await expect(form.locator("#import-resultat")).to_contain_text(
                "40 kg par livraison, en colis de 5 kg, 2,30 € le kg")
            await kept_at_both_widths(page, "producer-import")
            await page.set_viewport_size({"width": 1280, "height": 800})

            # another period gives other offers: to be checked again before importing
            await page.get_by_label("Dernier jour des offres sans dates").fill(
                (today + timedelta(days=20)).isoformat())
            await expect(page.locator("#import-publier")).to_be_hidden()
            await expect(form.locator("#import-resultat li")).to_have_count(0)
            await page.get_by_role("button", name="Vérifier le catalogue").click()
            await expect(said).to_have_text("Ce catalogue donne 2 offres.", timeout=WAIT_MS)

            # imported once (a double click), shown in « Mes offres »
            await page.get_by_role("button", name="Importer 2 offres").dblclick()
            await expect(said).to_have_text("Catalogue importé : 2 offres enregistrées, "
                                            "visibles dans « Mes offres ».", timeout=WAIT_MS)
            cards = page.locator("#mes-offres article.offre")
            await expect(cards).to_have_count(2, timeout=WAIT_MS)
            await expect(cards.first).to_contain_text("Carotte des sables")
            catalog = f"producers/{farm}/catalog"
            links = f"producers/{farm}/links"
            assert [re.sub(r"\?.*dry_run=(\w+).*", r" dry_run=\1", p) for p in posts] == [
                f"{catalog} dry_run=true", links, f"{catalog} dry_run=true", links,
                f"{catalog} dry_run=true", f"{catalog} dry_run=true", f"{catalog} dry_run=false"
            ], posts
            assert problems == [], problems

        mine = await http.get("/v1/availability", params={"mine": "true"},
                              headers={"Authorization": f"Bearer {token}"})
        assert mine.status_code == 200, mine.text
        assert sorted((o["product_id"], o["pack_size"], o["price_cents"]) for o in mine.json()
                      ) == [(carrot, 1_000, 320), (carrot, 5_000, 230)]
        listed = await http.get(f"/v1/dfc/producers/{farm}/links", headers=hub)
        assert {(x["reference"], x["product_id"]) for x in listed.json()} == {
            ("CAR-5", carrot), (iri, carrot)}
