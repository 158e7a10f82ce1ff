"""Asking the caisse and waiting for its answer, over Kafka: request on `caisse.requests`, answer
on `caisse.answers` (read committed, so an answer is seen only once the ledger holds it).

    async with CaisseClient(settings, registry, publisher) as caisse:
        answer = await caisse.ask(request, timeout_s=5)

The answers are followed from their end by a reader outside any consumer group: every gateway
replica sees every answer and wakes whoever waits for that request id. A waiter is registered
before its request is sent, so no answer can slip past it. Asking again after a timeout is safe:
the same request id gets the same answer.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from services.bus.client import new_consumer
from services.bus.admin import partitions_of
from services.bus.catalog import CAISSE_ANSWERS, CAISSE_REQUESTS
from services.bus.codec import AvroCodec
from services.bus.publisher import Publisher
from services.bus.registry import RegistryError, SchemaRegistry
from services.bus.runtime import DECODE_ERRORS
from services.bus.settings import BusSettings
from services.caisse.ledger import credit_request_id
from services.events.caisse import CaisseRequested, RequestAnswered, RequestKind

log = structlog.get_logger("vivres.caisse.replies")


class NoAnswer(TimeoutError):
    """The caisse did not answer in time (it may still: ask again with the same id)."""


class CaisseClient:
    def __init__(self, settings: BusSettings, registry: SchemaRegistry,
                 publisher: Publisher) -> None:
        self.settings = settings
        self.publisher = publisher
        self._codec = AvroCodec.for_topic(registry, CAISSE_ANSWERS)
        self._waiters: dict[str, list[asyncio.Future[RequestAnswered]]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._follower: asyncio.Task[None] | None = None
        self.healthy = True

    async def __aenter__(self) -> CaisseClient:
        self._consumer = new_consumer(self.settings, fetch_max_wait_ms=50)
        await self._consumer.start()
        partitions = await partitions_of(self.settings, CAISSE_ANSWERS.name)
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:  # positions resolved before the first request goes out
            await self._consumer.position(tp)
        self._follower = asyncio.create_task(self._follow(), name="caisse-answers")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.cancel()

    async def ask(self, request: CaisseRequested, *, timeout_s: float = 5.0,
                  partition: int | None = None) -> RequestAnswered:
        """Send a request and wait for its answer (NoAnswer after `timeout_s`)."""
        waiter: asyncio.Future[RequestAnswered] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(request.request_id, []).append(waiter)
        try:
            await self.publisher.publish(CAISSE_REQUESTS, request, partition=partition)
            return await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except TimeoutError as err:
            raise NoAnswer(f"no answer to {request.request_id} within {timeout_s} s") from err
        finally:
            waiters = self._waiters.get(request.request_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(request.request_id, None)

    async def credit_month(self, caisse_id: str, month: str, requested_by: str, *,
                           timeout_s: float = 30.0) -> list[RequestAnswered]:
        """Credit a month's allowance: one request per partition, each answered by the
        partition's writer for its own cards."""
        now = datetime.now(UTC)
        requests = [CaisseRequested(request_id=credit_request_id(caisse_id, month, p),
                                    kind=RequestKind.CREDIT_MONTH, caisse_id=caisse_id,
                                    month=month, requested_at=now, requested_by=requested_by)
                    for p in range(CAISSE_REQUESTS.partitions)]
        return list(await asyncio.gather(*(self.ask(r, timeout_s=timeout_s, partition=p)
                                           for p, r in enumerate(requests))))

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=1000)
                self.healthy = True
            except KafkaError as err:
                self.healthy = False
                log.warning("answers not followed, retrying", error=str(err))
                await asyncio.sleep(0.5)
                continue
            for records in batch.values():
                for record in records:
                    await self._deliver(record)

    async def _deliver(self, record) -> None:
        if record.value is None or not self._waiters:  # nobody waits: nothing to decode
            return
        while True:
            try:
                answer = RequestAnswered.from_avro(await self._codec.decode(record.value))
                break
            except RegistryError as err:
                log.warning("answers wait for the registry", error=str(err))
                await asyncio.sleep(0.5)
            except DECODE_ERRORS as err:
                log.warning("answer undecodable, skipped", topic=record.topic,
                            partition=record.partition, offset=record.offset, error=str(err))
                return
        for waiter in self._waiters.get(answer.request_id, []):
            if not waiter.done():
                waiter.set_result(answer)
