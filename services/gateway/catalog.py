"""The shared product catalog: canonical products, each shop's till-code mappings, and the codes
seen on tickets that nobody has mapped yet."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field

from services.auth.tokens import Principal
from services.bus.catalog import MAPPINGS, PRODUCTS
from services.events.auth import Role
from services.events.catalog import ProductDefined, TillCodeMapped, TillCodeUnmapped
from services.events.sales import CodeKind, QuantityUnit
from services.gateway.auth import principal, require, require_shop_or_staff
from services.gateway.deps import Deps, Rows
from services.gateway.fields import Code, Name, ShopId, Slug, refused

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])


def known_product(products: Rows[ProductDefined], product_id: str) -> ProductDefined:
    """The catalog's product, or 422 naming `product_id` when the catalog does not know it."""
    product = products.get(product_id)
    if product is None:
        raise refused("product_id", "value_error", f"unknown product {product_id!r}",
                      f"Aucun produit « {product_id} » dans le catalogue de Vivres.")
    return product


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: Slug
    name: Name
    category: Slug
    unit: QuantityUnit
    organic: bool = False
    labels: Annotated[list[Slug], Field(max_length=20)] = []


class MappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop_id: ShopId
    code: Code
    code_kind: CodeKind = CodeKind.INTERNAL
    product_id: Slug


@router.post("/products", status_code=status.HTTP_201_CREATED, response_model=ProductDefined)
async def define_product(product: ProductIn, who: Annotated[Principal, Depends(principal)],
                         deps: Deps) -> ProductDefined:
    """Create or update a canonical product (hub coordinator or operator)."""
    require(who, Role.HUB, Role.OPERATOR)
    event = ProductDefined(**product.model_dump(), defined_at=deps.clock())
    await deps.publisher.publish(PRODUCTS, event)
    deps.products.put(event)
    return event


@router.get("/products", response_model=list[ProductDefined])
async def list_products(deps: Deps, category: Annotated[Slug | None, Query()] = None
                        ) -> list[ProductDefined]:
    """The canonical products, optionally of one category."""
    return sorted((p for p in deps.products.values() if category in (None, p.category)),
                  key=lambda p: p.product_id)


@router.post("/mappings", status_code=status.HTTP_201_CREATED, response_model=TillCodeMapped)
async def map_code(mapping: MappingIn, who: Annotated[Principal, Depends(principal)],
                   deps: Deps) -> TillCodeMapped:
    """Map a shop's till code to a canonical product (the shop itself, the hub or an operator)."""
    require_shop_or_staff(who, mapping.shop_id)
    known_product(deps.products, mapping.product_id)
    event = TillCodeMapped(**mapping.model_dump(), mapped_at=deps.clock())
    await deps.publisher.publish(MAPPINGS, event)
    deps.mappings.put(event)
    return event


@router.get("/mappings", response_model=list[TillCodeMapped])
async def list_mappings(who: Annotated[Principal, Depends(principal)],
                        shop: Annotated[ShopId, Query()], deps: Deps) -> list[TillCodeMapped]:
    """A shop's till-code mappings."""
    require_shop_or_staff(who, shop)
    return sorted((m for m in deps.mappings.values() if m.shop_id == shop),
                  key=lambda m: m.code_key)


@router.get("/unmapped", response_model=list[TillCodeUnmapped])
async def list_unmapped(who: Annotated[Principal, Depends(principal)],
                        shop: Annotated[ShopId, Query()], deps: Deps) -> list[TillCodeUnmapped]:
    """Till codes sold by a shop that no mapping covers yet (the lines are kept, flagged)."""
    require_shop_or_staff(who, shop)
    return sorted((u for u in deps.unmapped.values()
                   if u.shop_id == shop and deps.mappings.get(u.code_key) is None),
                  key=lambda u: u.first_seen_at)
