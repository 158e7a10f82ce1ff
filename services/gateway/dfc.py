"""The DFC (Data Food Consortium) routes: the shared catalog, a producer's offers and the pooled
orders as DFC 1.16 JSON-LD documents, a producer's DFC catalog imported as offers, the links of
a producer's own product names (IRIs, skus) to the catalog's products, and the `vivres:`
vocabulary. docs/dfc.md says what maps to what; services/dfc does it (pure).

The documents' IRIs are these routes under the public URL (GatewayDeps.public_url, from
VIVRES_PUBLIC_URL), so a node read from one can be fetched again. An import goes through the
same checks and the same publication as POST /v1/availability (availability.offer_event and
record_offer): a DFC catalog is one more way to write the same offers, not a second path.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.auth.tokens import Principal
from services.bus.catalog import DFC_LINKS
from services.bus.openapi import errors
from services.dfc.export import Iris, catalog_document, offers_document, orders_document
from services.dfc.importer import MAX_REFERENCE, Imported, Rejected, Target, offers_from_catalog
from services.dfc.jsonld import ContextRefused
from services.dfc.vocab import vocabulary_document
from services.directory.rules import PRODUCER, unknown
from services.events.auth import Role
from services.events.catalog import DfcProductLinked
from services.events.supply import OfferDeclared
from services.gateway.auth import principal, require, require_producer_or_staff
from services.gateway.availability import (
    OfferIn,
    offer_event,
    own_offers,
    paris_today,
    record_offer,
)
from services.gateway.catalog import known_product
from services.gateway.deps import Deps, GatewayDeps
from services.gateway.fields import Day, OrderId, Slug, refused, text
from services.gateway.orders import ORDER_READERS, sees, visible_orders

router = APIRouter(prefix="/v1/dfc", tags=["dfc"])

MAX_BODY = 2 * 1024 * 1024  # bytes of a catalog: about 1 200 offers as Vivres writes them
MAX_OFFERS = 500  # offers and refusals in one catalog (each offer is published in turn)
ProducerId = Annotated[str, Path(min_length=1, max_length=64)]


class JsonLdResponse(JSONResponse):
    media_type = "application/ld+json"


def _document(description: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route answering a JSON-LD document."""
    return {200: {"description": description,
                  "content": {"application/ld+json": {"schema": {"type": "object"}}}}}


def _iris(deps: GatewayDeps) -> Iris:
    return Iris(f"{deps.public_url.rstrip('/')}/v1/dfc")


# --- the shared catalog, the vocabulary ------------------------------------------------------

@router.get("/products", response_class=JsonLdResponse,
            responses=_document("The catalog's products as `dfc-b:SuppliedProduct`s."))
async def products(deps: Deps, category: Annotated[Slug | None, Query()] = None
                   ) -> JsonLdResponse:
    """The shared catalog (GET /v1/catalog/products) as DFC, optionally of one category."""
    chosen = [p for p in deps.products.values() if category in (None, p.category)]
    return JsonLdResponse(catalog_document(_iris(deps), chosen))


@router.get("/products/{product_id}", response_class=JsonLdResponse,
            responses=_document("One product of the catalog."))
async def product(product_id: Annotated[Slug, Path()], deps: Deps) -> JsonLdResponse:
    """One product: what the offers' `dfc-b:isVariantOf` names."""
    found = deps.products.get(product_id)
    if found is None:
        raise refused(None, "unknown", f"no product {product_id}",
                      f"Aucun produit « {product_id} » dans le catalogue.",
                      status.HTTP_404_NOT_FOUND, where="path")
    return JsonLdResponse(catalog_document(_iris(deps), [found]))


@router.get("/ns", response_class=JsonLdResponse,
            responses=_document("The `vivres:` terms (RDFS/OWL), labelled in French and "
                                "English."))
async def namespace() -> JsonLdResponse:
    """The `vivres:` extension vocabulary: what DFC has no term for."""
    return JsonLdResponse(vocabulary_document())


# --- a producer's catalog --------------------------------------------------------------------

@router.get("/producers/{producer_id}/catalog", response_class=JsonLdResponse,
            responses=_document("The producer's enterprise, catalog, and per offer its "
                                "supplied product, catalog item and offer."))
