"""Kafka secured by the launcher (`VIVRES_SECURE=1`: SASL_SSL, SCRAM, StandardAuthorizer), users
and ACLs applied from services/bus/access.py: each service works with its own user, and a
service's user is refused a topic it does not own, a group not its own, and a wrong password."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from services.bus.client import new_consumer
from services.auth.tokens import issue
from services.bus.access import PRINCIPALS
from services.bus.catalog import (
    CAISSE_LEDGER,
    MAPPINGS,
    NEEDS,
    ORDERS,
    SALES,
    SHOP_SIGNALS,
    SHOPS,
    STOCK_CHANGES,
    TOKENS,
    TOPICS,
)
from services.bus.provision import provision_catalog
from services.bus.publisher import open_publisher
from services.bus.security import apply
from services.bus.settings import BusSettings
from services.events.auth import Role
from services.events.caisse import DecisionKind, Household, Outcome
from services.events.catalog import ShopRegistered, TillCodeMapped
from services.events.orders import NeedStated
from services.events.sales import CodeKind, QuantityUnit
from services.health.monitor import HealthConfig
from tests.integration.caisse_support import decision, enrol_request, own_caisse, read_since
from tests.integration.health_stack import running_health
from tests.integration.sales_stack import ServiceProcess, free_port, server_ports
from tests.integration.test_sales_intake import ticket as ticket_body
from tests.support import eventually, launched, own_stack_env

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
STARTS = 120  # seconds for a service process to start and do its first piece of work


@pytest.fixture(scope="module")
def secured(settings, tmp_path_factory) -> Iterator[tuple[BusSettings, Path]]:
    """A secured one-node Kafka of the module's own (the shared registry), as administrator."""
    state = tmp_path_factory.mktemp("secured")
    base = server_ports(2, 22092)
    ports = base, base + 1
    env = own_stack_env(state, VIVRES_SECURE=1, VIVRES_KAFKA_PORT=ports[0],
                        VIVRES_CONTROLLER_PORT=ports[1])
    try:
        launched(env, "start", "--kafka-only", timeout=240)
        admin = dict(line.split("=", 1) for line in launched(env, "env", timeout=240)
                     .splitlines() if "=" in line)
        yield settings.model_copy(update={
            "kafka_bootstrap_servers": admin["KAFKA_BOOTSTRAP_SERVERS"],
            "kafka_security_protocol": admin["KAFKA_SECURITY_PROTOCOL"],
            "kafka_sasl_username": admin["KAFKA_SASL_USERNAME"],
            "kafka_sasl_password": SecretStr(Path(admin["KAFKA_SASL_PASSWORD_FILE"]).read_text()),
            "kafka_ssl_cafile": admin["KAFKA_SSL_CAFILE"]}), state / "kafka-users.json"
    finally:
        launched(env, "stop", timeout=240)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
async def users(secured) -> dict[str, BusSettings]:
    """Every service's own settings, after the catalog and the ACLs were applied."""
    admin, secrets_file = secured
    report = await provision_catalog(admin, TOPICS)
    assert report.ok, report.drift
    applied = await apply(admin, secrets_file)
    assert sorted(applied.users) == sorted(p.user for p in PRINCIPALS)
    import json

    passwords = json.loads(secrets_file.read_text())
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
    return {user: admin.model_copy(update={"kafka_sasl_username": user,
                                           "kafka_sasl_password": SecretStr(password)})
            for user, password in passwords.items()}


def process(name: str, settings: BusSettings, tmp_path: Path, **extra: str) -> ServiceProcess:
    """`vivres serve NAME` as its own Kafka user (nothing of the administrator's)."""
    running = ServiceProcess(name, settings, tmp_path / f"{name}.log")
    running.env.update(KAFKA_SECURITY_PROTOCOL=settings.kafka_security_protocol,
                       KAFKA_SASL_USERNAME=settings.kafka_sasl_username,
                       KAFKA_SASL_PASSWORD=settings.sasl_password(),
                       KAFKA_SSL_CAFILE=settings.kafka_ssl_cafile, **extra)
    return running


