"""The health service on the real broker: its lag figures agree with Kafka's own consumer-groups
tool, and a real consuming service stopped under load turns STOP within a minute and OK again
after its restart, while a poison record shows in the dead-letter depth with its reason and the
alert webhook hears of both."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from services.bus.client import new_consumer
from services.bus.catalog import STOCK_WASTE
from services.bus.publisher import open_publisher
from services.events.auth import Role
from services.events.sales import QuantityUnit
from services.events.stock import WasteRecorded
from services.health.monitor import HealthConfig
from services.stock.service import GROUP as STOCK_GROUP
from tests.integration.health_stack import running_health, webhook_receiver
from tests.integration.sales_stack import ServiceProcess, free_port
from tests.support import eventually, launched

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def consumer_groups_tool(bootstrap: str, *groups: str) -> dict[tuple[str, str, int], tuple]:
    """Kafka's own `kafka-consumer-groups --describe` (ConsumerGroupCommand from kafka-tools):
    (group, topic, partition) -> (current offset, log end offset, lag)."""
    args = [arg for group in groups for arg in ("--group", group)]
    printed = launched(dict(os.environ), "tool", "consumer-groups", "--bootstrap-server",
                       bootstrap, "--describe", *args, timeout=120)
    rows = {}
    for line in printed.splitlines():
        cells = line.split()
        if len(cells) >= 6 and cells[0] in groups and cells[2].isdigit():
            group, topic, partition, current, end, lag = cells[:6]
            rows[(group, topic, int(partition))] = (
                None if current == "-" else int(current), int(end),
                None if lag == "-" else int(lag))
    return rows


async def test_lag_figures_agree_with_kafkas_consumer_groups_tool(settings, admin) -> None:
    topic = f"health-lag-{uuid.uuid4().hex[:8]}"
    idle, live = f"{topic}-idle", f"{topic}-live"
    await admin.create_topics([NewTopic(topic, 3, 1)])
    bootstrap = settings.kafka_bootstrap_servers
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-tx")
    await producer.start()
    try:
        for partition, count in ((0, 7), (1, 4), (2, 5)):
            async with producer.transaction():  # commit markers: the end is the high watermark
                for n in range(count):
                    await producer.send(topic, f"{n}".encode(), partition=partition)
    finally:
        await producer.stop()
    produced_at = time.time()
    tps = [TopicPartition(topic, p) for p in range(3)]
    # `idle`: committed by hand and gone (Empty); `live`: a member still there (Stable)
    for group, offsets in ((idle, {tps[0]: 3, tps[1]: 5}), (live, {tps[0]: 8, tps[2]: 1})):
        consumer = new_consumer(settings, topic, group=group, auto_offset_reset="earliest")
        await consumer.start()
        await eventually(lambda c=consumer: c.assignment(), what=f"{group} assigned")
        await consumer.commit(offsets)
        if group == idle:
            await consumer.stop()
        else:
            live_consumer = consumer
    try:
        config = HealthConfig(interval_s=1.0, window_s=10.0, groups=f"{re.escape(topic)}-.*",
                              topics=(topic,))
        async with running_health(settings, config, loop=False) as stack:
            await stack.health.monitor.collect()
            token = await stack.token()
            shop_token = await stack.token(Role.SHOP)
            async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
                assert (await http.get("/v1/health/streams")).status_code == 401
                refused = await http.get("/v1/health/streams",
                                         headers={"Authorization": f"Bearer {shop_token}"})
                assert refused.status_code == 403
                response = await http.get("/v1/health/streams",
                                          headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            report = response.json()
            tool = await asyncio.to_thread(consumer_groups_tool, bootstrap, idle, live)
    finally:
        await live_consumer.stop()

    ours = {(g["group"], p["topic"], p["partition"]): (p["committed"], p["end"], p["lag"])
            for g in report["groups"] for p in g["partitions"]}
    committed = {key: row for key, row in tool.items() if row[0] is not None}
    assert ours == committed  # every partition with a committed offset, same three figures
    # the tool also lists a live member's partition never committed ("-"): no lag to judge
    assert {key for key in tool if key not in committed} == {(live, topic, 1)}
    # the figures themselves: 7 records + 1 commit marker on partition 0, and so on
    assert ours[(idle, topic, 0)] == (3, 8, 5)
    assert ours[(idle, topic, 1)] == (5, 5, 0)
    assert ours[(live, topic, 2)] == (1, 6, 5)
    groups = {g["group"]: g for g in report["groups"]}
    assert (groups[idle]["state"], groups[idle]["members"]) == ("Empty", 0)
    assert (groups[live]["state"], groups[live]["members"]) == ("Stable", 1)
    assert groups[idle]["lag"] == 5 and groups[live]["lag"] == 5
    waiting = {(g["group"], p["partition"]): p["lag_seconds"]
               for g in report["groups"] for p in g["partitions"]}
    assert waiting[(idle, 1)] == 0 and waiting[(live, 0)] == 0  # caught up
    assert 0 <= waiting[(idle, 0)] <= time.time() - produced_at + 5  # record 3 waits since then
    assert report["kafka"]["reachable"] and report["kafka"]["controller"] in {
        b["id"] for b in report["kafka"]["brokers"]}
    assert report["kafka"]["voters"] and report["kafka"]["offline"] == []
    assert {t["topic"]: t["end"] for t in report["topics"]}[topic] == 8 + 5 + 6


def waste(shop: str, n: int) -> WasteRecorded:
    return WasteRecorded(waste_id=f"{shop}-health-{n}", shop_id=shop, product_id="carotte",
                         quantity=10, unit=QuantityUnit.GRAM, reason="abîmé",
                         recorded_at=datetime.now(UTC))


def health_cli(url: str, token: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli.main", "health", "--all",
                           "--url", url, "--token", token], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "VIVRES_LANG": "fr"})


async def replay(webhook) -> None:
    """Post the first alert the receiver accepted again, as an attacker who captured it would:
    at once (a replay), then with the receiver's clock past the tolerance (stale)."""
    body, headers = webhook.deliveries[0]
    captured = {k: v for k, v in headers.items() if k.startswith("webhook-")}
    told, kept = len(webhook.outcomes), len(webhook.deliveries)
    async with httpx.AsyncClient(timeout=10) as http:
        again = await http.post(webhook.url, content=body, headers=captured)
        webhook.skew_s = 301.0
        late = await http.post(webhook.url, content=body, headers=captured)
    assert (again.status_code, late.status_code) == (204, 401), late.text
    assert "replayed" in webhook.outcomes[told:], webhook.outcomes
    assert "tolerance 300 s" in late.text and len(webhook.deliveries) == kept


