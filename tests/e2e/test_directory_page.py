"""The territory's directory page (/annuaire) in headless Chromium, on a real gateway following
the real broker: a hub coordinator opens it with their token, adds a producer (first refused,
its farm placed in Spain: the French sentence next to the latitude, the values kept; then
corrected, a double click sending it once), sees it listed, issues its token (shown once, gone
after a reload), and that token then reads the API. On a phone's width nothing overflows. The
screenshot is kept in tests/artifacts/directory-page.png."""

from __future__ import annotations

import contextlib
import re
import uuid

import httpx
import pytest
from playwright.async_api import Request, async_playwright, expect

from services.bus.settings import BusSettings
from services.events.auth import Role
from tests.e2e.browser import (
    ARTIFACTS,
    accessibility_problems,
    french_browser,
    keep_screenshot,
    page_problems,
)
from tests.integration.sales_stack import running_gateway

pytestmark = pytest.mark.integration

ARTIFACT = ARTIFACTS / "directory-page.png"
PHONE_ARTIFACT = ARTIFACTS / "directory-page-phone.png"
WAIT_MS = 15_000


async def test_a_hub_adds_a_producer_and_issues_its_token_on_the_directory_page(tmp_path) -> None:
    suffix = uuid.uuid4().hex[:6]
    territory, hub, farm = f"annuaire-{suffix}", f"pole-{suffix}", f"ferme-des-pres-{suffix}"
    async with running_gateway(BusSettings(), "directory-page-test") as gateway, \
            httpx.AsyncClient(base_url=gateway.url) as http:
        operator = {"Authorization": f"Bearer {await gateway.token(Role.OPERATOR, None)}"}
        created = [("territories", territory), ("hubs", hub)]
        try:
            for path, body in (
                    ("territories", {"territory_id": territory,
                                     "name": f"Monts du Lyonnais {suffix}"}),
                    ("hubs", {"hub_id": hub, "territory": territory, "name": "Pôle des Monts",
                              "lat_e6": 45_698_000, "lon_e6": 4_573_000,
                              "delivery_weekdays": [2, 5]})):
                answer = await http.post(f"/v1/{path}", json=body, headers=operator)
                assert answer.status_code == 201, answer.text
            answer = await http.post("/v1/tokens", headers=operator,
                                     json={"role": "HUB", "subject": hub, "label": "test"})
            assert answer.status_code == 201, answer.text
            hub_token = answer.json()["token"]
            created.append(("producers", farm))

            async with async_playwright() as playwright, \
                    french_browser(playwright, tmp_path / "profile") as browser:
                await browser.grant_permissions(["clipboard-read", "clipboard-write"],
                                                origin=gateway.url)
                page = await browser.new_page()
                # (the refused attempt's 422 is the only failed load the console may show)
                problems = page_problems(page, re.compile(
                    r"Failed to load resource: the server responded with a status of 422"))
                posts: list[str] = []

                def count(request: Request) -> None:
                    if request.method == "POST" and request.url.endswith("/v1/producers"):
                        posts.append(request.url)
                page.on("request", count)

                loaded = await page.goto(f"{gateway.url}/annuaire")
                assert loaded is not None and loaded.ok
                policy = loaded.headers["content-security-policy"]
                assert "script-src 'sha256-" in policy and "default-src 'none'" in policy
                await expect(page.locator("h1")).to_have_text("Annuaire du territoire")
                assert await page.locator("html").get_attribute("lang") == "fr"

                await page.get_by_label("Votre jeton d'accès").fill(hub_token)
                await page.get_by_role("button", name="Ouvrir").click()
                await expect(page.locator("#territoire")).to_be_enabled(timeout=WAIT_MS)
                await page.get_by_label("Territoire", exact=True).select_option(territory)
                await expect(page.locator(f'#liste-hub article[data-id="{hub}"]')).to_contain_text(
                    "mardi, vendredi", timeout=WAIT_MS)
                await expect(page.locator("#liste-producer")).to_have_text(
                    "Aucun producteur pour l'instant.")

                # a farm placed in Madrid: refused, said in French next to the latitude
                await page.locator("#s-producer").click()
                form = page.locator("#f-producer")
                await form.get_by_label("Identifiant").fill(farm)
                await form.get_by_label("Nom de la ferme").fill("Ferme des Prés")
                await form.get_by_label("Commune").fill("Vaugneray")
                await form.get_by_label("Latitude de la ferme (degrés)").fill("40,4168")
                await form.get_by_label("Longitude de la ferme (degrés)").fill("-3.7038")
                await form.get_by_label("Agriculture biologique").check()
                await form.get_by_label("Labels").fill("nature-progres")
                await expect(form.get_by_label("Territoires servis")).to_have_value(territory)
                await form.get_by_role("button", name="Ajouter").click()
                latitude = form.get_by_label("Latitude de la ferme (degrés)")
                await expect(page.locator("#f-producer-farm_lat_e6-erreur")).to_have_text(
                    "Cet emplacement n'est pas en France : vérifiez la latitude et la longitude, "
                    "en degrés (par exemple 45,764043 et 4,835659).", timeout=WAIT_MS)
                await expect(latitude).to_have_attribute("aria-invalid", "true")
                await expect(latitude).to_be_focused()
                await expect(latitude).to_have_value("40,4168")  # the form keeps its values
                await expect(form.get_by_label("Nom de la ferme")).to_have_value("Ferme des Prés")
                await expect(form.get_by_label("Agriculture biologique")).to_be_checked()
                assert len(posts) == 1

                # corrected, and a double click sends it once
                await latitude.fill("45,7312")
                await form.get_by_label("Longitude de la ferme (degrés)").fill("4,6581")
                await form.get_by_role("button", name="Ajouter").dblclick()
                card = page.locator(f'#liste-producer article[data-id="{farm}"]')
                await expect(card).to_contain_text("Ferme des Prés", timeout=WAIT_MS)
                await expect(card).to_contain_text("45,7312 ; 4,6581")
                await expect(page.locator("#f-producer-annonce")).to_have_text(
                    f"Le producteur « {farm} » est ajouté à l'annuaire. "
                    "Il figure dans la liste ci-dessus.")
                await expect(form.get_by_label("Nom de la ferme")).to_have_value("")  # ready
                await page.wait_for_timeout(600)  # past the button's half second
                assert len(posts) == 2, posts  # the second click of the double click: nothing
                await expect(form.locator(".erreur-champ:not(:empty)")).to_have_count(0)
                await expect(page.locator("#d-territory")).not_to_have_attribute("open", "")
                entry = (await http.get(f"/v1/producers/{farm}", headers=operator)).json()
                assert (entry["farm_lat_e6"], entry["farm_lon_e6"]) == (45_731_200, 4_658_100)
                assert entry["organic"] and entry["labels"] == ["nature-progres"]
                assert entry["territories"] == [territory]

                # its token, shown once with a warning and a copy button
                await card.get_by_role("button", name="Délivrer un jeton").click()
                dialog = page.locator("#delivre")
                await expect(dialog).to_be_visible(timeout=WAIT_MS)
                await expect(dialog).to_contain_text("Ce jeton ne sera plus jamais affiché.")
                token = await dialog.get_by_label("Jeton", exact=True).input_value()
                assert token.startswith("vvr_") and len(token) > 30
                await dialog.get_by_role("button", name="Copier").click()
                await expect(dialog.locator("#copie-faite")).to_have_text("Jeton copié.")
                assert await page.evaluate("navigator.clipboard.readText()") == token
                await dialog.get_by_role("button", name="J'ai copié le jeton, fermer").click()
                await expect(dialog).to_be_hidden()
                assert token not in await page.content()

                assert await accessibility_problems(page) == []
                await keep_screenshot(page, ARTIFACT)

                # a second look: the token is nowhere, the producer still listed
                await page.reload()
                await expect(card).to_be_visible(timeout=WAIT_MS)
                assert token not in await page.content()
                assert token not in await page.evaluate("JSON.stringify(sessionStorage)")

                # on a phone, the cards reflow: nothing wider than the screen
                await page.set_viewport_size({"width": 390, "height": 844})
                await expect(card).to_be_visible()
                assert await page.evaluate(
                    "document.documentElement.scrollWidth") <= 390
                await keep_screenshot(page, PHONE_ARTIFACT, width=390, height=800, size=10_000)
                assert problems == []

            answer = await http.get("/v1/shops", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text
            listed = (await http.get("/v1/tokens", params={"subject": farm},
                                     headers=operator)).json()
            assert len(listed) == 1 and "token" not in listed[0]
        finally:  # closed, so the shared stack's directory lists no test territory
            for path, entry_id in reversed(created):
                with contextlib.suppress(httpx.HTTPError):
                    await http.post(f"/v1/{path}/{entry_id}/close", headers=operator)
