"""KafkaProbe's reading of the admin clients' answers into a snapshot, on fakes of them (the
real ones are exercised by tests/integration/test_health.py and test_cluster.py), and the one
request still encoded by hand, DescribeQuorum, against Kafka's wire format."""

from __future__ import annotations

import struct
from concurrent.futures import Future
from types import SimpleNamespace

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CoordinatorNotAvailableError, KafkaConnectionError
from aiokafka.structs import OffsetAndMetadata
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as Partition
from confluent_kafka.admin import (
    BrokerMetadata,
    ClusterMetadata,
    ConsumerGroupListing,
    ListConsumerGroupsResult,
    ListOffsetsResultInfo,
    PartitionMetadata,
    TopicMetadata,
)
from structlog.testing import capture_logs

from services.bus.admin import answered
from services.bus.settings import BusSettings
from services.health.kafka import (
    Cluster,
    DescribeQuorum,
    GroupOffsets,
    KafkaProbe,
    _DescribeQuorumResponse_v0,
    quorum_of,
)

TP = TopicPartition
AWAY = KafkaException(KafkaError(KafkaError.LEADER_NOT_AVAILABLE))


def done(value: object) -> Future:
    future: Future = Future()
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)
    return future


def metadata(topics: dict[str, list[tuple[int, list[int], list[int]]]],
             broken: tuple[str, ...] = ()) -> ClusterMetadata:
    """topic -> [(leader, replicas, isr)] by partition; `broken` topics answer an error."""
    cluster = ClusterMetadata()
    for node in (2, 1):
        broker = BrokerMetadata()
        broker.id, broker.host, broker.port = node, f"k{node}", 9092
        cluster.brokers[node] = broker
    for name, partitions in topics.items():
        topic = TopicMetadata()
        topic.topic = name
        for number, (leader, replicas, isr) in enumerate(partitions):
            p = PartitionMetadata()
            p.id, p.leader, p.replicas, p.isrs = number, leader, replicas, isr
            topic.partitions[number] = p
        cluster.topics[name] = topic
    for name in broken:
        topic = TopicMetadata()
        topic.topic, topic.error = name, KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)
        cluster.topics[name] = topic
    return cluster


class FakeAdmin:
    """confluent-kafka's AdminClient as KafkaProbe asks it: answers given per key (`groups`
    and `committed` are what aiokafka's admin client answers of each group, see Aiokafka)."""

    def __init__(self, cluster: ClusterMetadata, groups: dict[str, object],
                 committed: dict[str, object], ends: dict[TP, object],
                 listing_errors: list[KafkaError] = ()) -> None:
        self.cluster, self.groups, self.committed, self.ends = cluster, groups, committed, ends
        self.listing_errors = list(listing_errors)
        self.asked: list[set[TP]] = []

    def list_topics(self, *, timeout: float) -> ClusterMetadata:
        return self.cluster

    def list_consumer_groups(self, *, request_timeout: float) -> Future:
        return done(ListConsumerGroupsResult(
            valid=[ConsumerGroupListing(name, False) for name in self.groups],
            errors=self.listing_errors))

    def list_offsets(self, asked: dict[Partition, object], *, isolation_level: object,
                     request_timeout: float) -> dict[Partition, Future]:
        self.asked.append({TP(p.topic, p.partition) for p in asked})
        return {p: done(self.ends[TP(p.topic, p.partition)]) for p in asked}


def group(name: str, state: str, members: int) -> list[SimpleNamespace]:
    """aiokafka's describe_consumer_groups([name]) answer: DescribeGroups' response."""
    described = {"groups": [{"group": name, "state": state, "members": [{}] * members}]}
    return [SimpleNamespace(to_object=lambda: described)]


def offsets(**committed: int) -> dict[TP, OffsetAndMetadata]:
    """aiokafka's list_consumer_group_offsets answer; committed: "topic_partition" -> offset."""
    return {TP(key.rsplit("_", 1)[0], int(key.rsplit("_", 1)[1])): OffsetAndMetadata(offset, "")
            for key, offset in committed.items()}