async def test_a_stopped_service_turns_stop_and_back_ok_with_dead_letters_and_alerts(
        settings, tmp_path) -> None:
    shop = f"health-{uuid.uuid4().hex[:6]}"
    metrics_port = free_port()
    stock = ServiceProcess("stock", settings, tmp_path / "stock.log")
    stock.env["VIVRES_METRICS_PORT"] = str(metrics_port)
    stock.start()
    sent = 0
    loading = True

    async def load() -> None:  # about 20 waste records a second, all along
        nonlocal sent
        async with open_publisher(settings) as publisher:
            while loading:
                await publisher.publish(STOCK_WASTE, waste(shop, sent))
                sent += 1
                await asyncio.sleep(0.05)

    async with webhook_receiver(secret="s3cret") as webhook:
        config = HealthConfig(interval_s=1.0, window_s=8.0, groups=re.escape(STOCK_GROUP),
                              topics=(STOCK_WASTE.name,), webhook_url=webhook.url,
                              webhook_secret="s3cret",
                              targets={"stock": f"http://127.0.0.1:{metrics_port}/metrics"})
        traffic = asyncio.create_task(load())
        try:
            async with running_health(settings, config) as stack:
                monitor = stack.health.monitor

                def group() -> dict | None:
                    found = [g for g in (monitor.report or {}).get("groups", [])
                             if g["group"] == STOCK_GROUP]
                    return found[0] if found else None

                def letters() -> dict:
                    return {d["topic"]: d for d in monitor.report["dead_letters"]}[
                        STOCK_WASTE.dead_letter]

                await eventually(lambda: (g := group()) and g["status"] == "OK"
                                 and g["members"] >= 1 and sent > 20, timeout=90,
                                 what="the stock service consuming, OK")
                token = await stack.token()
                depth_before = letters()["depth"]

                # a poison record: not Avro at all
                raw = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
                await raw.start()
                try:
                    await raw.send_and_wait(STOCK_WASTE.name, b"\x00not avro", key=shop.encode())
                finally:
                    await raw.stop()
                await eventually(lambda: letters()["depth"] == depth_before + 1, timeout=60,
                                 what="the poison record in the dead-letter depth")
                latest = letters()["latest"][-1]
                assert latest["service"] == "stock" and latest["stage"] == "decode"
                assert latest["error"] and latest["source"].startswith(f"{STOCK_WASTE.name}[")
                alert = await eventually(
                    lambda: webhook.about("dead_letters", STOCK_WASTE.dead_letter), timeout=30,
                    what="the dead-letter alert")
                assert alert[0]["detail"]["new"] == 1 and alert[0]["text"]

                service = {s["service"]: s for s in monitor.report["services"]}["stock"]
                assert service["up"] and service["bus_latency_ms"]["p99"] is not None
                assert STOCK_WASTE.name in {f["state"] for f in service["freshness"]}

                stock.stop()  # SIGTERM: drains, commits, leaves the group
                stopped_at = time.monotonic()
                await eventually(lambda: group()["status"] in ("STOP", "STALL"), timeout=60,
                                 what="STOP or STALL within a minute")
                took = time.monotonic() - stopped_at
                told = await eventually(
                    lambda: [a for a in webhook.about("group", STOCK_GROUP)
                             if a["status"] in ("STOP", "STALL")], timeout=30,
                    what="the stop alert")
                assert told[0]["previous"] in ("OK", "WARN"), webhook.received
                assert "vivres-stock" in told[0]["text"]
                assert group()["lag"] > 0 and group()["members"] == 0
                assert webhook.about("service", "stock")[0]["status"] == "DOWN", webhook.received
                failing = await asyncio.to_thread(health_cli, stack.url, token)
                assert failing.returncode == 1, failing.stdout + failing.stderr
                assert re.search(rf"STOP\s+{re.escape(STOCK_GROUP)}", failing.stdout)

                stock.start()
                await eventually(lambda: group()["status"] == "OK" and group()["lag"] == 0,
                                 timeout=90, what="OK again after the restart")
                back = await eventually(
                    lambda: [a for a in webhook.about("group", STOCK_GROUP)
                             if a["status"] == "OK"], timeout=30, what="the recovery alert")
                # (on the way back it may pass STALL or WARN: joined, not caught up yet)
                assert back[0]["previous"] in ("STOP", "STALL", "WARN"), webhook.received
                loading = False
                await traffic
                # once the window has passed the new dead letter, everything is OK: exit 0
                await eventually(lambda: monitor.report["status"] == "OK", timeout=60,
                                 what="all OK")
                fine = await asyncio.to_thread(health_cli, stack.url, token)
                assert fine.returncode == 0, (fine.stdout + fine.stderr, monitor.report)
                # every alert signed with the shared secret, as the demand webhooks are; one
                # captured and played again is refused, now (a replay) or too late (stale)
                assert set(webhook.outcomes) == {"accepted"}, webhook.outcomes
                await replay(webhook)
        finally:
            loading = False
            await asyncio.gather(traffic, return_exceptions=True)
            stock.stop()
    print(f"STOP seen {took:.1f}s after the stop")  # noqa: T201 - shown with -s


