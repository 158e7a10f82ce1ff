"""DFC interop on hand-made catalogs: what Vivres writes expands, against the shipped context
only, to terms the DFC ontology 1.16.0 and taxonomies declare (or to the documented `vivres:`
extension); a producer's DFC catalog, shaped as OFN and the connectors write it, reads back as
offers, and what cannot be read is refused saying why."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

import pytest

from services.dfc.export import (
    Iris,
    catalog_document,
    offers_document,
    orders_document,
    pack_price_euros,
    pack_text,
    signals_document,
)
from services.dfc.importer import Imported, Target, offers_from_catalog
from services.dfc.jsonld import CONTEXT_URLS, ContextRefused, expand, flatten
from services.dfc.terms import (
    DFC_B,
    DFC_F,
    DFC_M,
    DFC_PT,
    DFC_V,
    VIVRES,
    VIVRES_CLASSES,
    VIVRES_TERMS,
    XSD,
    dfc_terms,
)
from services.dfc.vocab import vocabulary_document
from services.events.catalog import ProductDefined
from services.events.demand import DayForecast, DaySold, DemandSignalRecorded
from services.events.directory import ProducerRegistered
from services.events.orders import (
    ActorRole,
    Candidate,
    OrderLine,
    OrderRecorded,
    OrderStatus,
    ShopPart,
    Step,
)
from services.events.sales import QuantityUnit
from services.events.supply import OfferDeclared

BASE = "https://vivres.test/v1/dfc"
IRIS = Iris(BASE)
NOW = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)
G, ML, PC = QuantityUnit.GRAM, QuantityUnit.MILLILITRE, QuantityUnit.PIECE

PRODUCTS = {p.product_id: p for p in (
    ProductDefined(product_id="carotte", name="Carotte", category="legumes", unit=G,
                   organic=False, labels=(), defined_at=NOW),
    ProductDefined(product_id="oeufs-bio-6", name="Œufs bio x6", category="oeufs", unit=PC,
                   organic=True, labels=("ab",), defined_at=NOW),
    ProductDefined(product_id="huile-olive-vrac", name="Huile d'olive vrac", category="epicerie",
                   unit=ML, organic=False, labels=("aop", "moulin-local"), defined_at=NOW),
    ProductDefined(product_id="savon", name="Savon de Marseille", category="savonnerie",
                   unit=PC, organic=False, labels=(), defined_at=NOW),
)}
FARM = ProducerRegistered(producer_id="ferme-des-saules", farm_name="Ferme des Saules",
                          commune="Brindas", farm_lat_e6=45_720_300, farm_lon_e6=4_693_900,
                          organic=True, labels=("hve",), territories=("lyon",),
                          recorded_at=NOW)


def offer(offer_id: str, product_id: str, **changes: Any) -> OfferDeclared:
    fields: dict[str, Any] = dict(
        offer_id=offer_id, producer_id="ferme-des-saules", territory="lyon",
        product_id=product_id, unit=PRODUCTS[product_id].unit, quantity_per_slot=60_000,
        pack_size=5_000, price_cents=220, window_start=date(2026, 5, 1),
        window_end=date(2026, 6, 30), organic=False, labels=(), farm_lat_e6=45_720_300,
        farm_lon_e6=4_693_900, declared_at=NOW)
    return OfferDeclared(**(fields | changes))


OFFERS = (
    offer("saules-carotte", "carotte", organic=True, labels=("hve", "local-et-solidaire")),
    offer("saules-oeufs", "oeufs-bio-6", quantity_per_slot=40, pack_size=10, price_cents=330,
          organic=True),
    offer("saules-huile", "huile-olive-vrac", quantity_per_slot=20_000, pack_size=1_500,
          price_cents=1_199, labels=("aop",), withdrawn=True),
)


def order() -> OrderRecorded:
    step = Step(status=OrderStatus.ALLOCATED, at=NOW, actor_role=ActorRole.HUB,
                actor_id="lyon", command_id="cmd-1")
    candidates = (
        Candidate(rank=1, producer_id="ferme-des-saules", offer_id="saules-carotte", quality=80,
                  locality=92, accessibility=100, total=89, distance_m=19_800,
                  unit_price_cents=220, organic=True, labels_counted=("hve",),
                  cheapest_price_cents=220, capacity=60_000,
                  explanation="bio (+60), HVE (+20) ; 20 km du pôle ; 2,20 €/kg, le moins cher"),
        Candidate(rank=2, producer_id="gaec-du-plateau", offer_id="plateau-carotte", quality=0,
                  locality=70, accessibility=85, total=46, distance_m=75_000,
                  unit_price_cents=260, organic=False, labels_counted=(),
                  cheapest_price_cents=220, capacity=100_000,
                  explanation="ni bio ni label reconnu ; 75 km du pôle ; 2,60 €/kg, "
                              "+18 % sur le moins cher"),
    )
    line = OrderLine(product_id="carotte", offer_id="saules-carotte", unit=G, pack_size=5_000,
                     packs=3, requested=13_500, unit_price_cents=220,
                     parts=(ShopPart(need_id="need-1", shop_id="epicerie-guillotiere",
                                     quantity=8_000),
                            ShopPart(need_id="need-2", shop_id="epi-vaise", quantity=5_500)),
                     candidates=candidates)
    return OrderRecorded(order_id="lyon/2026-05-12/cmd-1/ferme-des-saules", territory="lyon",
                         producer_id="ferme-des-saules", delivery_slot=date(2026, 5, 12),
                         hub_lat_e6=45_750_000, hub_lon_e6=4_850_000,
                         status=OrderStatus.ALLOCATED, lines=(line,), history=(step,),
                         received_by=(), refused_by=(), recorded_at=NOW)


def signal() -> DemandSignalRecorded:
    return DemandSignalRecorded(
        territory="lyon", product_id="carotte", day=date(2026, 5, 4),
        sold=(DaySold(day=date(2026, 5, 3), units=9_000),), velocity_7d=8_200.0, trend=0.04,
        on_hand=12_000, days_of_cover=1.5, stockout_days_7d=1,
        forecast=(DayForecast(day=date(2026, 5, 5), mean=8_400.0, p10=6_000.0, p90=11_000.0),),
        forecast_7d=58_000.0, forecast_7d_p10=45_000.0, forecast_7d_p90=70_000.0,
        forecast_14d=116_000.0, forecast_14d_p10=90_000.0, forecast_14d_p90=140_000.0,
        committed_supply_7d=40_000, supply_gap_7d=18_000.0, computed_at=NOW)


def target(**changes: Any) -> Target:
    fields: dict[str, Any] = dict(producer_id="ferme-des-saules", territory="lyon",
                                  products=PRODUCTS, now=NOW, iris=IRIS)
    return Target(**(fields | changes))


# --- what the expanded documents say ---------------------------------------------------------

def walk(expanded: Any) -> tuple[set[str], set[str], dict[str, set[str]]]:
    """Every property IRI, every class IRI, and the IRIs each property points to."""
    properties: set[str] = set()
    classes: set[str] = set()
    targets: dict[str, set[str]] = {}

    def visit(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                visit(item)
        elif isinstance(value, dict) and "@value" not in value:
            for key, inner in value.items():
                if key == "@type":
                    classes.update(inner if isinstance(inner, list) else [inner])
                elif not key.startswith("@"):
                    properties.add(key)
                    for item in inner if isinstance(inner, list) else [inner]:
                        if isinstance(item, dict) and "@id" in item:
                            targets.setdefault(key, set()).add(item["@id"])
                    visit(inner)

    visit(expanded)
    return properties, classes, targets


TAXONOMY = {  # which object property takes concepts of which taxonomy
    "hasUnit": (DFC_M, "measures"), "hasType": (DFC_PT, "productTypes"),
    "hasCertification": (DFC_F, "facets"), "hasOrderStatus": (DFC_V, "vocabulary"),
    "hasFulfilmentStatus": (DFC_V, "vocabulary"),
}


def assert_resolves(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document expands with the shipped context only, and every term it uses is a DFC
    ontology 1.16.0 term (or `offeredItem`, which the connectors and OFN write), a documented
    `vivres:` term, or a taxonomy concept where DFC wants one."""
    expanded = expand(document)
    properties, classes, targets = walk(expanded)
    declared = dfc_terms()
    for iri in properties:
        if iri.startswith(DFC_B):
            assert iri[len(DFC_B):] in declared["business"] | {"offeredItem"}, iri
        else:
            assert iri.startswith(VIVRES) and iri[len(VIVRES):] in VIVRES_TERMS, iri
    for iri in classes:
        if iri.startswith(DFC_B):
            assert iri[len(DFC_B):] in declared["business"], iri
        else:
            assert iri.startswith(VIVRES) and iri[len(VIVRES):] in VIVRES_CLASSES, iri
    for name, (namespace, taxonomy) in TAXONOMY.items():
        for iri in targets.get(DFC_B + name, ()):
            assert iri.startswith(namespace) and iri[len(namespace):] in declared[taxonomy], iri
    return expanded