async def catalog(producer_id: ProducerId, _who: Annotated[Principal, Depends(principal)],
                  deps: Deps, territory: Annotated[Slug | None, Query()] = None
                  ) -> JsonLdResponse:
    """A producer's offers as a DFC catalog, as OFN shapes one: those whose harvest window
    has not ended (withdrawn ones too, with no stock), of one territory if given. Any token,
    as GET /v1/availability."""
    entry = deps.directory.producers.get(producer_id)
    offers = [o for o, _ in own_offers(
        (o for o in deps.offers.values()
         if o.producer_id == producer_id and territory in (None, o.territory)),
        paris_today(deps))]
    if entry is None and not offers:
        raise HTTPException(status.HTTP_404_NOT_FOUND, [unknown(PRODUCER, producer_id).detail()])
    return JsonLdResponse(offers_document(_iris(deps), producer_id, offers, deps.products,
                                          entry))


# --- a producer's product links --------------------------------------------------------------

Reference = text(MAX_REFERENCE, min_length=1)


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: Reference = Field(description="How the producer's DFC catalog names the "
                                 "product: the item's sku, or the IRI of its supplied product "
                                 "or catalog item, exactly as an import's refusal gives it "
                                 "(`rejected[].reference`).")
    product_id: Slug = Field(description="The Vivres product it is.")


def producer_links(deps: GatewayDeps, producer_id: str) -> list[DfcProductLinked]:
    return sorted((link for link in deps.dfc_links.values() if link.producer_id == producer_id),
                  key=lambda link: link.reference)


def _known_producer(deps: GatewayDeps, producer_id: str) -> None:
    if deps.directory.producers.get(producer_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, [unknown(PRODUCER, producer_id).detail()])


@router.post("/producers/{producer_id}/links", status_code=status.HTTP_201_CREATED,
             response_model=DfcProductLinked)
async def link_product(producer_id: ProducerId, link: LinkIn,
                       who: Annotated[Principal, Depends(principal)], deps: Deps
                       ) -> DfcProductLinked:
    """Link how a producer's DFC catalog names a product (its sku, or its supplied product's
    or catalog item's IRI) to a Vivres product, once: its catalog imports then read it as
    that product. The producer itself, the hub or an operator, as a shop's till codes; linking
    the same reference again replaces the link."""
    require_producer_or_staff(who, producer_id)
    _known_producer(deps, producer_id)
    known_product(deps.products, link.product_id)
    event = DfcProductLinked(producer_id=producer_id, reference=link.reference,
                             product_id=link.product_id, linked_at=deps.clock())
    await deps.publisher.publish(DFC_LINKS, event)
    deps.dfc_links.put(event)
    return event


@router.get("/producers/{producer_id}/links", response_model=list[DfcProductLinked])
async def list_links(producer_id: ProducerId, who: Annotated[Principal, Depends(principal)],
                     deps: Deps) -> list[DfcProductLinked]:
    """A producer's links, by reference: the producer itself, the hub or an operator. `404`
    when the directory does not know the producer and it has no link."""
    require_producer_or_staff(who, producer_id)
    links = producer_links(deps, producer_id)
    if not links:
        _known_producer(deps, producer_id)
    return links


# --- a producer's catalog imported -----------------------------------------------------------

class RejectedOffer(BaseModel):
    """A node of the catalog that gave no offer, and why (`fr`: for the producer)."""

    iri: str
    msg: str
    fr: str
    reference: str | None = Field(None, description="An unknown product: the reference to "
                                  "link it by (POST /v1/dfc/producers/{producer_id}/links).")


class ImportAnswer(BaseModel):
    dry_run: bool
    declared: list[str]  # the offer ids, in the order published
    offers: list[OfferDeclared]  # as published (a dry run: as they would be)
    rejected: list[RejectedOffer]
    unknown_terms: list[str]  # DFC terms the ontology 1.16.0 does not declare: read past


IMPORT_BODY = {"required": True, "description": "A DFC catalog (JSON-LD), as OFN or a DFC "
               "connector exports one, at most 2 MB and 500 offers.",
               "content": {kind: {"schema": {"type": "object"}}
                           for kind in ("application/ld+json", "application/json")}}


@router.post("/producers/{producer_id}/catalog", response_model=ImportAnswer,
             responses=errors(400, 413), openapi_extra={"requestBody": IMPORT_BODY})
