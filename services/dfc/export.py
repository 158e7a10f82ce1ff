"""Vivres events as DFC JSON-LD documents (compacted with the shipped context). Pure.

- the shared catalog (ProductDefined) as `dfc-b:SuppliedProduct`s of no supplier, typed with
  `dfc-pt:` and sold per kilogram, litre or piece;
- a producer's offers (OfferDeclared) as OFN shapes them: an `Enterprise` that `supplies` one
  `SuppliedProduct` per offer (a variant of the catalog product, of the pack's quantity),
  `manages` its `CatalogItem` (`sku` = offer id, `stockLimitation` = packs per slot) and
  `maintains` a `Catalog`; each item `offeredThrough` an `Offer` priced per pack in euros;
- pooled orders (OrderRecorded) as `Order`s sold by the producer to the territory's hub, with
  `OrderLine`s that `concern` the offers, and the delivery day and hub as a `DeliveryOption`;
- what DFC has no term for (quantity per slot, price per kg, harvest window, the shops' parts,
  the selection grid, demand signals) in the `vivres:` namespace (terms.VIVRES_TERMS).

IRIs are the gateway's DFC routes under `base` (e.g. "https://vivres.example.org/v1/dfc"), so
that each node can be fetched again with a token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from services.dfc.terms import (
    CATEGORY_TYPE,
    CURRENCY,
    FULFILMENT_STATUS,
    LABEL_FACET,
    ORDER_STATUS,
    ORGANIC_FACET,
    UNIT_MEASURE,
    document_context,
)
from services.events.catalog import ProductDefined
from services.events.demand import DemandSignalRecorded
from services.events.directory import ProducerRegistered
from services.events.orders import OrderLine, OrderRecorded
from services.events.sales import QuantityUnit
from services.events.supply import OfferDeclared
from services.orders.grid import PRICE_BASIS

PARIS = ZoneInfo("Europe/Paris")
# The measure a catalog product is priced in (PRICE_BASIS: per kg, litre or piece).
BASIS_MEASURE: dict[QuantityUnit, str] = {
    QuantityUnit.GRAM: "Kilogram",
    QuantityUnit.MILLILITRE: "Litre",
    QuantityUnit.PIECE: "Piece",
}


@dataclass(frozen=True)
class Iris:
    """Where each node lives: the gateway's DFC routes (docs/dfc.md, "Routes (English)")."""

    base: str

    def _join(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *(quote(p, safe="") for p in parts)])

    def product(self, product_id: str) -> str:
        return self._join("products", product_id)

    def producer(self, producer_id: str) -> str:
        return self._join("producers", producer_id)

    def catalog(self, producer_id: str) -> str:
        return self._join("producers", producer_id, "catalog")

    def supplied_product(self, producer_id: str, offer_id: str) -> str:
        return self._join("producers", producer_id, "supplied-products", offer_id)

    def catalog_item(self, producer_id: str, offer_id: str) -> str:
        return self._join("producers", producer_id, "catalog-items", offer_id)

    def offer(self, producer_id: str, offer_id: str) -> str:
        return self._join("producers", producer_id, "offers", offer_id)

    def territory(self, territory: str) -> str:
        return self._join("territories", territory)

    def order(self, order_id: str) -> str:
        # order ids hold slashes (territory/slot/request/producer): kept, the route takes a path
        return f"{self.base.rstrip('/')}/orders/{quote(order_id, safe='/')}"

    def signal(self, signal: DemandSignalRecorded) -> str:
        parts = ["territories", signal.territory, "demand", signal.product_id]
        if signal.shop_id:
            parts += ["shops", signal.shop_id]
        return self._join(*parts, signal.day.isoformat())


