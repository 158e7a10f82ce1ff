"""What Kafka itself says about the streams, read with the admin API and a group-less consumer.

One `KafkaProbe.snapshot()` reads, at one moment:
- every consumer group the pattern selects: its state, its members, its committed offsets;
- the end offsets (high watermarks, as Kafka's consumer-groups tool reads them) and the start
  offsets of the topics those groups read, of the watched topics and of their dead-letter topics;
- the append time of the oldest record each lagging group has not consumed yet (lag in seconds);
- the brokers, the active controller (the KRaft quorum's leader, asked with DescribeQuorum,
  which brokers forward to the controllers), under-replicated and offline partitions.

Metadata, the groups' names and the partitions' offsets are asked through confluent-kafka's
admin client (`confluent_admin`, librdkafka: the probe's for its lifetime); its futures are
awaited, its one blocking call (`list_topics`) runs in a thread. The groups' states, members
and committed offsets stay on aiokafka's public admin calls: librdkafka 2.16 aborts the whole
process when a group coordinator goes away under those requests (see `_groups`), which is when
health matters most.

One request is still encoded by hand, on aiokafka's admin client: DescribeQuorum (bottom of this
module). Neither librdkafka nor aiokafka offers it; kafka-python 3.x does
(`describe_metadata_quorum`), but adding a second Kafka library for one figure was not chosen.
A failure to encode or decode it (an aiokafka upgrade) is logged as a warning, not hidden.

Any failure raises (KafkaException, KafkaError, OSError, TimeoutError): the monitor says Kafka is
unreachable and keeps its last figures, marked as such.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)
from confluent_kafka import IsolationLevel, KafkaException
from confluent_kafka import TopicPartition as Partition
from confluent_kafka.admin import AdminClient, ClusterMetadata, OffsetSpec

from services.bus.admin import answered, confluent_admin
from services.bus.client import new_consumer
from services.bus.settings import BusSettings

log = structlog.get_logger("vivres.health.kafka")
REQUEST_TIMEOUT_MS = 5_000
TIMEOUT_S = REQUEST_TIMEOUT_MS / 1000  # librdkafka's per-call request_timeout, in seconds


@dataclass(frozen=True)
class GroupOffsets:
    group: str
    state: str  # Stable, Empty, PreparingRebalance, CompletingRebalance, Dead
    members: int
    committed: dict[TopicPartition, int]  # partitions with a committed offset only


@dataclass(frozen=True)
class Cluster:
    brokers: list[dict[str, Any]]
    controller: int | None  # the quorum's leader; None when DescribeQuorum is not answered
    voters: list[int]
    under_replicated: list[str]  # "topic[partition]"
    offline: list[str]
    partitions: int


@dataclass(frozen=True)
class KafkaSnapshot:
    at: float  # epoch seconds
    groups: dict[str, GroupOffsets]
    ends: dict[TopicPartition, int]
    starts: dict[TopicPartition, int]
    waiting_since: dict[tuple[TopicPartition, int], float]  # (partition, offset) -> append time
    cluster: Cluster
    topics: list[str] = field(default_factory=list)  # the topics whose offsets were read


class KafkaProbe:
    """Long-lived clients asking Kafka for a snapshot; `async with` starts and closes them
    (librdkafka reconnects its admin client by itself)."""

    def __init__(self, settings: BusSettings, *, groups: str = ".*",
                 topics: Iterable[str] = ()) -> None:
        self.settings = settings
        self.group_pattern = re.compile(groups)
        self.watched_topics = tuple(topics)
        self._kept: AdminClient | None = None
        self._kept_block = AsyncExitStack()
        self._admin: AIOKafkaAdminClient | None = None  # groups, DescribeQuorum
        self._consumer: AIOKafkaConsumer | None = None
        self._append_times: dict[tuple[TopicPartition, int], float] = {}

    async def __aenter__(self) -> KafkaProbe:
        options = self.settings.kafka_options()
        self._admin = AIOKafkaAdminClient(**options, client_id="vivres-health",
                                          request_timeout_ms=REQUEST_TIMEOUT_MS)
        self._consumer = new_consumer(self.settings, committed=False, client_id="vivres-health",
                                  request_timeout_ms=REQUEST_TIMEOUT_MS)
        try:
            self._kept = await self._kept_block.enter_async_context(
                confluent_admin(self.settings))
            await self._admin.start()
            await self._consumer.start()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        await self._kept_block.aclose()

    async def snapshot(self) -> KafkaSnapshot:
        kept = self._kept
        assert kept is not None, "use `async with probe:` first"
        # brokers, partitions, leaders, ISR: one Metadata request, like kafka-topics --describe
        metadata = await asyncio.to_thread(kept.list_topics, timeout=TIMEOUT_S)
        names = sorted(g for g in await self._group_names() if self.group_pattern.fullmatch(g))
        groups = await self._groups(names)
        existing = {name: t.partitions for name, t in metadata.topics.items() if t.error is None}
        wanted = set(self.watched_topics) | {tp.topic for g in groups.values()
                                             for tp in g.committed}
        wanted |= {f"{name}.dlq" for name in self.watched_topics}
        partitions = [TopicPartition(name, p) for name in sorted(wanted & existing.keys())
                      for p in sorted(existing[name])]
        leaders = {TopicPartition(name, p.id): p.leader
                   for name, topic in existing.items() for p in topic.values()}
        ends, starts = await asyncio.gather(
            self._offsets(partitions, leaders, OffsetSpec.latest()),
            self._offsets(partitions, leaders, OffsetSpec.earliest()))
        # a topic is reported only whole: a partition without an answer this round (its
        # leader just died) would make its sums dip, and its dead letters look new later
        complete = {name for name in wanted & existing.keys()
                    if all(TopicPartition(name, p) in ends for p in existing[name])}
        ends = {tp: end for tp, end in ends.items() if tp.topic in complete}
        at = time.time()
        waiting = {(tp, offset) for g in groups.values() for tp, offset in g.committed.items()
                   if tp in ends and offset < ends[tp]}
        return KafkaSnapshot(at=at, groups=groups, ends=ends, starts=starts,
                             waiting_since=await self._append_times_of(waiting),
                             cluster=await self._cluster(metadata),
                             topics=sorted(complete))

    async def _group_names(self) -> set[str]:
        """Every group of every broker that answers: a dead broker, still in the metadata until
        it is fenced, must not blind us to the others (its groups move to another)."""
        try:
            listed = await asyncio.wrap_future(
                self._kept.list_consumer_groups(request_timeout=TIMEOUT_S))
        except KafkaException as err:  # no broker answered: no group seen, as none listed
            log.warning("groups not listed", error=str(err))
            return set()
        for error in listed.errors or ():
            log.debug("a broker did not list its groups", error=str(error))
        return {group.group_id for group in listed.valid or ()}

    async def _offsets(self, partitions: list[TopicPartition], leaders: dict[TopicPartition, int],
                       spec: OffsetSpec) -> dict[TopicPartition, int]:
        """ListOffsets of the partitions that have a leader, as Kafka's tools ask it
        (read_uncommitted: the end is the high watermark). A partition whose leader is away is
        left out this round: librdkafka fails it alone, or (a leader that times out) answers
        it with no offset (-1001)."""
        asked = {Partition(tp.topic, tp.partition): spec
                 for tp in partitions if leaders.get(tp, -1) >= 0}
        if not asked:
            return {}
        answers = await answered(self._kept.list_offsets(
            asked, isolation_level=IsolationLevel.READ_UNCOMMITTED, request_timeout=TIMEOUT_S))
        return {TopicPartition(tp.topic, tp.partition): answer.offset
                for tp, answer in answers.items()
                if not isinstance(answer, KafkaException) and answer.offset >= 0}

    async def _groups(self, names: list[str]) -> dict[str, GroupOffsets]:
        if not names:
            return {}
        admin = self._admin
        described: dict[str, dict[str, Any]] = {}
        # aiokafka's public calls, not confluent-kafka's: librdkafka 2.16 aborts the process
        # (assertion `eonce->refcnt > 0`, confluentinc/librdkafka#4605, open) when a group
        # coordinator's connection drops under DescribeGroups or OffsetFetch: a broker dying.
        # One group per request: aiokafka 0.14 cannot decode a DescribeGroups answer about
        # several groups (KafkaConnectionError "Buffer underrun decoding string", Kafka 4.x).
        # A group whose coordinator is away this round is left out of it (not failed whole).
        for responses in await asyncio.gather(*(admin.describe_consumer_groups([name])
                                                for name in names), return_exceptions=True):
            if isinstance(responses, KafkaError):
                continue
            if isinstance(responses, BaseException):
                raise responses
            for group in responses[0].to_object()["groups"]:
                described[group["group"]] = group
        offsets = await asyncio.gather(*(admin.list_consumer_group_offsets(n) for n in names),
                                       return_exceptions=True)
        found = {}
        for name, committed in zip(names, offsets, strict=True):
            if isinstance(committed, BaseException) or name not in described:
                if not isinstance(committed, KafkaError | dict):
                    raise committed
                continue
            found[name] = GroupOffsets(
                group=name, state=described[name]["state"],
                members=len(described[name]["members"]),
                committed={tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0})
        return found

    async def _append_times_of(self, wanted: set[tuple[TopicPartition, int]]
                               ) -> dict[tuple[TopicPartition, int], float]:
        """When the record at each (partition, offset) was appended: the oldest record a group
        has not consumed. A record's time never changes, so each is read once."""
        missing = sorted(wanted - self._append_times.keys())
        consumer = self._consumer
        while missing:  # one offset per partition per round: a consumer has one position each
            round_: dict[TopicPartition, int] = {}
            for tp, offset in missing:
                round_.setdefault(tp, offset)
            consumer.assign(list(round_))
            for tp, offset in round_.items():
                consumer.seek(tp, offset)
            pending = dict(round_)
            deadline = time.monotonic() + 2.0
            while pending and time.monotonic() < deadline:
                try:
                    batch = await consumer.getmany(*pending, timeout_ms=500, max_records=50)
                except KafkaError as err:  # e.g. a topic we may describe but not read
                    log.debug("waiting records unreadable", error=repr(err))
                    break
                for tp, records in batch.items():
                    mine = [r for r in records if tp in pending and r.offset >= pending[tp]]
                    if mine:  # the first record at or after the offset
                        self._append_times[(tp, pending.pop(tp))] = mine[0].timestamp / 1000
            # not read this time (only markers, or slow): unknown now, asked again next round
            missing = [key for key in missing
                       if key not in self._append_times and key[0] not in pending]
        consumer.assign([])
        if len(self._append_times) > 50_000:  # forget the old ones now and then
            self._append_times = {k: v for k, v in self._append_times.items() if k in wanted}
        return {key: self._append_times[key] for key in wanted if key in self._append_times}

    async def _cluster(self, metadata: ClusterMetadata) -> Cluster:
        under, offline, count = [], [], 0
        for topic in metadata.topics.values():
            for p in topic.partitions.values():
                count += 1
                name = f"{topic.topic}[{p.id}]"
                if p.leader < 0:
                    offline.append(name)
                elif len(p.isrs) < len(p.replicas):
                    under.append(name)
        controller, voters = await self._quorum()
        brokers = [{"id": b.id, "host": b.host, "port": b.port}
                   for b in metadata.brokers.values()]
        return Cluster(brokers=sorted(brokers, key=lambda b: b["id"]),
                       controller=controller, voters=voters, under_replicated=sorted(under),
                       offline=sorted(offline), partitions=count)

    async def _quorum(self) -> tuple[int | None, list[int]]:
        """The KRaft metadata quorum's leader and voters (clients' metadata names a random
        broker as "controller" under KRaft, so it is asked of the quorum itself). The one
        request still encoded by hand: no confluent-kafka call asks it (module docstring)."""
        try:
            # aiokafka's private sender: it has no public call for a request of one's own
            response = await self._admin._send_request(DescribeQuorum())
            return quorum_of(response.to_object())
        except KafkaError as err:  # not answered: an older or ZooKeeper cluster, a broker away
            log.debug("quorum not described", error=repr(err))
        except Exception as err:  # noqa: BLE001 - our encoding broke (an aiokafka upgrade?)
            log.warning("DescribeQuorum request or answer not understood", error=repr(err))
        return None, []