async def import_catalog(
        producer_id: ProducerId, request: Request,
        who: Annotated[Principal, Depends(principal)], deps: Deps,
        territory: Annotated[Slug | None, Query(description="Default: the producer's one "
                                                            "territory in the directory.")] = None,
        window_start: Annotated[Day | None, Query(description="For the offers whose catalog "
                                                              "gives no dates.")] = None,
        window_end: Annotated[Day | None, Query()] = None,
        dry_run: Annotated[bool, Query(description="Read and check, publish nothing.")] = False,
) -> ImportAnswer:
    """A producer's DFC catalog declared as its offers: each DFC offer read (docs/dfc.md) is
    checked and published as POST /v1/availability would; what cannot be read or is invalid
    is refused with its reason in French, and nothing of it is published. A product the
    catalog names its own way (its IRIs, its skus) is read through the producer's links
    (POST .../links); an unknown one's refusal gives the reference to link. The same catalog
    sent again updates the same offers. A producer imports into its own catalog only."""
    require(who, Role.PRODUCER)
    if who.subject != producer_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"a producer imports into its own catalog only, not {producer_id}")
    target = Target(producer_id=producer_id, territory=_territory(deps, producer_id, territory),
                    products={p.product_id: p for p in deps.products.values()},
                    now=deps.clock(), iris=_iris(deps),
                    product_map=_product_map(deps, producer_id),
                    existing={o.offer_id: o for o in deps.offers.values()},
                    farm=_farm(deps, producer_id), window=_window(window_start, window_end))
    document = await _json_body(request)
    try:  # PyLD is CPU-bound (about 1.5 ms an offer): off the event loop
        imported = await asyncio.to_thread(offers_from_catalog, document, target)
    except ContextRefused as refusal:
        raise refused(None, "not_dfc", str(refusal),
                      "Ce document n'est pas un catalogue DFC que Vivres sait lire : il doit "
                      "être en JSON-LD, avec le contexte du DFC.") from refusal
    if len(imported.offers) + len(imported.rejected) > MAX_OFFERS:
        raise refused(None, "too_many", f"more than {MAX_OFFERS} offers: split the catalog",
                      f"Plus de {MAX_OFFERS} offres : envoyez le catalogue en plusieurs fois.",
                      status.HTTP_413_CONTENT_TOO_LARGE)
    events, rejected = _checked(imported, who, deps)
    if not dry_run:
        for event in events:
            await record_offer(deps, event)
    return ImportAnswer(dry_run=dry_run, declared=[e.offer_id for e in events], offers=events,
                        rejected=[_refusal(r) for r in rejected],
                        unknown_terms=[_printable(t) for t in imported.unknown_terms])


def _product_map(deps: GatewayDeps, producer_id: str) -> dict[str, str]:
    """Product ids by the catalog's names: a sku that is a Vivres product id, then the
    producer's own links (which win: a link is said, an equal id may be chance)."""
    found = {p.product_id: p.product_id for p in deps.products.values()}
    return found | {link.reference: link.product_id for link in producer_links(deps, producer_id)}


def _territory(deps: GatewayDeps, producer_id: str, asked: str | None) -> str:
    """The territory asked, else the producer's only one (422 when it has several or none)."""
    if asked is not None:
        return asked
    entry = deps.directory.producers.get(producer_id)
    served = entry.territories if entry is not None else ()
    if len(served) == 1:
        return served[0]
    raise refused("territory", "missing",
                  f"name the territory: the directory gives {producer_id} {len(served)} "
                  "territories, not one",
                  "Précisez le territoire de ces offres (paramètre territory).", where="query")


def _farm(deps: GatewayDeps, producer_id: str) -> tuple[int, int] | None:
    entry = deps.directory.producers.get(producer_id)
    return (entry.farm_lat_e6, entry.farm_lon_e6) if entry is not None else None


def _window(start: date | None, end: date | None) -> tuple[date, date] | None:
    if start is None and end is None:
        return None
    if start is None or end is None or end < start:
        raise refused("window_end" if start else "window_start", "value_error",
                      "window_start and window_end go together, the end not before the start",
                      "Donnez le début et la fin de la période, la fin après le début.",
                      where="query")
    return start, end


