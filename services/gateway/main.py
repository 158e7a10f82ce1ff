"""Composition root of the gateway process: platform, reference tables, HTTP server."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.bus.http import http_server
from services.bus.catalog import (
    CAISSE_DECISIONS,
    DEMAND_SIGNALS,
    DFC_LINKS,
    HUBS,
    MAPPINGS,
    NEEDS,
    OFFERS,
    ORDERS,
    PLANNING_COVERAGE,
    PLANNING_NEEDS,
    PLANNING_PLANS,
    PRODUCERS,
    PRODUCTS,
    SHOPS,
    STOCK_LEVELS,
    SUBSCRIPTIONS,
    TERRITORIES,
    TOKENS,
    UNMAPPED,
)
from services.bus.logging import configure_logging
from services.bus.platform import Platform
from services.bus.runtime import freeze_startup_heap
from services.bus.settings import BusSettings
from services.bus.table import TableView
from services.caisse.books import Books
from services.caisse.replies import CaisseClient
from services.directory.rules import Directory
from services.gateway.app import create_app
from services.gateway.deps import LOCAL_URL, GatewayDeps, PlanningTables


@asynccontextmanager
async def gateway_deps(platform: Platform, public_url: str = LOCAL_URL
                       ) -> AsyncIterator[GatewayDeps]:
    """The gateway's dependencies on a running platform: its publisher and the reference
    tables, each read whole before the first request."""
    settings, registry = platform.settings, platform.registry
    async with TableView(settings, registry, TOKENS) as tokens, \
            TableView(settings, registry, PRODUCTS) as products, \
            TableView(settings, registry, MAPPINGS) as mappings, \
            TableView(settings, registry, UNMAPPED) as unmapped, \
            TableView(settings, registry, STOCK_LEVELS) as stock, \
            TableView(settings, registry, OFFERS) as offers, \
            TableView(settings, registry, ORDERS) as orders, \
            TableView(settings, registry, NEEDS, row_key=lambda n: n.need_id) as slot_needs, \
            TableView(settings, registry, CAISSE_DECISIONS) as decisions, \
            TableView(settings, registry, DEMAND_SIGNALS) as signals, \
            TableView(settings, registry, SUBSCRIPTIONS) as subscriptions, \
            TableView(settings, registry, TERRITORIES) as territories, \
            TableView(settings, registry, SHOPS) as shops, \
            TableView(settings, registry, PRODUCERS) as producers, \
            TableView(settings, registry, HUBS) as hubs, \
            TableView(settings, registry, PLANNING_NEEDS) as needs, \
            TableView(settings, registry, PLANNING_PLANS) as plans, \
            TableView(settings, registry, PLANNING_COVERAGE) as coverage, \
            TableView(settings, registry, DFC_LINKS) as dfc_links, \
            CaisseClient(settings, registry, platform.publisher) as caisse:
        yield GatewayDeps(platform.publisher, tokens, products, mappings, unmapped, stock,
                          offers, orders, needs=slot_needs, caisse=caisse, decisions=decisions,
                          books=Books(settings, registry), signals=signals,
                          subscriptions=subscriptions,
                          directory=Directory(territories, shops, producers, hubs),
                          planning=PlanningTables(needs, plans, coverage), dfc_links=dfc_links,
                          public_url=public_url)


async def serve(settings: BusSettings, http: GatewaySettings) -> None:
    # On SIGTERM/SIGINT uvicorn stops accepting, finishes the requests in flight and returns;
    # then the tables close and the producer flushes.
    async with Platform("gateway", settings, handle_signals=False) as platform, \
            gateway_deps(platform, http.base_url()) as deps:
        app = create_app(deps, platform.metrics)
        server = http_server(app, http.host, http.port,
                             graceful_shutdown_s=3)  # SSE streams never end alone
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        freeze_startup_heap()
        await server.serve()


class GatewaySettings(BaseSettings):
    """Where the gateway listens (the bus's own settings are BusSettings)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", validation_alias="VIVRES_HTTP_HOST")
    port: int = Field(8080, ge=0, le=65535, validation_alias="VIVRES_HTTP_PORT")
    # How clients reach the API (behind a proxy: its https URL), without a trailing slash:
    # the DFC documents' IRIs are built on it, so it must not change once they are shared.
    public_url: str | None = Field(None, validation_alias="VIVRES_PUBLIC_URL",
                                   pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")

    def base_url(self) -> str:
        """VIVRES_PUBLIC_URL, else http://VIVRES_HTTP_HOST:VIVRES_HTTP_PORT (127.0.0.1 for a
        gateway listening on every address, as in a container)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return (self.public_url or f"http://{host}:{self.port}").rstrip("/")


def main() -> None:
    settings, http = BusSettings(), GatewaySettings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(serve(settings, http))
