"""Webhook deliveries of demand signals and season coverages to producers' subscriptions.

Each territory signal on `demand.signals` is POSTed as JSON to every active subscription whose
filter it matches and that asked for `demand.signal` events; each coverage on
`planning.coverage`, as the subscribing producer sees it (the totals and its own plan, never
another producer's: services.planning.coverage.view), to those that asked for
`planning.coverage`. Signed the Standard Webhooks way under the subscription's secret(s)
(services.bus.signature): `webhook-id` is stable per subscription and record
(`<subscription>/<event>/<partition>/<offset>`, the same on every retry, so a receiver can drop a
repeat), `webhook-timestamp` is the attempt's; `X-Vivres-Event` names the event (`demand.signal`
or `planning.coverage`).
A delivery is retried with exponential backoff; after the last attempt the record goes to its
topic's dead letters (`demand.signals.dlq`, `planning.coverage.dlq`), its headers naming the
subscription and the error, and the other subscriptions are unaffected.
Shops' signals are never delivered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import structlog
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.bus.catalog import (
    DEMAND_SIGNALS,
    PLANNING_COVERAGE,
    PRODUCTS,
    SUBSCRIPTIONS,
)
from services.bus.deadletter import Stage, send_to_dead_letter
from services.bus.platform import Platform
from services.bus.runtime import ErrorPolicy, Received, Route
from services.bus.signature import sign
from services.bus.table import TableView
from services.events.demand import DemandSignalRecorded, SubscriptionRecorded
from services.events.planning import CoverageRecorded
from services.planning.coverage import Viewer, view

GROUP = "vivres-webhooks"
ATTEMPTS = 5
log = structlog.get_logger("vivres.webhooks")


class DeliveryFailed(Exception):
    """A subscription's endpoint kept refusing a delivery."""


# What a delivery to one subscription can fail with: its endpoint, or its URL (a subscription
# written straight to the topic may hold one httpx cannot even parse). Either way only that
# subscription's delivery is dead-lettered; the others are not repeated.
UNDELIVERABLE = (httpx.HTTPError, httpx.InvalidURL, ValueError)


def signal_body(signal: DemandSignalRecorded) -> bytes:
    """The delivery's JSON: strict JSON (a NaN or infinite figure is null), UTF-8."""
    return signal.model_dump_json().encode()



def delivery_id(subscription: SubscriptionRecorded, event: str, received: Received[Any]) -> str:
    """The webhook-id of one record for one subscription: the same on every retry. The event is
    in it (both topics have the same partitions and offsets), its dots as dashes (the spec
    wants no dot in an id)."""
    return (f"{subscription.subscription_id}/{event.replace('.', '-')}/{received.partition}/"
            f"{received.offset}")


def matches(subscription: SubscriptionRecorded, record: DemandSignalRecorded | CoverageRecorded,
            category_of) -> bool:
    event = "planning.coverage" if isinstance(record, CoverageRecorded) else "demand.signal"
    if subscription.revoked or event not in subscription.events:
        return False
    if getattr(record, "shop_id", None) is not None:  # never a shop's signal
        return False
    if subscription.territory and subscription.territory != record.territory:
        return False
    if subscription.product_id and subscription.product_id != record.product_id:
        return False
    return not subscription.category or category_of(record.product_id) == subscription.category


def coverage_body(coverage: CoverageRecorded, subscription: SubscriptionRecorded,
                  unit: str | None) -> bytes:
    """The coverage as the subscribing producer sees it."""
    seen = view(coverage, Viewer(producer_id=subscription.producer_id), unit)
    return json.dumps(seen, ensure_ascii=False, allow_nan=False).encode()


class Deliveries:
    def __init__(self, platform: Platform, subscriptions: TableView[SubscriptionRecorded],
                 products: TableView[Any], http: httpx.AsyncClient,
                 backoff_s: float = 0.5, clock: Callable[[], float] = time.time) -> None:
        self.platform = platform
        self.clock = clock
        self.subscriptions = subscriptions
        self.products = products
        self.http = http
        self.backoff_s = backoff_s
        self.delivered = platform.metrics.counter(
            "vivres_webhook_deliveries_total", "Webhook deliveries by outcome", ("outcome",))

    def category_of(self, product_id: str) -> str | None:
        product = self.products.get(product_id)
        return product.category if product is not None else None

    async def handle(self, received: Received[DemandSignalRecorded]) -> None:
        signal = received.event
        wanted = [s for s in self.subscriptions.values()
                  if matches(s, signal, self.category_of)]
        if not wanted:
            return
        body = signal_body(signal)
        await asyncio.gather(*(self._deliver(s, body, received, "demand.signal")
                               for s in wanted))

    async def handle_coverage(self, received: Received[CoverageRecorded]) -> None:
        coverage = received.event
        product = self.products.get(coverage.product_id)
        unit = product.unit.value if product is not None else None
        await asyncio.gather(*(
            self._deliver(s, coverage_body(coverage, s, unit), received, "planning.coverage")
            for s in self.subscriptions.values() if matches(s, coverage, self.category_of)))

    async def _deliver(self, subscription: SubscriptionRecorded, body: bytes,
                       received: Received[Any], event: str) -> None:
        delivery = delivery_id(subscription, event, received)
        error = ""
        for attempt in range(ATTEMPTS):
            try:
                headers = {"Content-Type": "application/json", "X-Vivres-Event": event,
                           **sign(subscription.secret, delivery, body, int(self.clock()))}
                response = await self.http.post(subscription.url, content=body,
                                                 headers=headers)
                if response.status_code < 300:
                    self.delivered.labels("delivered").inc()
                    return
                error = f"HTTP {response.status_code}"
            except UNDELIVERABLE as err:  # the endpoint's failure, or the subscription's URL
                error = f"{type(err).__name__}: {err}"
            log.info("webhook delivery failed, retrying", subscription=subscription
                     .subscription_id, attempt=attempt + 1, error=error)
            if attempt + 1 < ATTEMPTS:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        self.delivered.labels("dead_lettered").inc()
        await send_to_dead_letter(
            self.platform.producer, received.record, Stage.HANDLE,
            DeliveryFailed(f"subscription {subscription.subscription_id} ({subscription.url}): "
                           f"{error} after {ATTEMPTS} attempts"), self.platform.service,
            self.platform.metrics)


class WebhookSettings(BaseSettings):
    """The webhook sender's own settings (the bus's are BusSettings)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    backoff_s: float = Field(0.5, ge=0, validation_alias="VIVRES_WEBHOOK_BACKOFF_S")


async def serve(platform: Platform) -> None:
    settings, registry = platform.settings, platform.registry
    backoff = WebhookSettings().backoff_s
    async with TableView(settings, registry, SUBSCRIPTIONS) as subscriptions, \
            TableView(settings, registry, PRODUCTS) as products, \
            httpx.AsyncClient(timeout=10.0) as http:
        deliveries = Deliveries(platform, subscriptions, products, http, backoff)
        policy = ErrorPolicy(retries=3, backoff_s=0.5)
        routes = [Route(DEMAND_SIGNALS, deliveries.handle, policy),
                  Route(PLANNING_COVERAGE, deliveries.handle_coverage, policy)]
        async with platform.consumer(GROUP, routes, auto_offset_reset="latest") as consumer:
            await consumer.run()


def main() -> None:
    from services.bus.platform import run_service

    run_service(serve, "webhooks")
