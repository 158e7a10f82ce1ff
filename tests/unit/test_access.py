"""The Kafka principals and their ACLs, generated from the services' declarations: they name only
catalog topics, match the groups and transactional ids the code uses, and grant least privilege."""

from __future__ import annotations

import time

from services.bus import catalog
from services.bus.access import (
    ANY_TOPIC,
    PRINCIPALS,
    Acl,
    Operation,
    Pattern,
    Resource,
    by_user,
)


def test_principals_name_only_topics_of_the_catalog() -> None:
    names = {t.name for t in catalog.TOPICS} | {t.dead_letter for t in catalog.TOPICS}
    for principal in PRINCIPALS:
        used = set(principal.reads + principal.writes + principal.consumes) - {ANY_TOPIC}
        assert used <= names, (principal.user, used - names)


def test_the_groups_and_transactional_ids_are_those_the_services_use() -> None:
    from services.bus.transactional import TransactionalConsumer
    from services.caisse.service import GROUP as CAISSE
    from services.demand.processor import APP_ID
    from services.demand.webhooks import GROUP as WEBHOOKS
    from services.orders.service import GROUP as ORDERS
    from services.sales.ingest import GROUP as INGEST
    from services.stock.service import GROUP as STOCK

    groups = {g for p in PRINCIPALS for g in p.groups}
    assert {CAISSE, APP_ID, WEBHOOKS, ORDERS, INGEST, STOCK} == groups
    consumer = TransactionalConsumer.__new__(TransactionalConsumer)
    consumer.group_id, consumer.topic = CAISSE, catalog.CAISSE_REQUESTS
    [prefix] = by_user("vivres-caisse").transactional_id_prefixes
    assert all(consumer.transactional_id(p).startswith(prefix)
               for p in range(catalog.CAISSE_REQUESTS.partitions))
    assert by_user("vivres-demand").topic_prefixes == (f"{APP_ID}-",)


def test_a_consumer_may_read_its_inputs_and_write_their_dead_letters_and_nothing_else() -> None:
    acls = set(by_user("vivres-stock").acls())
    assert Acl(Resource.TOPIC, "sales.tickets", Pattern.LITERAL, Operation.READ) in acls
    assert Acl(Resource.TOPIC, "sales.tickets.dlq", Pattern.LITERAL, Operation.WRITE) in acls
    assert Acl(Resource.TOPIC, "stock.levels", Pattern.LITERAL, Operation.WRITE) in acls
    assert Acl(Resource.GROUP, "vivres-stock", Pattern.LITERAL, Operation.READ) in acls
    assert not [a for a in acls if a.name.startswith("caisse.")]
    assert not [a for a in acls if a.operation is Operation.WRITE and a.name == "sales.tickets"]
    assert not [a for a in acls if a.pattern is Pattern.PREFIXED]  # no wildcard anywhere


def test_only_the_caisse_has_transactional_ids_and_the_health_service_writes_nothing() -> None:
    with_transactions = {p.user for p in PRINCIPALS
                         for a in p.acls() if a.resource is Resource.TRANSACTIONAL_ID}
    assert with_transactions == {"vivres-caisse"}
    health = by_user("vivres-health").acls()
    assert not [a for a in health if a.operation in (Operation.WRITE, Operation.CREATE,
                                                     Operation.IDEMPOTENT_WRITE)]
    assert Acl(Resource.CLUSTER, "kafka-cluster", Pattern.LITERAL, Operation.DESCRIBE) in health
    reads = {a.name for a in health if a.operation is Operation.READ}
    assert "caisse.ledger" not in reads and "*" not in reads  # the books are not its to read
    assert {"sales.tickets", "sales.tickets.dlq", "auth.tokens"} <= reads


