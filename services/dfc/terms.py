"""The DFC terms Vivres reads and writes, the Vivres extension, and what maps to what. Pure.

Namespaces are those of the shipped context (`context/context_1.16.0.json`). A document written
with another version's namespaces (the retired static.datafoodconsortium.org ones, or 2.0's
w3id.org ones) is read by local name: `local()` folds them together.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from services.events.orders import OrderStatus
from services.events.sales import QuantityUnit

CONTEXT_VERSION = "1.16.0"
CONTEXT_URL = f"https://w3id.org/dfc/ontology/context/context_{CONTEXT_VERSION}.json"

_GH = "https://github.com/datafoodconsortium"
DFC_B = f"{_GH}/ontology/releases/latest/download/DFC_BusinessOntology.owl#"
DFC_M = f"{_GH}/taxonomies/releases/latest/download/measures.rdf#"
DFC_PT = f"{_GH}/taxonomies/releases/latest/download/productTypes.rdf#"
DFC_F = f"{_GH}/taxonomies/releases/latest/download/facets.rdf#"
DFC_V = f"{_GH}/taxonomies/releases/latest/download/vocabulary.rdf#"

# The Vivres extension: what Vivres has and DFC has no term for (docs/dfc.md says each term).
# w3id.org is a permanent-identifier service; the redirect is to be registered (see docs/dfc.md).
VIVRES = "https://w3id.org/vivres/ns#"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "@type"

# Every namespace a DFC document may use for each of the five vocabularies: the shipped one
# first, then 2.0's and the retired ones, read as the same local names.
NAMESPACES: dict[str, tuple[str, ...]] = {
    "b": (DFC_B, "http://w3id.org/dfc/ontology/v2.0.0/src/DFC_BusinessOntology.owl#",
          "http://static.datafoodconsortium.org/ontologies/DFC_BusinessOntology.owl#"),
    "m": (DFC_M, "http://w3id.org/dfc/taxonomies/v2.0.0/measures.rdf#",
          "http://static.datafoodconsortium.org/data/measures.rdf#"),
    "pt": (DFC_PT, "http://w3id.org/dfc/taxonomies/v2.0.0/productTypes.rdf#",
           "http://static.datafoodconsortium.org/data/productTypes.rdf#"),
    "f": (DFC_F, "http://w3id.org/dfc/taxonomies/v2.0.0/facets.rdf#",
          "http://static.datafoodconsortium.org/data/facets.rdf#"),
    "v": (DFC_V, "http://w3id.org/dfc/taxonomies/v2.0.0/vocabulary.rdf#"),
}


def local(iri: str, vocabulary: str) -> str | None:
    """The local name of `iri` in one of the DFC vocabularies ("b", "m", "pt", "f", "v"), in
    any of its known namespaces; None when it is not one of them."""
    for namespace in NAMESPACES[vocabulary]:
        if iri.startswith(namespace):
            return iri[len(namespace):]
    return None


def b(name: str) -> str:
    """The full IRI of a business-ontology term (as an expanded document has it)."""
    return DFC_B + name


def v(name: str) -> str:
    """The full IRI of a Vivres extension term."""
    return VIVRES + name


@cache
def dfc_terms() -> dict[str, frozenset[str]]:
    """What the ontology 1.16.0 declares and the taxonomies 1.3.0 hold, by vocabulary
    (`context/dfc-terms.json`)."""
    raw = json.loads(resources.files("services.dfc").joinpath("context/dfc-terms.json")
                     .read_text(encoding="utf-8"))
    return {key: frozenset(names) for key, names in raw.items() if not key.startswith("_")}


# Terms the DFC connectors (connector-ruby 1.3.0, connector-typescript) and Open Food Network
# write although the ontology 1.16.0 does not declare them. Vivres writes only `offeredItem`
# (OFN reads an order line's product through `offer.offeredItem`) and reads the others.
CONNECTOR_TERMS = frozenset({"offeredItem", "offeredTo", "hasDescription",
                             "totalTheoreticalStock"})

# --- units -----------------------------------------------------------------------------------
# A Vivres product's base unit, as a DFC measure.
UNIT_MEASURE: dict[QuantityUnit, str] = {
    QuantityUnit.GRAM: "Gram",
    QuantityUnit.MILLILITRE: "Millilitre",
    QuantityUnit.PIECE: "Piece",
}
# DFC measures read on import, with how many base units one is. Counted packs (Dozen, Pair,
# 6Pack...) are refused: a Vivres "piece" may itself be a box of six.
MEASURE_BASE: dict[str, tuple[QuantityUnit, int]] = {
    "Gram": (QuantityUnit.GRAM, 1),
    "Kilogram": (QuantityUnit.GRAM, 1000),
    "Millilitre": (QuantityUnit.MILLILITRE, 1),
    "Centilitre": (QuantityUnit.MILLILITRE, 10),
    "Decilitre": (QuantityUnit.MILLILITRE, 100),
    "Litre": (QuantityUnit.MILLILITRE, 1000),
    "Piece": (QuantityUnit.PIECE, 1),
}
CURRENCY = "Euro"

# --- product types ---------------------------------------------------------------------------
# A catalog category (services/simulator/territories.py, the hub's own) as a DFC product type.
CATEGORY_TYPE: dict[str, str] = {
    "legumes": "vegetable",
    "fruits": "fruit",
    "boulangerie": "bakery",
    "pain": "bread",
    "oeufs": "egg",
    "cremerie": "dairy-product",
    "epicerie": "local-grocery-store",
    "hygiene": "inedible",
}

# --- certifications --------------------------------------------------------------------------
ORGANIC_FACET = "Organic-AB"  # the `organic` flag: certified organic (AB)
ORGANIC_FACETS = frozenset({"Organic-AB", "Organic-EU", "Organic-BioCoherence"})
# The grid's recognised labels (services/orders/grid.py RECOGNISED_LABELS) as DFC facets.
LABEL_FACET: dict[str, str] = {
    "label-rouge": "RedLabel_FR",
    "aop": "AOP_EU",
    "igp": "IGP_EU",
    "hve": "HEV",
    "commerce-equitable": "FairTradeMaxHaavelar",  # DFC has Max Havelaar only
    "nature-et-progres": "NatureEtProgres",
    "demeter": "Demeter",
}
FACET_LABEL: dict[str, str] = {facet: label for label, facet in LABEL_FACET.items()}

# --- order statuses --------------------------------------------------------------------------
# A pooled order (one producer, one delivery slot, bought by the territory's hub) as the DFC
# order and fulfilment statuses. The exact Vivres status also goes out as vivres:status.
ORDER_STATUS: dict[OrderStatus, str] = {
    OrderStatus.NEEDED: "Draft",
    OrderStatus.ALLOCATED: "Held",
    OrderStatus.CONFIRMED: "Complete",
    OrderStatus.SHIPPED: "Complete",
    OrderStatus.RECEIVED_AT_HUB: "Complete",
    OrderStatus.DISPATCHED: "Complete",
    OrderStatus.RECEIVED_AT_SHOP: "Complete",
    OrderStatus.REFUSED: "Cancelled",
    OrderStatus.CANCELLED: "Cancelled",
}
FULFILMENT_STATUS: dict[OrderStatus, str] = {
    OrderStatus.NEEDED: "Unfulfilled",
    OrderStatus.ALLOCATED: "Unfulfilled",
    OrderStatus.CONFIRMED: "Unfulfilled",
    OrderStatus.SHIPPED: "Unfulfilled",
    OrderStatus.RECEIVED_AT_HUB: "Fulfilled",  # the producer's order is delivered to its buyer
    OrderStatus.DISPATCHED: "Fulfilled",
    OrderStatus.RECEIVED_AT_SHOP: "Fulfilled",
    OrderStatus.REFUSED: "Cancelled",
    OrderStatus.CANCELLED: "Cancelled",
}

# --- the Vivres extension --------------------------------------------------------------------
# Each term with its kind ("class", "iri": an object property, or the XSD datatype of a data
# property), its French and English labels. docs/dfc.md lists the same; vocab.py serves them.
VIVRES_TERMS: dict[str, tuple[str, str, str]] = {
    # offers
    "quantityPerSlot": ("integer", "quantité par créneau de livraison (unité de base)",
                        "quantity per delivery slot (base units)"),
    "unitPriceCents": ("integer", "prix en centimes par kg, litre ou pièce",
                       "price in euro cents per kilogram, litre or piece"),
    "availableFrom": ("date", "premier jour de la fenêtre de récolte",
                      "first day of the harvest window"),
    "availableUntil": ("date", "dernier jour de la fenêtre de récolte",
                       "last day of the harvest window"),
    "withdrawn": ("boolean", "offre retirée", "offer withdrawn"),
    "territory": ("string", "territoire", "territory"),
    "category": ("string", "catégorie du catalogue", "catalog category"),
    "label": ("string", "label non reconnu par le DFC", "label DFC has no facet for"),
    # pooled orders
    "status": ("string", "statut Vivres de la commande", "Vivres order status"),
    "requested": ("integer", "quantité demandée avant arrondi aux colis",
                  "quantity requested before rounding to packs"),
    "hasShopPart": ("iri", "part d'une épicerie", "a shop's part"),
    "ShopPart": ("class", "part d'une épicerie dans une ligne", "a shop's part of a line"),
    "shop": ("string", "épicerie", "shop"),
    "need": ("string", "besoin exprimé", "stated need"),
    "baseQuantity": ("integer", "quantité en unité de base", "quantity in base units"),
    # the selection grid
    "GridCandidate": ("class", "candidat classé par la grille de sélection",
                      "a candidate ranked by the selection grid"),
    "hasCandidate": ("iri", "candidat de la grille", "grid candidate"),
    "rank": ("integer", "rang", "rank"),
    "producer": ("iri", "producteur", "producer"),
    "offer": ("iri", "offre", "offer"),
    "qualityScore": ("integer", "note qualité (0–100)", "quality score (0–100)"),
    "localityScore": ("integer", "note proximité (0–100)", "locality score (0–100)"),
    "accessibilityScore": ("integer", "note accessibilité prix (0–100)",
                           "accessibility (price) score (0–100)"),
    "totalScore": ("integer", "note pondérée (0–100)", "weighted score (0–100)"),
    "distanceMetres": ("integer", "distance de la ferme au pôle (m)",
                       "distance from farm to hub (m)"),
    "cheapestPriceCents": ("integer", "prix le moins cher des candidats (centimes)",
                           "cheapest candidate's price (cents)"),
    "capacity": ("integer", "capacité restante (unité de base)",
                 "remaining capacity (base units)"),
    "labelCounted": ("string", "label compté par la grille", "label counted by the grid"),
    "explanation": ("string", "explication en français", "explanation, in French"),
    # demand signals
    "DemandSignal": ("class", "signal de demande", "demand signal"),
    "product": ("iri", "produit", "product"),
    "day": ("date", "jour du signal", "day of the signal"),
    "velocity7d": ("decimal", "ventes moyennes par jour sur 7 jours",
                   "mean daily sales over 7 days"),
    "trend": ("decimal", "tendance", "trend"),
    "onHand": ("integer", "stock en rayon", "on hand"),
    "daysOfCover": ("decimal", "jours de couverture", "days of cover"),
    "stockoutDays7d": ("integer", "jours de rupture sur 7 jours", "stock-out days over 7 days"),
    "forecast7d": ("decimal", "prévision 7 jours (moyenne)", "7-day forecast (mean)"),
    "forecast7dP10": ("decimal", "prévision 7 jours, 10e centile", "7-day forecast, p10"),
    "forecast7dP90": ("decimal", "prévision 7 jours, 90e centile", "7-day forecast, p90"),
    "forecast14d": ("decimal", "prévision 14 jours (moyenne)", "14-day forecast (mean)"),
    "committedSupply7d": ("integer", "offre engagée sur 7 jours", "committed supply over 7 days"),
    "supplyGap7d": ("decimal", "écart d'offre sur 7 jours", "supply gap over 7 days"),
    "computedAt": ("dateTime", "calculé le", "computed at"),
}
VIVRES_CLASSES = frozenset(t for t, (kind, _, _) in VIVRES_TERMS.items() if kind == "class")


def vivres_context() -> dict[str, object]:
    """The inline context that goes after the DFC one: the prefix, and the type of each
    extension term (object properties as IRIs, dates and numbers as typed literals)."""
    context: dict[str, object] = {"vivres": VIVRES}
    for term, (kind, _, _) in VIVRES_TERMS.items():
        if kind == "iri":
            context[f"vivres:{term}"] = {"@type": "@id"}
        elif kind in ("date", "dateTime"):
            context[f"vivres:{term}"] = {"@type": XSD + kind}
    return context


def document_context() -> list[object]:
    """The `@context` of every document Vivres writes: the DFC one by URL, then the extension."""
    return [CONTEXT_URL, vivres_context()]