def document(nodes: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A DFC document: the shipped context by URL, the Vivres extension, the nodes."""
    return {"@context": document_context(), "@graph": list(nodes)}


def quantity(unit: QuantityUnit, amount: int | float, measure: str | None = None
             ) -> dict[str, Any]:
    return {"@type": "dfc-b:QuantitativeValue",
            "dfc-b:hasUnit": f"dfc-m:{measure or UNIT_MEASURE[unit]}", "dfc-b:value": amount}


def pack_price_euros(unit: QuantityUnit, price_cents: int, pack_size: int) -> float:
    """The price of one pack in euros, rounded half up to the cent (Vivres prices per kg,
    litre or piece; DFC prices the offered item)."""
    basis = PRICE_BASIS[unit][0]
    cents = (Decimal(price_cents) * pack_size / basis).quantize(Decimal(1), ROUND_HALF_UP)
    return float(cents / 100)


def price(euros: float) -> dict[str, Any]:
    return {"@type": "dfc-b:Price", "dfc-b:value": euros, "dfc-b:hasUnit": f"dfc-m:{CURRENCY}"}


def certifications(organic: bool, labels: Iterable[str]) -> dict[str, Any]:
    """`dfc-b:hasCertification` for the organic flag and the labels DFC has a facet for; the
    others as `vivres:label`."""
    labels = sorted(set(labels))
    facets = [f"dfc-f:{ORGANIC_FACET}"] * organic + [f"dfc-f:{LABEL_FACET[label]}"
                                                     for label in labels if label in LABEL_FACET]
    out: dict[str, Any] = {}
    if facets:
        out["dfc-b:hasCertification"] = facets
    others = [label for label in labels if label not in LABEL_FACET]
    if others:
        out["vivres:label"] = others
    return out


def pack_text(unit: QuantityUnit, pack_size: int) -> str:
    """"5 kg", "750 g", "1,5 L", "6 pièces": how a pack reads in French."""
    if unit is QuantityUnit.PIECE:
        return f"{pack_size} pièce" + ("s" if pack_size > 1 else "")
    big, small = ("kg", "g") if unit is QuantityUnit.GRAM else ("L", "ml")
    if pack_size < 1000:
        return f"{pack_size} {small}"
    whole, rest = divmod(pack_size, 1000)
    return f"{whole} {big}" if not rest else f"{whole},{f'{rest:03d}'.rstrip('0')} {big}"


# --- the shared catalog ----------------------------------------------------------------------

def product_node(iris: Iris, product: ProductDefined) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": iris.product(product.product_id), "@type": "dfc-b:SuppliedProduct",
        "dfc-b:name": product.name,
        "dfc-b:hasQuantity": quantity(product.unit, 1, BASIS_MEASURE[product.unit]),
        "vivres:category": product.category,
    }
    if product.category in CATEGORY_TYPE:
        node["dfc-b:hasType"] = f"dfc-pt:{CATEGORY_TYPE[product.category]}"
    return node | certifications(product.organic, product.labels)


def catalog_document(iris: Iris, products: Iterable[ProductDefined]) -> dict[str, Any]:
    """The shared product catalog, sorted by product id."""
    return document(product_node(iris, p) for p in sorted(products, key=lambda p: p.product_id))


# --- a producer's offers ---------------------------------------------------------------------

def producer_node(iris: Iris, producer_id: str, entry: ProducerRegistered | None,
                  offers: list[OfferDeclared]) -> dict[str, Any]:
    """The producer as an `Enterprise`: its public farm name and commune, and the farm's
    location (the directory's, else its first offer's). No person's name or contact."""
    node: dict[str, Any] = {
        "@id": iris.producer(producer_id), "@type": "dfc-b:Enterprise",
        "dfc-b:name": entry.farm_name if entry else producer_id,
        "dfc-b:maintains": iris.catalog(producer_id),
        "dfc-b:supplies": [iris.supplied_product(producer_id, o.offer_id) for o in offers],
        "dfc-b:manages": [iris.catalog_item(producer_id, o.offer_id) for o in offers],
    }
    lat_lon = ((entry.farm_lat_e6, entry.farm_lon_e6) if entry
               else (offers[0].farm_lat_e6, offers[0].farm_lon_e6) if offers else None)
    if lat_lon:
        address: dict[str, Any] = {"@type": "dfc-b:Address",
                                   "dfc-b:latitude": lat_lon[0] / 1_000_000,
                                   "dfc-b:longitude": lat_lon[1] / 1_000_000}
        if entry:
            address["dfc-b:city"] = entry.commune
        node["dfc-b:hasAddress"] = address
    return node


def offer_nodes(iris: Iris, offer: OfferDeclared, product: ProductDefined | None
                ) -> list[dict[str, Any]]:
    """One offer as its SuppliedProduct, CatalogItem and Offer."""
    pid, oid = offer.producer_id, offer.offer_id
    name = product.name if product else offer.product_id
    packs = 0 if offer.withdrawn else offer.quantity_per_slot // offer.pack_size
    supplied: dict[str, Any] = {
        "@id": iris.supplied_product(pid, oid), "@type": "dfc-b:SuppliedProduct",
        "dfc-b:name": f"{name} – {pack_text(offer.unit, offer.pack_size)}",
        "dfc-b:hasQuantity": quantity(offer.unit, offer.pack_size),
        "dfc-b:isVariantOf": iris.product(offer.product_id),
        "dfc-b:referencedBy": iris.catalog_item(pid, oid),
    } | certifications(offer.organic, offer.labels)
    if product and product.category in CATEGORY_TYPE:
        supplied["dfc-b:hasType"] = f"dfc-pt:{CATEGORY_TYPE[product.category]}"
    item = {
        "@id": iris.catalog_item(pid, oid), "@type": "dfc-b:CatalogItem",
        "dfc-b:references": iris.supplied_product(pid, oid),
        "dfc-b:sku": oid,
        "dfc-b:stockLimitation": packs,
        "dfc-b:offeredThrough": iris.offer(pid, oid),
        "dfc-b:listedIn": iris.catalog(pid),
        "dfc-b:managedBy": iris.producer(pid),
    }
    sale = {
        "@id": iris.offer(pid, oid), "@type": "dfc-b:Offer",
        "dfc-b:hasPrice": price(pack_price_euros(offer.unit, offer.price_cents,
                                                 offer.pack_size)),
        "dfc-b:stockLimitation": packs,
        # connector and OFN practice (not declared by the ontology 1.16.0: terms.CONNECTOR_TERMS)
        "dfc-b:offeredItem": {"@id": iris.supplied_product(pid, oid)},
        "vivres:quantityPerSlot": offer.quantity_per_slot,
        "vivres:unitPriceCents": offer.price_cents,
        "vivres:availableFrom": offer.window_start.isoformat(),
        "vivres:availableUntil": offer.window_end.isoformat(),
        "vivres:territory": offer.territory,
        "vivres:withdrawn": offer.withdrawn,
    }
    return [supplied, item, sale]


def offers_document(iris: Iris, producer_id: str, offers: Iterable[OfferDeclared],
                    products: Mapping[str, ProductDefined],
                    entry: ProducerRegistered | None = None) -> dict[str, Any]:
    """A producer's DFC catalog: its offers (only its own; sorted by offer id)."""
    own = sorted((o for o in offers if o.producer_id == producer_id), key=lambda o: o.offer_id)
    catalog = {"@id": iris.catalog(producer_id), "@type": "dfc-b:Catalog",
               "dfc-b:maintainedBy": iris.producer(producer_id),
               "dfc-b:lists": [iris.catalog_item(producer_id, o.offer_id) for o in own]}
    nodes = [producer_node(iris, producer_id, entry, own), catalog]
    for offer in own:
        nodes += offer_nodes(iris, offer, products.get(offer.product_id))
    return document(nodes)


# --- pooled orders ---------------------------------------------------------------------------

def _day_start(day: date) -> str:
    return datetime.combine(day, time(0), PARIS).isoformat()


def line_node(iris: Iris, order: OrderRecorded, number: int, line: OrderLine,
              products: Mapping[str, ProductDefined]) -> dict[str, Any]:
    product = products.get(line.product_id)
    here = f"{iris.order(order.order_id)}#line-{number}"
    return {
        "@id": here, "@type": "dfc-b:OrderLine",
        "dfc-b:partOf": iris.order(order.order_id),
        "dfc-b:description": product.name if product else line.product_id,
        "dfc-b:concerns": iris.offer(order.producer_id, line.offer_id),
        "dfc-b:quantity": line.packs,  # offered items (packs), as OFN reads it
        "dfc-b:hasQuantity": quantity(line.unit, line.packs * line.pack_size),
        "dfc-b:hasPrice": price(pack_price_euros(line.unit, line.unit_price_cents,
                                                 line.pack_size)),
        "vivres:unitPriceCents": line.unit_price_cents,
        "vivres:requested": line.requested,
        "vivres:hasShopPart": [
            {"@id": f"{here}-part-{n}", "@type": "vivres:ShopPart", "vivres:shop": part.shop_id,
             "vivres:need": part.need_id, "vivres:baseQuantity": part.quantity}
            for n, part in enumerate(line.parts, 1)],
        "vivres:hasCandidate": [
            {"@id": f"{here}-candidate-{c.rank}", "@type": "vivres:GridCandidate",
             "vivres:rank": c.rank, "vivres:producer": iris.producer(c.producer_id),
             "vivres:offer": iris.offer(c.producer_id, c.offer_id),
             "vivres:qualityScore": c.quality, "vivres:localityScore": c.locality,
             "vivres:accessibilityScore": c.accessibility, "vivres:totalScore": c.total,
             "vivres:distanceMetres": c.distance_m, "vivres:unitPriceCents": c.unit_price_cents,
             "vivres:cheapestPriceCents": c.cheapest_price_cents, "vivres:capacity": c.capacity,
             "vivres:labelCounted": list(c.labels_counted),
             "vivres:explanation": {"@value": c.explanation, "@language": "fr"}}
            for c in line.candidates],
    }


def order_nodes(iris: Iris, order: OrderRecorded, products: Mapping[str, ProductDefined]
                ) -> list[dict[str, Any]]:
    """A pooled order and its lines. The buyer is the territory's hub; the delivery is to the
    hub, on the slot's day (Paris)."""
    lines = [line_node(iris, order, n, line, products) for n, line in enumerate(order.lines, 1)]
    placed = order.history[0].at if order.history else order.recorded_at
    node = {
        "@id": iris.order(order.order_id), "@type": "dfc-b:Order",
        "dfc-b:orderNumber": order.order_id,
        "dfc-b:date": placed.isoformat(),
        "dfc-b:soldBy": iris.producer(order.producer_id),
        "dfc-b:orderedBy": iris.territory(order.territory),
        "dfc-b:hasOrderStatus": f"dfc-v:{ORDER_STATUS[order.status]}",
        "dfc-b:hasFulfilmentStatus": f"dfc-v:{FULFILMENT_STATUS[order.status]}",
        "dfc-b:hasPart": [line["@id"] for line in lines],
        "dfc-b:uses": {
            "@type": "dfc-b:DeliveryOption",
            "dfc-b:startDate": _day_start(order.delivery_slot),
            "dfc-b:endDate": _day_start(order.delivery_slot + timedelta(days=1)),
            "dfc-b:deliveredAt": {
                "@type": "dfc-b:PhysicalPlace",
                "dfc-b:hasAddress": {"@type": "dfc-b:Address",
                                     "dfc-b:latitude": order.hub_lat_e6 / 1_000_000,
                                     "dfc-b:longitude": order.hub_lon_e6 / 1_000_000}}},
        "vivres:status": order.status.value,
        "vivres:territory": order.territory,
    }
    return [node, *lines]


def orders_document(iris: Iris, orders: Iterable[OrderRecorded],
                    products: Mapping[str, ProductDefined]) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = []
    for order in sorted(orders, key=lambda o: o.order_id):
        nodes += order_nodes(iris, order, products)
    return document(nodes)


# --- demand signals (no DFC term: the extension only) ----------------------------------------

def signal_node(iris: Iris, signal: DemandSignalRecorded) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": iris.signal(signal), "@type": "vivres:DemandSignal",
        "vivres:product": iris.product(signal.product_id),
        "vivres:territory": signal.territory,
        "vivres:day": signal.day.isoformat(),
        "vivres:velocity7d": signal.velocity_7d,
        "vivres:stockoutDays7d": signal.stockout_days_7d,
        "vivres:forecast7d": signal.forecast_7d,
        "vivres:forecast7dP10": signal.forecast_7d_p10,
        "vivres:forecast7dP90": signal.forecast_7d_p90,
        "vivres:forecast14d": signal.forecast_14d,
        "vivres:committedSupply7d": signal.committed_supply_7d,
        "vivres:supplyGap7d": signal.supply_gap_7d,
        "vivres:computedAt": signal.computed_at.isoformat(),
    }
    optional = {"vivres:shop": signal.shop_id, "vivres:trend": signal.trend,
                "vivres:onHand": signal.on_hand, "vivres:daysOfCover": signal.days_of_cover}
    return node | {key: value for key, value in optional.items() if value is not None}


def signals_document(iris: Iris, signals: Iterable[DemandSignalRecorded]) -> dict[str, Any]:
    return document(signal_node(iris, s) for s in sorted(signals, key=lambda s: s.signal_key))
