"""Composition root of `vivres serve health`: the monitor's loop, the alert webhook, the HTTP
server. Configured by environment:

    VIVRES_HEALTH_HOST / _PORT      where it listens (127.0.0.1:8090)
    VIVRES_HEALTH_INTERVAL_S        seconds between rounds (5)
    VIVRES_HEALTH_WINDOW_S          Burrow's sliding window (30): a stopped group is told after it
    VIVRES_HEALTH_GROUPS            regular expression of the groups to watch (all but DLQ replays)
    VIVRES_HEALTH_TARGETS           the services' metrics: "ingest=http://127.0.0.1:9101/metrics,…"
    VIVRES_HEALTH_WEBHOOK_URL       where status changes are posted (none: only logged)
    VIVRES_HEALTH_WEBHOOK_SECRET    signs them (Standard Webhooks, services.bus.signature): whsec_
                                    or plain; several, space-separated, during a rotation
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from fastapi import FastAPI
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.bus.http import http_server
from services.bus.catalog import TOKENS, TOPICS
from services.bus.logging import configure_logging
from services.bus.metrics import Metrics
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.bus.table import TableView
from services.health.alerts import AlertSender
from services.health.app import create_app
from services.health.monitor import HealthConfig, Monitor

log = structlog.get_logger("vivres.health")


def parse_targets(text: str) -> dict[str, str]:
    """ "ingest=http://…/metrics,stock=http://…" -> {"ingest": "http://…", ...}"""
    targets = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, url = item.partition("=")
        if not sep or not name or not url:
            raise ValueError(f"VIVRES_HEALTH_TARGETS: {item!r} is not name=url")
        targets[name.strip()] = url.strip()
    return targets


class HealthSettings(BaseSettings):
    """The health service's own settings (the bus's are BusSettings)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", validation_alias="VIVRES_HEALTH_HOST")
    port: int = Field(8090, ge=0, le=65535, validation_alias="VIVRES_HEALTH_PORT")
    interval_s: float = Field(HealthConfig.interval_s, gt=0,
                              validation_alias="VIVRES_HEALTH_INTERVAL_S")
    window_s: float = Field(HealthConfig.window_s, gt=0, validation_alias="VIVRES_HEALTH_WINDOW_S")
    groups: str = Field(HealthConfig.groups, validation_alias="VIVRES_HEALTH_GROUPS")
    targets: str = Field("", validation_alias="VIVRES_HEALTH_TARGETS")
    webhook_url: str | None = Field(None, validation_alias="VIVRES_HEALTH_WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(None, validation_alias="VIVRES_HEALTH_WEBHOOK_SECRET")

    def config(self) -> HealthConfig:
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else None
        return HealthConfig(interval_s=self.interval_s, window_s=self.window_s,
                            groups=self.groups, topics=tuple(t.name for t in TOPICS),
                            targets=parse_targets(self.targets),
                            webhook_url=self.webhook_url or None, webhook_secret=secret or None)


@dataclass
class Running:
    monitor: Monitor
    app: FastAPI
    sender: AlertSender


class _Tokens:
    """The token table, opened in the background (retrying) so the service starts without
    Kafka; `table` is None until it is read."""

    def __init__(self, settings: BusSettings, registry: SchemaRegistry) -> None:
        self.settings, self.registry = settings, registry
        self.table: TableView[Any] | None = None
        self._task = asyncio.create_task(self._open(), name="health-tokens")

    async def _open(self) -> None:
        delay = 1.0
        while True:
            try:
                self.table = await TableView(self.settings, self.registry, TOKENS).__aenter__()
                return
            except Exception as err:  # noqa: BLE001 - Kafka or the registry away: try again
                log.warning("token table not readable yet", error=repr(err)[:300])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        if self.table is not None:
            await self.table.__aexit__(None, None, None)


@asynccontextmanager
async def running(settings: BusSettings, config: HealthConfig) -> AsyncIterator[Running]:
    """The monitor, its alert sender and the app, without the collection loop (`run()` it)."""
    metrics = Metrics("health")
    async with httpx.AsyncClient() as http, \
            SchemaRegistry(settings.schema_registry_url) as registry, \
            AlertSender(config.webhook_url, http, secret=config.webhook_secret) as sender:
        tokens = _Tokens(settings, registry)
        monitor = Monitor(settings, config, http, sender)
        app = create_app(lambda: monitor.report, lambda: tokens.table, metrics.registry)
        try:
            yield Running(monitor, app, sender)
        finally:
            await monitor.close()
            await tokens.close()


async def serve(settings: BusSettings, config: HealthConfig, host: str, port: int) -> None:
    async with running(settings, config) as health:
        loop_task = asyncio.create_task(health.monitor.run(), name="health-loop")
        server = http_server(health.app, host, port)  # our signals: stop, then close in order
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        log.info("health service started", url=f"http://{host}:{port}/exploitation",
                 targets=sorted(config.targets), webhook=bool(config.webhook_url))
        try:
            await server.serve()
        finally:
            loop_task.cancel()
            await asyncio.gather(loop_task, return_exceptions=True)


def main() -> None:
    settings = BusSettings()
    configure_logging(settings.log_level, settings.log_format)
    health = HealthSettings()
    asyncio.run(serve(settings, health.config(), health.host, health.port))
