"""The caisse service: the ledger's single writer per card, exactly once.

A request that cannot be decided as it stands is declined (INVALID_REQUEST, services/caisse/
checks.py); one whose deciding fails all the same (a bug it triggers) is declined too, by
`refuse`, and its copy dead-lettered (services/bus/transactional.py): nothing a request says
stops the caisse.

Requests are keyed by card, so partition p of `caisse.requests` carries a fixed set of cards,
whose accounts are partition p's state. The state is the fold of partition p of `caisse.ledger`,
read committed when p is taken (see services/bus/transactional.py); each batch of requests is
decided by `Ledger.handle` and its entries and answers written to partition p of the ledger and
of the answers in the same Kafka transaction that commits the batch's offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from services.bus.catalog import CAISSE_ANSWERS, CAISSE_DECISIONS, CAISSE_LEDGER, CAISSE_REQUESTS
from services.bus.partitions import read_partition
from services.bus.platform import Platform
from services.bus.runtime import Received
from services.bus.table import TableView
from services.bus.transactional import Output
from services.caisse.ledger import Ledger
from services.caisse.rules import FollowedCommittee
from services.events.caisse import (
    CaisseRequested,
    DecisionRecorded,
    LedgerEntryRecorded,
    RequestAnswered,
)

GROUP = "vivres-caisse"
log = structlog.get_logger("vivres.caisse")


class CaisseProcessor:
    """Loads a partition's ledger and decides its requests (services.bus.transactional)."""

    def __init__(self, platform: Platform, decisions: TableView[DecisionRecorded],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.platform = platform
        self.clock = clock
        self.committee = FollowedCommittee(decisions)
        self.answered = platform.metrics.counter(
            "vivres_caisse_answers_total", "Answers given, by request kind and outcome",
            ("kind", "outcome", "reason"))

    async def load(self, partition: int) -> Ledger:
        ledger = Ledger.fold([entry async for entry in read_partition(
            self.platform.settings, self.platform.registry, CAISSE_LEDGER, partition)])
        log.info("ledger partition loaded", partition=partition, cards=len(ledger.accounts),
                 entries=ledger.entries_applied)
        return ledger

    def handle(self, ledger: Ledger, received: Received[Any]) -> Sequence[Output]:
        request: CaisseRequested = received.event
        return self._written(received, *ledger.handle(request, self.committee(), self.clock()))

    def refuse(self, ledger: Ledger, received: Received[Any], error: BaseException
               ) -> Sequence[Output]:
        """A request whose deciding failed (its copy is dead-lettered beside): declined, so
        the till or the committee gets a definite answer instead of waiting."""
        log.error("request could not be decided: declined", request_id=received.event.request_id,
                  error=repr(error)[:500])
        return self._written(received, *ledger.decline_invalid(received.event, self.clock()))

    def _written(self, received: Received[Any], entries: Sequence[LedgerEntryRecorded],
                 answer: RequestAnswered) -> Sequence[Output]:
        request: CaisseRequested = received.event
        now = self.clock()
        self.answered.labels(answer.kind.value, answer.outcome.value,
                             answer.reason.value if answer.reason else "").inc()
        self.platform.metrics.event_age.labels(self.platform.service, received.topic).observe(
            max(0.0, (now - request.requested_at).total_seconds()))
        return [*((CAISSE_LEDGER, entry) for entry in entries),
                (CAISSE_ANSWERS, answer)]


async def serve(platform: Platform) -> None:
    """Run the caisse service until SIGTERM."""
    async with TableView(platform.settings, platform.registry, CAISSE_DECISIONS) as decisions:
        processor = CaisseProcessor(platform, decisions)
        async with platform.transactional(GROUP, CAISSE_REQUESTS, processor) as consumer:
            await consumer.run()


def main() -> None:
    from services.bus.platform import run_service

    run_service(serve, "caisse")
