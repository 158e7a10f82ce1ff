"""The gateway's FastAPI application, built from its dependencies (nothing at import time)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.bus.metrics import Metrics
from services.bus.openapi import depends_on, document, webhook
from services.events.demand import DemandSignalRecorded
from services.gateway import (
    availability,
    caisse,
    catalog,
    contract,
    demand,
    dfc,
    directory,
    orders,
    pages,
    planning,
    sales,
    stock,
)
from services.gateway.access import AccessLog
from services.gateway.auth import principal
from services.gateway.deps import GatewayDeps


_UNION_TAGS = {"ticket", "batch"}


def _where(loc: tuple[Any, ...]) -> list[Any]:
    """A field path without pydantic's union tags: ['body', 'lines', 0, 'quantity']."""
    return [part for i, part in enumerate(loc) if not (i == 1 and part in _UNION_TAGS)]


async def _unprocessable(_request: Request, error: RequestValidationError) -> JSONResponse:
    detail = [{"loc": _where(tuple(e.get("loc", ()))), "msg": e.get("msg", ""),
               "type": e.get("type", "value_error")} for e in error.errors()]
    return JSONResponse(status_code=422, content={"detail": detail})


def create_app(deps: GatewayDeps, metrics: Metrics | None = None) -> FastAPI:
    """The gateway on its dependencies; its requests are counted in `metrics` (the platform's,
    served on the service's metrics port), or in a registry of its own."""
    app = FastAPI(title="Vivres", version="0.1.0", redirect_slashes=False,
                  description="Public API of the Vivres bus: tills, shops, producers, the hub, "
                              "the caisse committee and operators, on one base URL.")
    app.state.deps = deps  # the routes get them as a parameter: services.gateway.deps
    app.add_exception_handler(RequestValidationError, _unprocessable)
    app.state.metrics = metrics or Metrics("gateway")
    app.add_middleware(AccessLog, metrics=app.state.metrics)
    app.include_router(sales.router)
    app.include_router(catalog.router)
    app.include_router(stock.router)
    app.include_router(availability.router)
    app.include_router(orders.router)
    app.include_router(caisse.router)
    app.include_router(demand.router)
    app.include_router(planning.router)
    app.include_router(dfc.router)  # the same data as DFC JSON-LD (docs/dfc.md)
    for router in (*directory.routers, directory.tokens):
        app.include_router(router)
    app.include_router(pages.router)  # the pages people open in a browser
    app.include_router(contract.router)  # the bus's AsyncAPI and Avro schemas

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
