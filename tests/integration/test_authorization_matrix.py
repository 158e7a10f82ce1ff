"""The gateway's authorisation matrix, on a real gateway (real broker and registry) with the caisse
service running.

POLICY below is the policy, written down: for every route the gateway serves (but its pages, its
docs and /healthz), the roles that may call it. The test asks every route as every role, as no
one, with an unknown token and with a revoked token, and expects: 401 without a valid token (but
on a PUBLIC route); 403 for a role not listed; for a listed role, an answer that got past
authorisation (not 401/403 and no server error; the bodies are valid, so most answer 2xx).
A route the app serves without an entry here fails the test: a new route needs a decision.

The per-resource rules follow: a shop acts for its own shop only, a producer for its own offers
and subscriptions, a committee or a treasurer for its own caisse (named by its token), an order
moves only by its own parties, and producers see territory aggregates, never a shop's figures.

Tokens' subjects: SHOP -> shop A, PRODUCER -> producer P, COMMITTEE and TREASURER -> caisse X; the
matrix's requests name those resources, so a listed role acts on its own. Shop B, producer Q and
caisse Y are the others of the per-resource cases.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.auth.tokens import PREFIX, digest, issue
from services.bus.catalog import DEMAND_SIGNALS, ORDERS, TOKENS
from services.events.auth import Role
from services.events.orders import OrderLine, OrderRecorded, OrderStatus, ShopPart
from services.events.sales import QuantityUnit
from services.gateway import pages
from services.gateway.app import create_app
from tests.integration.sales_stack import ServiceProcess, running_gateway
from tests.support import demand_signal, eventually

pytestmark = pytest.mark.integration

SHOP, PRODUCER, HUB = Role.SHOP, Role.PRODUCER, Role.HUB
COMMITTEE, OPERATOR, TREASURER = Role.COMMITTEE, Role.OPERATOR, Role.TREASURER
PUBLIC = "PUBLIC"  # no token needed
ANY_ROLE = frozenset(Role)  # any valid token


def roles(*allowed: Role) -> frozenset[Role]:
    return frozenset(allowed)


# ---------------------------------------------------------------------------------------------
# THE POLICY: (method, route as the gateway declares it) -> who may call it.
# A dict of dicts: the route's `{action}` path parameter decides (one entry per action).
# ---------------------------------------------------------------------------------------------
POLICY: dict[tuple[str, str], Any] = {
    # sales: a shop posts its own tickets and refunds
    ("POST", "/v1/sales"): roles(SHOP),
    # the shared catalog: read by anyone; products by the hub or an operator; a shop's till
    # codes by the shop itself, the hub or an operator
    ("GET", "/v1/catalog/products"): PUBLIC,
    ("POST", "/v1/catalog/products"): roles(HUB, OPERATOR),
    ("GET", "/v1/catalog/mappings"): roles(SHOP, HUB, OPERATOR),
    ("POST", "/v1/catalog/mappings"): roles(SHOP, HUB, OPERATOR),
    ("GET", "/v1/catalog/unmapped"): roles(SHOP, HUB, OPERATOR),
    # a shop's stock: the shop itself, the hub or an operator
    ("GET", "/v1/stock"): roles(SHOP, HUB, OPERATOR),
    ("POST", "/v1/stock/counts"): roles(SHOP, HUB, OPERATOR),
    ("POST", "/v1/stock/waste"): roles(SHOP, HUB, OPERATOR),
    ("POST", "/v1/stock/deliveries"): roles(SHOP, HUB, OPERATOR),
    ("POST", "/v1/stock/reorder-points"): roles(SHOP, HUB, OPERATOR),
    # offers: declared by producers (their own), read with any token
    ("GET", "/v1/availability"): ANY_ROLE,
    ("POST", "/v1/availability"): roles(PRODUCER),
    # pooled orders: shops state needs, the hub consolidates, each party moves its own steps
    ("POST", "/v1/needs"): roles(SHOP),
    ("GET", "/v1/needs"): roles(SHOP, HUB, OPERATOR),  # a shop its own, a hub its territory's
    ("POST", "/v1/orders/consolidate"): roles(HUB),
    ("GET", "/v1/orders"): roles(SHOP, PRODUCER, HUB, OPERATOR),  # each sees its own
    ("POST", "/v1/orders/{order_id:path}/{action}"): {
        "confirm": roles(PRODUCER), "refuse": roles(PRODUCER), "ship": roles(PRODUCER),
        "receive-at-hub": roles(HUB), "dispatch": roles(HUB), "cancel": roles(HUB),
        "receive": roles(SHOP),
    },
    # the caisse: shops at the till; the committee and the treasurer of their own caisse
    ("POST", "/v1/caisse/redemptions"): roles(SHOP),
    ("POST", "/v1/caisse/refunds"): roles(SHOP),
    ("POST", "/v1/caisse/households"): roles(COMMITTEE),
    ("GET", "/v1/caisse/households"): roles(COMMITTEE, TREASURER),  # their own caisse's
    ("POST", "/v1/caisse/cards/{card_id}/{action}"): {
        "block": roles(COMMITTEE), "unblock": roles(COMMITTEE), "leave": roles(COMMITTEE),
    },
    ("POST", "/v1/caisse/decisions"): roles(COMMITTEE),
    ("GET", "/v1/caisse/decisions"): roles(COMMITTEE, TREASURER),
    ("POST", "/v1/caisse/credits"): roles(COMMITTEE, TREASURER),
    ("POST", "/v1/caisse/contributions"): roles(TREASURER),
    ("POST", "/v1/caisse/settlements"): roles(TREASURER),
    ("GET", "/v1/caisse/settlements"): roles(TREASURER, COMMITTEE),
    ("GET", "/v1/caisse/reports"): roles(COMMITTEE, TREASURER),
    # demand feeds (territory aggregates): producers, the hub, operators; webhooks: producers
    ("GET", "/v1/demand"): roles(PRODUCER, HUB, OPERATOR),
    ("GET", "/v1/demand/stream"): roles(PRODUCER, HUB, OPERATOR),
    ("POST", "/v1/demand/subscriptions"): roles(PRODUCER),
    ("GET", "/v1/demand/subscriptions"): roles(PRODUCER),
    ("DELETE", "/v1/demand/subscriptions/{subscription_id}"): roles(PRODUCER),
    # planning a season: everyone in the chain sees the territory's coverage (each only its
    # own lines); producers plan, shops (or the hub for them) state needs, operators import
    **{("GET", f"/v1/planning/{path}"): roles(PRODUCER, SHOP, HUB, OPERATOR)
       for path in ("coverage", "outlook", "stream")},
    ("POST", "/v1/planning/plans"): roles(PRODUCER),
    ("GET", "/v1/planning/plans"): roles(PRODUCER),
    ("POST", "/v1/planning/needs"): roles(SHOP, HUB),
    ("GET", "/v1/planning/needs"): roles(SHOP, HUB, OPERATOR),
    ("POST", "/v1/planning/history"): roles(OPERATOR),
    # the directory: read with any token; operators set up territories and hubs, a hub adds
    # and closes its territory's shops and producers, each corrects its own entry
    **{("GET", path): ANY_ROLE for path in (
        "/v1/territories", "/v1/territories/{territory_id}", "/v1/shops", "/v1/shops/{shop_id}",
        "/v1/producers", "/v1/producers/{producer_id}", "/v1/hubs", "/v1/hubs/{hub_id}")},
    ("POST", "/v1/territories"): roles(OPERATOR),
    ("PATCH", "/v1/territories/{territory_id}"): roles(OPERATOR),
    ("POST", "/v1/territories/{territory_id}/close"): roles(OPERATOR),
    ("POST", "/v1/hubs"): roles(OPERATOR),
    ("PATCH", "/v1/hubs/{hub_id}"): roles(HUB, OPERATOR),
    ("POST", "/v1/hubs/{hub_id}/close"): roles(OPERATOR),
    ("POST", "/v1/shops"): roles(HUB, OPERATOR),
    ("PATCH", "/v1/shops/{shop_id}"): roles(SHOP, HUB, OPERATOR),
    ("POST", "/v1/shops/{shop_id}/close"): roles(HUB, OPERATOR),
    ("POST", "/v1/producers"): roles(HUB, OPERATOR),
    ("PATCH", "/v1/producers/{producer_id}"): roles(PRODUCER, HUB, OPERATOR),
    ("POST", "/v1/producers/{producer_id}/close"): roles(HUB, OPERATOR),
    # tokens for the directory's entries: an operator, a hub for its territory's
    ("POST", "/v1/tokens"): roles(HUB, OPERATOR),
    ("GET", "/v1/tokens"): roles(HUB, OPERATOR),
    ("GET", "/v1/tokens/me"): ANY_ROLE,  # who the token is (the pages ask it)
    # DFC (services.gateway.dfc): the catalog and the vocabulary public, as the product list
    # is; a producer's DFC catalog read with any token, as offers are, and imported by the
    # producer only (its own); its product links made and read by the producer itself, the
    # hub or an operator, as a shop's till codes; orders seen by their parties, as GET /v1/orders
    ("GET", "/v1/dfc/products"): PUBLIC,
    ("GET", "/v1/dfc/products/{product_id}"): PUBLIC,
    ("GET", "/v1/dfc/ns"): PUBLIC,
    ("GET", "/v1/dfc/producers/{producer_id}/catalog"): ANY_ROLE,
    ("POST", "/v1/dfc/producers/{producer_id}/catalog"): roles(PRODUCER),
    ("GET", "/v1/dfc/producers/{producer_id}/links"): roles(PRODUCER, HUB, OPERATOR),
    ("POST", "/v1/dfc/producers/{producer_id}/links"): roles(PRODUCER, HUB, OPERATOR),
    ("GET", "/v1/dfc/orders"): roles(SHOP, PRODUCER, HUB, OPERATOR),  # each sees its own
    ("GET", "/v1/dfc/orders/{order_id:path}"): roles(SHOP, PRODUCER, HUB, OPERATOR),
    # the bus's contract (services.gateway.contract): public, as the OpenAPI document is
    ("GET", "/asyncapi.yaml"): PUBLIC,
    ("GET", "/schemas/{area}/{name}"): PUBLIC,
}

NOT_IN_MATRIX = {"/healthz"}  # besides the docs and the pages (services.gateway.pages)
ANONYMOUS = ("no token", "unknown token", "revoked token")
PASSED = "passed authorisation"  # not 401/403, no server error


# ---------------------------------------------------------------------------------------------
# The world the requests act on, and one minimal valid request per route.
# ---------------------------------------------------------------------------------------------
@dataclass
class World:
    run: str
    tokens: dict[str, str] = field(default_factory=dict)  # role name or alias -> token

    def __post_init__(self) -> None:
        run = self.run
        self.shop_a, self.shop_b = f"authz-shop-a-{run}", f"authz-shop-b-{run}"
        self.producer_p, self.producer_q = f"authz-prod-p-{run}", f"authz-prod-q-{run}"
        self.caisse_x, self.caisse_y = f"authz-caisse-x-{run}", f"authz-caisse-y-{run}"
        self.territory = f"authz-{run}"
        self.hub = f"authz-hub-{run}"  # the HUB token's: the hub of the territory
        self.closable = {kind: f"authz-{kind}-c-{run}" for kind in (
            "territory", "hub", "shop", "producer")}  # closed by the matrix
        self.product = f"authz-{run}"
        self.order_id = f"authz-order-{run}"
        self.offer_p = f"authz-offer-p-{run}"
        self.card_x = f"authz-card-x-{run}"  # enrolled in caisse X before the matrix
        self.card_matrix = f"authz-card-m-{run}"  # the matrix enrols, blocks, unblocks it
        self.sub_kept = self.sub_deleted = ""  # producer P's subscriptions, made in setup
        self.decision_x = ""  # a decision of caisse X's committee, made in setup
        now = datetime.now(UTC)
        self.month = now.strftime("%Y-%m")
        self.today = now.date()

    def shop_entry(self, shop_id: str) -> dict:
        return {"shop_id": shop_id, "name": "Épicerie (matrice)", "territory": self.territory,
                "kind": "solidaire"}

    def producer_entry(self, producer_id: str) -> dict:
        return {"producer_id": producer_id, "farm_name": "Ferme (matrice)", "commune": "Yzeron",
                "farm_lat_e6": 45_707_000, "farm_lon_e6": 4_589_000,
                "territories": [self.territory]}

    def hub_entry(self, hub_id: str) -> dict:
        return {"hub_id": hub_id, "territory": self.territory, "name": "Pôle (matrice)",
                "lat_e6": 45_750_000, "lon_e6": 4_850_000}

    def headers(self, who: str) -> dict[str, str]:
        token = self.tokens.get(who)
        return {"Authorization": f"Bearer {token}"} if token else {}

    # bodies shared by the matrix and the per-resource cases
    def ticket(self, shop: str, number: int = 1) -> dict:
        return {"shop_id": shop, "till_id": "t1", "ticket_number": number,
                "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
                "timezone": "Europe/Paris",
                "lines": [{"product_code": "2001", "code_kind": "PLU", "label": "Tomates",
                           "quantity": 750, "unit": "GRAM", "unit_price_cents": 480,
                           "paid_cents": 360}],
                "payments": [{"method": "CASH", "amount_cents": 360}]}

    def offer(self, offer_id: str | None = None) -> dict:
        return {"offer_id": offer_id, "territory": self.territory, "product_id": self.product,
                "quantity_per_slot": 10_000, "pack_size": 1_000, "price_cents": 350,
                "window_start": str(self.today), "window_end": str(self.today + timedelta(7)),
                "farm": {"lat_e6": 45_760_000, "lon_e6": 4_840_000}}

    def stock(self, shop: str, **more: Any) -> dict:
        return {"shop_id": shop, "product_id": self.product, **more}

    def need(self, shop: str) -> dict:
        return {"shop_id": shop, "territory": self.territory, "product_id": self.product,
                "quantity": 2_000, "delivery_slot": str(self.today + timedelta(2))}

    def weeks(self, ahead: int) -> list[dict]:
        """One week's units, `ahead` weeks from the current one (its Monday)."""
        week = self.today - timedelta(days=self.today.weekday(), weeks=-ahead)
        return [{"week": week.isoformat(), "units": 10}]

    def mapping(self, shop: str) -> dict:
        return {"shop_id": shop, "code": "2001", "code_kind": "PLU", "product_id": self.product}

    def dfc_catalog(self) -> dict:
        """A DFC catalog of one offer, from another platform: its product named by a sku that
        is a Vivres product id, its window given in the query (dfc_import)."""
        here = f"https://ofn.test/authz-{self.run}"
        return {"@context": "https://w3id.org/dfc/ontology/context/context_1.16.0.json",
                "@graph": [
                    {"@id": f"{here}/sp", "@type": "dfc-b:SuppliedProduct",
                     "dfc-b:name": "Courge (matrice)",
                     "dfc-b:hasQuantity": {"@type": "dfc-b:QuantitativeValue",
                                           "dfc-b:hasUnit": "dfc-m:Kilogram", "dfc-b:value": 1}},
                    {"@id": f"{here}/ci", "@type": "dfc-b:CatalogItem", "dfc-b:sku": self.product,
                     "dfc-b:references": f"{here}/sp", "dfc-b:offeredThrough": f"{here}/o"},
                    {"@id": f"{here}/o", "@type": "dfc-b:Offer", "dfc-b:stockLimitation": 10,
                     "dfc-b:hasPrice": {"@type": "dfc-b:Price", "dfc-b:value": 3.5,
                                        "dfc-b:hasUnit": "dfc-m:Euro"}}]}

    def dfc_link(self) -> dict:
        """Producer P's link of dfc_catalog's supplied product to the world's product (the
        one its sku names already: the matrix changes no import)."""
        return {"reference": f"https://ofn.test/authz-{self.run}/sp", "product_id": self.product}

    def dfc_import(self, **more: Any) -> dict:
        """The import's query: a dry run (the matrix changes no offer), the week's window."""
        return {"territory": self.territory, "window_start": str(self.today),
                "window_end": str(self.today + timedelta(7)), "dry_run": "true", **more}


