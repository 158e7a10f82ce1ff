"""Small questions to the cluster that several parts of the platform ask, through one admin
client per service process: a `Platform` opens `shared_admin` for its lifetime, and every
`admin_client` asked with its settings inside it gets that client (started on first use)
rather than a connection of its own (`confluent_admin` likewise for confluent-kafka's). Outside a
platform (the CLI, tests) each call opens one.

What aiokafka's admin client does not offer (SCRAM users, ACLs, deleting groups, ListOffsets,
groups listed despite a broker away) goes through confluent-kafka's (librdkafka's, maintained
with Kafka's protocol): `confluent_admin`, then `answered` or `settled` for its futures, rather
than requests encoded by hand on aiokafka's internals, which break on its upgrades.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import Future
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TypeVar

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from services.bus.settings import BusSettings


# librdkafka answers every admin request within its own request timeout (60 s by default); past
# twice that, the request is lost (its client was freed) and waiting longer would hang the caller.
SETTLED_TIMEOUT_S = 120.0
K = TypeVar("K")


class _Kept:
    """A confluent-kafka admin client whose librdkafka lines (a broker it cannot reach...) go to
    the standard library's logging, hence the JSON stream, rather than to stderr in librdkafka's
    format: they wait in its queue until polled, which a thread does until `close`."""

    def __init__(self, settings: BusSettings) -> None:
        self.client = AdminClient({**settings.librdkafka_config(),
                                   "logger": logging.getLogger("librdkafka")})
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._serve_logs, name="librdkafka-logs",
                                        daemon=True)
        self._poller.start()

    def _serve_logs(self) -> None:
        while not self._stop.is_set():
            self.client.poll(0.5)

    def close(self) -> None:
        """Stop serving its logs; librdkafka closes its connections when the client is freed."""
        self._stop.set()
        self._poller.join(timeout=5)


class _Shared:
    def __init__(self, settings: BusSettings) -> None:
        self.settings = settings
        self.client: AIOKafkaAdminClient | None = None
        self.kept: _Kept | None = None  # confluent-kafka's, made on first use
        self.lock = asyncio.Lock()
        self.closed = False

    async def get(self) -> AIOKafkaAdminClient:
        async with self.lock:
            if self.client is None:
                client = AIOKafkaAdminClient(**self.settings.kafka_options())
                await client.start()
                self.client = client
            return self.client


_SHARED: ContextVar[_Shared | None] = ContextVar("vivres_shared_admin", default=None)


@asynccontextmanager
async def shared_admin(settings: BusSettings) -> AsyncIterator[None]:
    """One admin client for everything this context (and the tasks it starts) asks."""
    shared = _Shared(settings)
    _SHARED.set(shared)
    try:
        yield
    finally:
        # Not a token reset: an async fixture may end in another context than it began in.
        if _SHARED.get() is shared:
            _SHARED.set(None)
        shared.closed = True  # a task it started that asks later opens a client of its own
        if shared.kept is not None:  # its poller stops within one poll: not on the event loop
            await asyncio.to_thread(shared.kept.close)
            shared.kept = None
        async with shared.lock:
            if shared.client is not None:
                await shared.client.close()


@asynccontextmanager
async def admin_client(settings: BusSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    shared = _SHARED.get()
    if shared is not None and not shared.closed and shared.settings == settings:
        yield await shared.get()
        return
    admin = AIOKafkaAdminClient(**settings.kafka_options())
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def brokers_of(settings: BusSettings) -> int:
    """How many brokers the cluster has."""
    async with admin_client(settings) as admin:
        return len((await admin.describe_cluster())["brokers"])


async def partitions_of(settings: BusSettings, topic: str) -> list[TopicPartition]:
    """Every partition of a topic (LookupError when the topic does not exist)."""
    async with admin_client(settings) as admin:
        [described] = await admin.describe_topics([topic])
    if described["error_code"] != 0 or not described["partitions"]:
        raise LookupError(f"topic {topic} does not exist")
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


async def group_members(settings: BusSettings, group: str) -> int:
    """How many members the consumer group has now (0 for an empty or unknown group)."""
    async with admin_client(settings) as admin:
        # One group per request: aiokafka 0.14 cannot decode an answer about several.
        [response] = await admin.describe_consumer_groups([group])
    return sum(len(g["members"]) for g in response.to_object()["groups"]
               if g["group"] == group)


async def forget_app(settings: BusSettings, group: str) -> None:
    """Delete a consumer group and the topics named after it (a faust app's changelogs and
    leader topic): what a test or a benchmark made with an app id of its own."""
    async with admin_client(settings) as admin:
        topics = [t for t in await admin.list_topics() if t.startswith(f"{group}-")]
        if topics:
            await admin.delete_topics(topics)
    await delete_groups(settings, [group])


async def delete_groups(settings: BusSettings, groups: list[str]) -> dict[str, str]:
    """Delete consumer groups; why each one that stays stayed (a group with members does)."""
    if not groups:
        return {}
    async with confluent_admin(settings) as admin:
        return await settled(admin.delete_consumer_groups(groups))


@asynccontextmanager
async def confluent_admin(settings: BusSettings) -> AsyncIterator[AdminClient]:
    """confluent-kafka's admin client on the same cluster, as the same user: the platform's
    one inside `shared_admin`, else one of its own for the block. Its requests' futures must be
    awaited inside the block: librdkafka drops a freed client's requests, whose futures then
    never complete."""
    shared = _SHARED.get()
    if shared is None or shared.closed or shared.settings != settings:
        own = _Kept(settings)
        try:
            yield own.client
        finally:
            await asyncio.to_thread(own.close)
        return
    if shared.kept is None:
        shared.kept = _Kept(settings)
    yield shared.kept.client


async def answered(futures: Mapping[K, Future], *,
                   timeout_s: float = SETTLED_TIMEOUT_S) -> dict[K, object]:
    """Every answer of a confluent-kafka admin call, each request's KafkaException in place of
    its answer (one refused is one left out, not the call failed); anything else raises, and so
    does a request unanswered after timeout_s (TimeoutError) rather than waiting for ever."""
    keys = list(futures)
    async with asyncio.timeout(timeout_s):
        results = await asyncio.gather(*(asyncio.wrap_future(futures[k]) for k in keys),
                                       return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, KafkaException):
            raise result
    return dict(zip(keys, results, strict=True))


async def settled(futures: Mapping[K, Future], *,
                  timeout_s: float = SETTLED_TIMEOUT_S) -> dict[K, str]:
    """The requests of a confluent-kafka admin call that were refused, and why."""
    return {what: str(result.args[0] if result.args else result)
            for what, result in (await answered(futures, timeout_s=timeout_s)).items()
            if isinstance(result, KafkaException)}
