"""Webhook deliveries on the real broker, the delivery service as its own process: a producer
subscribes over HTTP, a receiver gets a correctly signed delivery of its territory's signal,
and an endpoint that keeps failing has the signal dead-lettered with its reason."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
import httpx
import pytest
from aiohttp import web

from services.bus.catalog import DEMAND_SIGNALS
from services.bus.deadletter import read_dead_letters
from services.events.auth import Role
from tests.integration.sales_stack import ServiceProcess, free_port, running_sales_stack
from tests.support import demand_signal as signal
from tests.support import eventually

pytestmark = pytest.mark.integration


async def test_a_producer_gets_signed_deliveries_and_failures_are_dead_lettered(
        settings, tmp_path) -> None:
    territory = f"t-{uuid.uuid4().hex[:6]}"
    received: list[tuple[bytes, dict]] = []

    async def ok(request: web.Request) -> web.Response:
        received.append((await request.read(), dict(request.headers)))
        return web.Response(status=204)

    async def broken(_request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/broken", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    process = ServiceProcess("webhooks", settings, tmp_path / "webhooks.log")
    process.env["VIVRES_WEBHOOK_BACKOFF_S"] = "0.05"
    try:
        async with running_sales_stack(settings) as stack:
            producer = await stack.token(Role.PRODUCER, "ferme-du-test")
            headers = {"Authorization": f"Bearer {producer}"}
            async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
                good = (await http.post("/v1/demand/subscriptions", headers=headers, json={
                    "url": f"http://127.0.0.1:{port}/ok", "territory": territory})).json()
                bad = (await http.post("/v1/demand/subscriptions", headers=headers, json={
                    "url": f"http://127.0.0.1:{port}/broken", "territory": territory})).json()
                listed = (await http.get("/v1/demand/subscriptions", headers=headers)).json()
            assert {s["subscription_id"] for s in listed} >= {good["subscription_id"],
                                                             bad["subscription_id"]}
            assert all(s["secret"] is None for s in listed)
            process.start()
            await eventually(lambda: "partitions assigned" in process.log_path.read_text(
                errors="replace"), timeout=60, what="the delivery service consuming")
            await stack.platform.publisher.publish(DEMAND_SIGNALS, signal(territory, "a-shop"))
            await stack.platform.publisher.publish(DEMAND_SIGNALS, signal(territory))
            await eventually(lambda: received, timeout=30, what="a delivery")
            letters = []

            async def dead_lettered() -> bool:
                letters[:] = [d for d in await read_dead_letters(settings, DEMAND_SIGNALS.name,
                                                                 100)
                              if bad["subscription_id"] in d.error]
                return bool(letters)
            await eventually(dead_lettered, timeout=30, what="the failing delivery dead-lettered")
    finally:
        process.stop()
        await runner.cleanup()

    [(body, sent_headers)] = received  # the shop's signal was never delivered
    expected = "sha256=" + hmac.new(good["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert sent_headers["X-Vivres-Signature"] == expected
    assert json.loads(body)["territory"] == territory and json.loads(body)["shop_id"] is None
    assert sent_headers["X-Vivres-Delivery"].startswith(good["subscription_id"] + "/")
    assert "HTTP 500 after 5 attempts" in letters[0].error
