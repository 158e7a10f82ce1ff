"""The DFC routes (services/gateway/dfc.py) on the gateway app with fakes, no broker: what they
answer expands against the shipped context to declared DFC terms (test_dfc's checks); each
token sees what GET /v1/availability and GET /v1/orders would show it; a producer imports its
own DFC catalog only, through the same checks and publication as POST /v1/availability; a
refused offer says why in French and nothing of it is published; a dry run publishes nothing;
a product the catalog names its own way is refused with the reference to link, and once the
producer or the hub links it (POST .../links, on catalog.dfc-links) the import reads it."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from services.auth.tokens import issue
from services.bus.catalog import DFC_LINKS, OFFERS, ORDERS, PRODUCTS, TOKENS
from services.dfc.export import offers_document
from services.dfc.jsonld import expand
from services.dfc.terms import DFC_B, VIVRES, document_context
from services.directory.rules import Directory
from services.events.auth import Role
from services.gateway import dfc
from services.gateway.app import GatewayDeps, create_app
from services.gateway.main import GatewaySettings
from tests.unit.fakes import FakePublisher, FakeRows
from tests.unit.test_dfc import (
    BASE,
    FARM,
    IRIS,
    NOW,
    OFFERS as SAULES_OFFERS,
    PRODUCTS as CATALOG,
    assert_resolves,
    nodes_of,
    offer,
    order,
    value,
)

PUBLIC_URL = BASE.removesuffix("/v1/dfc")  # the IRIs test_dfc's helpers expect
SAULES = "ferme-des-saules"
OTHERS = (offer("plateau-carotte", "carotte", producer_id="gaec-du-plateau"),
          offer("saules-vieille", "carotte", window_start=date(2026, 3, 1),
                window_end=date(2026, 4, 30)))  # its window ended before NOW (4 May)
CATALOG_PATH = f"/v1/dfc/producers/{SAULES}/catalog"


@pytest.fixture
async def http():
    tokens, bearer = FakeRows(TOKENS), {}
    for name, role, subject in (("saules", Role.PRODUCER, SAULES),
                                ("plateau", Role.PRODUCER, "gaec-du-plateau"),
                                ("shop", Role.SHOP, "epi-vaise"),
                                ("other shop", Role.SHOP, "epi-croix-rousse"),
                                ("committee", Role.COMMITTEE, "caisse-lyon"),
                                ("hub", Role.HUB, "pole-lyon"),
                                ("operator", Role.OPERATOR, None)):
        token, event = issue(role, subject, name, NOW)
        tokens.put(event)
        bearer[name] = {"Authorization": f"Bearer {token}"}
    publisher = FakePublisher()
    deps = GatewayDeps(publisher, tokens, FakeRows(PRODUCTS, CATALOG.values()), {}, {}, {},
                       FakeRows(OFFERS, (*SAULES_OFFERS, *OTHERS)), FakeRows(ORDERS, [order()]),
                       directory=Directory(producers={SAULES: FARM}), clock=lambda: NOW,
                       public_url=PUBLIC_URL, dfc_links=FakeRows(DFC_LINKS))
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.bearer, client.publisher, client.deps = bearer, publisher, deps
        yield client


def jsonld(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/ld+json"
    document = answer.json()
    assert_resolves(document)
    return document


async def saules_catalog(http) -> dict[str, Any]:
    return jsonld(await http.get(CATALOG_PATH, headers=http.bearer["shop"]))


async def send(http, document: Any, who: str = "saules", **params: Any) -> httpx.Response:
    return await http.post(CATALOG_PATH, headers=http.bearer[who], params=params,
                           content=json.dumps(document))


def published(http) -> list[Any]:
    return [sent.event for sent in http.publisher.sent(OFFERS)]


# --- export ----------------------------------------------------------------------------------

async def test_the_catalog_and_the_vocabulary_are_public(http) -> None:
    document = jsonld(await http.get("/v1/dfc/products"))
    assert {n["@id"] for n in nodes_of(document, "SuppliedProduct")} == {
        f"{BASE}/products/{product_id}" for product_id in CATALOG}
    eggs = jsonld(await http.get("/v1/dfc/products", params={"category": "oeufs"}))
    assert [n["@id"] for n in nodes_of(eggs, "SuppliedProduct")] == [
        f"{BASE}/products/oeufs-bio-6"]
    one = jsonld(await http.get("/v1/dfc/products/carotte"))
    assert value(nodes_of(one, "SuppliedProduct")[0], DFC_B + "name") == "Carotte"
    missing = await http.get("/v1/dfc/products/panais")
    assert missing.status_code == 404 and "panais" in missing.json()["detail"][0]["fr"]
    vocabulary = await http.get("/v1/dfc/ns")
    assert vocabulary.headers["content-type"] == "application/ld+json"
    assert VIVRES + "quantityPerSlot" in {n["@id"] for n in expand(vocabulary.json())}


async def test_a_producer_s_catalog_is_its_current_offers_for_any_token(http) -> None:
    assert (await http.get(CATALOG_PATH)).status_code == 401
    document = await saules_catalog(http)
    assert sorted(value(n, DFC_B + "sku") for n in nodes_of(document, "CatalogItem")) == [
        "saules-carotte", "saules-huile", "saules-oeufs"]  # not the ended one, nor another's
    [farm] = nodes_of(document, "Enterprise")
    assert value(farm, DFC_B + "name") == "Ferme des Saules"
    assert document == jsonld(await http.get(CATALOG_PATH, headers=http.bearer["committee"]))
    elsewhere = jsonld(await http.get(CATALOG_PATH, params={"territory": "marseille"},
                                      headers=http.bearer["shop"]))
    assert nodes_of(elsewhere, "Offer") == []
    unknown = await http.get("/v1/dfc/producers/ferme-inconnue/catalog",
                             headers=http.bearer["shop"])
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["fr"]


async def test_orders_are_seen_as_get_v1_orders_shows_them(http) -> None:
    [mine] = nodes_of(jsonld(await http.get("/v1/dfc/orders",
                                            headers=http.bearer["saules"])), "Order")
    assert value(mine, DFC_B + "orderNumber") == order().order_id
    for who, count in (("shop", 1), ("operator", 1), ("plateau", 0), ("other shop", 0)):
        document = jsonld(await http.get("/v1/dfc/orders", headers=http.bearer[who]))
        assert len(nodes_of(document, "Order")) == count, who
    assert (await http.get("/v1/dfc/orders", headers=http.bearer["committee"])).status_code \
        == 403
    path = f"/v1/dfc/orders/{order().order_id}"  # the order's own IRI, under the public URL
    assert mine["@id"] == f"{PUBLIC_URL}{path}"
    assert nodes_of(jsonld(await http.get(path, headers=http.bearer["shop"])), "OrderLine")
    for who, status in (("plateau", 404), ("other shop", 404), ("committee", 403)):
        assert (await http.get(path, headers=http.bearer[who])).status_code == status, who
    assert (await http.get("/v1/dfc/orders/nulle-part",
                           headers=http.bearer["operator"])).status_code == 404


# --- import ----------------------------------------------------------------------------------

async def test_a_producer_s_own_export_imports_back_as_the_same_offers(http) -> None:
    before = {o.offer_id: o for o in SAULES_OFFERS}
    answer = await send(http, await saules_catalog(http))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert sorted(body["declared"]) == sorted(before)
    assert body["rejected"] == [] and body["unknown_terms"] == [] and not body["dry_run"]
    events = published(http)
    assert sorted(e.offer_id for e in events) == sorted(before)
    for event in events:  # the same offer, declared again now
        assert event == before[event.offer_id].model_copy(update={"declared_at": NOW})
        assert http.deps.offers[event.offer_id] is event  # read your own writes, as declare


async def test_a_producer_cannot_import_into_another_s_catalog(http) -> None:
    document = await saules_catalog(http)
    for who in ("plateau", "shop", "operator"):
        assert (await send(http, document, who)).status_code == 403, who
    assert (await http.post(CATALOG_PATH, json=document)).status_code == 401
    assert published(http) == []


def _catalog(*offers: dict[str, Any]) -> dict[str, Any]:
    """A catalog from another platform: per offer a product, an item with its sku, an offer."""
    graph: list[dict[str, Any]] = []
    for n, item in enumerate(offers):
        here = f"https://ofn.test/7/{n}"
        graph += [
            {"@id": f"{here}/sp", "@type": "dfc-b:SuppliedProduct", "dfc-b:name": item["name"],
             "dfc-b:hasQuantity": {"@type": "dfc-b:QuantitativeValue",
                                   "dfc-b:hasUnit": "dfc-m:Kilogram", "dfc-b:value": 5},
             **({"vivres:label": item["label"]} if "label" in item else {})},
            {"@id": f"{here}/ci", "@type": "dfc-b:CatalogItem", "dfc-b:sku": item["sku"],
             "dfc-b:references": f"{here}/sp", "dfc-b:offeredThrough": f"{here}/o"},
            {"@id": f"{here}/o", "@type": "dfc-b:Offer", "dfc-b:stockLimitation": 12,
             "dfc-b:hasPrice": {"@type": "dfc-b:Price", "dfc-b:value": 11.5,
                                "dfc-b:hasUnit": "dfc-m:Euro"}}]
    return {"@context": document_context(), "@graph": graph}  # DFC's, and the vivres: prefix


MAY = {"window_start": "2026-05-01", "window_end": "2026-05-31"}


async def test_a_sku_that_is_a_vivres_product_id_names_the_product(http) -> None:
    answer = await send(http, _catalog({"name": "Carottes 5 kg", "sku": "carotte"}), **MAY)
    assert answer.status_code == 200, answer.text
    [carrot] = published(http)
    assert (carrot.product_id, carrot.territory, carrot.pack_size, carrot.price_cents,
            carrot.quantity_per_slot) == ("carotte", "lyon", 5_000, 230, 60_000)
    assert (carrot.farm_lat_e6, carrot.farm_lon_e6) == (FARM.farm_lat_e6, FARM.farm_lon_e6)
    assert (carrot.window_start, carrot.window_end) == (date(2026, 5, 1), date(2026, 5, 31))
    assert answer.json()["declared"] == [carrot.offer_id]
    again = await send(http, _catalog({"name": "Carottes 5 kg", "sku": "carotte"}), **MAY)
    assert again.json()["declared"] == [carrot.offer_id]  # the same catalog: the same offer


async def test_a_refused_offer_says_why_in_french_and_is_not_published(http) -> None:
    answer = await send(http, _catalog({"name": "Carottes 5 kg", "sku": "carotte"},
                                       {"name": "Radis rose", "sku": "RAD-1"}), **MAY)
    assert answer.status_code == 200, answer.text
    [radish] = answer.json()["rejected"]
    assert radish["iri"] == "https://ofn.test/7/1/o"
    assert "Radis rose" in radish["fr"] and "inconnu du catalogue" in radish["fr"]
    assert [e.product_id for e in published(http)] == ["carotte"]


async def test_an_offer_post_v1_availability_would_refuse_is_refused_here_too(http) -> None:
    # the importer reads it; OfferIn (the route's model) takes no label that is not a slug
    answer = await send(http, _catalog({"name": "Carottes", "sku": "carotte",
                                        "label": "Bio Cohérence"}), **MAY)
    [refusal] = answer.json()["rejected"]
    assert refusal["msg"].startswith("labels:") and refusal["iri"] == "https://ofn.test/7/0/o"
    assert refusal["fr"] == "Offre refusée : les labels ne convient pas à Vivres."
    assert answer.json()["declared"] == [] and published(http) == []


async def test_a_dry_run_reads_and_checks_but_publishes_nothing(http) -> None:
    answer = await send(http, _catalog({"name": "Carottes", "sku": "carotte"}), **MAY,
                        dry_run="true")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["dry_run"] and len(body["declared"]) == len(body["offers"]) == 1
    assert published(http) == [] and body["declared"][0] not in http.deps.offers


async def test_the_territory_and_the_window_come_from_the_query_or_the_directory(http) -> None:
    document = _catalog({"name": "Carottes", "sku": "carotte"})
    [declared] = (await send(http, document, territory="vienne", **MAY)).json()["offers"]
    assert declared["territory"] == "vienne"
    no_window = (await send(http, document)).json()["rejected"]
    assert "Période de disponibilité absente" in no_window[0]["fr"]
    half = await send(http, document, window_start="2026-05-01")
    assert half.status_code == 422 and half.json()["detail"][0]["loc"] == ["query",
                                                                           "window_end"]
    backwards = await send(http, document, window_start="2026-05-31", window_end="2026-05-01")
    assert backwards.status_code == 422
    http.deps.directory = Directory(producers={SAULES: FARM.model_copy(
        update={"territories": ("lyon", "vienne")})})
    several = await send(http, document, **MAY)
    assert several.status_code == 422
    assert several.json()["detail"][0]["loc"] == ["query", "territory"]
    assert "territoire" in several.json()["detail"][0]["fr"]


@pytest.mark.parametrize(("content", "status", "kind"), [
    (b"not json", 400, "json_invalid"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "json_invalid"),  # nested too deep
    (b'"https://evil.test/catalog.jsonld"', 422, "not_dfc"),
    (json.dumps({"@context": "https://evil.test/c.json", "@graph": []}).encode(), 422,
     "not_dfc"),
    (json.dumps({"@included": True, "@context": []}).encode(), 422, "not_dfc"),  # PyLD: TypeError
    (b" " * (dfc.MAX_BODY + 1), 413, "too_large"),
])
async def test_a_body_that_is_no_dfc_catalog_is_refused_whole(http, content, status,
                                                               kind) -> None:
    answer = await http.post(CATALOG_PATH, headers=http.bearer["saules"], content=content)
    assert answer.status_code == status, answer.text
    [problem] = answer.json()["detail"]
    assert problem["type"] == kind and problem["loc"] == ["body"] and problem["fr"]
    assert published(http) == []


async def test_a_catalog_of_too_many_offers_is_refused_whole(http, monkeypatch) -> None:
    monkeypatch.setattr(dfc, "MAX_OFFERS", 1)
    answer = await send(http, _catalog({"name": "Carottes", "sku": "carotte"},
                                       {"name": "Radis", "sku": "radis"}), **MAY)
    assert answer.status_code == 413 and answer.json()["detail"][0]["type"] == "too_many"
    assert published(http) == []


async def test_what_a_catalog_echoes_back_is_valid_utf_8(http) -> None:
    document = _catalog({"name": "Carottes", "sku": "carotte"})
    item, sale = document["@graph"][1:]
    item["dfc-b:offeredThrough"] = sale["@id"] = "https://ofn.test/\ud800"  # from a \ud800
    sale["dfc-b:stockLimitation"] = 1e300  # beyond any quantity: not read as one
    answer = await http.post(CATALOG_PATH, headers=http.bearer["saules"], params=MAY,
                             content=json.dumps(document))  # ensure_ascii: sent as an escape
    assert answer.status_code == 200, answer.text
    [refusal] = answer.json()["rejected"]
    assert refusal["iri"] == "https://ofn.test/?" and "stockLimitation" in refusal["msg"]


async def test_another_producer_s_vivres_offers_are_refused_not_taken_over(http) -> None:
    theirs = offers_document(IRIS, "gaec-du-plateau", OTHERS[:1], CATALOG)
    answer = await send(http, theirs)
    assert [r["msg"] for r in answer.json()["rejected"]] == ["another producer's Vivres offer"]
    assert published(http) == []


# --- links ---------------------------------------------------------------------------------

LINKS_PATH = f"/v1/dfc/producers/{SAULES}/links"


async def link(http, reference: str, product_id: str = "carotte", who: str = "hub",
               path: str = LINKS_PATH) -> httpx.Response:
    return await http.post(path, headers=http.bearer.get(who, {}),
                           json={"reference": reference, "product_id": product_id})


async def test_a_product_named_the_producer_s_way_is_read_once_the_hub_links_it(http) -> None:
    document = _catalog({"name": "Carottes de Brindas", "sku": "CAR-BRI-5"})
    [refusal] = (await send(http, document, **MAY)).json()["rejected"]
    assert refusal["reference"] == "CAR-BRI-5"  # what to link, as the French says
    assert "« CAR-BRI-5 »" in refusal["fr"] and "associez" in refusal["fr"]
    assert "link its reference 'CAR-BRI-5'" in refusal["msg"] and LINKS_PATH in refusal["msg"]

    made = await link(http, "CAR-BRI-5")
    assert made.status_code == 201, made.text
    assert made.json() | {"linked_at": None} == {"producer_id": SAULES, "reference": "CAR-BRI-5",
                                                 "product_id": "carotte", "linked_at": None}
    [sent] = http.publisher.sent(DFC_LINKS)
    assert sent.key == f"{SAULES}/CAR-BRI-5" and sent.event.linked_at == NOW
    assert http.deps.dfc_links[sent.key] is sent.event  # read your own writes

    answer = (await send(http, document, **MAY)).json()
    assert answer["rejected"] == [] and [o["product_id"] for o in answer["offers"]] == [
        "carotte"]
    assert [e.product_id for e in published(http)] == ["carotte"]
    for who in ("saules", "hub", "operator"):
        listed = await http.get(LINKS_PATH, headers=http.bearer[who])
        assert listed.status_code == 200 and listed.json() == [made.json()], who


async def test_the_producer_links_by_its_own_iris_and_a_link_is_replaced(http) -> None:
    document = _catalog({"name": "Carottes", "sku": "carotte"})  # a Vivres id: read as carotte
    item = "https://ofn.test/7/0/ci"
    assert (await link(http, item, "savon", who="saules")).status_code == 201
    assert (await send(http, document, **MAY, dry_run="true")).json()["rejected"][0][
        "msg"].startswith("pack in")  # the link wins over the sku: a savon is in pieces
    assert (await link(http, item, "carotte", who="saules")).status_code == 201
    [declared] = (await send(http, document, **MAY, dry_run="true")).json()["offers"]
    assert declared["product_id"] == "carotte"
    [kept] = (await http.get(LINKS_PATH, headers=http.bearer["saules"])).json()
    assert (kept["reference"], kept["product_id"]) == (item, "carotte")  # one per reference


async def test_only_the_producer_the_hub_or_an_operator_links_and_reads_links(http) -> None:
    for who in ("plateau", "shop", "committee"):
        assert (await link(http, "CAR-BRI-5", who=who)).status_code == 403, who
        assert (await http.get(LINKS_PATH, headers=http.bearer[who])).status_code == 403, who
    assert (await link(http, "CAR-BRI-5", who="nobody")).status_code == 401
    assert (await http.get(LINKS_PATH)).status_code == 401
    assert http.publisher.sent(DFC_LINKS) == []


async def test_another_producer_s_links_do_not_name_this_producer_s_products(http) -> None:
    plateau = "/v1/dfc/producers/gaec-du-plateau/links"
    http.deps.directory = Directory(producers={SAULES: FARM, "gaec-du-plateau": FARM.model_copy(
        update={"producer_id": "gaec-du-plateau"})})
    assert (await link(http, "CAR-BRI-5", who="plateau", path=plateau)).status_code == 201
    answer = (await send(http, _catalog({"name": "Carottes", "sku": "CAR-BRI-5"}), **MAY)).json()
    assert answer["declared"] == [] and answer["rejected"][0]["reference"] == "CAR-BRI-5"
    assert (await http.get(LINKS_PATH, headers=http.bearer["saules"])).json() == []


@pytest.mark.parametrize(("body", "where"), [
    ({"reference": "CAR-BRI-5", "product_id": "panais"}, "product_id"),  # not in the catalog
    ({"reference": "", "product_id": "carotte"}, "reference"),
    ({"reference": "x" * 501, "product_id": "carotte"}, "reference"),
    ({"reference": "CAR-BRI-5", "product_id": "Carotte !"}, "product_id"),
    ({"reference": "CAR-BRI-5"}, "product_id"),
])
async def test_a_link_to_what_vivres_cannot_read_is_refused(http, body, where) -> None:
    answer = await http.post(LINKS_PATH, headers=http.bearer["hub"], json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", where]
    assert http.publisher.sent(DFC_LINKS) == []


async def test_an_unknown_product_is_refused_in_french(http) -> None:
    answer = await link(http, "CAR-BRI-5", "panais")
    [problem] = answer.json()["detail"]
    assert problem["fr"] == "Aucun produit « panais » dans le catalogue de Vivres."


async def test_links_of_a_producer_the_directory_does_not_know_are_404(http) -> None:
    path = "/v1/dfc/producers/ferme-inconnue/links"
    for answer in (await link(http, "CAR-BRI-5", path=path),
                   await http.get(path, headers=http.bearer["hub"])):
        assert answer.status_code == 404 and "ferme-inconnue" in answer.json()["detail"][0]["fr"]
    assert http.publisher.sent(DFC_LINKS) == []


# --- the setting -----------------------------------------------------------------------------

def test_the_public_url_defaults_to_where_the_gateway_listens(monkeypatch) -> None:
    for name in ("VIVRES_PUBLIC_URL", "VIVRES_HTTP_HOST", "VIVRES_HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert GatewaySettings().base_url() == "http://127.0.0.1:8080"
    monkeypatch.setenv("VIVRES_HTTP_HOST", "0.0.0.0")  # a container: every address
    monkeypatch.setenv("VIVRES_HTTP_PORT", "18080")
    assert GatewaySettings().base_url() == "http://127.0.0.1:18080"
    monkeypatch.setenv("VIVRES_PUBLIC_URL", "https://vivres.example.org/api/")
    assert GatewaySettings().base_url() == "https://vivres.example.org/api"
    for wrong in ("vivres.example.org", "ftp://x", "https://x/?a=1"):
        monkeypatch.setenv("VIVRES_PUBLIC_URL", wrong)
        with pytest.raises(ValidationError):
            GatewaySettings()
