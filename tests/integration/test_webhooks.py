"""Webhook deliveries on the real broker, the delivery service as its own process: a producer
subscribes over HTTP, a receiver verifying Standard Webhooks accepts the delivery of its
territory's signal and refuses that delivery captured and played again, now or too late; an
endpoint that keeps failing has the signal dead-lettered with its reason."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from aiohttp import web

from services.bus.catalog import DEMAND_SIGNALS
from services.bus.deadletter import read_dead_letters
from services.bus.signature import Refused, Replayed, verify
from services.events.auth import Role
from tests.integration.sales_stack import ServiceProcess, free_port, running_sales_stack
from tests.support import demand_signal as signal
from tests.support import eventually

pytestmark = pytest.mark.integration


async def test_a_producer_gets_signed_deliveries_and_failures_are_dead_lettered(
        settings, tmp_path) -> None:
    territory = f"t-{uuid.uuid4().hex[:6]}"
    received: list[tuple[bytes, dict]] = []
    secrets: list[str] = []  # the subscription's, once known
    seen: dict[str, int] = {}  # the receiver's replay guard
    skew = [0.0]  # the receiver's clock ahead of ours
    outcomes: list[str] = []

    async def ok(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(secrets, request.headers, body, time.time() + skew[0], seen=seen)
        except Replayed:
            outcomes.append("replayed")
            return web.Response(status=204)  # already done: acknowledged, not done again
        except Refused as refused:
            outcomes.append(f"refused: {refused}")
            return web.Response(status=401, text=str(refused))
        outcomes.append("accepted")
        received.append((body, dict(request.headers)))
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
                secrets.append(good["secret"])
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
            [(body, sent_headers)] = received  # the shop's signal was never delivered
            captured = {k.lower(): v for k, v in sent_headers.items()
                        if k.lower().startswith("webhook-")}
            async with httpx.AsyncClient(timeout=10) as http:
                replay = await http.post(f"http://127.0.0.1:{port}/ok", content=body,
                                         headers=captured)
                skew[0] = 301.0  # the same capture, played just past the tolerance
                late = await http.post(f"http://127.0.0.1:{port}/ok", content=body,
                                       headers=captured)
    finally:
        process.stop()
        await runner.cleanup()

    assert good["secret"].startswith("whsec_")
    assert json.loads(body)["territory"] == territory and json.loads(body)["shop_id"] is None
    assert captured["webhook-id"].startswith(good["subscription_id"] + "/demand-signal/")
    assert sent_headers["X-Vivres-Event"] == "demand.signal"
    assert (replay.status_code, late.status_code) == (204, 401)
    assert outcomes[0] == "accepted" and outcomes[1] == "replayed", outcomes
    assert "tolerance 300 s" in outcomes[2] and len(received) == 1, outcomes
    assert "HTTP 500 after 5 attempts" in letters[0].error
