"""What Kafka itself says about the streams, read with the admin API and a group-less consumer.

One `KafkaProbe.snapshot()` reads, at one moment:
- every consumer group the pattern selects: its state, its members, its committed offsets;
- the end offsets (high watermarks, as Kafka's consumer-groups tool reads them) and the start
  offsets of the topics those groups read, of the watched topics and of their dead-letter topics;
- the append time of the oldest record each lagging group has not consumed yet (lag in seconds);
- the brokers, the active controller (the KRaft quorum's leader, asked with DescribeQuorum,
  which brokers forward to the controllers), under-replicated and offline partitions.

Any failure raises (KafkaError, OSError, TimeoutError): the monitor says Kafka is unreachable and
keeps its last figures, marked as such.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.admin import ListGroupsRequest
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.protocol.types import (
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)

from services.bus.client import new_consumer
from services.bus.settings import BusSettings

log = structlog.get_logger("vivres.health.kafka")
REQUEST_TIMEOUT_MS = 5_000
LATEST, EARLIEST = -1, -2  # ListOffsets' special timestamps


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
    """Long-lived clients asking Kafka for a snapshot; `async with` starts and closes them."""

    def __init__(self, settings: BusSettings, *, groups: str = ".*",
                 topics: Iterable[str] = ()) -> None:
        self.settings = settings
        self.group_pattern = re.compile(groups)
        self.watched_topics = tuple(topics)
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._append_times: dict[tuple[TopicPartition, int], float] = {}

    async def __aenter__(self) -> KafkaProbe:
        options = self.settings.kafka_options()
        self._admin = AIOKafkaAdminClient(**options, client_id="vivres-health",
                                          request_timeout_ms=REQUEST_TIMEOUT_MS)
        self._consumer = new_consumer(self.settings, committed=False, client_id="vivres-health",
                                  request_timeout_ms=REQUEST_TIMEOUT_MS)
        try:
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

    async def snapshot(self) -> KafkaSnapshot:
        admin = self._admin
        assert admin is not None, "use `async with probe:` first"
        metadata = (await admin._get_cluster_metadata()).to_object()  # brokers, controller, ISR
        names = sorted(g for g in await self._group_names(metadata)
                       if self.group_pattern.fullmatch(g))
        groups = await self._groups(names)
        existing = {t["topic"]: t for t in metadata["topics"] if t["error_code"] == 0}
        wanted = set(self.watched_topics) | {tp.topic for g in groups.values()
                                             for tp in g.committed}
        wanted |= {f"{name}.dlq" for name in self.watched_topics}
        partitions = [TopicPartition(name, p["partition"])
                      for name in sorted(wanted & existing.keys())
                      for p in existing[name]["partitions"]]
        leaders = {TopicPartition(name, p["partition"]): p["leader"]
                   for name, topic in existing.items() for p in topic["partitions"]}
        ends, starts = await asyncio.gather(self._offsets(partitions, leaders, LATEST),
                                            self._offsets(partitions, leaders, EARLIEST))
        # a topic is reported only whole: a partition without an answer this round (its
        # leader just died) would make its sums dip, and its dead letters look new later
        complete = {name for name in wanted & existing.keys()
                    if all(TopicPartition(name, p["partition"]) in ends
                           for p in existing[name]["partitions"])}
        ends = {tp: end for tp, end in ends.items() if tp.topic in complete}
        at = time.time()
        waiting = {(tp, offset) for g in groups.values() for tp, offset in g.committed.items()
                   if tp in ends and offset < ends[tp]}
        return KafkaSnapshot(at=at, groups=groups, ends=ends, starts=starts,
                             waiting_since=await self._append_times_of(waiting),
                             cluster=await self._cluster(metadata),
                             topics=sorted(complete))

    async def _group_names(self, metadata: dict[str, Any]) -> set[str]:
        """Every group of every broker that answers: a dead broker, still in the metadata until
        it is fenced, must not blind us to the others (its groups move to another)."""
        names: set[str] = set()
        for broker in metadata["brokers"]:
            try:
                response = await self._admin._send_request(ListGroupsRequest(),
                                                           broker["node_id"])
            except KafkaError:
                continue
            if not response.error_code:
                names.update(group[0] for group in response.groups)
        return names

    async def _offsets(self, partitions: list[TopicPartition], leaders: dict[TopicPartition, int],
                       spec: int) -> dict[TopicPartition, int]:
        """ListOffsets asked of each partition's leader, as Kafka's tools do (read_uncommitted:
        the end is the high watermark). The consumer's own end_offsets() fetches metadata topic
        by topic, which took seconds for a few hundred partitions."""
        by_leader: dict[int, dict[str, list[tuple[int, int]]]] = {}
        for tp in partitions:
            if leaders.get(tp, -1) >= 0:
                by_leader.setdefault(leaders[tp], {}).setdefault(tp.topic, []).append(
                    (tp.partition, spec))
        responses = await asyncio.gather(*(
            self._admin._send_request(OffsetRequest(-1, 0, list(topics.items())), node)
            for node, topics in by_leader.items()), return_exceptions=True)
        found = {}
        for response in responses:
            if isinstance(response, KafkaError):
                continue  # that leader is away: its partitions are left out this round
            if isinstance(response, BaseException):
                raise response
            for topic in response.to_object()["topics"]:
                for p in topic["partitions"]:
                    if p["error_code"] == 0:
                        found[TopicPartition(topic["topic"], p["partition"])] = p["offset"]
        return found

    async def _groups(self, names: list[str]) -> dict[str, GroupOffsets]:
        if not names:
            return {}
        admin = self._admin
        described: dict[str, dict[str, Any]] = {}
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

    async def _cluster(self, metadata: dict[str, Any]) -> Cluster:
        under, offline, count = [], [], 0
        for topic in metadata["topics"]:
            for p in topic["partitions"]:
                count += 1
                name = f"{topic['topic']}[{p['partition']}]"
                if p["leader"] < 0:
                    offline.append(name)
                elif len(p["isr"]) < len(p["replicas"]):
                    under.append(name)
        controller, voters = await self._quorum()
        brokers = [{"id": b["node_id"], "host": b["host"], "port": b["port"]}
                   for b in metadata["brokers"]]
        return Cluster(brokers=sorted(brokers, key=lambda b: b["id"]),
                       controller=controller, voters=voters, under_replicated=sorted(under),
                       offline=sorted(offline), partitions=count)

    async def _quorum(self) -> tuple[int | None, list[int]]:
        """The KRaft metadata quorum's leader and voters (clients' metadata names a random
        broker as "controller" under KRaft, so it is asked of the quorum itself)."""
        try:
            response = await self._admin._send_request(DescribeQuorum())
        except Exception:  # noqa: BLE001 - an older or ZooKeeper cluster: no quorum to show
            return None, []
        answer = response.to_object()
        if answer["error_code"] or not answer["topics"]:  # e.g. not authorised to describe
            return None, []
        partition = answer["topics"][0]["partitions"][0]
        if partition["error_code"]:
            return None, []
        return partition["leader_id"], sorted(v["replica_id"] for v in partition["current_voters"])


# DescribeQuorum v0 (KIP-595; forwarded by brokers since KIP-836), which aiokafka does not carry.
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
