"""A producer's browser that stops reading its demand stream while thousands of signals flow
costs the gateway a bounded set of changed keys, never a growing buffer; once it reads again it
gets the newest signal of every product."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid

import httpx
import pytest

from services.bus.catalog import DEMAND_SIGNALS
from services.events.auth import Role
from services.gateway import sse
from tests.integration.sales_stack import running_gateway
from tests.support import demand_signal, eventually

pytestmark = pytest.mark.integration

BOUND = 64  # the gateway's bound for this test: a few hundred products overflow it
PRODUCTS = 200


async def test_a_slow_sse_client_holds_a_bounded_set_of_keys_then_gets_the_newest_rows(
        settings, monkeypatch) -> None:
    monkeypatch.setattr(sse, "PENDING_BOUND", BOUND)
    territory = f"lent-{uuid.uuid4().hex[:8]}"
    products = [f"p{number:03d}" for number in range(PRODUCTS)]
    async with running_gateway(settings, "slow-client-test") as stack:
        producer = await stack.token(Role.PRODUCER, "ferme-test")
        signals = stack.deps.signals
        before = set(signals.watchers)
        # A small receive window, so the kernel's buffers hide little of how slow the client
        # is; not below one loopback segment (64 kB), where Linux never reopens the window and
        # the stream would stall even once the client reads.
        slow = httpx.AsyncHTTPTransport(
            socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)])
        async with httpx.AsyncClient(base_url=stack.url, transport=slow,
                                     timeout=httpx.Timeout(10, read=60)) as http, \
                http.stream("GET", "/v1/demand/stream", params={"territory": territory},
                            headers={"Authorization": f"Bearer {producer}"}) as response:
            assert response.status_code == 200
            [watcher] = await eventually(lambda: set(signals.watchers) - before,
                                         what="the slow client's watcher")
            held: list[int] = []

            async def sample() -> None:
                while True:
                    held.append(len(watcher))
                    await asyncio.sleep(0.005)

            version, blocked_rounds = 0, 0

            async def another_round() -> bool:
                """Every product changes once more; done when, two rounds running, the
                client's stream fell behind and could not even be told so: it is blocked
                on a full socket (a burst alone would be told, and resynced, at once)."""
                nonlocal version, blocked_rounds
                version += 1
                await publish_round(stack, territory, products, version)
                blocked_rounds = blocked_rounds + 1 if watcher.behind else 0
                return blocked_rounds >= 2 and version >= 10  # thousands of signals

            sampling = asyncio.create_task(sample())
            try:
                await eventually(another_round, timeout=180, interval=0.0,
                                 what="the slow client blocked and behind")
                final = version + 1
                await publish_round(stack, territory, products, final)
            finally:
                sampling.cancel()
            assert version * PRODUCTS >= 1_000, "thousands of signals flowed"
            assert held and max(held) <= BOUND, max(held)
            assert watcher.behind and len(watcher) == 0  # it holds nothing while blocked
            assert signals.watchers - before == {watcher}

            newest: dict[str, float] = {}

            async def read() -> None:
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        data = json.loads(line[6:])
                        newest[data["product_id"]] = data["velocity_7d"]

            reading = asyncio.create_task(read())
            try:
                await eventually(lambda: len(newest) == PRODUCTS and set(newest.values()) == {
                    float(final)}, timeout=60, what="the newest signal of every product")
            finally:
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
        await eventually(lambda: watcher not in signals.watchers, what="the client let go")


async def publish_round(stack, territory: str, products: list[str], version: int) -> None:
    """One signal per product, its velocity the round's number; wait until the gateway has
    them all."""
    await stack.platform.publisher.publish_many(DEMAND_SIGNALS, [
        demand_signal(territory, product=product).model_copy(
            update={"velocity_7d": float(version)}) for product in products])
    await eventually(lambda: all(
        (row := stack.deps.signals.get(f"{territory}/{product}")) is not None
        and row.velocity_7d == version for product in products),
        interval=0.02, what=f"round {version} in the gateway's table")