def test_every_topic_a_service_consumes_is_written_by_someone() -> None:
    written = {t for p in PRINCIPALS for t in p.writes} | {
        catalog.by_name(t).dead_letter for p in PRINCIPALS for t in p.consumes}
    # written by the administrator's tools only: shops and tokens (`vivres demo`, `vivres
    # tokens`); deliveries also come from the orders service
    by_admin = {catalog.SHOPS.name, catalog.TOKENS.name}
    for principal in PRINCIPALS:
        for name in principal.consumes + principal.reads:
            assert name == ANY_TOPIC or name in written | by_admin, (principal.user, name)


def test_every_acl_declared_has_a_binding_for_the_confluent_admin_client() -> None:
    """What `vivres security apply` sends (services/bus/security.py): each declared ACL maps
    to one distinct librdkafka binding, the cluster resource included (librdkafka's BROKER)."""
    from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

    from services.bus.security import acl_binding

    declared = [(p.user, acl) for p in PRINCIPALS for acl in p.acls()]
    bindings = [acl_binding(user, acl) for user, acl in declared]
    assert len(set(bindings)) == len(declared)
    for (user, acl), binding in zip(declared, bindings, strict=True):
        assert binding.principal == f"User:{user}" and binding.host == "*"
        assert binding.name == acl.name
        assert binding.operation == AclOperation[acl.operation.value]
        assert binding.resource_pattern_type == ResourcePatternType[acl.pattern.value]
        assert binding.restype == (ResourceType.BROKER if acl.resource == "CLUSTER"
                                   else ResourceType[acl.resource.value])
    assert any(b.restype == ResourceType.BROKER for b in bindings)


def test_the_confluent_admin_client_connects_as_the_service_does(tmp_path) -> None:
    from services.bus.settings import BusSettings

    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    config = BusSettings(kafka_bootstrap_servers="k:9093", kafka_security_protocol="SASL_SSL",
                         kafka_sasl_username="vivres-admin", kafka_sasl_password_file=str(secret),
                         kafka_ssl_cafile="/ca.crt").librdkafka_config()
    assert config == {"bootstrap.servers": "k:9093", "security.protocol": "SASL_SSL",
                      "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "vivres-admin",
                      "sasl.password": "s3cret", "ssl.ca.location": "/ca.crt"}
    assert BusSettings(kafka_bootstrap_servers="k:9092").librdkafka_config() == {
        "bootstrap.servers": "k:9092", "security.protocol": "PLAINTEXT"}


async def test_a_platform_keeps_one_confluent_admin_client(monkeypatch) -> None:
    from services.bus import admin
    from services.bus.settings import BusSettings

    made: list[dict] = []

    class Recorded:  # stands for confluent-kafka's client: no connection in the fast tier
        def __init__(self, config: dict) -> None:
            made.append(config)

        def poll(self, timeout: float) -> int:  # serves librdkafka's log lines
            time.sleep(min(timeout, 0.01))
            return 0

    monkeypatch.setattr(admin, "AdminClient", Recorded)
    settings = BusSettings(kafka_bootstrap_servers="k:9092")
    async with admin.shared_admin(settings):
        async with admin.confluent_admin(settings) as one, admin.confluent_admin(settings) as two:
            assert one is two
        other = BusSettings(kafka_bootstrap_servers="elsewhere:9092")
        async with admin.confluent_admin(other) as one, admin.confluent_admin(other) as two:
            assert one is not two  # not the platform's cluster: a client for each block
    async with admin.confluent_admin(settings) as one, admin.confluent_admin(settings) as two:
        assert one is not two  # outside a platform: likewise
    assert len(made) == 5


async def test_an_admin_request_never_answered_is_a_timeout_not_a_hang() -> None:
    import asyncio
    from concurrent.futures import Future

    import pytest

    from confluent_kafka import KafkaError, KafkaException

    from services.bus.admin import settled

    answered, refused, lost = Future(), Future(), Future()
    answered.set_result(None)
    refused.set_exception(KafkaException(KafkaError(KafkaError.GROUP_ID_NOT_FOUND)))
    assert "GROUP_ID_NOT_FOUND" in (await settled({"a": answered, "b": refused}))["b"]
    with pytest.raises(asyncio.TimeoutError):
        await settled({"a": answered, "c": lost}, timeout_s=0.05)
