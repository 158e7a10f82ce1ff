"""The gateway's FastAPI application, built from its dependencies (nothing at import time)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.bus.openapi import depends_on, document, webhook
from services.bus.publisher import Publisher
from services.caisse.books import Books
from services.caisse.replies import CaisseClient
from services.caisse.rules import FollowedCommittee
from services.directory.rules import Directory
from services.events.auth import TokenIssued
from services.events.base import Event
from services.events.caisse import DecisionRecorded
from services.events.catalog import ProductDefined, TillCodeMapped, TillCodeUnmapped
from services.events.demand import DemandSignalRecorded, SubscriptionRecorded
from services.events.orders import NeedStated, OrderRecorded
from services.events.planning import CoverageRecorded, CropPlanned, ForwardNeedStated
from services.events.stock import StockLevelRecorded
from services.events.supply import OfferDeclared
from services.gateway import (
    availability,
    caisse,
    catalog,
    demand,
    directory,
    orders,
    pages,
    planning,
    sales,
    stock,
)
from services.gateway.auth import principal


E = TypeVar("E", bound=Event)


class Rows(Protocol[E]):
    """What a handler reads of a followed table (TableView): its rows by key. A test gives
    a dict."""

    def get(self, key: str, /) -> E | None: ...
    def values(self) -> Iterable[E]: ...
    def __len__(self) -> int: ...


@dataclass
class PlanningTables:
    """What the planning endpoints read: forward needs, crop plans, coverages (by key)."""

    needs: Rows[ForwardNeedStated] = field(default_factory=dict)
    plans: Rows[CropPlanned] = field(default_factory=dict)
    coverage: Rows[CoverageRecorded] = field(default_factory=dict)


@dataclass
class GatewayDeps:
    """What the handlers need: a publisher, the reference tables, a clock."""

    publisher: Publisher
    tokens: Rows[TokenIssued]  # by digest
    products: Rows[ProductDefined]
    mappings: Rows[TillCodeMapped]
    unmapped: Rows[TillCodeUnmapped]
    stock: Rows[StockLevelRecorded]
    offers: Rows[OfferDeclared]
    orders: Rows[OrderRecorded]
    needs: Rows[NeedStated] = field(default_factory=dict)  # by need_id (orders.needs)
    caisse: CaisseClient | None = None  # asks the caisse service and waits for its answers
    decisions: Rows[DecisionRecorded] | None = None
    books: Books | None = None
    signals: Rows[DemandSignalRecorded] | None = None  # demand.signals (territories only)
    subscriptions: Rows[SubscriptionRecorded] | None = None
    directory: Directory = field(default_factory=Directory)  # its four tables
    planning: PlanningTables = field(default_factory=PlanningTables)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __post_init__(self) -> None:
        self.committee = FollowedCommittee(self.decisions)  # the decisions in force


_UNION_TAGS = {"ticket", "batch"}


def _where(loc: tuple[Any, ...]) -> list[Any]:
    """A field path without pydantic's union tags: ['body', 'lines', 0, 'quantity']."""
    return [part for i, part in enumerate(loc) if not (i == 1 and part in _UNION_TAGS)]


async def _unprocessable(_request: Request, error: RequestValidationError) -> JSONResponse:
    detail = [{"loc": _where(tuple(e.get("loc", ()))), "msg": e.get("msg", ""),
               "type": e.get("type", "value_error")} for e in error.errors()]
    return JSONResponse(status_code=422, content={"detail": detail})


def create_app(deps: GatewayDeps) -> FastAPI:
    app = FastAPI(title="Vivres", version="0.1.0", redirect_slashes=False,
                  description="Public API of the Vivres bus: tills, shops, producers, the hub, "
                              "the caisse committee and operators, on one base URL.")
    app.state.deps = deps
    app.add_exception_handler(RequestValidationError, _unprocessable)
    app.include_router(sales.router)
    app.include_router(catalog.router)
    app.include_router(stock.router)
    app.include_router(availability.router)
    app.include_router(orders.router)
    app.include_router(caisse.router)
    app.include_router(demand.router)
    app.include_router(planning.router)
    for router in (*directory.routers, directory.tokens):
        app.include_router(router)
    app.include_router(pages.router)  # the pages people open in a browser

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        """Up, and whether the reference tables follow Kafka (503 when they cannot)."""
        tables = {"tokens": deps.tokens, "products": deps.products, "mappings": deps.mappings}
        stale = [name for name, table in tables.items() if not getattr(table, "healthy", True)]
        body = {"status": "degraded" if stale else "ok", "stale_tables": stale,
                "tokens": len(deps.tokens), "products": len(deps.products)}
        return JSONResponse(body, status_code=503 if stale else 200)

    document(app, lambda route: depends_on(route.dependant, principal))
    webhook(app, "demand.signal", DemandSignalRecorded,
            "A territory's demand signal, to the subscriptions it matches "
            "(POST /v1/demand/subscriptions)")
    webhook(app, "planning.coverage", dict[str, Any],
            "A season's coverage as the subscribing producer sees it: the weeks' totals and "
            "its own plan (`mine`), as GET /v1/planning/coverage gives it")
    return app
