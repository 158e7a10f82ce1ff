"""The signals: every FLUSH_S, those of the territory × product pairs changed since the last
flush go to demand.signals (territory) and demand.shop-signals (shops), within a computing
budget; the rest wait for the next flush. While the fold is far behind its sources' end, flushes
are rarer: a replay would spend its time on signals about to change."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from services.bus.catalog import DEMAND_SIGNALS, SHOP_SIGNALS
from services.demand.fold import Fold, local_today
from services.demand.state import to_wire

FLUSH_S = 0.02  # signals of the pairs changed are published this often
CATCHING_UP_FLUSH_S = 2.0  # ... and this often while the fold is far behind a source's end
FLUSH_BUDGET_S = 0.015  # computing time per flush; the remaining pairs wait for the next one


class Flush:
    def __init__(self, fold: Fold) -> None:
        self.fold = fold
        self.catching_up = False  # set by the fold's callers: some partition is far behind
        self._last = 0.0  # monotonic time of the last flush

    async def __call__(self) -> None:
        fold, refs = self.fold, self.fold.refs
        current = fold.loaded()
        if not fold.dirty or current is None:
            return
        if self.catching_up and time.monotonic() - self._last < CATCHING_UP_FLUSH_S:
            return
        self._last = time.monotonic()
        await refs.ready()
        now = datetime.now(UTC)
        today = local_today()
        deadline = time.perf_counter() + FLUSH_BUDGET_S
        while current.dirty and time.perf_counter() < deadline:
            for pair in current.take_dirty(8):
                for signal in current.signals(pair, today, on_hand=refs.on_hand.get(pair, {}),
                                              committed_7d=refs.committed(pair, today),
                                              now=now):
                    topic = DEMAND_SIGNALS if signal.shop_id is None else SHOP_SIGNALS
                    await refs.publisher.enqueue(topic, to_wire(signal))
        await refs.publisher.settle()
