"""Live latency of demand signals: from a ticket POSTed to the gateway to the producer's SSE
feed showing a signal that reflects it, at a fixed rate.

    make up                      # the ingest stage must run (any stack with the topics)
    .venv/bin/python -m bench.demand_latency [--seconds 20] [--rate 200]

It registers a territory and a shop of its own (one product mapped), starts a gateway and a
demand processor of its own (its own app id, folding only that territory), opens
`GET /v1/demand/stream` as a producer, then POSTs one-line tickets open loop at --rate. A
ticket is reflected once a signal arrives whose `inputs_at` is at or after its time (signals
coalesce: one flush reflects every ticket before it). Prints p50/p99/max as a Markdown row.
Target (issue 6): p99 ≤ 250 ms at 200 tickets/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp

from bench.demand_replay import SOURCES, committed_to_end
from bench.gateway_ingest import ROOT, free_port, latencies, machine, start_gateway
from services.auth.tokens import issue
from services.bus.catalog import MAPPINGS, PRODUCTS, SHOPS, TOKENS
from services.bus.publisher import open_publisher
from services.bus.settings import BusSettings
from services.events.auth import Role
from services.events.catalog import ProductDefined, ShopRegistered, TillCodeMapped
from services.events.sales import CodeKind, QuantityUnit


async def set_up(settings: BusSettings, territory: str, shop: str) -> tuple[str, str]:
    now = datetime.now(UTC)
    till, till_event = issue(Role.SHOP, shop, "benchmark", now)
    producer, producer_event = issue(Role.PRODUCER, "bench-farm", "benchmark", now)
    async with open_publisher(settings) as publisher:
        await publisher.publish_many(TOKENS, [till_event, producer_event])
        await publisher.publish(SHOPS, ShopRegistered(
            shop_id=shop, name=shop, territory=territory, kind="épicerie solidaire",
            timezone="Europe/Paris", registered_at=now))
        await publisher.publish(PRODUCTS, ProductDefined(
            product_id="bench-carotte", name="Carotte", category="legumes",
            unit=QuantityUnit.GRAM, organic=False, labels=(), defined_at=now))
        await publisher.publish(MAPPINGS, TillCodeMapped(
            shop_id=shop, code="4562", code_kind=CodeKind.PLU, product_id="bench-carotte",
            mapped_at=now))
    return till, producer


def ticket(shop: str, number: int, at: datetime) -> dict:
    return {"shop_id": shop, "till_id": "bench", "ticket_number": number,
            "occurred_at": at.isoformat(), "payments": [{"method": "CASH", "amount_cents": 40}],
            "lines": [{"product_code": "4562", "code_kind": "PLU", "label": "Carotte",
                       "quantity": 500, "unit": "GRAM", "unit_price_cents": 220,
                       "paid_cents": 40}]}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args(sys.argv[1:])
    settings = BusSettings()
    territory = f"bench-{uuid.uuid4().hex[:6]}"
    shop = f"{territory}-shop"
    till, producer = await set_up(settings, territory, shop)
    with tempfile.TemporaryDirectory() as datadir:
        env = {**os.environ, "VIVRES_DEMAND_APP_ID": f"{territory}-demand",
               "VIVRES_DEMAND_DATADIR": datadir, "VIVRES_DEMAND_TERRITORIES": territory,
               "VIVRES_LOG_LEVEL": "WARNING"}
        processor = subprocess.Popen([str(ROOT / ".venv" / "bin" / "vivres"), "serve",
                                      "demand"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        port = free_port()
        gateway = await start_gateway(port)
        url = f"http://127.0.0.1:{port}"
        arrivals: list[tuple[float, datetime]] = []  # (when seen, inputs_at)
        newest: list[datetime] = []  # the last ticket's time, once all are sent
        reflected = asyncio.Event()  # set when a signal reflects the last ticket
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as http:
                async def follow() -> None:
                    async with http.get(f"{url}/v1/demand/stream",
                                        params={"territory": territory},
                                        headers={"Authorization": f"Bearer {producer}"},
                                        timeout=aiohttp.ClientTimeout(total=None)) as response:
                        async for raw in response.content:
                            line = raw.decode().strip()
                            if line.startswith("data: "):
                                at = datetime.fromisoformat(json.loads(line[6:])["inputs_at"])
                                arrivals.append((time.perf_counter(), at))
                                if newest and at >= newest[0]:
                                    reflected.set()

                following = asyncio.create_task(follow())
                headers = {"Authorization": f"Bearer {till}"}
                number = 0
                while not arrivals:  # the processor is ready once a first ticket shows
                    number += 1
                    async with http.post(f"{url}/v1/sales", headers=headers,
                                         json=ticket(shop, number, datetime.now(UTC))):
                        pass
                    await asyncio.sleep(1.0)
                # time the live regime: the processor has replayed the sources' history
                caught_up = False
                while not caught_up:  # another process's progress: poll its commits
                    await asyncio.sleep(0.5)
                    caught_up = await committed_to_end(settings, env["VIVRES_DEMAND_APP_ID"],
                                                       SOURCES)
                sent: list[tuple[float, datetime]] = []

                async def post(n: int) -> None:
                    at = datetime.now(UTC).replace(microsecond=datetime.now(UTC).microsecond
                                                   // 1000 * 1000)
                    started = time.perf_counter()
                    async with http.post(f"{url}/v1/sales", headers=headers,
                                         json=ticket(shop, n, at)) as response:
                        assert response.status == 202, await response.text()
                    sent.append((started, at))

                start, tasks = time.perf_counter(), []
                for k in range(int(args.seconds * args.rate)):
                    delay = start + k / args.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(post(10_000 + k)))
                await asyncio.gather(*tasks)
                newest.append(max(at for _, at in sent))
                if any(at >= newest[0] for _, at in arrivals):
                    reflected.set()
                try:
                    await asyncio.wait_for(reflected.wait(), 60)
                except TimeoutError:
                    pass  # the missing ones count as never reflected
                following.cancel()
        finally:
            for process in (gateway, processor):
                process.terminate()
                process.wait(timeout=60)
    timings = []
    for started, at in sent:
        seen = [when for when, inputs in arrivals if inputs >= at - timedelta(microseconds=1)]
        timings.append((min(seen) if seen else float("inf")) - started)
    print(f"| {datetime.now(UTC):%Y-%m-%d} | {machine()} | {args.rate:.0f} tickets/s: "
          f"{latencies(timings)} |")


if __name__ == "__main__":
    asyncio.run(main())