def quorum_of(answer: dict[str, Any]) -> tuple[int | None, list[int]]:
    """The leader and voters a DescribeQuorum answer names (none when it says an error, e.g.
    not authorised to describe the cluster)."""
    if answer["error_code"] or not answer["topics"]:
        return None, []
    partition = answer["topics"][0]["partitions"][0]
    if partition["error_code"]:
        return None, []
    return partition["leader_id"], sorted(v["replica_id"] for v in partition["current_voters"])


# DescribeQuorum v0 (KIP-595; forwarded by brokers since KIP-836), which aiokafka does not carry
# and confluent-kafka (librdkafka) does not offer: the one request of this module kept by hand,
# on aiokafka's protocol classes (which 0.14 reworked: tests/unit/test_health_kafka.py guards it).
_VOTER = CompactArray(("replica_id", Int32), ("log_end_offset", Int64), ("tags", TaggedFields))


class _DescribeQuorumResponse_v0(Response):
    API_KEY = 55
    API_VERSION = 0
    SCHEMA = Schema(
        ("error_code", Int16),
        ("topics", CompactArray(
            ("topic_name", CompactString("utf-8")),
            ("partitions", CompactArray(
                ("partition_index", Int32), ("error_code", Int16), ("leader_id", Int32),
                ("leader_epoch", Int32), ("high_watermark", Int64),
                ("current_voters", _VOTER), ("observers", _VOTER), ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class _DescribeQuorumRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 55
    API_VERSION = 0
    RESPONSE_TYPE = _DescribeQuorumResponse_v0
    SCHEMA = Schema(
        ("topics", CompactArray(
            ("topic_name", CompactString("utf-8")),
            ("partitions", CompactArray(("partition_index", Int32), ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class DescribeQuorum(Request[_DescribeQuorumRequest_v0]):
    API_KEY = 55

    def build(self, request_struct_class: type[_DescribeQuorumRequest_v0]
              ) -> _DescribeQuorumRequest_v0:
        return request_struct_class([("__cluster_metadata", [(0, {})], {})], {})