@dataclass(frozen=True)
class Call:
    path: str
    params: dict[str, Any] | None = None
    json: Any = None


def _unique() -> str:
    return uuid.uuid4().hex[:8]


def _territory_get(path: str) -> Callable[[World, str | None], Call]:
    return lambda w, _: Call(path, {"territory": w.territory})


# One minimal valid request per route (per action): valid, so that the handler runs and the
# role check is what answers. Each names the resources of the listed roles' own tokens.
REQUESTS: dict[tuple[str, str], Callable[[World, str | None], Call]] = {
    ("POST", "/v1/sales"): lambda w, _: Call("/v1/sales", json=w.ticket(w.shop_a)),
    ("GET", "/v1/catalog/products"): lambda w, _: Call("/v1/catalog/products",
                                                       {"category": w.product}),
    ("POST", "/v1/catalog/products"): lambda w, _: Call("/v1/catalog/products", json={
        "product_id": f"{w.product}-m", "name": "Courge (matrice)", "category": w.product,
        "unit": "GRAM"}),
    ("GET", "/v1/catalog/mappings"): lambda w, _: Call("/v1/catalog/mappings",
                                                       {"shop": w.shop_a}),
    ("POST", "/v1/catalog/mappings"): lambda w, _: Call("/v1/catalog/mappings",
                                                        json=w.mapping(w.shop_a)),
    ("GET", "/v1/catalog/unmapped"): lambda w, _: Call("/v1/catalog/unmapped",
                                                       {"shop": w.shop_a}),
    ("GET", "/v1/stock"): lambda w, _: Call("/v1/stock", {"shop": w.shop_a}),
    ("POST", "/v1/stock/counts"): lambda w, _: Call("/v1/stock/counts",
                                                    json=w.stock(w.shop_a, quantity=12)),
    ("POST", "/v1/stock/waste"): lambda w, _: Call("/v1/stock/waste", json=w.stock(
        w.shop_a, quantity=1, reason="abîmé")),
    ("POST", "/v1/stock/deliveries"): lambda w, _: Call("/v1/stock/deliveries", json=w.stock(
        w.shop_a, quantity=1_000)),
    ("POST", "/v1/stock/reorder-points"): lambda w, _: Call(
        "/v1/stock/reorder-points", json=w.stock(w.shop_a, reorder_point=5)),
    ("GET", "/v1/availability"): lambda w, _: Call("/v1/availability",
                                                   {"territory": w.territory}),
    ("POST", "/v1/availability"): lambda w, _: Call("/v1/availability", json=w.offer()),
    ("POST", "/v1/needs"): lambda w, _: Call("/v1/needs", json=w.need(w.shop_a)),
    ("GET", "/v1/needs"): lambda w, _: Call("/v1/needs", {"territory": w.territory}),
    ("POST", "/v1/orders/consolidate"): lambda w, _: Call("/v1/orders/consolidate", json={
        "territory": w.territory, "delivery_slot": str(w.today + timedelta(2)),
        "hub": {"lat_e6": 45_750_000, "lon_e6": 4_850_000}}),
    ("GET", "/v1/orders"): lambda w, _: Call("/v1/orders", {"territory": w.territory}),
    ("POST", "/v1/orders/{order_id:path}/{action}"): lambda w, action: Call(
        f"/v1/orders/{w.order_id}/{action}", json={"reason": "matrice"}),
    ("POST", "/v1/caisse/redemptions"): lambda w, _: Call("/v1/caisse/redemptions", json={
        "redemption_id": f"r-{_unique()}", "card_id": w.card_x, "amount_cents": 100}),
    ("POST", "/v1/caisse/refunds"): lambda w, _: Call("/v1/caisse/refunds", json={
        "refund_id": f"rf-{_unique()}", "redemption_id": "r-none", "card_id": w.card_x,
        "amount_cents": 100}),
    ("GET", "/v1/caisse/households"): lambda w, _: Call("/v1/caisse/households"),
    ("POST", "/v1/caisse/households"): lambda w, _: Call("/v1/caisse/households", json={
        "card_id": w.card_matrix, "adults": 1, "children": 1, "income_band": "T2"}),
    ("POST", "/v1/caisse/cards/{card_id}/{action}"): lambda w, action: Call(
        f"/v1/caisse/cards/{w.card_matrix}/{action}", json={}),
    ("POST", "/v1/caisse/decisions"): lambda w, _: Call("/v1/caisse/decisions", json={
        "kind": "APPROVE_SHOP", "subject_id": w.shop_a, "effective_on": "2026-01-01",
        "votes_for": 9, "votes_against": 1}),
    ("GET", "/v1/caisse/decisions"): lambda w, _: Call("/v1/caisse/decisions"),
    ("POST", "/v1/caisse/credits"): lambda w, _: Call("/v1/caisse/credits",
                                                      json={"month": w.month}),
    ("POST", "/v1/caisse/contributions"): lambda w, _: Call("/v1/caisse/contributions", json={
        "card_id": w.card_x, "month": w.month, "amount_cents": 100, "income_band": "T2"}),
    ("POST", "/v1/caisse/settlements"): lambda w, _: Call("/v1/caisse/settlements",
                                                          json={"month": w.month}),
    ("GET", "/v1/caisse/settlements"): lambda w, _: Call("/v1/caisse/settlements",
                                                         {"month": w.month}),
    ("GET", "/v1/caisse/reports"): lambda w, _: Call("/v1/caisse/reports", {"month": w.month}),
    ("GET", "/v1/demand"): lambda w, _: Call("/v1/demand", {"territory": w.territory}),
    ("GET", "/v1/demand/stream"): lambda w, _: Call("/v1/demand/stream",
                                                    {"territory": w.territory}),
    # webhooks on a territory without signals: nothing is ever delivered to the dead URL
    ("POST", "/v1/demand/subscriptions"): lambda w, _: Call("/v1/demand/subscriptions", json={
        "url": "http://127.0.0.1:9/authz", "territory": f"{w.territory}-hooks"}),
    ("GET", "/v1/demand/subscriptions"): lambda w, _: Call("/v1/demand/subscriptions"),
    ("DELETE", "/v1/demand/subscriptions/{subscription_id}"): lambda w, _: Call(
        f"/v1/demand/subscriptions/{w.sub_deleted}"),
    **{("GET", f"/v1/planning/{path}"): _territory_get(f"/v1/planning/{path}")
       for path in ("coverage", "outlook", "stream", "plans", "needs")},
    ("POST", "/v1/planning/plans"): lambda w, _: Call("/v1/planning/plans", json={
        "territory": w.territory, "product_id": w.product, "weeks": w.weeks(ahead=2)}),
    ("POST", "/v1/planning/needs"): lambda w, _: Call("/v1/planning/needs", json={
        "shop_id": w.shop_a, "product_id": w.product, "weeks": w.weeks(ahead=2)}),
    ("POST", "/v1/planning/history"): lambda w, _: Call("/v1/planning/history", json={
        "territory": w.territory, "product_id": w.product, "weeks": w.weeks(ahead=-1)}),
    ("GET", "/v1/territories"): lambda w, _: Call("/v1/territories"),
    ("GET", "/v1/territories/{territory_id}"): lambda w, _: Call(
        f"/v1/territories/{w.territory}"),
    ("GET", "/v1/shops"): lambda w, _: Call("/v1/shops", {"territory": w.territory}),
    ("GET", "/v1/shops/{shop_id}"): lambda w, _: Call(f"/v1/shops/{w.shop_a}"),
    ("GET", "/v1/producers"): lambda w, _: Call("/v1/producers", {"territory": w.territory}),
    ("GET", "/v1/producers/{producer_id}"): lambda w, _: Call(f"/v1/producers/{w.producer_p}"),
    ("GET", "/v1/hubs"): lambda w, _: Call("/v1/hubs", {"territory": w.territory}),
    ("GET", "/v1/hubs/{hub_id}"): lambda w, _: Call(f"/v1/hubs/{w.hub}"),
    ("POST", "/v1/territories"): lambda w, _: Call("/v1/territories", json={
        "territory_id": f"authz-t-{_unique()}", "name": "Matrice"}),
    ("PATCH", "/v1/territories/{territory_id}"): lambda w, _: Call(
        f"/v1/territories/{w.territory}", json={"name": f"Matrice {_unique()}"}),
    ("POST", "/v1/territories/{territory_id}/close"): lambda w, _: Call(
        f"/v1/territories/{w.closable['territory']}/close"),
    ("POST", "/v1/hubs"): lambda w, _: Call("/v1/hubs", json=w.hub_entry(f"authz-h-{_unique()}")),
    ("PATCH", "/v1/hubs/{hub_id}"): lambda w, _: Call(f"/v1/hubs/{w.hub}", json={
        "name": f"Pôle {_unique()}"}),
    ("POST", "/v1/hubs/{hub_id}/close"): lambda w, _: Call(
        f"/v1/hubs/{w.closable['hub']}/close"),
    ("POST", "/v1/shops"): lambda w, _: Call("/v1/shops", json=w.shop_entry(
        f"authz-s-{_unique()}")),
    ("PATCH", "/v1/shops/{shop_id}"): lambda w, _: Call(f"/v1/shops/{w.shop_a}", json={
        "commune": f"Lyon {_unique()}"}),
    ("POST", "/v1/shops/{shop_id}/close"): lambda w, _: Call(
        f"/v1/shops/{w.closable['shop']}/close"),
    ("POST", "/v1/producers"): lambda w, _: Call("/v1/producers", json=w.producer_entry(
        f"authz-p-{_unique()}")),
    ("PATCH", "/v1/producers/{producer_id}"): lambda w, _: Call(
        f"/v1/producers/{w.producer_p}", json={"commune": f"Yzeron {_unique()}"}),
    ("POST", "/v1/producers/{producer_id}/close"): lambda w, _: Call(
        f"/v1/producers/{w.closable['producer']}/close"),
    ("POST", "/v1/tokens"): lambda w, _: Call("/v1/tokens", json={
        "role": "SHOP", "subject": w.shop_a, "label": "matrice"}),
    ("GET", "/v1/tokens"): lambda w, _: Call("/v1/tokens", {"subject": w.shop_a}),
    ("GET", "/v1/tokens/me"): lambda w, _: Call("/v1/tokens/me"),
    ("GET", "/v1/dfc/products"): lambda w, _: Call("/v1/dfc/products", {"category": w.product}),
    ("GET", "/v1/dfc/products/{product_id}"): lambda w, _: Call(f"/v1/dfc/products/{w.product}"),
    ("GET", "/v1/dfc/ns"): lambda w, _: Call("/v1/dfc/ns"),
    ("GET", "/v1/dfc/producers/{producer_id}/catalog"): lambda w, _: Call(
        f"/v1/dfc/producers/{w.producer_p}/catalog", {"territory": w.territory}),
    ("POST", "/v1/dfc/producers/{producer_id}/catalog"): lambda w, _: Call(
        f"/v1/dfc/producers/{w.producer_p}/catalog", w.dfc_import(), json=w.dfc_catalog()),
    ("GET", "/v1/dfc/producers/{producer_id}/links"): lambda w, _: Call(
        f"/v1/dfc/producers/{w.producer_p}/links"),
    ("POST", "/v1/dfc/producers/{producer_id}/links"): lambda w, _: Call(
        f"/v1/dfc/producers/{w.producer_p}/links", json=w.dfc_link()),
    ("GET", "/v1/dfc/orders"): lambda w, _: Call("/v1/dfc/orders", {"territory": w.territory}),
    ("GET", "/v1/dfc/orders/{order_id:path}"): lambda w, _: Call(f"/v1/dfc/orders/{w.order_id}"),
    ("GET", "/asyncapi.yaml"): lambda w, _: Call("/asyncapi.yaml"),
    ("GET", "/schemas/{area}/{name}"): lambda w, _: Call("/schemas/sales/SaleRecorded.avsc"),
}


