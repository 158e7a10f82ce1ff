"""A producer's DFC catalog read as Vivres offers (OfferDeclared). Pure but for PyLD.

The document is expanded and flattened against the shipped context only (jsonld.py), so that
however it was compacted (the DFC context by any of its URLs, an inline context, another
platform's prefixes, the 2.0 or retired namespaces) it is read by full IRIs. Each `dfc-b:Offer`
with its `CatalogItem` and `SuppliedProduct` becomes one offer, or one refusal saying why in
English and in French (the producer reads it). Nothing is guessed: a product the catalog does not
name (a Vivres product IRI, or an entry of `product_map`: the producer's links) is refused, with
the reference to link it by (`Rejected.reference`), for the producer or the hub to link.

What an offer needs and where it is read, first found wins (docs/dfc.md has the table):
- product: the supplied product's `isVariantOf`, or itself, or the item's `references`, when it
  is a Vivres product IRI; else `product_map` by supplied product IRI, catalog item IRI or sku;
- pack size: the supplied product's `hasQuantity` (Gram, Kilogram, Millilitre, Centilitre,
  Decilitre, Litre, Piece), of the catalog product's unit;
- price: `vivres:unitPriceCents`, else the offer's `hasPrice` (per pack, euros);
- quantity per slot: `vivres:quantityPerSlot`, else `stockLimitation` (the offer's, else the
  item's) packs;
- harvest window: `vivres:availableFrom`/`availableUntil`, else the `SaleSession` that `lists`
  the offer, else `window`;
- organic and labels: the supplied product's `hasCertification` facets, and `vivres:label`;
- farm: the supplying enterprise's `hasAddress` latitude and longitude, else `farm`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from services.dfc.export import Iris
from services.dfc.jsonld import flatten
from services.dfc.terms import (
    CONNECTOR_TERMS,
    CURRENCY,
    FACET_LABEL,
    MEASURE_BASE,
    ORGANIC_FACETS,
    VIVRES,
    dfc_terms,
    local,
)
from services.events.catalog import ProductDefined
from services.events.supply import OfferDeclared
from services.orders.checks import offer_problem
from services.orders.grid import PRICE_BASIS

PARIS = ZoneInfo("Europe/Paris")
Node = dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    """A node of the catalog that gives no offer, and why (English, and French for the page)."""

    iri: str
    msg: str
    fr: str
    reference: str | None = None  # an unknown product: what to link (`reference_of`)


@dataclass(frozen=True)
class Imported:
    offers: tuple[OfferDeclared, ...]
    rejected: tuple[Rejected, ...]
    # DFC IRIs the ontology 1.16.0 does not declare (nor the connectors write): read past, shown
    unknown_terms: tuple[str, ...] = ()
    # the IRI of the DFC offer each offer was read from, by offer id (to name it in a refusal)
    origins: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """Whose offers these become and what the catalog may leave out."""

    producer_id: str  # the token's subject: a catalog cannot declare another producer's offers
    territory: str
    products: Mapping[str, ProductDefined]
    now: datetime
    iris: Iris
    # product ids by the catalog's own names: supplied-product IRI, catalog-item IRI or sku
    product_map: Mapping[str, str] = field(default_factory=dict)
    existing: Mapping[str, OfferDeclared] = field(default_factory=dict)  # offers by offer_id
    farm: tuple[int, int] | None = None  # the directory's farm location, microdegrees
    window: tuple[date, date] | None = None
    customer_category: str | None = None  # keep only offers to it (or to nobody in particular)


class _Refused(Exception):
    def __init__(self, msg: str, fr: str, reference: str | None = None) -> None:
        super().__init__(msg)
        self.msg, self.fr, self.reference = msg, fr, reference


MAX_REFERENCE = 500  # characters of a reference a link can name (the links route's limit)


def reference_of(sku: Any, sp: str | None, item: str | None) -> str | None:
    """What to link an unknown product by: the item's sku (what the producer sees in its
    platform), else the supplied product's IRI, else the item's; never a blank node (its name
    is made anew at each reading) nor what a link cannot hold."""
    sku = str(sku) if isinstance(sku, str | int) and not isinstance(sku, bool) else None
    for reference in (sku, sp, item):
        if reference and reference.strip() and not reference.startswith("_:") \
                and len(reference) <= MAX_REFERENCE:
            return reference
    return None


class Graph:
    """The flattened nodes, with each property read by its DFC local name (any namespace
    version) or as "vivres:<term>", and the links indexed both ways."""

    def __init__(self, flat: list[Node]) -> None:
        self.nodes: dict[str, Node] = {}
        self.props: dict[str, dict[str, list[Any]]] = {}
        self.types: dict[str, set[str]] = {}
        self.inverse: dict[tuple[str, str], list[str]] = defaultdict(list)
        unknown: set[str] = set()
        known = dfc_terms()["business"] | CONNECTOR_TERMS
        for node in flat:
            iri = node.get("@id")
            if not isinstance(iri, str):
                continue
            self.nodes[iri] = node
            self.types[iri] = {self._name(t, known, unknown) or t for t in node.get("@type", [])}
            props: dict[str, list[Any]] = defaultdict(list)
            for key, values in node.items():
                if key.startswith("@"):
                    continue
                name = self._name(key, known, unknown)
                if name is None:
                    continue  # another platform's own terms (ofn:, ...): not ours to read
                props[name] += values
                for value in values:
                    if isinstance(value, dict) and "@id" in value:
                        self.inverse[(name, value["@id"])].append(iri)
            self.props[iri] = props
        self.unknown_terms = tuple(sorted(unknown))

    @staticmethod
    def _name(iri: str, known: frozenset[str], unknown: set[str]) -> str | None:
        name = local(iri, "b")
        if name is not None:
            if name not in known:
                unknown.add(iri)
            return name
        if iri.startswith(VIVRES):
            return "vivres:" + iri[len(VIVRES):]
        return None

    def of_type(self, name: str) -> list[str]:
        return sorted(iri for iri, types in self.types.items() if name in types)

    def is_a(self, iri: str, name: str) -> bool:
        return name in self.types.get(iri, ())

    def refs(self, iri: str, term: str) -> list[str]:
        """The IRIs a property points to. A plain string counts too: the context gives no
        `@id` type to connector-only terms, so connector-ruby's `"dfc-b:offeredItem": "https:…"`
        expands to a literal."""
        out = []
        for value in self.props.get(iri, {}).get(term, []):
            if isinstance(value, dict) and "@id" in value:
                out.append(value["@id"])
            elif isinstance(value, dict) and isinstance(value.get("@value"), str) \
                    and "://" in value["@value"]:
                out.append(value["@value"])
        return out

    def pointing(self, term: str, target: str) -> list[str]:
        return sorted(self.inverse.get((term, target), []))

    def literal(self, iri: str, term: str) -> Any:
        for value in self.props.get(iri, {}).get(term, []):
            if isinstance(value, dict) and "@value" in value:
                return value["@value"]
        return None

    def literals(self, iri: str, term: str) -> list[Any]:
        return [value["@value"] for value in self.props.get(iri, {}).get(term, [])
                if isinstance(value, dict) and "@value" in value]


# Beyond any quantity, price or coordinate an offer can have: a number of more digits before
# the point is not read (int() of 1e999999999 would build a billion-digit integer, and
# arithmetic on it overflows the decimal context).
_DIGITS = 13


def _decimal(value: Any) -> Decimal | None:
    """A finite number below 10**_DIGITS in size (NaN, infinities and huge values: None)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number.adjusted() < _DIGITS else None


