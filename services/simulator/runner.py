"""Posting simulated uploads to the gateway: each shop with its own token, several requests in
flight but each shop's uploads in order, as fast as possible or paced on the simulated clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
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
