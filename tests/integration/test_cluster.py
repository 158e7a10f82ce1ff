"""A three-broker KRaft cluster started by the launcher: one broker is SIGKILLed while tills send
tickets through the gateway and caisse payments are authorised. Every acknowledged ticket is
consumed exactly as sent, the caisse ledger stays exact, and the health service shows the
under-replicated partitions and then their recovery."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from random import Random

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.bus.catalog import CAISSE_LEDGER, SALES, TOPICS
from services.bus.provision import provision_catalog
from services.bus.settings import BusSettings
from services.caisse.ledger import Ledger, redemption_request_id
from services.caisse.replies import NoAnswer
from services.events.auth import Role
from services.events.caisse import CaisseRequested, DecisionKind, Household, Outcome, RequestKind
from services.health.monitor import HealthConfig
from tests.integration.caisse_support import decision, enrol_request, marks, own_caisse, read_since
from tests.integration.health_stack import running_health
from tests.integration.sales_stack import ServiceProcess, running_sales_stack, server_ports
from tests.integration.test_sales_intake import ticket as ticket_body
from tests.support import eventually, launched, own_stack_env

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
VICTIM = 3  # the node killed: not the first of the bootstrap list


@pytest.fixture(scope="module")
def cluster(settings, tmp_path_factory) -> Iterator[tuple[BusSettings, dict[str, str]]]:
    base = server_ports(6, 21092)  # client n: base+2(n-1), controller n: base+1+2(n-1)
    env = own_stack_env(tmp_path_factory.mktemp("cluster"), VIVRES_KAFKA_BROKERS=3,
                        VIVRES_KAFKA_PORT=base, VIVRES_CONTROLLER_PORT=base + 1)
    bootstrap = ",".join(f"127.0.0.1:{base + 2 * n}" for n in range(3))
    try:
        launched(env, "start", "--kafka-only", timeout=240)
        yield settings.model_copy(update={"kafka_bootstrap_servers": bootstrap}), env
    finally:
        launched(env, "stop", timeout=240)
        shutil.rmtree(env["VIVRES_STATE_DIR"], ignore_errors=True)


def _pid(env: dict[str, str], node: int) -> int:
    return int((Path(env["VIVRES_STATE_DIR"]) / f"kafka-{node}" / "pid").read_text().split()[0])


async def test_topics_get_three_replicas_and_two_in_sync_from_the_catalog(cluster) -> None:
    settings, _env = cluster
    report = await provision_catalog(settings, TOPICS)
    assert report.ok, report.drift
    admin = AIOKafkaAdminClient(**settings.kafka_options())
    await admin.start()
    try:
        described = await admin.describe_topics([SALES.name, CAISSE_LEDGER.dead_letter])
        assert {len(p["replicas"]) for t in described for p in t["partitions"]} == {3}
        [config] = (await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, SALES.name)]))[0].resources
        assert dict((e[0], e[1]) for e in config[4])["min.insync.replicas"] == "2"
    finally:
        await admin.close()


async def test_a_broker_killed_under_traffic_loses_nothing_and_health_sees_it(
        cluster, registry, tmp_path) -> None:
    settings, env = cluster
    report = await provision_catalog(settings, TOPICS)
    assert report.ok, report.drift
    tickets_mark = await marks(settings, SALES)
    ledger_mark = await marks(settings, CAISSE_LEDGER)
    caisse_process = ServiceProcess("caisse", settings, tmp_path / "caisse.log")
    caisse_process.start()
    acknowledged: dict[str, dict] = {}
    answers: dict[str, Outcome] = {}
    stopping = asyncio.Event()
    config = HealthConfig(interval_s=1.0, window_s=10.0, groups="vivres-.*",
                          topics=tuple(t.name for t in TOPICS))
    try:
        async with running_sales_stack(settings) as stack, \
                own_caisse(settings, registry) as caisse, \
                running_health(settings, config) as health:
            shop = f"cluster-{caisse.caisse_id}"
            till = await stack.token(Role.SHOP, shop)
            await caisse.decide(decision(caisse.caisse_id, DecisionKind.APPROVE_SHOP, shop))
            cards = [f"{caisse.caisse_id}-card-{n}" for n in range(8)]
            for card in cards:
                answer = await caisse.client.ask(enrol_request(
                    caisse.caisse_id, card, Household(adults=1, children=1, income_band="T1")),
                    timeout_s=90)
                assert answer.outcome is Outcome.DONE
            await caisse.client.credit_month(caisse.caisse_id, "2026-11", "test", timeout_s=90)

            async def tills() -> None:  # about 20 tickets a second, each kept once acknowledged
                number = 0
                async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
                    while not stopping.is_set():
                        number += 1
                        now = datetime.now(UTC)  # a till's clock: milliseconds, as on the wire
                        ticket = ticket_body(shop, number, at=now.replace(
                            microsecond=now.microsecond // 1000 * 1000))
                        try:
                            response = await http.post(
                                "/v1/sales", json=ticket,
                                headers={"Authorization": f"Bearer {till}"})
                        except httpx.HTTPError:
                            continue  # not acknowledged: the till would send it again
                        if response.status_code == 202:
                            acknowledged[f"{shop}/t1/{number}"] = ticket
                        await asyncio.sleep(0.05)

            async def payments() -> None:  # caisse payments at the shop, one at a time
                rng, number = Random(7), 0
                while not stopping.is_set():
                    number += 1
                    request = CaisseRequested(
                        request_id=redemption_request_id(shop, f"r{number}"),
                        kind=RequestKind.REDEEM, card_id=rng.choice(cards), shop_id=shop,
                        redemption_id=f"r{number}", amount_cents=rng.randint(100, 900),
                        ticket_id=f"{shop}/t/{number}", requested_at=datetime.now(UTC),
                        requested_by=shop)
                    try:
                        answer = await caisse.client.ask(request, timeout_s=30)
                    except NoAnswer:
                        continue
                    answers[request.request_id] = answer.outcome
                    await asyncio.sleep(0.05)

            traffic = [asyncio.create_task(tills()), asyncio.create_task(payments())]
            monitor = health.health.monitor

            def under_replicated() -> list[str]:
                report = monitor.report
                return report["kafka"]["under_replicated"] if report else []

            def flowing(tickets: int, payments: int):
                def check() -> bool:
                    for task in traffic:  # a crashed sender fails the test at once
                        if task.done():
                            task.result()
                    return len(acknowledged) >= tickets and len(answers) >= payments
                return check

            await eventually(flowing(50, 10), timeout=120, what="traffic flowing")
            assert under_replicated() == []
            os.kill(_pid(env, VICTIM), signal.SIGKILL)
            seen = await eventually(under_replicated, timeout=60,
                                    what="health showing under-replicated partitions")
            before_restart = len(acknowledged), len(answers)
            await eventually(flowing(before_restart[0] + 50, before_restart[1] + 10),
                             timeout=120, what="traffic acknowledged with a broker down")
            await asyncio.to_thread(launched, env, "start", "--kafka-only", timeout=240)
            await eventually(lambda: monitor.report["kafka"]["under_replicated"] == [],
                             timeout=120, what="health showing the recovery")
            stopping.set()
            await asyncio.gather(*traffic)
            received: list = []

            async def all_tickets() -> bool:
                received[:] = [t for t in await read_since(settings, registry, SALES,
                                                           tickets_mark) if t.shop_id == shop]
                return set(acknowledged) <= {t.ticket_id for t in received}
            await eventually(all_tickets, timeout=120, interval=2.0,
                             what="every acknowledged ticket in sales.tickets")
    finally:
        caisse_process.stop()

    assert seen and all(name.endswith("]") for name in seen)
    # every acknowledged ticket exactly once, exactly as sent
    counts = Counter(t.ticket_id for t in received)
    assert not [ticket for ticket, n in counts.items() if n > 1], "a ticket written twice"
    by_id = {t.ticket_id: t for t in received}
    for ticket_id, sent in acknowledged.items():
        kept = by_id[ticket_id]
        assert kept.occurred_at == datetime.fromisoformat(sent["occurred_at"])
        assert [(line.product_code, line.quantity, line.paid_cents) for line in kept.lines] == [
            (line["product_code"], line["quantity"], line["paid_cents"]) for line in sent["lines"]]
        assert [(p.method.value, p.amount_cents, p.card_id) for p in kept.payments] == [
            (p["method"], p["amount_cents"], p.get("card_id")) for p in sent["payments"]]
    # the caisse's books: each answered payment applied once, every balance its ledger's sum
    entries = [e for e in await read_since(settings, registry, CAISSE_LEDGER, ledger_mark)
               if e.card_id in set(cards)]
    books = Ledger.fold(entries)
    for card in cards:
        assert books.accounts[card].balance_cents == sum(
            e.amount_cents for e in entries if e.card_id == card) >= 0
    applied = Counter(e.request_id for e in entries if e.request_kind is RequestKind.REDEEM)
    assert set(answers) <= set(applied) and set(applied.values()) == {1}