def _day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
        return (moment.astimezone(PARIS) if moment.tzinfo else moment).date()
    except (ValueError, OverflowError):  # "0001-01-01T00:00:00+14:00" is before year 1 in Paris
        return None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _blank(iri: str | None) -> bool:
    return iri is None or iri.startswith("_:")


class _Reader:
    def __init__(self, graph: Graph, target: Target) -> None:
        self.g, self.t = graph, target
        base = target.iris.base.rstrip("/")
        self.product_prefix = f"{base}/products/"
        self.producers_prefix = f"{base}/producers/"
        self.own_offer_prefix = target.iris.offer(target.producer_id, "")

    # -- which nodes make one offer --

    def catalog_item(self, offer: str) -> str | None:
        g = self.g
        found = ([ci for ci in g.refs(offer, "offers") if g.is_a(ci, "CatalogItem")]
                 + g.pointing("offeredThrough", offer)
                 + [ci for ci in g.refs(offer, "offeredItem") if g.is_a(ci, "CatalogItem")])
        return found[0] if found else None

    def supplied_product(self, offer: str, item: str | None) -> str | None:
        g = self.g
        direct = [sp for sp in g.refs(offer, "offeredItem") if not g.is_a(sp, "CatalogItem")]
        via_item = (g.refs(item, "references") + g.pointing("referencedBy", item)) if item else []
        found = direct + via_item
        return found[0] if found else None

    # -- each field --

    def product(self, sp: str | None, item: str | None) -> ProductDefined:
        g, t = self.g, self.t
        named = ([*g.refs(sp, "isVariantOf"), sp] if sp else []) + \
            (g.refs(item, "references") if item else [])
        for iri in named:
            if iri and iri.startswith(self.product_prefix):
                product_id = unquote(iri[len(self.product_prefix):])
                if product_id in t.products:
                    return t.products[product_id]
        sku = g.literal(item, "sku") if item else None
        for key in (sp, item, sku):
            if key is not None and t.product_map.get(str(key)) in t.products:
                return t.products[t.product_map[str(key)]]
        name = g.literal(sp, "name") if sp else None
        reference = reference_of(sku, sp, item)
        named_as = name or reference
        if reference is None:
            raise _Refused(f"no catalog product for {named_as or '(no name)'}, and nothing to "
                           "link it by: give the item a sku",
                           f"Produit « {named_as or 'sans nom'} » inconnu du catalogue, et "
                           "sans référence pour l'associer : donnez une référence (sku) à "
                           "l'article.")
        raise _Refused(f"no catalog product for {named_as}: link its reference {reference!r} "
                       f"to a Vivres product (POST /v1/dfc/producers/{t.producer_id}/links), "
                       "then import again",
                       f"Produit « {named_as} » inconnu du catalogue : associez sa référence "
                       f"« {reference} » à un produit de Vivres (le producteur ou le pôle, une "
                       "fois pour toutes), puis importez à nouveau.", reference)

    def pack_size(self, sp: str | None, product: ProductDefined) -> int:
        g = self.g
        for qv in g.refs(sp, "hasQuantity") if sp else []:
            units = [local(u, "m") for u in g.refs(qv, "hasUnit")]
            amount = _decimal(g.literal(qv, "value"))
            measure = next((u for u in units if u), None)
            if measure not in MEASURE_BASE or amount is None:
                raise _Refused(f"pack quantity in {measure or 'no unit'}: Vivres reads grams, "
                               "kilograms, millilitres to litres, or pieces",
                               f"Conditionnement en « {measure or 'sans unité'} » : indiquez-le "
                               "en grammes, kilos, millilitres, litres ou pièces.")
            unit, factor = MEASURE_BASE[measure]
            if unit is not product.unit:
                raise _Refused(f"pack in {measure} for a product sold in {product.unit.value}",
                               f"Conditionnement en {measure} pour un produit vendu en "
                               f"{product.unit.value.lower()}.")
            base = amount * factor
            if base <= 0 or base != base.to_integral_value():
                raise _Refused(f"pack of {amount} {measure} is not a whole number of base units",
                               f"Colis de {amount} {measure} : pas un nombre entier d'unités.")
            return int(base)
        raise _Refused("the supplied product has no hasQuantity (pack size)",
                       "Le produit n'indique pas son conditionnement (hasQuantity).")

    def price_cents(self, offer: str, product: ProductDefined, pack: int) -> int:
        g = self.g
        exact = _decimal(g.literal(offer, "vivres:unitPriceCents"))
        if exact is not None and exact == exact.to_integral_value() and exact > 0:
            return int(exact)
        euros = _decimal(g.literal(offer, "hasPrice"))  # a bare number, as OFN accepts
        for node in g.refs(offer, "hasPrice"):
            currency = next((local(u, "m") for u in g.refs(node, "hasUnit")), None)
            if currency not in (None, CURRENCY):
                raise _Refused(f"price in {currency}: Vivres pays in euros",
                               f"Prix en {currency} : Vivres paie en euros.")
            euros = _decimal(g.literal(node, "value"))
        if euros is None or euros <= 0:
            raise _Refused("the offer has no positive price", "L'offre n'a pas de prix.")
        basis = PRICE_BASIS[product.unit][0]
        cents = (euros * 100 * basis / pack).quantize(Decimal(1), ROUND_HALF_UP)
        return max(1, int(cents))

    def capacity(self, offer: str, item: str | None, pack: int) -> int:
        g = self.g
        exact = _decimal(g.literal(offer, "vivres:quantityPerSlot"))
        if exact is not None and exact >= 0 and exact == exact.to_integral_value():
            return int(exact)
        limits = [_decimal(g.literal(n, "stockLimitation")) for n in (offer, item) if n]
        limit = next((x for x in limits if x is not None), None)
        if limit is None:
            raise _Refused("no stockLimitation: Vivres needs what can be delivered per slot",
                           "Quantité disponible absente (stockLimitation) : indiquez combien "
                           "de colis par livraison.")
        if limit < 0:
            raise _Refused("stockLimitation is negative (on demand): Vivres needs a quantity",
                           "Stock « à la demande » : indiquez un nombre de colis par livraison.")
        return int(limit.to_integral_value(ROUND_HALF_UP)) * pack

    def window(self, offer: str) -> tuple[date, date]:
        g = self.g
        start = _day(g.literal(offer, "vivres:availableFrom"))
        end = _day(g.literal(offer, "vivres:availableUntil"))
        if start and end:
            return start, end
        for session in g.pointing("lists", offer):
            if g.is_a(session, "SaleSession"):
                start = _day(g.literal(session, "startDate"))
                end = _day(g.literal(session, "endDate"))
                if start and end:
                    return start, end
        if self.t.window:
            return self.t.window
        raise _Refused("no harvest window: give availableFrom/availableUntil, a SaleSession, "
                       "or the import's window", "Période de disponibilité absente : précisez "
                       "les dates de début et de fin.")

    def certifications(self, sp: str | None) -> tuple[bool, tuple[str, ...]]:
        g = self.g
        facets = {local(c, "f") for c in g.refs(sp, "hasCertification")} if sp else set()
        labels = {FACET_LABEL[f] for f in facets if f in FACET_LABEL}
        labels |= {str(x) for x in (g.literals(sp, "vivres:label") if sp else [])}
        return bool(facets & ORGANIC_FACETS), tuple(sorted(labels))

    def farm(self, sp: str | None, item: str | None) -> tuple[int, int]:
        g = self.g
        enterprises = ((g.pointing("supplies", sp) if sp else [])
                       + (g.pointing("manages", item) + g.refs(item, "managedBy") if item else []))
        for enterprise in enterprises:
            for address in g.refs(enterprise, "hasAddress"):
                lat = _decimal(g.literal(address, "latitude"))
                lon = _decimal(g.literal(address, "longitude"))
                if lat is not None and lon is not None:
                    return (int((lat * 1_000_000).to_integral_value(ROUND_HALF_UP)),
                            int((lon * 1_000_000).to_integral_value(ROUND_HALF_UP)))
        if self.t.farm:
            return self.t.farm
        raise _Refused("no farm location (the enterprise's address, or the directory's)",
                       "Emplacement de la ferme absent : l'annuaire ne le connaît pas non plus.")

    def offer_id(self, offer: str, item: str | None, sp: str | None) -> str:
        t = self.t
        if offer.startswith(self.own_offer_prefix):
            return unquote(offer[len(self.own_offer_prefix):])
        if offer.startswith(self.producers_prefix):
            raise _Refused("another producer's Vivres offer", "Offre d'un autre producteur.")
        source = next((iri for iri in (offer, item, sp) if not _blank(iri)), None)
        if source is None:
            raise _Refused("the offer, its item and its product have no @id: it could not be "
                           "imported again as the same offer",
                           "L'offre n'a pas d'identifiant : un nouvel import la dupliquerait.")
        # surrogatepass: a JSON \ud800 escape gives a lone surrogate, which UTF-8 cannot encode
        digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{t.producer_id}-dfc-{digest[:12]}"

    def territory_ok(self, offer: str) -> None:
        said = self.g.literal(offer, "vivres:territory")
        if said is not None and said != self.t.territory:
            raise _Refused(f"offer for territory {said}, imported into {self.t.territory}",
                           f"Offre pour le territoire « {said} », pas « {self.t.territory} ».")

    def for_customer(self, offer: str) -> bool:
        wanted = self.t.customer_category
        to = self.g.refs(offer, "offersTo") + self.g.refs(offer, "offeredTo")
        return not to or wanted is None or wanted in to

    # -- one offer --

    def read(self, offer: str) -> OfferDeclared:
        t = self.t
        self.territory_ok(offer)
        item = self.catalog_item(offer)
        sp = self.supplied_product(offer, item)
        product = self.product(sp, item)
        pack = self.pack_size(sp, product)
        start, end = self.window(offer)
        if end < start:
            raise _Refused("the window ends before it starts",
                           "La période se termine avant de commencer.")
        organic, labels = self.certifications(sp)
        lat, lon = self.farm(sp, item)
        offer_id = self.offer_id(offer, item, sp)
        known = t.existing.get(offer_id)
        if known is not None and known.producer_id != t.producer_id:
            raise _Refused(f"offer {offer_id} is another producer's",
                           "Cette offre appartient à un autre producteur.")
        declared = OfferDeclared(
            offer_id=offer_id, producer_id=t.producer_id, territory=t.territory,
            product_id=product.product_id, unit=product.unit,
            quantity_per_slot=self.capacity(offer, item, pack), pack_size=pack,
            price_cents=self.price_cents(offer, product, pack),
            window_start=start, window_end=end, organic=organic, labels=labels,
            farm_lat_e6=lat, farm_lon_e6=lon, declared_at=t.now,
            withdrawn=bool(_boolean(self.g.literal(offer, "vivres:withdrawn"))))
        problem = offer_problem(declared)
        if problem:
            raise _Refused(problem, f"Offre refusée : {problem}.")
        return declared