def nodes_of(document: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [n for n in flatten(document) if DFC_B + name in n.get("@type", ())
            or VIVRES + name in n.get("@type", ())]


def value(node: dict[str, Any], iri: str) -> Any:
    [item] = node[iri]
    return item.get("@value", item.get("@id"))


# --- the shipped context and its loader ------------------------------------------------------

def test_the_shipped_context_is_dfc_1_16_0_as_published():
    raw = (resources.files("services.dfc") / "context/context_1.16.0.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == (
        "8a434d77b70c0dd13da791178684ecc5c9b0b80c88145795f744777a0a935acb")
    context = json.loads(raw)["@context"]
    assert (context["dfc-b"], context["dfc-m"], context["dfc-pt"], context["dfc-f"],
            context["dfc-v"]) == (DFC_B, DFC_M, DFC_PT, DFC_F, DFC_V)


@pytest.mark.parametrize("url", CONTEXT_URLS)
def test_every_dfc_context_url_is_answered_from_the_shipped_file(url):
    [node] = expand({"@context": url, "@id": "https://x.test/p", "@type": "dfc-b:SuppliedProduct",
                     "dfc-b:hasUnit": "dfc-m:Kilogram"})
    assert node["@type"] == [DFC_B + "SuppliedProduct"]
    assert node[DFC_B + "hasUnit"] == [{"@id": DFC_M + "Kilogram"}]


@pytest.mark.parametrize("context", [
    "https://evil.test/context.json",
    "http://127.0.0.1:8081/context.json",
    ["https://w3id.org/dfc/ontology/context/context_1.16.0.json", "file:///etc/passwd"],
])
def test_no_other_context_is_ever_fetched(context):
    with pytest.raises(ContextRefused, match="not shipped"):
        expand({"@context": context, "@id": "https://x.test/p", "dfc-b:name": "x"})


def test_a_string_is_not_taken_for_a_url_to_load():
    with pytest.raises(ContextRefused):
        expand("https://evil.test/catalog.jsonld")


# --- export ----------------------------------------------------------------------------------

def test_the_catalog_exports_as_supplied_products_typed_by_dfc_product_types():
    document = catalog_document(IRIS, PRODUCTS.values())
    assert_resolves(document)
    by_id = {n["@id"]: n for n in nodes_of(document, "SuppliedProduct")}
    carrot = by_id[f"{BASE}/products/carotte"]
    assert value(carrot, DFC_B + "name") == "Carotte"
    assert value(carrot, DFC_B + "hasType") == DFC_PT + "vegetable"
    eggs = by_id[f"{BASE}/products/oeufs-bio-6"]
    assert value(eggs, DFC_B + "hasCertification") == DFC_F + "Organic-AB"
    oil = by_id[f"{BASE}/products/huile-olive-vrac"]
    assert value(oil, DFC_B + "hasCertification") == DFC_F + "AOP_EU"
    assert {v["@value"] for v in oil[VIVRES + "label"]} == {"moulin-local"}
    soap = by_id[f"{BASE}/products/savon"]  # a category DFC has no type for: none is guessed
    assert DFC_B + "hasType" not in soap
    assert value(soap, VIVRES + "category") == "savonnerie"


def test_offers_export_as_ofn_shapes_a_catalog():
    document = offers_document(IRIS, "ferme-des-saules", OFFERS, PRODUCTS, FARM)
    assert_resolves(document)
    [farm] = nodes_of(document, "Enterprise")
    assert value(farm, DFC_B + "name") == "Ferme des Saules"
    assert len(farm[DFC_B + "supplies"]) == len(farm[DFC_B + "manages"]) == 3
    items = {n["@id"]: n for n in nodes_of(document, "CatalogItem")}
    offers = {n["@id"]: n for n in nodes_of(document, "Offer")}
    carrot_item = items[f"{BASE}/producers/ferme-des-saules/catalog-items/saules-carotte"]
    assert value(carrot_item, DFC_B + "sku") == "saules-carotte"
    assert value(carrot_item, DFC_B + "stockLimitation") == 12  # 60 kg a slot in 5 kg crates
    carrot = offers[value(carrot_item, DFC_B + "offeredThrough")]
    price_node = next(n for n in flatten(document)
                      if n["@id"] == carrot[DFC_B + "hasPrice"][0]["@id"])
    assert value(price_node, DFC_B + "value") == 11.0  # 2,20 €/kg × 5 kg
    assert value(price_node, DFC_B + "hasUnit") == DFC_M + "Euro"
    assert value(carrot, VIVRES + "unitPriceCents") == 220
    assert carrot[VIVRES + "availableFrom"] == [{"@value": "2026-05-01", "@type": XSD + "date"}]
    oil = offers[f"{BASE}/producers/ferme-des-saules/offers/saules-huile"]
    assert value(oil, DFC_B + "stockLimitation") == 0  # withdrawn: nothing left to order
    assert value(oil, VIVRES + "withdrawn") is True


def test_a_producer_s_export_holds_its_own_offers_only():
    other = offer("plateau-carotte", "carotte", producer_id="gaec-du-plateau")
    document = offers_document(IRIS, "ferme-des-saules", (*OFFERS, other), PRODUCTS, FARM)
    assert "plateau" not in json.dumps(document)


def test_pack_prices_and_names_read_as_a_producer_would_write_them():
    assert pack_price_euros(G, 220, 5_000) == 11.0
    assert pack_price_euros(ML, 1_199, 1_500) == 17.99  # 17,985 rounded half up
    assert pack_price_euros(PC, 330, 10) == 33.0
    assert [pack_text(G, 5_000), pack_text(G, 750), pack_text(ML, 1_500), pack_text(PC, 1),
            pack_text(PC, 6)] == ["5 kg", "750 g", "1,5 L", "1 pièce", "6 pièces"]


def test_a_pooled_order_exports_as_an_order_with_its_lines_parts_and_grid():
    document = orders_document(IRIS, [order()], PRODUCTS)
    assert_resolves(document)
    [dfc_order] = nodes_of(document, "Order")
    assert dfc_order["@id"] == f"{BASE}/orders/lyon/2026-05-12/cmd-1/ferme-des-saules"
    assert value(dfc_order, DFC_B + "hasOrderStatus") == DFC_V + "Held"
    assert value(dfc_order, DFC_B + "hasFulfilmentStatus") == DFC_V + "Unfulfilled"
    assert value(dfc_order, DFC_B + "soldBy") == f"{BASE}/producers/ferme-des-saules"
    assert value(dfc_order, DFC_B + "orderedBy") == f"{BASE}/territories/lyon"
    assert value(dfc_order, VIVRES + "status") == "ALLOCATED"
    [delivery] = nodes_of(document, "DeliveryOption")
    assert value(delivery, DFC_B + "startDate") == "2026-05-12T00:00:00+02:00"
    [line] = nodes_of(document, "OrderLine")
    assert value(line, DFC_B + "quantity") == 3
    assert value(line, DFC_B + "concerns") == (
        f"{BASE}/producers/ferme-des-saules/offers/saules-carotte")
    parts = nodes_of(document, "ShopPart")
    assert sorted(value(p, VIVRES + "shop") for p in parts) == ["epi-vaise",
                                                                "epicerie-guillotiere"]
    candidates = sorted(nodes_of(document, "GridCandidate"),
                        key=lambda c: value(c, VIVRES + "rank"))
    assert [value(c, VIVRES + "totalScore") for c in candidates] == [89, 46]
    assert candidates[0][VIVRES + "explanation"][0]["@language"] == "fr"
    assert value(candidates[1], VIVRES + "producer") == f"{BASE}/producers/gaec-du-plateau"


@pytest.mark.parametrize(("status", "dfc", "fulfilment"), [
    (OrderStatus.CONFIRMED, "Complete", "Unfulfilled"),
    (OrderStatus.RECEIVED_AT_HUB, "Complete", "Fulfilled"),
    (OrderStatus.REFUSED, "Cancelled", "Cancelled"),
])
def test_order_statuses_map_to_the_dfc_vocabulary(status, dfc, fulfilment):
    document = orders_document(IRIS, [order().model_copy(update={"status": status})], PRODUCTS)
    assert_resolves(document)
    [dfc_order] = nodes_of(document, "Order")
    assert value(dfc_order, DFC_B + "hasOrderStatus") == DFC_V + dfc
    assert value(dfc_order, DFC_B + "hasFulfilmentStatus") == DFC_V + fulfilment


def test_demand_signals_have_no_dfc_term_and_go_out_in_the_extension():
    document = signals_document(IRIS, [signal()])
    assert_resolves(document)
    [node] = nodes_of(document, "DemandSignal")
    assert value(node, VIVRES + "product") == f"{BASE}/products/carotte"
    assert value(node, VIVRES + "forecast7d") == 58_000.0
    assert node[VIVRES + "day"] == [{"@value": "2026-05-04", "@type": XSD + "date"}]


def test_the_extension_vocabulary_names_every_term_in_french_and_english():
    expanded = expand(vocabulary_document())
    named = {n["@id"] for n in expanded}
    assert named >= {VIVRES + term for term in VIVRES_TERMS}
    for node in expanded:
        languages = {label["@language"] for label in
                     node["http://www.w3.org/2000/01/rdf-schema#label"]}
        assert languages == {"fr", "en"}


# --- import ----------------------------------------------------------------------------------

# A producer's catalog as OFN's DFC API serves one (swagger/dfc.yaml, catalog_items), in France.
OFN_CATALOG = {
    "@context": "https://w3id.org/dfc/ontology/context/context_1.16.0.json",
    "@graph": [
        {"@id": "https://ofn.test/api/dfc/enterprises/7", "@type": "dfc-b:Enterprise",
         "dfc-b:name": "Ferme des Saules",
         "dfc-b:hasAddress": "https://ofn.test/api/dfc/addresses/7",
         "dfc-b:manages": ["https://ofn.test/api/dfc/enterprises/7/catalog_items/31",
                           "https://ofn.test/api/dfc/enterprises/7/catalog_items/32"],
         "dfc-b:supplies": ["https://ofn.test/api/dfc/enterprises/7/supplied_products/31",
                            "https://ofn.test/api/dfc/enterprises/7/supplied_products/32"],
         "ofn:long_description": "<p>Maraîchage sur sol vivant</p>"},
        {"@id": "https://ofn.test/api/dfc/addresses/7", "@type": "dfc-b:Address",
         "dfc-b:city": "Brindas", "dfc-b:latitude": 45.7203, "dfc-b:longitude": 4.6939},
        {"@id": "https://ofn.test/api/dfc/enterprises/7/catalog_items/31",
         "@type": "dfc-b:CatalogItem",
         "dfc-b:references": "https://ofn.test/api/dfc/enterprises/7/supplied_products/31",
         "dfc-b:sku": "CAR-5", "dfc-b:stockLimitation": 12,
         "dfc-b:offeredThrough": "https://ofn.test/api/dfc/enterprises/7/offers/31",
         "dfc-b:managedBy": "https://ofn.test/api/dfc/enterprises/7"},
        {"@id": "https://ofn.test/api/dfc/enterprises/7/supplied_products/31",
         "@type": "dfc-b:SuppliedProduct", "dfc-b:name": "Carottes - 5kg",
         "dfc-b:hasType": "dfc-pt:carrot",
         "dfc-b:hasQuantity": {"@type": "dfc-b:QuantitativeValue",
                               "dfc-b:hasUnit": "dfc-m:Kilogram", "dfc-b:value": 5.0},
         "dfc-b:hasCertification": ["dfc-f:Organic-AB", "dfc-f:RedLabel_FR"]},
        {"@id": "https://ofn.test/api/dfc/enterprises/7/offers/31", "@type": "dfc-b:Offer",
         "dfc-b:hasPrice": {"@type": "dfc-b:Price", "dfc-b:value": 11.5,
                            "dfc-b:hasUnit": "dfc-m:Euro"},
         "dfc-b:stockLimitation": 12},
        # an item whose product Vivres does not know, and whose offer is in dozens
        {"@id": "https://ofn.test/api/dfc/enterprises/7/catalog_items/32",
         "@type": "dfc-b:CatalogItem",
         "dfc-b:references": "https://ofn.test/api/dfc/enterprises/7/supplied_products/32",
         "dfc-b:offeredThrough": "https://ofn.test/api/dfc/enterprises/7/offers/32"},
        {"@id": "https://ofn.test/api/dfc/enterprises/7/supplied_products/32",
         "@type": "dfc-b:SuppliedProduct", "dfc-b:name": "Radis rose",
         "dfc-b:hasQuantity": {"@type": "dfc-b:QuantitativeValue",
                               "dfc-b:hasUnit": "dfc-m:Piece", "dfc-b:value": 1}},
        {"@id": "https://ofn.test/api/dfc/enterprises/7/offers/32", "@type": "dfc-b:Offer",
         "dfc-b:hasPrice": {"@type": "dfc-b:Price", "dfc-b:value": 1.2,
                            "dfc-b:hasUnit": "dfc-m:Euro"},
         "dfc-b:stockLimitation": 30},
    ],
}
CARROT_MAP = {"https://ofn.test/api/dfc/enterprises/7/supplied_products/31": "carotte"}
WINDOW = (date(2026, 5, 1), date(2026, 5, 31))


def test_an_ofn_catalog_reads_as_offers_once_its_products_are_mapped():
    result = offers_from_catalog(OFN_CATALOG, target(product_map=CARROT_MAP, window=WINDOW))
    [carrot] = result.offers
    assert carrot.product_id == "carotte" and carrot.producer_id == "ferme-des-saules"
    assert carrot.pack_size == 5_000 and carrot.quantity_per_slot == 60_000
    assert carrot.price_cents == 230  # 11,50 € the 5 kg crate
    assert (carrot.window_start, carrot.window_end) == WINDOW
    assert carrot.organic and carrot.labels == ("label-rouge",)
    assert (carrot.farm_lat_e6, carrot.farm_lon_e6) == (45_720_300, 4_693_900)
    assert carrot.offer_id.startswith("ferme-des-saules-dfc-")
    [radish] = result.rejected
    assert radish.iri.endswith("/offers/32") and "Radis rose" in radish.fr


def test_importing_the_same_catalog_again_gives_the_same_offer_ids():
    again = [offers_from_catalog(OFN_CATALOG, target(product_map=CARROT_MAP, window=WINDOW))
             for _ in range(2)]
    assert again[0].offers[0].offer_id == again[1].offers[0].offer_id


def test_a_product_is_also_found_by_the_item_s_sku():
    result = offers_from_catalog(OFN_CATALOG, target(product_map={"CAR-5": "carotte"},
                                                     window=WINDOW))
    assert [o.product_id for o in result.offers] == ["carotte"]


def test_an_unknown_product_s_refusal_names_the_reference_to_link_it_by():
    [carrot, radish] = sorted(offers_from_catalog(OFN_CATALOG, target(window=WINDOW)).rejected,
                              key=lambda r: r.iri)
    assert carrot.reference == "CAR-5"  # the item's sku, what the producer sees in OFN
    assert "« CAR-5 »" in carrot.fr and "associez" in carrot.fr
    assert "'CAR-5'" in carrot.msg and "/v1/dfc/producers/ferme-des-saules/links" in carrot.msg
    sp = "https://ofn.test/api/dfc/enterprises/7/supplied_products/32"
    assert radish.reference == sp  # no sku: its supplied product's IRI
    assert "Radis rose" in radish.fr and f"« {sp} »" in radish.fr
    # linked by that reference, it is read as that product (and refused for its pieces)
    linked = offers_from_catalog(OFN_CATALOG, target(product_map={sp: "carotte"},
                                                     window=WINDOW))
    [dozens] = [r for r in linked.rejected if r.iri.endswith("/offers/32")]
    assert dozens.msg.startswith("pack in Piece") and dozens.reference is None


def test_a_blank_node_is_never_a_reference_to_link():
    document = _one_offer(KG5)
    document["@graph"][0]["@id"] = "_:sp"
    document["@graph"][1]["dfc-b:offeredItem"] = {"@id": "_:sp"}
    result = offers_from_catalog(document, target(window=WINDOW, farm=(45_720_300, 4_693_900)))
    [rejected] = result.rejected
    assert rejected.reference is None and "sku" in rejected.fr


# As connector-typescript exports (its README and tests): the "latest" context URL, numbers as
# strings, offeredItem as a plain string (the context gives it no @id type).
CONNECTOR_CATALOG = {
    "@context": "https://www.datafoodconsortium.org",
    "@graph": [
        {"@id": "_:b1", "@type": "dfc-b:Price", "dfc-b:VATrate": "5.5",
         "dfc-b:hasUnit": "dfc-m:Euro", "dfc-b:value": "3.60"},
        {"@id": "_:b2", "@type": "dfc-b:QuantitativeValue", "dfc-b:hasUnit": "dfc-m:Litre",
         "dfc-b:value": "1"},
        {"@id": "http://myplatform.test/suppliedProduct1", "@type": "dfc-b:SuppliedProduct",
         "dfc-b:name": "Huile d'olive 1 L", "dfc-b:hasQuantity": "_:b2",
         "dfc-b:hasCertification": "dfc-f:AOP_EU"},
        {"@id": "http://myplatform.test/offer1", "@type": "dfc-b:Offer",
         "dfc-b:hasPrice": {"@id": "_:b1"},
         "dfc-b:offeredItem": "http://myplatform.test/suppliedProduct1",
         "dfc-b:stockLimitation": "20"},
    ],
}


def test_a_connector_catalog_with_string_literals_reads_too():
    result = offers_from_catalog(CONNECTOR_CATALOG, target(
        product_map={"http://myplatform.test/suppliedProduct1": "huile-olive-vrac"},
        window=WINDOW, farm=(45_720_300, 4_693_900)))
    [oil] = result.offers
    assert (oil.pack_size, oil.quantity_per_slot, oil.price_cents) == (1_000, 20_000, 360)
    assert oil.labels == ("aop",) and not oil.organic
    assert result.rejected == ()


def test_a_catalog_written_with_the_retired_namespaces_reads_by_local_name():
    legacy = {"@context": {
        "dfc-b": "http://static.datafoodconsortium.org/ontologies/DFC_BusinessOntology.owl#",
        "dfc-m": "http://static.datafoodconsortium.org/data/measures.rdf#",
        "dfc-b:hasUnit": {"@type": "@id"}, "dfc-b:hasQuantity": {"@type": "@id"},
        "dfc-b:offeredItem": {"@type": "@id"}},
        "@graph": CONNECTOR_CATALOG["@graph"]}
    result = offers_from_catalog(legacy, target(
        product_map={"http://myplatform.test/suppliedProduct1": "huile-olive-vrac"},
        window=WINDOW, farm=(45_720_300, 4_693_900)))
    assert [o.price_cents for o in result.offers] == [360]


def test_vivres_own_export_reads_back_as_the_same_offers():
    document = offers_document(IRIS, "ferme-des-saules", OFFERS, PRODUCTS, FARM)
    result = offers_from_catalog(json.loads(json.dumps(document)), target())
    assert result.rejected == ()
    assert sorted(result.offers, key=lambda o: o.offer_id) == sorted(
        (o.model_copy(update={"declared_at": NOW}) for o in OFFERS), key=lambda o: o.offer_id)


def refusal(document: dict[str, Any], **changes: Any) -> str:
    result: Imported = offers_from_catalog(document, target(**changes))
    assert result.offers == ()
    [rejected] = result.rejected
    assert rejected.fr  # the producer reads why, in French
    return rejected.msg


def _one_offer(quantity: dict[str, Any] | None = None, price: Any = None,
               limit: Any = 5) -> dict[str, Any]:
    product: dict[str, Any] = {"@id": "https://p.test/sp", "@type": "dfc-b:SuppliedProduct",
                               "dfc-b:name": "Carottes"}
    if quantity is not None:
        product["dfc-b:hasQuantity"] = quantity
    sale: dict[str, Any] = {"@id": "https://p.test/o", "@type": "dfc-b:Offer",
                            "dfc-b:offeredItem": {"@id": "https://p.test/sp"},
                            "dfc-b:hasPrice": price if price is not None else
                            {"@type": "dfc-b:Price", "dfc-b:value": 10, "dfc-b:hasUnit":
                             "dfc-m:Euro"}}
    if limit is not None:
        sale["dfc-b:stockLimitation"] = limit
    return {"@context": "https://www.datafoodconsortium.org", "@graph": [product, sale]}


KG5 = {"@type": "dfc-b:QuantitativeValue", "dfc-b:hasUnit": "dfc-m:Kilogram",
       "dfc-b:value": 5}
READY = dict(product_map={"https://p.test/sp": "carotte"}, window=WINDOW,
             farm=(45_720_300, 4_693_900))


def test_the_minimal_offer_reads():
    [carrot] = offers_from_catalog(_one_offer(KG5), target(**READY)).offers
    assert (carrot.pack_size, carrot.price_cents, carrot.quantity_per_slot) == (5_000, 200,
                                                                                25_000)


def test_a_bare_number_price_is_euros_per_pack():  # OFN's PUT /offers example
    [carrot] = offers_from_catalog(_one_offer(KG5, price=9.99), target(**READY)).offers
    assert carrot.price_cents == 200  # 9,99 € / 5 kg = 1,998 €/kg


@pytest.mark.parametrize(("document", "changes", "why"), [
    (_one_offer(KG5), {"product_map": {}}, "no catalog product"),
    (_one_offer({"@type": "dfc-b:QuantitativeValue", "dfc-b:hasUnit": "dfc-m:Dozen",
                 "dfc-b:value": 1}), {}, "pack quantity in Dozen"),
    (_one_offer({"@type": "dfc-b:QuantitativeValue", "dfc-b:hasUnit": "dfc-m:Litre",
                 "dfc-b:value": 1}), {}, "pack in Litre for a product sold in GRAM"),
    (_one_offer({"@type": "dfc-b:QuantitativeValue", "dfc-b:hasUnit": "dfc-m:Gram",
                 "dfc-b:value": 0.5}), {}, "not a whole number"),
    (_one_offer(None), {}, "no hasQuantity"),
    (_one_offer(KG5, price={"@type": "dfc-b:Price", "dfc-b:value": 10,
                            "dfc-b:hasUnit": "dfc-m:USDollar"}), {}, "price in USDollar"),
    (_one_offer(KG5, limit=-1), {}, "negative"),
    (_one_offer(KG5, limit=None), {}, "no stockLimitation"),
    (_one_offer(KG5), {"window": None}, "no harvest window"),
    (_one_offer(KG5), {"farm": None}, "no farm location"),
])
def test_what_cannot_be_read_is_refused_saying_why(document, changes, why):
    assert why in refusal(document, **(READY | changes))


def test_a_catalog_cannot_declare_another_producer_s_vivres_offer():
    document = offers_document(IRIS, "gaec-du-plateau",
                               [offer("plateau-carotte", "carotte",
                                      producer_id="gaec-du-plateau")], PRODUCTS)
    assert "another producer" in refusal(document)


def test_an_offer_id_already_another_producer_s_is_refused():
    result = offers_from_catalog(OFN_CATALOG, target(product_map=CARROT_MAP, window=WINDOW))
    taken = result.offers[0].model_copy(update={"producer_id": "gaec-du-plateau"})
    again = offers_from_catalog(OFN_CATALOG, target(product_map=CARROT_MAP, window=WINDOW,
                                                    existing={taken.offer_id: taken}))
    assert again.offers == () and "another producer" in again.rejected[0].msg


def test_a_catalog_item_no_offer_prices_is_refused():
    document = {"@context": "https://www.datafoodconsortium.org", "@graph": [
        {"@id": "https://p.test/ci", "@type": "dfc-b:CatalogItem", "dfc-b:sku": "X"}]}
    assert "without an offer" in refusal(document)


def test_terms_the_ontology_does_not_declare_are_read_past_and_shown():
    document = _one_offer(KG5)
    document["@graph"][0]["dfc-b:colour"] = "orange"
    result = offers_from_catalog(document, target(**READY))
    assert len(result.offers) == 1 and result.unknown_terms == (DFC_B + "colour",)


def test_a_catalog_naming_an_unshipped_context_is_refused_whole():
    with pytest.raises(ContextRefused):
        offers_from_catalog({"@context": "https://evil.test/c.json", "@graph": []}, target())


# --- what a catalog may hold that no offer can: refused, never a crash -----------------------

@pytest.mark.parametrize("number", [float("nan"), float("inf"), "NaN", "sNaN", "-Infinity",
                                    "1e999999999", 10**30])
def test_a_number_no_offer_can_have_is_not_read_as_one(number):
    # int(Decimal("Infinity")) raised OverflowError, a NaN compared raised InvalidOperation,
    # and int(Decimal("1e999999999")) would build a billion-digit integer
    assert "no stockLimitation" in refusal(_one_offer(KG5, limit=number), **READY)
    assert "no positive price" in refusal(_one_offer(KG5, price=number), **READY)


def test_a_date_out_of_range_in_paris_is_not_read_as_one():
    document = _one_offer(KG5)
    document["@graph"][1] |= {VIVRES + "availableFrom": "0001-01-01T00:00:00+14:00",
                              VIVRES + "availableUntil": "9999-12-31T23:00:00-14:00"}
    assert "no harvest window" in refusal(document, **(READY | {"window": None}))


def test_an_iri_holding_a_lone_surrogate_still_gives_a_stable_offer_id():
    document = _one_offer(KG5)  # what json.loads makes of a "\ud800" escape
    document["@graph"][1]["@id"] = "https://p.test/o-\ud800"
    [carrot] = offers_from_catalog(document, target(**READY)).offers
    assert carrot.offer_id.startswith("ferme-des-saules-dfc-")


def test_a_document_pyld_trips_over_is_refused_as_not_json_ld():
    with pytest.raises(ContextRefused, match="not a JSON-LD document"):
        offers_from_catalog({"@included": True, "@context": []}, target())  # a TypeError
