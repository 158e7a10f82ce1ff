"""The health service in the test's own event loop, on a free port, watching the real broker;
and a webhook receiver that records what the health service posts to it (verifying it when
given the secret)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.bus.http import http_server
from services.auth.tokens import ROLES_WITH_SUBJECT, digest, issue
from services.bus.catalog import TOKENS, TOPICS
from services.bus.provision import provision_catalog
from services.bus.publisher import open_publisher
from services.bus.settings import BusSettings
from services.bus.signature import Refused, Replayed, verify
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
        server = http_server(health.app, "127.0.0.1", port)
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
    """Records every JSON body POSTed to `url`. With `secret`, verifies each delivery as a
    Standard Webhooks receiver would (services.bus.signature.verify, its clock `skew_s` ahead
    of ours): a refused or replayed one is answered, told in `outcomes`, and not recorded."""

    url: str = ""
    secret: str | None = None
    skew_s: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)

    def about(self, kind: str, subject: str) -> list[dict[str, Any]]:
        return [a for a in self.received if a["kind"] == kind and a["subject"] == subject]

    def check(self, body: bytes, headers: Mapping[str, str]) -> web.Response | None:
        """The answer to a delivery not to act on, or None to accept it."""
        if self.secret is None:
            return None
        try:
            verify(self.secret, headers, body, time.time() + self.skew_s, seen=self.seen)
        except Replayed:
            self.outcomes.append("replayed")
            return web.Response(status=204)
        except Refused as refused:
            self.outcomes.append(f"refused: {refused}")
            return web.Response(status=401, text=str(refused))
        self.outcomes.append("accepted")
        return None


@asynccontextmanager
async def webhook_receiver(secret: str | None = None) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret=secret)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        refusal = receiver.check(body, request.headers)
        if refusal is not None:
            return refusal
        receiver.deliveries.append((body, {k.lower(): v for k, v in request.headers.items()}))
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