# ---------------------------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------------------------
async def send(http: httpx.AsyncClient, method: str, call: Call,
               headers: dict[str, str]) -> tuple[int, str]:
    """(status, start of the body); an event stream is left as soon as its status is known."""
    async with http.stream(method, call.path, params=call.params, json=call.json,
                           headers=headers) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return response.status_code, "(event stream)"
        await response.aread()
        return response.status_code, response.text[:300]


async def ask(http: httpx.AsyncClient, w: World, who: str, method: str, path: str, *,
              params: dict | None = None, json: Any = None) -> httpx.Response:
    return await http.request(method, path, params=params, json=json, headers=w.headers(who))


def outcome(status: int) -> str:
    if status in (401, 403):
        return str(status)
    return PASSED if status < 500 else f"server error {status}"


def served_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves but the docs, the pages and NOT_IN_MATRIX."""
    try:  # FastAPI >= 0.16x keeps included routers as branches: flatten them
        from fastapi.routing import iter_route_contexts
        routes = list(iter_route_contexts(app.routes))
    except ImportError:
        routes = list(app.routes)
    docs = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    page_endpoints = {route.endpoint for route in pages.router.routes}
    served = set()
    for route in routes:
        if route.path in docs | NOT_IN_MATRIX or \
                getattr(route, "endpoint", None) in page_endpoints:
            continue
        for method in getattr(route, "methods", None) or {"(any)"}:
            if method != "HEAD":
                served.add((method, route.path))
    return served


def action_values(app, method: str, route: str) -> set[str]:
    """The values the OpenAPI schema allows for a route's `{action}` path parameter."""
    operation = app.openapi()["paths"][re.sub(r":\w+}", "}", route)][method.lower()]
    action = next(p for p in operation["parameters"] if p["name"] == "action")
    return set(action["schema"]["enum"])