async def _json_body(request: Request) -> Any:
    """The body read as JSON, at most MAX_BODY bytes (413 beyond; 400 when not JSON)."""
    declared = request.headers.get("content-length", "")
    body = bytearray()
    if not (declared.isdigit() and int(declared) > MAX_BODY):
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                break
    if len(body) > MAX_BODY or declared.isdigit() and int(declared) > MAX_BODY:
        raise refused(None, "too_large", f"the catalog is over {MAX_BODY} bytes: split it",
                      "Catalogue trop volumineux (plus de 2 Mo) : envoyez-le en plusieurs "
                      "fois.", status.HTTP_413_CONTENT_TOO_LARGE)
    try:
        return json.loads(bytes(body))
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
        raise refused(None, "json_invalid", "the body cannot be read as JSON",
                      "Le document envoyé n'est pas du JSON.",
                      status.HTTP_400_BAD_REQUEST) from error


# What each field of an offer is called for the producer, when a read offer is refused.
FIELD_FR = {"offer_id": "l'identifiant de l'offre", "territory": "le territoire",
            "quantity_per_slot": "la quantité par livraison", "pack_size": "le conditionnement",
            "price_cents": "le prix", "window_start": "le début de la période",
            "window_end": "la fin de la période", "labels": "les labels",
            "farm": "l'emplacement de la ferme"}


def _checked(imported: Imported, who: Principal, deps: GatewayDeps
             ) -> tuple[list[OfferDeclared], list[Rejected]]:
    """Each offer read, as POST /v1/availability takes it (OfferIn) and makes its event; those
    it would refuse with a 422 are refused here, the others to publish."""
    events, rejected = [], list(imported.rejected)
    for offer in imported.offers:
        iri = imported.origins.get(offer.offer_id, offer.offer_id)
        try:
            body = OfferIn.model_validate({
                "offer_id": offer.offer_id, "territory": offer.territory,
                "product_id": offer.product_id, "quantity_per_slot": offer.quantity_per_slot,
                "pack_size": offer.pack_size, "price_cents": offer.price_cents,
                "window_start": offer.window_start, "window_end": offer.window_end,
                "organic": offer.organic, "labels": list(offer.labels),
                "farm": {"lat_e6": offer.farm_lat_e6, "lon_e6": offer.farm_lon_e6},
                "withdrawn": offer.withdrawn})
        except ValidationError as error:
            first = error.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "offer"
            named = FIELD_FR.get(field, "l'offre")
            rejected.append(Rejected(iri, f"{field}: {first['msg']}",
                                     f"Offre refusée : {named} ne convient pas à Vivres."))
            continue
        events.append(offer_event(body, who, deps))
    return events, rejected


def _printable(text: str) -> str:
    """`text` as UTF-8 can carry it (a lone surrogate from a \\ud800 escape becomes "?")."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _refusal(rejected: Rejected) -> RejectedOffer:
    return RejectedOffer(iri=_printable(rejected.iri), msg=_printable(rejected.msg),
                         fr=_printable(rejected.fr),
                         reference=None if rejected.reference is None
                         else _printable(rejected.reference))


# --- pooled orders ---------------------------------------------------------------------------

@router.get("/orders", response_class=JsonLdResponse,
            responses=_document("The orders as `dfc-b:Order`s with their `OrderLine`s."))
async def orders(who: Annotated[Principal, Depends(principal)], deps: Deps,
                 territory: Annotated[Slug | None, Query()] = None,
                 slot: Annotated[Day | None, Query()] = None) -> JsonLdResponse:
    """Pooled orders as DFC, each seeing only its own as GET /v1/orders: a hub its
    territory's, a producer those it sells, a shop those with its part, an operator all."""
    chosen = visible_orders(who, deps, territory, slot)
    return JsonLdResponse(orders_document(_iris(deps), chosen, deps.products))


@router.get("/orders/{order_id:path}", response_class=JsonLdResponse,
            responses=_document("One order and its lines."))
async def order(order_id: Annotated[OrderId, Path()],
                who: Annotated[Principal, Depends(principal)], deps: Deps) -> JsonLdResponse:
    """One pooled order (what an order's IRI names). Another's answers as a missing one
    does (404)."""
    require(who, *ORDER_READERS)
    found = deps.orders.get(order_id)
    if found is None or not sees(who, found, deps.directory):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no order {order_id} of yours")
    return JsonLdResponse(orders_document(_iris(deps), [found], deps.products))
