"""Shared product catalog events. Wire form: schemas/catalog/*.avsc (compacted topics)."""

from __future__ import annotations

from typing import ClassVar


from services.events.base import Event, WireTime
from services.events.sales import CodeKind, QuantityUnit


def code_key(shop_id: str, code_kind: CodeKind | str, code: str) -> str:
    """The key of a shop's till code: one mapping (or unmapped flag) per shop, kind and code
    (the kind as an event holds it, or its symbol as a reader decodes it)."""
    return f"{shop_id}/{code_kind}/{code}"


class ProductDefined(Event):
    schema_name: ClassVar[str] = "org.vivres.catalog.ProductDefined"
    time_field: ClassVar[str] = "defined_at"

    product_id: str
    name: str
    category: str
    unit: QuantityUnit
    organic: bool
    labels: tuple[str, ...]
    defined_at: WireTime

    @property
    def event_id(self) -> str:
        return f"product/{self.product_id}/{int(self.defined_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return "/catalog/products"


class TillCodeMapped(Event):
    schema_name: ClassVar[str] = "org.vivres.catalog.TillCodeMapped"
    time_field: ClassVar[str] = "mapped_at"

    shop_id: str
    code: str
    code_kind: CodeKind
    product_id: str
    mapped_at: WireTime

    @property
    def code_key(self) -> str:
        """`<shop_id>/<code_kind>/<code>`: one per shop, kind and till code."""
        return code_key(self.shop_id, self.code_kind, self.code)

    @property
    def event_id(self) -> str:
        return f"mapping/{self.code_key}/{int(self.mapped_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/shops/{self.shop_id}/catalog"


def link_key(producer_id: str, reference: str) -> str:
    """The key of a producer's DFC link: one product per producer and reference (a producer
    id is a slug, without "/": the reference, an IRI or a sku, is all that follows)."""
    return f"{producer_id}/{reference}"


class DfcProductLinked(Event):
    """A producer's own name for a product in its DFC catalog (a supplied-product or
    catalog-item IRI, or a sku) linked to a canonical product: what a catalog import reads
    as that product (services/dfc/importer.py, `product_map`)."""

    schema_name: ClassVar[str] = "org.vivres.catalog.DfcProductLinked"
    time_field: ClassVar[str] = "linked_at"

    producer_id: str
    reference: str
    product_id: str
    linked_at: WireTime

    @property
    def link_key(self) -> str:
        """`<producer_id>/<reference>`: one per producer and reference."""
        return link_key(self.producer_id, self.reference)

    @property
    def event_id(self) -> str:
        return f"dfc-link/{self.link_key}/{int(self.linked_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/producers/{self.producer_id}/dfc"


class TillCodeUnmapped(Event):
    schema_name: ClassVar[str] = "org.vivres.catalog.TillCodeUnmapped"
    time_field: ClassVar[str] = "first_seen_at"

    shop_id: str
    code: str
    code_kind: CodeKind
    label: str
    ticket_id: str
    first_seen_at: WireTime

    @property
    def code_key(self) -> str:
        """`<shop_id>/<code_kind>/<code>`: one per shop, kind and till code."""
        return code_key(self.shop_id, self.code_kind, self.code)

    @property
    def event_id(self) -> str:
        return f"unmapped/{self.code_key}"

    @property
    def event_source(self) -> str:
        return f"/shops/{self.shop_id}/catalog"


class ShopRegistered(Event):
    schema_name: ClassVar[str] = "org.vivres.catalog.ShopRegistered"
    time_field: ClassVar[str] = "registered_at"

    shop_id: str
    name: str
    territory: str
    kind: str  # "sociale" or "solidaire" (older entries: free text)
    timezone: str
    registered_at: WireTime  # when this version was recorded
    commune: str | None = None
    opening_days: tuple[int, ...] = ()  # ISO weekdays, 1 Monday
    closed_at: WireTime | None = None

    @property
    def event_id(self) -> str:
        return f"shop/{self.shop_id}/{int(self.registered_at.timestamp() * 1000)}"

    @property
    def event_source(self) -> str:
        return f"/shops/{self.shop_id}"