def at(offset: int) -> ListOffsetsResultInfo:
    return ListOffsetsResultInfo(offset, -1, -1)


class Aiokafka:
    """aiokafka's admin client as the probe asks it: groups, and DescribeQuorum."""

    def __init__(self, admin: FakeAdmin, quorum: object) -> None:
        self.admin, self.quorum = admin, quorum

    async def describe_consumer_groups(self, names: list[str]) -> object:
        [name] = names
        return self._answer(self.admin.groups[name])

    async def list_consumer_group_offsets(self, name: str) -> object:
        return self._answer(self.admin.committed[name])

    async def _send_request(self, request: object) -> object:
        return SimpleNamespace(to_object=lambda: self._answer(self.quorum))

    @staticmethod
    def _answer(answer: object) -> object:
        if isinstance(answer, BaseException):
            raise answer
        return answer


def answer(leader: int, voters: list[int], error: int = 0) -> dict:
    return {"error_code": 0, "topics": [{"topic_name": "__cluster_metadata", "partitions": [
        {"partition_index": 0, "error_code": error, "leader_id": leader,
         "current_voters": [{"replica_id": v} for v in voters]}]}]}


def probe(admin: FakeAdmin, quorum: object = None, **options) -> KafkaProbe:
    probe = KafkaProbe(BusSettings(kafka_bootstrap_servers="k:9092"), **options)
    probe._kept = admin
    probe._admin = Aiokafka(admin, answer(3, [3, 1, 2]) if quorum is None else quorum)
    probe._consumer = SimpleNamespace(assign=lambda partitions: None)
    return probe


async def test_the_snapshot_says_what_the_admin_client_answered() -> None:
    cluster = metadata({"t": [(1, [1, 2], [1, 2]), (2, [1, 2], [2])],
                        "other": [(1, [1], [1])], "gone": [(-1, [2], [])]}, broken=("secret",))
    admin = FakeAdmin(cluster, groups={"g": group("g", "Stable", 2),
                                       "idle": group("idle", "Empty", 0),
                                       "not-mine": group("not-mine", "Stable", 1)},
                      committed={"g": offsets(t_0=3, t_1=-1),  # t[1]: none committed
                                 "idle": offsets(t_1=7)},
                      ends={TP("t", 0): at(3), TP("t", 1): at(7)})
    snapshot = await probe(admin, groups="g|idle").snapshot()
    assert snapshot.groups == {
        "g": GroupOffsets("g", "Stable", 2, {TP("t", 0): 3}),
        "idle": GroupOffsets("idle", "Empty", 0, {TP("t", 1): 7})}
    assert snapshot.ends == snapshot.starts == {TP("t", 0): 3, TP("t", 1): 7}
    assert snapshot.topics == ["t"] and snapshot.waiting_since == {}
    assert admin.asked == [{TP("t", 0), TP("t", 1)}] * 2  # only the topics the groups read
    assert snapshot.cluster == Cluster(
        brokers=[{"id": 1, "host": "k1", "port": 9092}, {"id": 2, "host": "k2", "port": 9092}],
        controller=3, voters=[1, 2, 3], under_replicated=["t[1]"], offline=["gone[0]"],
        partitions=4)


async def test_a_partition_whose_leader_is_away_leaves_its_topic_out_of_the_round() -> None:
    cluster = metadata({"a": [(1, [1], [1]), (2, [2], [2])], "b": [(1, [1], [1])],
                        "c": [(1, [1], [1]), (-1, [2], [])]})
    # a[1]: its leader timed out (librdkafka answers no offset); b[0]: refused alone
    admin = FakeAdmin(cluster, groups={}, committed={},
                      ends={TP("a", 0): at(4), TP("a", 1): at(-1001), TP("b", 0): AWAY,
                            TP("c", 0): at(9)})
    snapshot = await probe(admin, topics=("a", "b", "c")).snapshot()
    assert snapshot.ends == {} and snapshot.topics == []
    assert snapshot.starts == {TP("a", 0): 4, TP("c", 0): 9}
    assert TP("c", 1) not in admin.asked[0]  # no leader: not asked at all, as before
    assert snapshot.cluster.offline == ["c[1]"]


