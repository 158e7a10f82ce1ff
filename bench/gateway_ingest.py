"""Gateway ingest: how many tickets one gateway process accepts per second, and its latency.

    make up                      # or any running stack with the topics provisioned
    .venv/bin/python -m bench.gateway_ingest [--seconds 20] [--rate 500]

It starts one gateway process (`vivres serve gateway` on a free port), issues a shop token, and
drives it from this process with aiohttp:
  1. throughput: batches of 50 tickets of 15 lines, 4 requests in flight, for --seconds;
  2. latency: single 15-line tickets at a fixed --rate (open loop: requests are sent on
     schedule whether or not earlier ones have answered), for --seconds; p50/p99/max.
Every request must get 202 (the tickets durably in Kafka). Results are printed as a Markdown
row to paste into bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from services.auth.tokens import issue
from services.bus.catalog import TOKENS
from services.bus.publisher import open_publisher
from services.bus.settings import BusSettings
from services.events.auth import Role

ROOT = Path(__file__).resolve().parents[1]
LINES = 15


def ticket(shop: str, number: int) -> dict:
    lines = [{"product_code": f"{2000 + i}", "code_kind": "PLU", "label": f"Produit {i}",
              "quantity": 250 + i, "unit": "GRAM", "unit_price_cents": 300 + i,
              "paid_cents": 20 + i} for i in range(LINES)]
    total = sum(line["paid_cents"] for line in lines)
    return {"shop_id": shop, "till_id": "bench", "ticket_number": number,
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            "lines": lines, "payments": [{"method": "CASH", "amount_cents": total}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_gateway(port: int) -> subprocess.Popen:
    env = {**os.environ, "VIVRES_HTTP_PORT": str(port), "VIVRES_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "vivres"), "serve", "gateway"],
                               env=env, cwd=ROOT)
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("the gateway did not start within 60 s")


async def throughput(url: str, token: str, shop: str, seconds: float) -> float:
    numbers = iter(range(10**9))
    accepted = 0
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while time.perf_counter() < deadline:
            batch = {"tickets": [ticket(shop, next(numbers)) for _ in range(50)]}
            async with http.post(f"{url}/v1/sales", json=batch, headers=headers) as response:
                assert response.status == 202, await response.text()
            accepted += 50

    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(4)))
    return accepted / (time.perf_counter() - started)


async def latency(url: str, token: str, shop: str, seconds: float, rate: float) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    timings: list[float] = []
    bodies = [json.dumps(ticket(shop, 10**8 + n)) for n in range(int(seconds * rate))]

    async def one(http: aiohttp.ClientSession, body: str) -> None:
        started = time.perf_counter()
        async with http.post(f"{url}/v1/sales", data=body,
                             headers={**headers, "Content-Type": "application/json"}) as response:
            assert response.status == 202, await response.text()
        timings.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as http:
        start = time.perf_counter()
        tasks = []
        for n, body in enumerate(bodies):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(http, body)))
        await asyncio.gather(*tasks)
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    settings = BusSettings()
    shop = f"bench-{uuid.uuid4().hex[:6]}"
    token, event = issue(Role.SHOP, shop, "benchmark", datetime.now(UTC))
    async with open_publisher(settings) as publisher:
        await publisher.publish(TOKENS, event)
    port = free_port()
    gateway = await start_gateway(port)
    url = f"http://127.0.0.1:{port}"
    try:
        await throughput(url, token, shop, 2.0)  # warm-up: schema ids, connections, JIT-free
        tickets_per_s = await throughput(url, token, shop, args.seconds)
        timings = sorted(await latency(url, token, shop, args.seconds, args.rate))
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
    print(f"| {datetime.now(UTC):%Y-%m-%d} | {machine()} | {tickets_per_s:,.0f} tickets/s "
          f"({tickets_per_s * LINES:,.0f} lines/s) | {args.rate:.0f} tickets/s: "
          f"{latencies(timings)} |")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def latencies(timings: list[float]) -> str:
    """p50, p99 and max of latencies in seconds, for a README row."""
    ordered = sorted(timings)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    return (f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ordered[-1] * 1000:.1f} ms "
            f"({len(ordered)} requests)")


if __name__ == "__main__":
    asyncio.run(main())