async def test_each_service_works_with_its_own_user(secured, users, registry, tmp_path) -> None:
    admin, _ = secured
    territory = f"sec-{uuid.uuid4().hex[:6]}"
    shop = f"{territory}-shop"
    now = datetime.now(UTC)
    token, token_event = issue(Role.SHOP, shop, "test", now)
    async with open_publisher(admin) as publisher:  # the administrator's reference data
        await publisher.publish(TOKENS, token_event)
        await publisher.publish(SHOPS, ShopRegistered(
            shop_id=shop, name=shop, territory=territory, kind="épicerie solidaire",
            timezone="Europe/Paris", registered_at=now))
        await publisher.publish_many(MAPPINGS, [TillCodeMapped(
            shop_id=shop, code=code, code_kind=kind, product_id=product, mapped_at=now)
            for code, kind, product in (("2001", CodeKind.PLU, "tomate"),
                                        ("3760123450012", CodeKind.EAN, "pain"))])
    port = free_port()
    services = [
        process("gateway", users["vivres-gateway"], tmp_path, VIVRES_HTTP_PORT=str(port)),
        process("ingest", users["vivres-ingest"], tmp_path),
        process("stock", users["vivres-stock"], tmp_path),
        process("caisse", users["vivres-caisse"], tmp_path),
        process("orders", users["vivres-orders"], tmp_path),
        process("webhooks", users["vivres-webhooks"], tmp_path),
        process("demand", users["vivres-demand"], tmp_path,
                VIVRES_DEMAND_DATADIR=str(tmp_path / "rocksdb"),
                VIVRES_DEMAND_TERRITORIES=territory),
    ]
    for service in services:
        service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            last: list[str] = []

            async def accepted() -> bool:
                try:
                    response = await http.post(
                        "/v1/sales", json=ticket_body(shop, 1),
                        headers={"Authorization": f"Bearer {token}"})
                except httpx.HTTPError as err:
                    last[:] = [repr(err)]
                    return False  # not listening yet
                last[:] = [f"{response.status_code} {response.text[:300]}"]
                return response.status_code == 202
            try:
                await eventually(accepted, timeout=STARTS, interval=1.0,
                                 what="the gateway (its user) accepting a ticket")
            except BaseException:
                print("last answer:", last)  # noqa: T201 - shown with the failure
                raise

        async def flowed(topic, check) -> bool:
            return any(check(e) for e in await read_since(admin, registry, topic, {
                tp: 0 for tp in await _partitions(admin, topic.name)}))
        # ingest (sales.tickets), stock (stock.changes), demand (shop signals): each its user
        await eventually(lambda: flowed(SALES, lambda e: e.shop_id == shop), timeout=STARTS,
                         interval=1.0, what="ingest writing sales.tickets")
        await eventually(lambda: flowed(STOCK_CHANGES, lambda e: e.shop_id == shop),
                         timeout=STARTS, interval=1.0, what="stock writing stock.changes")
        await eventually(lambda: flowed(SHOP_SIGNALS, lambda e: e.shop_id == shop),
                         timeout=STARTS, interval=1.0, what="demand writing its signals")
        # the caisse answers the gateway's user (which writes requests and reads answers)
        async with own_caisse(users["vivres-gateway"], registry) as caisse:
            await caisse.decide(decision(caisse.caisse_id, DecisionKind.APPROVE_SHOP, shop))
            answer = await caisse.client.ask(enrol_request(
                caisse.caisse_id, f"{caisse.caisse_id}-card", Household(
                    adults=1, children=0, income_band="T1")), timeout_s=STARTS)
            assert answer.outcome is Outcome.DONE
        # a shop's need, through the gateway's user, is consumed by the orders service's
        need = NeedStated(need_id=f"{shop}-need", shop_id=shop, territory=territory,
                          product_id="tomate", quantity=3000, unit=QuantityUnit.GRAM,
                          delivery_slot=now.date(), stated_at=now)
        async with open_publisher(users["vivres-gateway"]) as publisher:
            await publisher.publish(NEEDS, need)
        # orders and webhooks joined their groups with their users (and the health service,
        # with its own, sees every group without being allowed to write anything)
        config = HealthConfig(interval_s=1.0, window_s=5.0, topics=(ORDERS.name,))
        async with running_health(users["vivres-health"], config, loop=False,
                                  provision=False) as health:
            wanted = {"vivres-sales-ingest", "vivres-stock", "vivres-caisse",
                      "vivres-demand-2", "vivres-orders", "vivres-webhooks"}

            async def groups_seen() -> bool:
                report = await health.health.monitor.collect()
                assert report["kafka"]["reachable"], report["kafka"]["error"]
                groups = {g["group"]: g for g in report["groups"]}
                return (wanted <= set(groups)
                        and NEEDS.name in groups["vivres-orders"]["topics"])
            await eventually(groups_seen, timeout=STARTS, interval=1.0,
                             what="health (its user) seeing every group, orders the need")
    finally:
        for service in services:
            service.stop()
    for service in services:
        log = service.log_path.read_text(errors="replace")
        assert "AuthorizationFailed" not in log, f"{service.name}: {log[-2000:]}"


async def _partitions(settings: BusSettings, topic: str):
    from services.bus.admin import partitions_of

    return await partitions_of(settings, topic)


async def test_a_services_user_is_refused_what_it_does_not_own(users) -> None:
    stock = users["vivres-stock"]
    producer = AIOKafkaProducer(**stock.kafka_options(), enable_idempotence=True)
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(CAISSE_LEDGER.name, b"a forged ledger entry")
    finally:
        await producer.stop()
    for topic, group, refusal in ((CAISSE_LEDGER.name, "vivres-stock",  # not its topic
                                   TopicAuthorizationFailedError),
                                  (SALES.name, "vivres-caisse",  # its topic, not its group
                                   GroupAuthorizationFailedError)):
        consumer = new_consumer(stock, topic, group=group, auto_offset_reset="earliest")
        try:
            with pytest.raises(refusal):
                await consumer.start()
                await consumer.getmany(timeout_ms=10_000)
        finally:
            await consumer.stop()
    wrong = stock.model_copy(update={"kafka_sasl_password": SecretStr("not-the-password")})
    admin = AIOKafkaAdminClient(**wrong.kafka_options())
    with pytest.raises((KafkaConnectionError, KafkaError)):
        await admin.start()
    await admin.close()
