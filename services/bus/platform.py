"""The platform one service process stands on: settings, logs, registry, producer, metrics,
an admin client.

    async with Platform("stock", settings) as platform:
        async with platform.consumer("stock", routes) as consumer:
            await consumer.run()

SIGTERM and SIGINT ask every consumer of the platform to drain: finish the record in hand,
commit, and return, after which the producer flushes and everything closes in order.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Any

import structlog

from services.bus.admin import shared_admin
from services.bus.logging import configure_logging
from services.bus.metrics import Metrics, MetricsServer
from services.bus.publisher import Publisher, make_producer
from services.bus.registry import SchemaRegistry
from services.bus.runtime import Consumer, Route
from services.bus.settings import BusSettings
from services.bus.transactional import PartitionProcessor, TransactionalConsumer
from services.bus.catalog import Topic

log = structlog.get_logger("vivres.platform")


class Platform:
    """An async context owning one service's shared resources."""

    def __init__(self, service: str, settings: BusSettings | None = None, *,
                 handle_signals: bool = True) -> None:
        self.service = service
        self.settings = settings or BusSettings()
        self.handle_signals = handle_signals
        self.metrics = Metrics(service)
        self.registry = SchemaRegistry(self.settings.schema_registry_url)
        self.producer = make_producer(self.settings, client_id=service)
        self.publisher = Publisher(self.producer, self.registry, self.metrics)
        self.metrics_server = MetricsServer(self.metrics, self.settings.metrics_host,
                                            self.settings.metrics_port)
        self._admin = shared_admin(self.settings)  # one admin client for the process
        self._consumers: list[Consumer | TransactionalConsumer[Any]] = []
        self._stopping = False
        self._signals: list[int] = []

    async def __aenter__(self) -> Platform:
        await self._admin.__aenter__()
        await self.producer.start()
        await self.metrics_server.__aenter__()
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
                self._signals.append(sig)
        log.info("service started", service=self.service, metrics=self.metrics_server.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        await self.producer.stop()  # flushes what is in flight
        await self.metrics_server.__aexit__(*exc)
        await self.registry.aclose()
        await self._admin.__aexit__(*exc)
        log.info("service stopped", service=self.service)

    def consumer(self, group_id: str, routes: Sequence[Route], **options: Any) -> Consumer:
        """The service's consumer. One per platform: its commits settle the shared publisher."""
        consumer = Consumer(service=self.service, group_id=group_id, routes=routes,
                            settings=self.settings, registry=self.registry,
                            producer=self.producer, metrics=self.metrics,
                            publisher=self.publisher, **options)
        return self._adopt(consumer)

    def transactional(self, group_id: str, topic: Topic, processor: PartitionProcessor[Any],
                      **options: Any) -> TransactionalConsumer[Any]:
        """The service's exactly-once consumer (one transactional producer per partition)."""
        return self._adopt(TransactionalConsumer(
            service=self.service, group_id=group_id, topic=topic, processor=processor,
            settings=self.settings, registry=self.registry, metrics=self.metrics, **options))

    def _adopt(self, consumer):
        if self._consumers:
            raise RuntimeError("one consumer per platform: route every topic through it")
        self._consumers.append(consumer)
        if self._stopping:  # SIGTERM arrived while the service was starting
            consumer.stop()
        return consumer

    @property
    def stopping(self) -> bool:
        """SIGTERM arrived: a service that loops on its own (no consumer) ends its loop."""
        return self._stopping

    def stop(self) -> None:
        """Ask every consumer to drain (what SIGTERM does)."""
        log.info("stop requested, draining", service=self.service)
        self._stopping = True
        for consumer in self._consumers:
            consumer.stop()


def run_service(main, service: str) -> None:
    """Entry point of a service process: settings once, JSON logs, then `await main(platform)`."""
    settings = BusSettings()
    configure_logging(settings.log_level, settings.log_format)

    async def _run() -> None:
        async with Platform(service, settings) as platform:
            await main(platform)

    asyncio.run(_run())
