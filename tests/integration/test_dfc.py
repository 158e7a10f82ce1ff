"""A producer's offers round-trip through DFC on the real gateway, broker and registry: declared
the usual way (POST /v1/availability), read back as the producer's DFC catalog, and that
document sent back by the same producer declares the same offers again, unchanged but for
their time, on supply.offers, where another reader of the topic finds them. The catalog read
again is then the same document: nothing was lost or invented on the way. A catalog from another
platform, naming its products with its own IRIs and skus, is refused until the hub and the
producer link them (catalog.dfc-links); the same catalog then declares its offers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.bus.catalog import DFC_LINKS, OFFERS
from services.bus.table import TableView
from services.dfc.terms import document_context
from services.events.auth import Role
from tests.integration.sales_stack import running_gateway
from tests.support import eventually

pytestmark = pytest.mark.integration

# What OfferView adds to an offer (GET /v1/availability) and what a new declaration changes.
NOT_THE_OFFER = {"delivery_slot", "reserved", "remaining", "declared_at"}


@pytest.fixture(scope="module")
async def stack(settings):
    async with running_gateway(settings, "dfc-test") as running:
        yield running


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def offer(offer_id: str, product: str, territory: str, **changes) -> dict:
    """An offer without a farm: the directory's location, the one a DFC catalog carries."""
    today = datetime.now(UTC).date()
    return {"offer_id": offer_id, "territory": territory, "product_id": product,
            "quantity_per_slot": 40_000, "pack_size": 5_000, "price_cents": 285,
            "window_start": (today - timedelta(days=3)).isoformat(),
            "window_end": (today + timedelta(days=30)).isoformat(), **changes}


