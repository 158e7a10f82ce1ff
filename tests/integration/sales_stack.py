"""The sales intake running in the test's own event loop: the gateway on a free port and the
ingest stage, both on the real broker and registry, with the catalog's topics provisioned."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import uvicorn

from services.auth.tokens import digest, issue
from services.bus.catalog import TOKENS, TOPICS
from services.bus.platform import Platform
from services.bus.provision import provision_catalog
from services.bus.settings import BusSettings
from services.events.auth import Role
from services.gateway.app import GatewayDeps, create_app
from services.gateway.main import gateway_deps
from services.sales.ingest import GROUP, SalesIngest
from tests.support import eventually


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SalesStack:
    url: str
    platform: Platform
    deps: GatewayDeps
    ingest: SalesIngest

    async def token(self, role: Role, subject: str | None) -> str:
        """Issue a token and wait until the gateway knows it."""
        token, event = issue(role, subject, "test", datetime.now(UTC))
        await self.platform.publisher.publish(TOKENS, event)
        await eventually(lambda: self.deps.tokens.get(digest(token)), what="token known")
        return token


@asynccontextmanager
async def running_sales_stack(settings: BusSettings) -> AsyncIterator[SalesStack]:
    report = await provision_catalog(settings, TOPICS)
    assert report.ok, report.drift
    port = free_port()
    async with Platform("sales-test", settings, handle_signals=False) as platform:
        async with gateway_deps(platform) as deps:
            server = uvicorn.Server(uvicorn.Config(create_app(deps), host="127.0.0.1", port=port,
                                                   log_config=None, lifespan="off"))
            server.capture_signals = contextlib.nullcontext  # leave pytest's signals alone
            serving = asyncio.create_task(server.serve())
            ingest = SalesIngest(platform, deps.mappings, deps.unmapped)
            consumer = platform.consumer(GROUP, ingest.routes(), on_assigned=ingest.on_assigned,
                                         on_revoked=ingest.on_revoked)
            async with consumer:
                running = asyncio.create_task(consumer.run())
                await eventually(lambda: server.started, what="gateway started")
                try:
                    yield SalesStack(f"http://127.0.0.1:{port}", platform, deps, ingest)
                finally:
                    consumer.stop()
                    server.should_exit = True
                    await asyncio.gather(running, serving)
