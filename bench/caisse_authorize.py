"""Caisse authorisation: latency and throughput of `POST /v1/caisse/redemptions`, from the HTTP
request to the caisse's answer (request on Kafka, decision and ledger entry in a Kafka
transaction, answer read back committed by the gateway).

    make up                      # or any running stack with the topics provisioned
    .venv/bin/python -m bench.caisse_authorize [--seconds 30] [--rate 200] [--clients 32]

It starts one gateway (`vivres serve gateway`, free port) and one caisse service (`vivres serve
caisse`), sets up a caisse of its own (rules, an approved shop, 200 funded cards), then drives
the gateway from this process with aiohttp:
  1. latency: single redemptions at a fixed --rate, open loop (sent on schedule whether or not
     earlier ones have answered), for --seconds; p50/p99/max;
  2. throughput: --clients redemptions in flight, closed loop, for --seconds.
Every answer must be AUTHORIZED. Results are printed as a Markdown row for bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from itertools import count

import aiohttp

from bench.gateway_ingest import ROOT, free_port, latencies, machine, start_gateway
from services.auth.tokens import issue
from services.bus.catalog import CAISSE_DECISIONS, TOKENS
from services.bus.publisher import open_publisher
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.caisse.replies import CaisseClient
from services.events.auth import Role
from services.events.caisse import (
    AllowanceRules,
    CaisseRequested,
    CarryOver,
    DecisionKind,
    DecisionRecorded,
    Household,
    RequestKind,
)

CARDS = 200


async def set_up(settings: BusSettings, caisse: str, shop: str) -> list[str]:
    """A caisse with generous rules, one approved shop and CARDS funded cards."""
    now = datetime.now(UTC)
    rules = AllowanceRules(currency="EUR", base_cents=10**9, per_extra_adult_cents=0,
                           per_child_cents=0, carry_over=CarryOver.FULL)
    vote = dict(effective_on=date(2026, 1, 1), criteria=(), votes_for=1, votes_against=0,
                votes_abstain=0, decided_at=now)
    cards = [f"{caisse}-card-{n}" for n in range(CARDS)]
    async with SchemaRegistry(settings.schema_registry_url) as registry, \
            open_publisher(settings) as publisher, \
            CaisseClient(settings, registry, publisher) as client:
        await publisher.publish_many(CAISSE_DECISIONS, [
            DecisionRecorded(decision_id=f"{caisse}-rules", caisse_id=caisse,
                             kind=DecisionKind.SET_RULES, rules=rules, **vote),
            DecisionRecorded(decision_id=f"{caisse}-shop", caisse_id=caisse,
                             kind=DecisionKind.APPROVE_SHOP, subject_id=shop, **vote)])
        await asyncio.gather(*(client.ask(CaisseRequested(
            request_id=f"enrol/{card}", kind=RequestKind.ENROL, caisse_id=caisse, card_id=card,
            household=Household(adults=1, children=0, income_band="T1"), requested_at=now,
            requested_by="bench"), timeout_s=120) for card in cards))
        await client.credit_month(caisse, now.strftime("%Y-%m"), "bench", timeout_s=60)
    return cards


def start_caisse() -> subprocess.Popen:
    env = {**os.environ, "VIVRES_LOG_LEVEL": "WARNING", "VIVRES_METRICS_PORT": "0"}
    return subprocess.Popen([str(ROOT / ".venv" / "bin" / "vivres"), "serve", "caisse"],
                            env=env, cwd=ROOT)


class Driver:
    def __init__(self, url: str, token: str, cards: list[str]) -> None:
        self.url = f"{url}/v1/caisse/redemptions"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.cards = cards
        self.ids = count()
        self.rng = random.Random(7)

    async def redeem(self, http: aiohttp.ClientSession) -> float:
        body = {"redemption_id": f"r{next(self.ids)}", "card_id": self.rng.choice(self.cards),
                "amount_cents": self.rng.randint(100, 5_000)}
        started = time.perf_counter()
        async with http.post(self.url, json=body, headers=self.headers) as response:
            answer = await response.json()
        elapsed = time.perf_counter() - started
        assert response.status == 200 and answer["outcome"] == "AUTHORIZED", answer
        return elapsed


async def latency(driver: Driver, seconds: float, rate: float) -> list[float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as http:
        start, tasks = time.perf_counter(), []
        for n in range(int(seconds * rate)):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(driver.redeem(http)))
        return list(await asyncio.gather(*tasks))


async def throughput(driver: Driver, seconds: float, clients: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await driver.redeem(http)
            done += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def ready(driver: Driver) -> None:
    """The first answers: the caisse has taken its partitions."""
    async with aiohttp.ClientSession() as http:
        for _ in range(120):
            try:
                await driver.redeem(http)
                return
            except (AssertionError, aiohttp.ClientError):
                await asyncio.sleep(1.0)
    raise RuntimeError("the caisse did not answer within two minutes")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    settings = BusSettings()
    caisse, shop = f"bench-{uuid.uuid4().hex[:6]}", f"bench-shop-{uuid.uuid4().hex[:6]}"
    token, event = issue(Role.SHOP, shop, "benchmark", datetime.now(UTC))
    async with open_publisher(settings) as publisher:
        await publisher.publish(TOKENS, event)
    caisse_service = start_caisse()
    port = free_port()
    gateway = await start_gateway(port)
    try:
        cards = await set_up(settings, caisse, shop)
        driver = Driver(f"http://127.0.0.1:{port}", token, cards)
        await ready(driver)
        await latency(driver, 3.0, args.rate)  # warm-up
        timings = await latency(driver, args.seconds, args.rate)
        per_s = await throughput(driver, args.seconds, args.clients)
    finally:
        for process in (gateway, caisse_service):
            process.terminate()
            process.wait(timeout=30)
    print(f"| {datetime.now(UTC):%Y-%m-%d} | {machine()} | {args.rate:.0f} req/s: "
          f"{latencies(timings)} | {per_s:,.0f} authorisations/s ({args.clients} in flight) |")


if __name__ == "__main__":
    asyncio.run(main())
