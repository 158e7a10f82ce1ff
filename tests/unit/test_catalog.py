"""The topic catalog is consistent with the schemas and events."""

from __future__ import annotations

from services.bus.catalog import TOPICS, by_name
from services.bus.provision import specs
from services.bus.schemas import load_current


def test_every_topic_names_a_schema_and_a_key_field() -> None:
    current = load_current()
    for topic in TOPICS:
        assert topic.schema_name in current, topic.name
        is_field = topic.key in topic.event.model_fields
        is_property = isinstance(getattr(topic.event, topic.key, None), property)
        assert is_field or is_property, f"{topic.name}: no attribute {topic.key} to key by"


def test_names_are_unique_and_dead_letters_follow_the_convention() -> None:
    names = [spec.name for spec in specs(TOPICS)]
    assert len(names) == len(set(names))
    assert all(by_name(t.name).dead_letter == f"{t.name}.dlq" for t in TOPICS)
    assert {t.subject for t in TOPICS} == {f"{t.name}-value" for t in TOPICS}


def test_source_of_truth_topics_are_kept_forever() -> None:
    for topic in (by_name("sales.tickets"), by_name("sales.refunds")):
        assert topic.config()["retention.ms"] == "-1"
        assert topic.cleanup == "delete"


def test_the_caisse_writes_partition_p_from_partition_p() -> None:
    """Its outputs are pinned to the input partition: the partition counts must agree, and the
    books are kept forever."""
    requests = by_name("caisse.requests")
    for name in ("caisse.ledger", "caisse.answers"):
        assert by_name(name).partitions == requests.partitions
    assert by_name("caisse.ledger").config()["retention.ms"] == "-1"


def test_replication_comes_from_the_catalog_within_the_brokers_there_are() -> None:
    ledger = by_name("caisse.ledger")
    assert ledger.replication(3) == (3, 2)  # one broker may go without losing a write
    assert ledger.replication(1) == (1, 1)  # the one-broker dev stack
    assert ledger.config(3)["min.insync.replicas"] == "2"
    assert ledger.dead_letter_config(3)["min.insync.replicas"] == "2"
    assert {spec.replication_factor for spec in specs(TOPICS, 3)} == {3}
