"""The health service in the test's own event loop, on a free port, watching the real broker;
and a webhook receiver that records what the health service posts to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from aiohttp import web

from services.auth.tokens import ROLES_WITH_SUBJECT, digest, issue
from services.bus.catalog import TOKENS, TOPICS
from services.bus.provision import provision_catalog
from services.bus.publisher import open_publisher
from services.bus.settings import BusSettings
from services.events.auth import Role
from services.health.monitor import HealthConfig
from services.health.service import Running, running
from tests.integration.sales_stack import free_port
from tests.support import eventually


@dataclass
class HealthStack:
    url: str
    health: Running
    settings: BusSettings

    async def token(self, role: Role = Role.OPERATOR) -> str:
        """Issue a token and wait until the health service knows it."""
        token, event = issue(role, "lyon" if role in ROLES_WITH_SUBJECT else None, "test",
                             datetime.now(UTC))
        async with open_publisher(self.settings) as publisher:
            await publisher.publish(TOKENS, event)

        def known() -> bool:
            table = self.health.app.state.tokens()
            return table is not None and table.get(digest(token)) is not None
        await eventually(known, timeout=30, what="token known to the health service")
        return token


@asynccontextmanager
async def running_health(settings: BusSettings, config: HealthConfig, *, loop: bool = True,
                         provision: bool = True) -> AsyncIterator[HealthStack]:
    """The health service's HTTP server; with `loop`, its collection loop too (else the test
    calls `health.monitor.collect()` itself, for figures that stay still). The catalog is
    provisioned first: the token table is one of its topics."""
    if provision:
        report = await provision_catalog(settings, TOPICS)
        assert report.ok, report.drift
    port = free_port()
    async with running(settings, config) as health:
        server = uvicorn.Server(uvicorn.Config(health.app, host="127.0.0.1", port=port,
                                               log_config=None, lifespan="off"))
        server.capture_signals = contextlib.nullcontext  # leave pytest's signals alone
        serving = asyncio.create_task(server.serve())
        collecting = asyncio.create_task(health.monitor.run()) if loop else None
        await eventually(lambda: server.started, what="health service started")
        try:
            yield HealthStack(f"http://127.0.0.1:{port}", health, settings)
        finally:
            if collecting is not None:
                collecting.cancel()
                await asyncio.gather(collecting, return_exceptions=True)
            server.should_exit = True
            await serving


@dataclass
class WebhookReceiver:
    """Records every JSON body POSTed to `url`."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    signatures: list[tuple[bytes, str | None]] = field(default_factory=list)  # (body, header)

    def about(self, kind: str, subject: str) -> list[dict[str, Any]]:
        return [a for a in self.received if a["kind"] == kind and a["subject"] == subject]


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        receiver.signatures.append((body, request.headers.get("X-Vivres-Signature")))
        receiver.received.append(json.loads(body))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/alerts", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver.url = f"http://127.0.0.1:{port}/alerts"
    try:
        yield receiver
    finally:
        await runner.cleanup()
