"""The gateway's FastAPI application, built from its dependencies (nothing at import time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.bus.publisher import Publisher
from services.caisse.rules import FollowedCommittee
from services.directory.rules import Directory
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


@dataclass
class PlanningTables:
    """What the planning endpoints read: forward needs, crop plans, coverages (by key)."""

    needs: Any = field(default_factory=dict)  # TableView[ForwardNeedStated]
    plans: Any = field(default_factory=dict)  # TableView[CropPlanned]
    coverage: Any = field(default_factory=dict)  # TableView[CoverageRecorded]


@dataclass
class GatewayDeps:
    """What the handlers need: a publisher, the reference tables, a clock."""

    publisher: Publisher
    tokens: Any  # TableView[TokenIssued], or any object with .get(digest)
    products: Any
    mappings: Any
    unmapped: Any
    stock: Any  # TableView[StockLevelRecorded]
    offers: Any  # TableView[OfferDeclared]
    orders: Any  # TableView[OrderRecorded]
    needs: Any = field(default_factory=dict)  # TableView[NeedStated] by need_id (orders.needs)
    caisse: Any = None  # CaisseClient: asks the caisse service and waits for its answers
    decisions: Any = None  # TableView[DecisionRecorded]
    books: Any = None  # services.caisse.books.Books
    signals: Any = None  # TableView[DemandSignalRecorded] of demand.signals (territories only)
    subscriptions: Any = None  # TableView[SubscriptionRecorded]
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
    app = FastAPI(title="Vivres", version="0.1.0",
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

    return app