async def test_groups_of_the_brokers_that_answer_are_kept_and_a_group_away_is_left_out() -> None:
    cluster = metadata({"t": [(1, [1], [1])]})
    admin = FakeAdmin(cluster, groups={"g": group("g", "PreparingRebalance", 1),
                                       "h": CoordinatorNotAvailableError(),
                                       "i": group("i", "Stable", 1)},
                      committed={"g": offsets(t_0=1), "h": offsets(t_0=1),
                                 "i": KafkaConnectionError("coordinator away")},
                      ends={TP("t", 0): at(1)},
                      listing_errors=[KafkaError(KafkaError._TRANSPORT)])  # a broker away
    snapshot = await probe(admin).snapshot()
    assert snapshot.groups == {"g": GroupOffsets("g", "PreparingRebalance", 1, {TP("t", 0): 1})}


async def test_a_listing_no_broker_answered_leaves_no_group_rather_than_failing() -> None:
    admin = FakeAdmin(metadata({"t": [(1, [1], [1])]}), groups={}, committed={}, ends={})
    admin.list_consumer_groups = lambda **_: done(KafkaException(KafkaError(
        KafkaError._TIMED_OUT)))
    assert (await probe(admin).snapshot()).groups == {}


async def test_answered_keeps_each_refusal_and_raises_anything_else() -> None:
    assert await answered({"a": done(1), "b": done(AWAY)}) == {"a": 1, "b": AWAY}
    with pytest.raises(ValueError, match="bug"):
        await answered({"a": done(ValueError("bug"))})


async def test_a_quorum_not_described_is_no_controller_and_a_broken_encoding_is_said() -> None:
    admin = FakeAdmin(metadata({}), groups={}, committed={}, ends={})
    with capture_logs() as logs:
        away = await probe(admin, KafkaConnectionError("away")).snapshot()
        refused = await probe(admin, answer(1, [1], error=29)).snapshot()
        broken = await probe(admin, TypeError("build() takes 1 argument")).snapshot()
        garbled = await probe(admin, {"error_code": 0, "topics": [{}]}).snapshot()
    for snapshot in (away, refused, broken, garbled):
        assert (snapshot.cluster.controller, snapshot.cluster.voters) == (None, [])
    warned = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warned) == 2 and "build() takes 1 argument" in warned[0]["error"]
    assert "KeyError" in warned[1]["error"]


def _compact(text: str) -> bytes:
    return bytes([len(text) + 1]) + text.encode()


def test_describe_quorum_is_encoded_and_decoded_as_kafka_says_it() -> None:
    """DescribeQuorum v0 (KIP-595), written from Kafka's message schema rather than from our
    classes: guards the hand-written request against aiokafka's protocol changes."""
    request = DescribeQuorum().prepare({55: (0, 2)})
    assert (request.API_KEY, request.API_VERSION, request.FLEXIBLE_VERSION) == (55, 0, True)
    assert request.encode() == (b"\x02" + _compact("__cluster_metadata")
                                + b"\x02" + struct.pack(">i", 0) + b"\x00" + b"\x00" + b"\x00")
    voter = [struct.pack(">iq", node, 40) + b"\x00" for node in (2, 1, 3)]
    body = (struct.pack(">h", 0) + b"\x02" + _compact("__cluster_metadata") + b"\x02"
            + struct.pack(">ihiiq", 0, 0, 2, 7, 40) + b"\x04" + b"".join(voter)
            + b"\x01" + b"\x00" + b"\x00" + b"\x00")
    decoded = _DescribeQuorumResponse_v0.decode(body).to_object()
    assert quorum_of(decoded) == (2, [1, 2, 3])