# ---------------------------------------------------------------------------------------------
# Fixtures: the gateway, the caisse service, and the world of the test
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def stack(settings):
    async with running_gateway(settings, "authz-test") as running:
        yield running


@pytest.fixture(scope="module")
def caisse_process(stack, settings, tmp_path_factory):
    process = ServiceProcess("caisse", settings, tmp_path_factory.mktemp("authz") / "caisse.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
async def world(stack, caisse_process) -> World:
    w = World(_unique())
    subjects = {"SHOP": (SHOP, w.shop_a), "PRODUCER": (PRODUCER, w.producer_p),
                "HUB": (HUB, w.hub), "COMMITTEE": (COMMITTEE, w.caisse_x),
                "OPERATOR": (OPERATOR, None), "TREASURER": (TREASURER, w.caisse_x),
                "shop B": (SHOP, w.shop_b), "producer Q": (PRODUCER, w.producer_q),
                "committee Y": (COMMITTEE, w.caisse_y), "treasurer Y": (TREASURER, w.caisse_y)}
    assert set(Role) <= {role for role, _ in subjects.values()}
    issued = [await stack.token(role, subject, w.territory)  # in turn: one territory
              for role, subject in subjects.values()]
    w.tokens.update(zip(subjects, issued, strict=True))
    w.tokens["unknown token"] = PREFIX + uuid.uuid4().hex
    revoked, record = issue(SHOP, w.shop_a, "authz revoked", datetime.now(UTC))
    await stack.platform.publisher.publish(TOKENS, record)
    await stack.platform.publisher.publish(TOKENS, record.model_copy(update={"revoked": True}))
    await eventually(lambda: (stack.deps.tokens.get(digest(revoked)) or record).revoked,
                     what="token revoked")
    w.tokens["revoked token"] = revoked

    # an order of producer P for shop A, as the orders service records it
    order = OrderRecorded(
        order_id=w.order_id, territory=w.territory, producer_id=w.producer_p,
        delivery_slot=w.today + timedelta(2), hub_lat_e6=45_750_000, hub_lon_e6=4_850_000,
        status=OrderStatus.ALLOCATED, history=(), received_by=(), refused_by=(),
        recorded_at=datetime.now(UTC),
        lines=(OrderLine(product_id=w.product, offer_id=w.offer_p, unit=QuantityUnit.GRAM,
                         pack_size=1_000, packs=2, requested=2_000, unit_price_cents=350,
                         parts=(ShopPart(need_id="n1", shop_id=w.shop_a, quantity=2_000),),
                         candidates=()),))
    await stack.platform.publisher.publish(ORDERS, order)
    # a territory aggregate, and a shop's own figures that must never reach a producer
    signals = [demand_signal(w.territory), demand_signal(w.territory, w.shop_a)]
    await stack.platform.publisher.publish_many(DEMAND_SIGNALS, signals)

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        for kind, path, entry in (
                ("territory", "/v1/territories", {"territory_id": w.closable["territory"],
                                                   "name": "À fermer"}),
                ("hub", "/v1/hubs", w.hub_entry(w.closable["hub"])),
                ("shop", "/v1/shops", w.shop_entry(w.closable["shop"])),
                ("producer", "/v1/producers", w.producer_entry(w.closable["producer"]))):
            made = await ask(http, w, "OPERATOR", "POST", path, json=entry)
            assert made.status_code == 201, (kind, made.text)
        made = await ask(http, w, "HUB", "POST", "/v1/catalog/products", json={
            "product_id": w.product, "name": "Courge", "category": w.product, "unit": "GRAM"})
        assert made.status_code == 201, made.text
        made = await ask(http, w, "PRODUCER", "POST", "/v1/availability", json=w.offer(w.offer_p))
        assert made.status_code == 201, made.text
        subscription = {"url": "http://127.0.0.1:9/authz", "territory": f"{w.territory}-hooks"}
        for name in ("sub_kept", "sub_deleted"):
            made = await ask(http, w, "PRODUCER", "POST", "/v1/demand/subscriptions",
                             json=subscription)
            assert made.status_code == 201, made.text
            setattr(w, name, made.json()["subscription_id"])
        made = await ask(http, w, "COMMITTEE", "POST", "/v1/caisse/decisions", json={
            "kind": "APPROVE_SHOP", "subject_id": w.shop_a, "effective_on": "2026-01-01",
            "votes_for": 9, "votes_against": 1})
        assert made.status_code == 201, made.text
        w.decision_x = made.json()["decision_id"]
        # caisse X enrols a household: also waits until the caisse service answers
        deadline = asyncio.get_running_loop().time() + 90
        while True:
            enrolled = await ask(http, w, "COMMITTEE", "POST", "/v1/caisse/households", json={
                "card_id": w.card_x, "adults": 2, "children": 0, "income_band": "T1"})
            if enrolled.status_code != 504 or asyncio.get_running_loop().time() > deadline:
                break
        assert enrolled.status_code == 200, enrolled.text
        assert enrolled.json()["outcome"] == "DONE", enrolled.text

    await eventually(lambda: stack.deps.orders.get(w.order_id), what="order known")
    await eventually(lambda: all(stack.deps.signals.get(s.signal_key) for s in signals),
                     what="signals known")
    return w


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------
async def test_every_route_of_the_gateway_is_in_the_matrix(stack) -> None:
    app = create_app(stack.deps)
    served = served_routes(app)
    assert served, "no route found: the app's routes were not enumerated"
    missing = sorted(served - POLICY.keys())
    stale = sorted(POLICY.keys() - served)
    assert not missing, f"routes without an entry in POLICY (who may call them?): {missing}"
    assert not stale, f"POLICY entries for routes the gateway no longer serves: {stale}"
    assert POLICY.keys() == REQUESTS.keys(), "each POLICY entry needs its request in REQUESTS"
    for (method, route), allowed in POLICY.items():
        if isinstance(allowed, dict):
            assert set(allowed) == action_values(app, method, route), \
                f"{method} {route}: POLICY must list exactly the route's actions"


async def test_the_authorisation_matrix(stack, world) -> None:
    w = world
    cases: list[tuple[str, str, str, Call, str]] = []  # method, label, who, call, expected
    for (method, route), allowed in POLICY.items():
        variants = allowed.items() if isinstance(allowed, dict) else [(None, allowed)]
        for variant, who_may in variants:
            call = REQUESTS[(method, route)](w, variant)
            label = route if variant is None else f"{route} [{variant}]"
            for who in (*ANONYMOUS, *(role.value for role in Role)):
                if who_may == PUBLIC:
                    expected = PASSED
                elif who in ANONYMOUS:
                    expected = "401"
                else:
                    expected = PASSED if Role(who) in who_may else "403"
                cases.append((method, label, who, call, expected))

    limit = asyncio.Semaphore(24)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        async def run(method: str, call: Call, who: str) -> tuple[int, str]:
            async with limit:
                return await send(http, method, call, w.headers(who))
        answers = await asyncio.gather(*(run(method, call, who)
                                         for method, _, who, call, _ in cases))

    wrong = [f"{method} {label} as {who}: expected {expected}, got {status} {text}"
             for (method, label, who, _, expected), (status, text) in zip(cases, answers,
                                                                          strict=True)
             if outcome(status) != expected]
    assert not wrong, f"{len(wrong)} of {len(cases)} answers break the policy:\n" + \
        "\n".join(wrong)


async def test_each_acts_on_its_own_resources_only(stack, world) -> None:
    w = world
    problems: list[str] = []

    def expect(what: str, response: httpx.Response, status: int) -> None:
        if response.status_code != status:
            problems.append(f"{what}: expected {status}, got {response.status_code} "
                            f"{response.text[:300]}")

    def check(what: str, response: httpx.Response, ok: Callable[[Any], bool]) -> None:
        """A 200 whose JSON body satisfies `ok`."""
        if response.status_code != 200 or not ok(response.json()):
            problems.append(f"{what}: got {response.status_code} {response.text[:300]}")

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        def as_(who: str, method: str, path: str, **kwargs: Any):
            return ask(http, w, who, method, path, **kwargs)

        # a shop acts for its own shop: shop B on shop A's resources
        b = "shop B"
        expect("shop B posts a ticket of shop A", await as_(
            b, "POST", "/v1/sales", json=w.ticket(w.shop_a, 2)), 403)
        expect("shop A posts a batch with a ticket of shop B", await as_(
            "SHOP", "POST", "/v1/sales",
            json={"tickets": [w.ticket(w.shop_a, 3), w.ticket(w.shop_b, 3)]}), 403)
        expect("shop B maps a till code of shop A", await as_(
            b, "POST", "/v1/catalog/mappings", json=w.mapping(w.shop_a)), 403)
        for path in ("/v1/catalog/mappings", "/v1/catalog/unmapped", "/v1/stock"):
            expect(f"shop B reads {path} of shop A", await as_(
                b, "GET", path, params={"shop": w.shop_a}), 403)
        expect("shop B reads every shop's stock", await as_(b, "GET", "/v1/stock"), 403)
        expect("the hub reads every shop's stock", await as_("HUB", "GET", "/v1/stock"), 200)
        for path, body in (("/v1/stock/counts", w.stock(w.shop_a, quantity=1)),
                           ("/v1/stock/waste", w.stock(w.shop_a, quantity=1, reason="x")),
                           ("/v1/stock/deliveries", w.stock(w.shop_a, quantity=1)),
                           ("/v1/stock/reorder-points", w.stock(w.shop_a, reorder_point=1))):
            expect(f"shop B posts {path} for shop A", await as_(b, "POST", path, json=body), 403)
        expect("shop B states a need of shop A", await as_(
            b, "POST", "/v1/needs", json=w.need(w.shop_a)), 403)
        expect("the hub states a need for shop A", await as_(
            "HUB", "POST", "/v1/needs", json=w.need(w.shop_a)), 403)

        # a producer acts for itself: producer Q on producer P's offer and subscriptions
        q = "producer Q"
        expect("producer Q redeclares producer P's offer", await as_(
            q, "POST", "/v1/availability", json=w.offer(w.offer_p)), 403)
        expect("producer P updates its own offer", await as_(
            "PRODUCER", "POST", "/v1/availability", json=w.offer(w.offer_p)), 201)
        check("producer Q does not see producer P's subscriptions",
              await as_(q, "GET", "/v1/demand/subscriptions"),
              lambda subs: w.sub_kept not in {s["subscription_id"] for s in subs})
        expect("producer Q deletes producer P's subscription (404: not one of its own)",
               await as_(q, "DELETE", f"/v1/demand/subscriptions/{w.sub_kept}"), 404)
        expect("producer Q imports a DFC catalog into producer P's", await as_(
            q, "POST", f"/v1/dfc/producers/{w.producer_p}/catalog", params=w.dfc_import(),
            json=w.dfc_catalog()), 403)
        expect("producer Q links a product of producer P's catalog", await as_(
            q, "POST", f"/v1/dfc/producers/{w.producer_p}/links", json=w.dfc_link()), 403)
        expect("producer Q reads producer P's product links", await as_(
            q, "GET", f"/v1/dfc/producers/{w.producer_p}/links"), 403)
        expect("producer P links a product of its own catalog", await as_(
            "PRODUCER", "POST", f"/v1/dfc/producers/{w.producer_p}/links", json=w.dfc_link()),
            201)
        check("producer P's dry run declares the offer, publishing nothing",
              await as_("PRODUCER", "POST", f"/v1/dfc/producers/{w.producer_p}/catalog",
                        params=w.dfc_import(), json=w.dfc_catalog()),
              lambda answer: answer["dry_run"] and len(answer["declared"]) == 1
              and answer["rejected"] == [])
        check("producer P still has its subscription, without its secret",
              await as_("PRODUCER", "GET", "/v1/demand/subscriptions"),
              lambda subs: any(s["subscription_id"] == w.sub_kept and s["secret"] is None
                               for s in subs))

        # producers see territory aggregates, never a shop's figures
        check("a producer sees the territory's aggregate and no shop's signal",
              await as_("PRODUCER", "GET", "/v1/demand", params={"territory": w.territory}),
              lambda signals: [s["shop_id"] for s in signals] == [None])

        # an order moves only by its own parties: producer Q and shop B on P's order for A get
        # what a missing order gets (404), so which orders exist is not told; a role that may
        # never do the step is refused whatever the order (403)
        for action in ("confirm", "refuse", "ship"):
            expect(f"producer Q {action}s producer P's order", await as_(
                q, "POST", f"/v1/orders/{w.order_id}/{action}", json={}), 404)
        expect("shop B receives shop A's order", await as_(
            b, "POST", f"/v1/orders/{w.order_id}/receive", json={}), 404)
        expect("a committee confirms a missing order", await as_(
            "COMMITTEE", "POST", "/v1/orders/no-such-order/confirm", json={}), 403)
        for who, sees in (("producer Q", False), ("shop B", False), ("PRODUCER", True),
                          ("SHOP", True), ("HUB", True), ("OPERATOR", True)):
            check(f"{who} {'sees' if sees else 'does not see'} the order",
                  await as_(who, "GET", "/v1/orders", params={"territory": w.territory}),
                  lambda orders, sees=sees: (w.order_id in {o["order_id"] for o in orders})
                  == sees)
            check(f"{who} {'sees' if sees else 'does not see'} the order as DFC",
                  await as_(who, "GET", "/v1/dfc/orders", params={"territory": w.territory}),
                  lambda document, sees=sees: (w.order_id in {
                      n.get("dfc-b:orderNumber") for n in document["@graph"]}) == sees)
            expect(f"{who} reads the order's DFC IRI", await as_(
                who, "GET", f"/v1/dfc/orders/{w.order_id}"), 200 if sees else 404)

        # a committee or a treasurer acts for its own caisse (its token names it)
        y = "committee Y"
        check("committee Y cannot block a card of caisse X",
              await as_(y, "POST", f"/v1/caisse/cards/{w.card_x}/block", json={}),
              lambda answer: answer["reason"] == "UNKNOWN_CARD")
        check("committee Y cannot re-enrol a household of caisse X",
              await as_(y, "POST", "/v1/caisse/households", json={
                  "card_id": w.card_x, "adults": 1, "children": 0, "income_band": "T4"}),
              lambda answer: answer["reason"] == "UNKNOWN_CARD")
        naming_x = {"caisse_id": w.caisse_x, "caisse": w.caisse_x}  # ignored: the token says
        whos = (y, "treasurer Y")
        answers = await asyncio.gather(*(  # the books are read from Kafka: ask all at once
            as_(who, "GET", path, params=params) for who in whos for path, params in (
                ("/v1/caisse/decisions", naming_x), ("/v1/caisse/settlements", naming_x),
                ("/v1/caisse/reports", {"month": w.month, **naming_x}))))
        for who, (decisions, settled, report) in zip(whos, (answers[:3], answers[3:]),
                                                     strict=True):
            check(f"{who} does not see caisse X's decisions (even naming it)", decisions,
                  lambda rows: w.decision_x not in {d["decision_id"] for d in rows})
            check(f"{who} does not see caisse X's settlements", settled,
                  lambda rows: all(s["caisse_id"] == w.caisse_y for s in rows))
            check(f"{who} gets its own caisse's report only", report,
                  lambda report: report["caisse_id"] == w.caisse_y)
        check("caisse X's treasurer sees its committee's decision",
              await as_("TREASURER", "GET", "/v1/caisse/decisions"),
              lambda decisions: w.decision_x in {d["decision_id"] for d in decisions})

    assert not problems, f"{len(problems)} per-resource rules broken:\n" + "\n".join(problems)
