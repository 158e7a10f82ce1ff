"""Posting simulated uploads to the gateway: each shop with its own token, several requests in
flight but each shop's uploads in order, as fast as possible or paced on the simulated clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import httpx
import structlog

from services.sales.client import DEFAULT_URL, GatewayClient, GatewayError
from services.sales.intake import SalesBatch
from services.simulator.model import Upload

log = structlog.get_logger("vivres.simulator")
ABORT_AFTER = 20  # give up when this many first requests all failed: the gateway is down


class Progress(Protocol):
    def update(self, n_steps: int) -> None: ...


class Poster(Protocol):
    async def __aenter__(self) -> Poster: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def post_sales(self, batch: SalesBatch) -> dict[str, Any]: ...


@dataclass
class RunSummary:
    """What the gateway accepted, and how many uploads it refused or never answered."""

    uploads: int = 0  # answered or failed
    tickets: int = 0
    refunds: int = 0
    errors: int = 0
    errors_by_shop: dict[str, int] = field(default_factory=dict)

    @property
    def failed_entirely(self) -> bool:
        return self.uploads > 0 and self.errors == self.uploads


class SimulationFailed(Exception):
    """Every request failed: nothing reached the gateway."""

    def __init__(self, summary: RunSummary) -> None:
        super().__init__(f"all {summary.errors} request(s) failed")
        self.summary = summary


async def run(uploads: Iterable[Upload], tokens: dict[str, str], base_url: str = DEFAULT_URL,
              speed: float | None = None, progress: Progress | None = None,
              clock: Callable[[], float] = time.monotonic, *,
              sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
              concurrency: int = 8,
              client_factory: Callable[[str, str], Poster] = GatewayClient,
              on_sent: Callable[[Upload], None] | None = None) -> RunSummary:
    """Post every upload with its shop's token and count what the gateway accepted.

    `speed` None sends as fast as possible; otherwise simulated time runs `speed` times faster
    than the wall clock, from the first upload on. Refusals and network errors are counted and
    logged; the run raises SimulationFailed only when every request failed (it gives up early
    when the first ABORT_AFTER all failed).
    """
    summary = RunSummary()
    slots = asyncio.Semaphore(concurrency)
    tasks: list[asyncio.Task[None]] = []
    last_of_shop: dict[str, asyncio.Task[None]] = {}
    origin: tuple[datetime, float] | None = None

    async with AsyncExitStack() as clients:
        opened: dict[str, Poster] = {}

        async def client(shop: str) -> Poster:
            if shop not in opened:
                opened[shop] = await clients.enter_async_context(
                    client_factory(tokens[shop], base_url))
            return opened[shop]

        async def post(upload: Upload, before: asyncio.Task[None] | None) -> None:
            try:
                if before is not None:
                    await asyncio.wait([before])  # the shop's order; a failure was counted
                if await _post(upload, tokens, client, summary) and on_sent is not None:
                    on_sent(upload)
            finally:
                summary.uploads += 1
                slots.release()
                if progress is not None:
                    progress.update(1)

        try:
            for upload in uploads:
                if speed is not None:
                    origin = origin or (upload.deliver_at, clock())
                    due = origin[1] + (upload.deliver_at - origin[0]).total_seconds() / speed
                    if due > clock():
                        await sleep(due - clock())
                await slots.acquire()
                if summary.uploads >= ABORT_AFTER and summary.failed_entirely:
                    slots.release()
                    break
                shop = upload.shop_id
                last_of_shop[shop] = asyncio.create_task(post(upload, last_of_shop.get(shop)))
                tasks.append(last_of_shop[shop])
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()  # no-op for the finished ones
            await asyncio.gather(*tasks, return_exceptions=True)
    if summary.failed_entirely:
        raise SimulationFailed(summary)
    return summary


async def _post(upload: Upload, tokens: dict[str, str],
                client: Callable[[str], Awaitable[Poster]], summary: RunSummary) -> bool:
    """Post one upload; True when the gateway accepted it."""
    shop = upload.shop_id
    context = {"shop_id": shop, "deliver_at": upload.deliver_at.isoformat(),
               "tickets": len(upload.batch.tickets), "refunds": len(upload.batch.refunds)}
    if shop not in tokens:
        _count_error(summary, shop)
        log.warning("no_token", **context)
        return False
    try:
        accepted = await (await client(shop)).post_sales(upload.batch)
    except GatewayError as err:
        _count_error(summary, shop)
        log.warning("upload_refused", status=err.status, detail=str(err.detail), **context)
        return False
    except httpx.HTTPError as err:
        _count_error(summary, shop)
        log.warning("upload_failed", error=f"{type(err).__name__}: {err}", **context)
        return False
    summary.tickets += len(accepted.get("tickets", []))
    summary.refunds += len(accepted.get("refunds", []))
    return True


def _count_error(summary: RunSummary, shop: str) -> None:
    summary.errors += 1
    summary.errors_by_shop[shop] = summary.errors_by_shop.get(shop, 0) + 1


TERMINAL = {"RECEIVED_AT_SHOP", "REFUSED", "CANCELLED"}


async def run_supply_week(tokens: dict, base_url: str, slot: date, seed: int,
                          echo: Callable[[str], None], *, deadline_s: float = 180.0,
                          territories: Iterable[str] | None = None) -> dict[str, int]:
    """A week of pooled buying against the gateway: offers, needs, consolidation by each hub,
    then every order moved on by its producer, the hub and the shops until it ends."""
    from services.simulator import supply

    wanted = set(territories or supply.HUBS)
    counts = {"offers": 0, "needs": 0, "orders": 0, "refused": 0, "received": 0}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        await _gateway_ready(http, deadline_s)

        async def post(token: str, path: str, body: dict) -> None:
            response = await http.post(path, json=body,
                                       headers={"Authorization": f"Bearer {token}"})
            if response.status_code not in (201, 202):
                raise GatewayError(response.status_code, response.text)

        for producer in supply.PRODUCERS:
            token = tokens.get("producers", {}).get(producer.id)
            if token is None or producer.territory not in wanted:
                continue
            for offer in supply.offers(producer, slot, seed):
                await post(token, "/v1/availability", offer)
                counts["offers"] += 1
        for territory in sorted(wanted):
            for need in supply.needs(territory, slot, seed):
                token = tokens.get("shops", {}).get(need["shop_id"])
                if token:
                    await post(token, "/v1/needs", need)
                    counts["needs"] += 1
            # the hub's location is the directory's (vivres demo seed registered it)
            await post(tokens["hub"], "/v1/orders/consolidate",
                       {"territory": territory, "delivery_slot": slot.isoformat()})
        echo(f"offres {counts['offers']}, besoins {counts['needs']}, livraison {slot}")

        done: set[tuple[str, str]] = set()  # (order id, step) already asked for
        loop = asyncio.get_running_loop()
        finish = loop.time() + deadline_s
        orders: list[dict] = []
        while loop.time() < finish:
            response = await http.get("/v1/orders", params={"slot": slot.isoformat()},
                                      headers={"Authorization": f"Bearer {tokens['hub']}"})
            orders = [o for o in response.json() if o["territory"] in wanted]
            if orders and all(o["status"] in TERMINAL for o in orders):
                break
            for order in orders:
                await _move_on(order, tokens, seed, post, done, counts, echo)
            await asyncio.sleep(0.5)  # requests go through Kafka: look again shortly
    # What the slot holds, including orders of an earlier run of the same week.
    counts["orders"] = len(orders)
    counts["refused"] = sum(order["status"] == "REFUSED" for order in orders)
    return counts


async def _gateway_ready(http: httpx.AsyncClient, deadline_s: float) -> None:
    """Wait for the gateway (started alongside by `make run`) to answer, with a deadline."""
    loop = asyncio.get_running_loop()
    finish = loop.time() + deadline_s
    while True:
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if loop.time() > finish:
            raise SimulationFailed(RunSummary())
        await asyncio.sleep(0.5)


async def _move_on(order: dict, tokens: dict, seed: int, post, done: set, counts: dict,
                   echo: Callable[[str], None]) -> None:
    from services.simulator import supply

    order_id, status = order["order_id"], order["status"]
    producer = tokens.get("producers", {}).get(order["producer_id"])
    shops = sorted({p["shop_id"] for line in order["lines"] for p in line["parts"]})
    steps: list[tuple[str, str]] = []
    if status == "ALLOCATED" and producer:
        if supply.refuses(order["producer_id"], order_id, seed):
            steps = [(producer, "refuse")]
        else:
            steps = [(producer, "confirm")]
    elif status == "CONFIRMED" and producer:
        steps = [(producer, "ship")]
    elif status == "SHIPPED":
        steps = [(tokens["hub"], "receive-at-hub")]
    elif status == "RECEIVED_AT_HUB":
        steps = [(tokens["hub"], "dispatch")]
    elif status == "DISPATCHED":
        steps = [(tokens["shops"][s], "receive") for s in shops
                 if s not in order["received_by"] and s in tokens.get("shops", {})]
    for token, action in steps:
        key = (order_id, f"{action}:{token[-6:]}")
        if key in done:
            continue
        done.add(key)
        await post(token, f"/v1/orders/{order_id}/{action}",
                   {"reason": "grêle"} if action == "refuse" else {})
        counts["received"] += action == "receive"
        echo(f"{order_id}  {action}")