async def test_with_kafka_and_a_service_away_the_report_says_so_instead_of_failing(
        settings) -> None:
    away = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    async with webhook_receiver() as webhook:
        config = HealthConfig(interval_s=1.0, window_s=4.0, webhook_url=webhook.url,
                              targets={"stock": f"http://127.0.0.1:{free_port()}/metrics"})
        async with running_health(away, config, loop=False, provision=False) as stack:
            report = await stack.health.monitor.collect()
            assert report["status"] == "DOWN"
            assert not report["kafka"]["reachable"] and report["kafka"]["error"]
            [service] = report["services"]
            assert (service["status"], service["up"]) == ("DOWN", False) and service["error"]
            async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
                alive = (await http.get("/healthz")).json()
                assert alive["streams"] == "DOWN" and not alive["kafka"]["reachable"]
                refused = await http.get("/v1/health/streams",
                                         headers={"Authorization": "Bearer vvr_x"})
                assert refused.status_code == 503 and "Kafka" in refused.json()["detail"]
                assert (await http.get("/metrics")).status_code == 200
            told = await eventually(lambda: {(a["kind"], a["status"]) for a in webhook.received}
                                    >= {("kafka", "DOWN"), ("service", "DOWN")}, timeout=30,
                                    what="both outages told")
            assert told