def offers_from_catalog(document: Any, target: Target) -> Imported:
    """Every offer of the catalog as an OfferDeclared of `target.producer_id`, or a refusal.
    A catalog item no offer prices is refused too. Raises jsonld.ContextRefused when the
    document names a context Vivres does not ship, or is not JSON-LD."""
    graph = Graph(flatten(document))
    reader = _Reader(graph, target)
    seen: dict[str, tuple[str, OfferDeclared]] = {}
    rejected: list[Rejected] = []
    priced: set[str] = set()
    for offer in graph.of_type("Offer"):
        if not reader.for_customer(offer):
            continue
        item = reader.catalog_item(offer)
        if item:
            priced.add(item)
        try:
            read = reader.read(offer)
        except _Refused as refusal:
            rejected.append(Rejected(offer, refusal.msg, refusal.fr, refusal.reference))
            continue
        seen.setdefault(read.offer_id, (offer, read))  # two folding onto one id: the first
    for item in graph.of_type("CatalogItem"):
        if item not in priced:
            rejected.append(Rejected(item, "a catalog item without an offer (no price)",
                                     "Article sans offre (pas de prix) : non importé."))
    return Imported(tuple(read for _, read in seen.values()), tuple(rejected),
                    graph.unknown_terms, {oid: iri for oid, (iri, _) in seen.items()})