async def test_offers_round_trip_through_the_producer_s_dfc_catalog(stack) -> None:
    run = uuid.uuid4().hex[:8]
    territory, farm = f"dfc-{run}", f"ferme-dfc-{run}"
    carrot, eggs = f"dfc-carotte-{run}", f"dfc-oeufs-{run}"
    hub = await stack.token(Role.HUB, None)
    producer = await stack.token(Role.PRODUCER, farm, territory)
    neighbour = await stack.token(Role.PRODUCER, f"gaec-dfc-{run}", territory)
    shop = await stack.token(Role.SHOP, f"epi-dfc-{run}", territory)

    def as_(token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        for product_id, name, unit, category in ((carrot, "Carotte", "GRAM", "legumes"),
                                                 (eggs, "Œufs", "PIECE", "oeufs")):
            made = await http.post("/v1/catalog/products", headers=as_(hub), json={
                "product_id": product_id, "name": name, "unit": unit, "category": category})
            assert made.status_code == 201, made.text
        bodies = [offer(f"{carrot}-a", carrot, territory, organic=True, labels=["hve", "local"]),
                  offer(f"{eggs}-a", eggs, territory, quantity_per_slot=120, pack_size=6,
                        price_cents=55),
                  offer(f"{carrot}-b", carrot, territory, withdrawn=True)]
        declared = {}
        for body in bodies:
            answer = await http.post("/v1/availability", headers=as_(producer), json=body)
            assert answer.status_code == 201, answer.text
            declared[answer.json()["offer_id"]] = answer.json()

        path = f"/v1/dfc/producers/{farm}/catalog"
        exported = await http.get(path, headers=as_(shop))  # any token reads it
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"] == "application/ld+json"
        document = exported.json()
        skus = sorted(n["dfc-b:sku"] for n in document["@graph"]
                      if n.get("@type") == "dfc-b:CatalogItem")
        assert skus == sorted(declared)
        variant = next(n["dfc-b:isVariantOf"] for n in document["@graph"]
                       if n.get("@type") == "dfc-b:SuppliedProduct")
        assert variant.startswith(f"{stack.url}/v1/dfc/products/")  # an IRI that resolves
        assert (await http.get(variant.removeprefix(stack.url))).status_code == 200

        stolen = await http.post(path, headers=as_(neighbour), json=document)
        assert stolen.status_code == 403, stolen.text
        imported = await http.post(path, headers=as_(producer), json=document)
        assert imported.status_code == 200, imported.text
        answer = imported.json()
        assert answer["rejected"] == [] and answer["unknown_terms"] == []
        assert sorted(answer["declared"]) == sorted(declared)  # the same offer ids
        for event in answer["offers"]:
            before = declared[event["offer_id"]]
            assert {k: v for k, v in event.items() if k not in NOT_THE_OFFER} == \
                {k: v for k, v in before.items() if k not in NOT_THE_OFFER}, event["offer_id"]
            assert moment(event["declared_at"]) > moment(before["declared_at"])

        mine = await http.get("/v1/availability", headers=as_(producer), params={"mine": "true"})
        assert mine.status_code == 200, mine.text
        assert {o["offer_id"]: o["declared_at"] for o in mine.json()} == {
            e["offer_id"]: e["declared_at"] for e in answer["offers"]}
        again = await http.get(path, headers=as_(shop))
        assert again.json() == document  # the same catalog: nothing lost, nothing invented

    # on the topic: a reader that is not this gateway finds the offers declared again
    wanted = {e["offer_id"]: moment(e["declared_at"]) for e in answer["offers"]}
    async with TableView(stack.platform.settings, stack.platform.registry, OFFERS) as offers:
        def arrived() -> bool:  # the same time as the gateway answered, to the millisecond
            return all((found := offers.get(offer_id)) is not None and found.declared_at == at
                       for offer_id, at in wanted.items())
        await eventually(arrived, what="the imported offers on supply.offers")
        assert all(offers.get(offer_id).producer_id == farm for offer_id in wanted)


def foreign_catalog(here: str, farm: str) -> dict:
    """A producer's catalog as another platform (OFN) serves it: its own IRIs, one item with
    a sku of its own, one without a sku; no dates (the import's window)."""
    enterprise = f"{here}/enterprises/{farm}"
    graph: list[dict] = []
    for n, (name, sku, kilos, euros) in enumerate((("Carottes des sables", "CAR-5", 5, 11.5),
                                                    ("Carottes fanes", None, 1, 3.2))):
        item = {"@id": f"{enterprise}/catalog_items/{n}", "@type": "dfc-b:CatalogItem",
                "dfc-b:references": f"{enterprise}/supplied_products/{n}",
                "dfc-b:offeredThrough": f"{enterprise}/offers/{n}",
                **({"dfc-b:sku": sku} if sku else {})}
        graph += [
            {"@id": f"{enterprise}/supplied_products/{n}", "@type": "dfc-b:SuppliedProduct",
             "dfc-b:name": name,
             "dfc-b:hasQuantity": {"@type": "dfc-b:QuantitativeValue",
                                   "dfc-b:hasUnit": "dfc-m:Kilogram", "dfc-b:value": kilos}},
            item,
            {"@id": f"{enterprise}/offers/{n}", "@type": "dfc-b:Offer",
             "dfc-b:stockLimitation": 8,
             "dfc-b:hasPrice": {"@type": "dfc-b:Price", "dfc-b:value": euros,
                                "dfc-b:hasUnit": "dfc-m:Euro"}}]
    return {"@context": document_context(), "@graph": graph}


async def test_a_foreign_catalog_imports_once_its_products_are_linked(stack) -> None:
    run = uuid.uuid4().hex[:8]
    territory, farm, carrot = f"dfc-{run}", f"ferme-ofn-{run}", f"dfc-carotte-{run}"
    hub = await stack.token(Role.HUB, None)
    producer = await stack.token(Role.PRODUCER, farm, territory)
    neighbour = await stack.token(Role.PRODUCER, f"gaec-ofn-{run}", territory)
    document = foreign_catalog(f"https://ofn-{run}.test/api/dfc", farm)
    today = datetime.now(UTC).date()
    window = {"window_start": today.isoformat(),
              "window_end": (today + timedelta(days=30)).isoformat()}
    path, links = f"/v1/dfc/producers/{farm}/catalog", f"/v1/dfc/producers/{farm}/links"

    def as_(token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        made = await http.post("/v1/catalog/products", headers=as_(hub), json={
            "product_id": carrot, "name": "Carotte", "unit": "GRAM", "category": "legumes"})
        assert made.status_code == 201, made.text

        refused = await http.post(path, headers=as_(producer), params=window, json=document)
        assert refused.status_code == 200, refused.text
        assert refused.json()["declared"] == []
        references = {r["reference"] for r in refused.json()["rejected"]}
        sku, sp = "CAR-5", f"https://ofn-{run}.test/api/dfc/enterprises/{farm}/supplied_products/1"
        assert references == {sku, sp}  # the sku when there is one, else the product's IRI
        assert all("associez sa référence" in r["fr"] for r in refused.json()["rejected"])

        taken = await http.post(links, headers=as_(neighbour),
                                json={"reference": sku, "product_id": carrot})
        assert taken.status_code == 403, taken.text
        for token, reference in ((hub, sku), (producer, sp)):  # the hub, and the producer
            linked = await http.post(links, headers=as_(token),
                                     json={"reference": reference, "product_id": carrot})
            assert linked.status_code == 201, linked.text
        listed = await http.get(links, headers=as_(producer))
        assert [(x["reference"], x["product_id"]) for x in listed.json()] == [
            (sku, carrot), (sp, carrot)]

        imported = await http.post(path, headers=as_(producer), params=window, json=document)
        assert imported.status_code == 200, imported.text
        answer = imported.json()
        assert answer["rejected"] == [] and len(answer["declared"]) == 2
        assert {(o["product_id"], o["pack_size"], o["quantity_per_slot"], o["price_cents"])
                for o in answer["offers"]} == {(carrot, 5_000, 40_000, 230),
                                               (carrot, 1_000, 8_000, 320)}

    # on the topics: a reader that is not this gateway finds the links and the offers
    wanted = {e["offer_id"]: moment(e["declared_at"]) for e in answer["offers"]}
    async with TableView(stack.platform.settings, stack.platform.registry, DFC_LINKS) as found, \
            TableView(stack.platform.settings, stack.platform.registry, OFFERS) as offers:
        await eventually(lambda: all(found.get(f"{farm}/{r}") is not None
                                     for r in (sku, sp)), what="the links on catalog.dfc-links")
        assert {found.get(f"{farm}/{r}").product_id for r in (sku, sp)} == {carrot}

        def arrived() -> bool:
            return all((o := offers.get(offer_id)) is not None and o.declared_at == at
                       for offer_id, at in wanted.items())
        await eventually(arrived, what="the linked catalog's offers on supply.offers")
        assert {offers.get(offer_id).producer_id for offer_id in wanted} == {farm}
