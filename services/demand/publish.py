"""The first stage's output: every FLUSH_S, for the territory × product pairs changed since the
last flush, the shops' signals go to demand.shop-signals and the partitions' partials to the
combining stage (services.demand.combine), within a computing budget; the rest wait for the
next flush. While the fold is far behind its sources' end, flushes are rarer: a replay would
spend its time on signals about to change."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from services.bus.catalog import SHOP_SIGNALS
from services.bus.partitions import partition_for
from services.demand.combine import Key, Partial, pair_key
from services.demand.fold import Fold, local_today
from services.demand.sources import PARTITIONS
from services.demand.state import to_wire

FLUSH_S = 0.02  # signals of the pairs changed are published this often
CATCHING_UP_FLUSH_S = 2.0  # ... and this often while the fold is far behind a source's end
FLUSH_BUDGET_S = 0.015  # computing time per flush; the remaining pairs wait for the next one
REFRESH_S = 10.0  # every partial is sent again this often (services.demand.combine)


async def within_budget(take: Callable[[int], list[Key]],
                        publish: Callable[[Key], Awaitable[None]]) -> None:
    """Publish the pairs `take` gives, the longest waiting first, for FLUSH_BUDGET_S."""
    deadline = time.perf_counter() + FLUSH_BUDGET_S
    while time.perf_counter() < deadline and (pairs := take(8)):
        for pair in pairs:
            await publish(pair)


class Flush:
    def __init__(self, fold: Fold, partials_topic: str, owns: Callable[[str], bool]) -> None:
        self.fold = fold
        self.partials_topic = partials_topic
        self.owns = owns  # whether a shop's source partition is this worker's
        self.catching_up = False  # set by the fold's callers: some partition is far behind
        self._last = 0.0  # monotonic time of the last flush
        self._sent: list[asyncio.Future[Any]] = []

    async def refresh(self) -> None:
        """Every partial of this worker again: the combining stage takes the unchanged ones as
        nothing, and one lost on its way is made good."""
        current = self.fold.loaded()
        if current is None or self.catching_up:
            return
        sent = [await self._send(partial) for pair in current.refresh()
                for partial in current.take_partials(pair)]
        await asyncio.gather(*sent)

    async def _send(self, partial: Partial) -> asyncio.Future[Any]:
        return await self.fold.refs.producer.send(
            self.partials_topic, json.dumps(partial.to_json()).encode(),
            key=partial.key.encode(), partition=partition_for(pair_key(partial.pair), PARTITIONS))

    async def __call__(self) -> None:
        current = self.fold.loaded()
        if not self.fold.dirty or current is None:
            return
        if self.catching_up and time.monotonic() - self._last < CATCHING_UP_FLUSH_S:
            return
        self._last = time.monotonic()
        refs = self.fold.refs
        await refs.ready()
        now, today = datetime.now(UTC), local_today()

        async def publish(pair: Key) -> None:
            for signal in current.shop_signals(pair, today, on_hand=refs.on_hand.get(pair, {}),
                                               owns=self.owns, now=now):
                await refs.publisher.enqueue(SHOP_SIGNALS, to_wire(signal))
            for partial in current.take_partials(pair):
                self._sent.append(await self._send(partial))

        await within_budget(current.take_dirty, publish)
        sent, self._sent = self._sent, []
        await asyncio.gather(refs.publisher.settle(), *sent)
