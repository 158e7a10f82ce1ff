"""Till sales from HTTP and CSV to the sales topics, on the real broker and registry.

Tests share the catalog's topics (the gateway and the ingest stage use them), so each test uses
shops of its own and reads only records written since it started.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from confluent_kafka import Consumer as ConfluentConsumer
from confluent_kafka import TopicPartition as ConfluentPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from services.bus.catalog import SALES, SALES_SUBMITTED, UNMAPPED
from services.events.auth import Role
from tests.integration.sales_stack import running_sales_stack
from services.sales.ingest import GROUP
from tests.support import as_cloudevent, consumed_to_end, eventually, records_since

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(settings):
    async with running_sales_stack(settings) as running:
        yield running


@pytest.fixture
def shop() -> str:
    return f"test-shop-{uuid.uuid4().hex[:8]}"


def ticket(shop_id: str, number: int, *, at: datetime | None = None, code: str = "2001",
           **changes) -> dict:
    body = {
        "shop_id": shop_id, "till_id": "t1", "ticket_number": number,
        "occurred_at": (at or datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "timezone": "Europe/Paris",
        "lines": [{"product_code": code, "code_kind": "PLU", "label": "Tomates anciennes",
                   "quantity": 750, "unit": "GRAM", "unit_price_cents": 480,
                   "paid_cents": 72}],
        "payments": [{"method": "CASH", "amount_cents": 22},
                     {"method": "CAISSE", "amount_cents": 50, "card_id": "card-3f9a1c"}],
    }
    body.update(changes)
    return body


async def post(stack, token: str, body: dict) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        return await http.post("/v1/sales", json=body, headers={"Authorization": f"Bearer {token}"})


def _third_party_read(settings, topic: str, since: datetime, key: str) -> list[dict]:
    """confluent-kafka's own consumer and AvroDeserializer, as any other team would use them."""
    consumer = ConfluentConsumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                                  "group.id": f"third-party-{uuid.uuid4().hex[:6]}",
                                  "enable.auto.commit": False})
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": settings.schema_registry_url}))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        wanted = [ConfluentPartition(topic, p, int(since.timestamp() * 1000)) for p in partitions]
        consumer.assign(consumer.offsets_for_times(wanted, timeout=10))
        for _ in range(200):
            message = consumer.poll(0.1)
            if message is not None and message.error() is None and message.key() == key.encode():
                return [deserializer(message.value(),
                                     SerializationContext(topic, MessageField.VALUE))]
        return []
    finally:
        consumer.close()


async def test_an_http_ticket_reaches_kafka_once_and_a_third_party_decodes_it(
    stack, settings, shop
) -> None:
    token = await stack.token(Role.SHOP, shop)
    since = datetime.now(UTC) - timedelta(seconds=1)
    body = ticket(shop, 1)

    first = await post(stack, token, body)
    again = await post(stack, token, body)  # a till retrying after a lost answer

    assert first.status_code == 202, first.text
    assert first.json() == {"tickets": [f"{shop}/t1/1"], "refunds": []}
    assert again.status_code == 202
    await consumed_to_end(settings, GROUP, [SALES_SUBMITTED.name])  # the repeat was handled
    [record] = await records_since(settings, SALES.name, since, key=shop, expected=1)
    assert dict(record.headers)["ce_id"] == f"{shop}/t1/1".encode()
    [decoded] = await asyncio.to_thread(_third_party_read, settings, SALES.name, since, shop)
    assert decoded["ticket_id"] == f"{shop}/t1/1"
    assert decoded["lines"][0]["paid_cents"] == 72
    assert decoded["payments"][1]["card_id"] == "card-3f9a1c"


async def test_another_shops_token_is_refused(stack, shop) -> None:
    other = await stack.token(Role.SHOP, f"{shop}-other")
    response = await post(stack, other, ticket(shop, 1))
    assert response.status_code == 403
    assert shop in response.json()["detail"]
    producer = await stack.token(Role.PRODUCER, "ferme-des-4-vents")
    assert (await post(stack, producer, ticket(shop, 1))).status_code == 403
    assert (await post(stack, "vvr_not-a-token", ticket(shop, 1))).status_code == 401


async def test_the_gateway_s_metrics_count_its_requests_by_route_and_status(stack, shop) -> None:
    """What an operator's Prometheus scrapes from the gateway's metrics port."""
    def count(text: str, status: int) -> float:
        wanted = {"route": "/v1/sales", "method": "POST", "status": str(status)}
        return sum(s.value for family in text_string_to_metric_families(text)
                   for s in family.samples if s.name == "vivres_http_requests_total"
                   and wanted.items() <= s.labels.items())

    async with httpx.AsyncClient(timeout=10) as http:
        before = (await http.get(stack.platform.metrics_server.url)).text
        for _ in range(3):
            assert (await post(stack, "vvr_not-a-token", ticket(shop, 1))).status_code == 401
        after = (await http.get(stack.platform.metrics_server.url)).text
    assert count(after, 401) - count(before, 401) == 3


@pytest.mark.parametrize(("change", "loc"), [
    ({"lines": [{"product_code": "2001", "code_kind": "PLU", "label": "x", "quantity": 0,
                 "unit": "GRAM", "unit_price_cents": 480, "paid_cents": 72}]},
     ["body", "lines", 0, "quantity"]),
    ({"occurred_at": "yesterday"}, ["body", "occurred_at"]),
    ({"payments": [{"method": "CAISSE", "amount_cents": 72}]}, ["body", "payments", 0]),
    ({"payments": [{"method": "CASH", "amount_cents": 70}]}, ["body"]),
    ({"timezone": "Europe/Lyon"}, ["body", "timezone"]),
])
async def test_a_malformed_ticket_gets_422_naming_the_field(stack, settings, shop, change,
                                                            loc) -> None:
    token = await stack.token(Role.SHOP, shop)
    response = await post(stack, token, ticket(shop, 1, **change))
    assert response.status_code == 422
    assert [problem["loc"] for problem in response.json()["detail"]] == [loc]


async def test_a_batch_with_one_bad_ticket_writes_nothing(stack, settings, shop) -> None:
    token = await stack.token(Role.SHOP, shop)
    since = datetime.now(UTC) - timedelta(seconds=1)
    batch = {"tickets": [ticket(shop, 1), ticket(shop, 2, ticket_number=-2), ticket(shop, 3)]}
    response = await post(stack, token, batch)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "tickets", 1, "ticket_number"]
    probe = ticket(shop, 99)
    assert (await post(stack, token, probe)).status_code == 202
    [only] = await records_since(settings, SALES.name, since, key=shop, expected=1)
    assert dict(only.headers)["ce_id"] == f"{shop}/t1/99".encode()


async def test_a_late_batch_keeps_its_original_event_times(stack, settings, shop) -> None:
    token = await stack.token(Role.SHOP, shop)
    since = datetime.now(UTC) - timedelta(seconds=1)
    yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1, hours=3)
    backlog = {"tickets": [ticket(shop, n, at=yesterday + timedelta(minutes=7 * n))
                           for n in range(1, 6)]}
    assert (await post(stack, token, backlog)).status_code == 202
    records = await records_since(settings, SALES.name, since, key=shop, expected=5)
    times = sorted(dict(r.headers)["ce_time"].decode() for r in records)
    assert times == [(yesterday + timedelta(minutes=7 * n)).isoformat(timespec="milliseconds")
                     .replace("+00:00", "Z") for n in range(1, 6)]
    too_old = ticket(shop, 7, at=datetime.now(UTC) - timedelta(days=90))
    response = await post(stack, token, too_old)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "occurred_at"]


async def test_an_unmapped_code_is_kept_and_flagged(stack, settings, shop) -> None:
    token = await stack.token(Role.SHOP, shop)
    hub = await stack.token(Role.HUB, None)
    operator = await stack.token(Role.OPERATOR, None)
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        product = {"product_id": "tomate-ancienne", "name": "Tomate ancienne",
                   "category": "legumes", "unit": "GRAM", "organic": True, "labels": ["local"]}
        created = await http.post("/v1/catalog/products", json=product,
                                  headers={"Authorization": f"Bearer {hub}"})
        assert created.status_code == 201, created.text
        mapped = await http.post("/v1/catalog/mappings",
                                 headers={"Authorization": f"Bearer {token}"},
                                 json={"shop_id": shop, "code": "2001", "code_kind": "PLU",
                                       "product_id": "tomate-ancienne"})
        assert mapped.status_code == 201, mapped.text

        assert (await post(stack, token, ticket(shop, 1, code="2001"))).status_code == 202
        assert (await post(stack, token, ticket(shop, 2, code="9999"))).status_code == 202
        [flag] = await records_since(settings, UNMAPPED.name, since,
                                     key=f"{shop}/PLU/9999", expected=1)
        await records_since(settings, SALES.name, since, key=shop, expected=2)  # both kept

        async def listed() -> list:
            response = await http.get("/v1/catalog/unmapped", params={"shop": shop},
                                      headers={"Authorization": f"Bearer {operator}"})
            return response.json()
        unmapped = await eventually(listed, what="the unmapped code listed")
    assert [(u["code"], u["ticket_id"]) for u in unmapped] == [("9999", f"{shop}/t1/2")]
    assert dict(flag.headers)["ce_type"] == b"org.vivres.catalog.TillCodeUnmapped"


CSV = """till_id;ticket_number;occurred_at;timezone;product_code;code_kind;label;quantity;unit;\
unit_price_cents;paid_cents;cash_cents;card_cents;caisse_cents;caisse_card_id;voucher_cents
t2;10;{day}T10:05:00;Europe/Paris;2001;PLU;Tomates;750;GRAM;480;72;142;0;0;;0
t2;10;{day}T10:05:00;Europe/Paris;3760123450012;EAN;Pain;1;PIECE;350;70;142;0;0;;0
t2;11;{day}T10:09:00;Europe/Paris;2001;PLU;Tomates;-5;GRAM;480;72;72;0;0;;0
t2;12;{day}T10:12:00;Europe/Paris;2002;PLU;Poireaux;500;GRAM;300;45;0;0;45;card-1;0
t2;13;pas une date;Europe/Paris;2002;PLU;Poireaux;500;GRAM;300;45;45;0;0;;0
"""


def _import(stack, token: str, path: Path, shop: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", "import", "sales", str(path), "--shop", shop,
         "--url", stack.url, "--token", token], capture_output=True, text=True, timeout=120,
        env={"VIVRES_LANG": "en", "PATH": ""})


async def test_a_csv_export_imports_good_rows_reports_bad_ones_and_reimports_nothing(
    stack, settings, shop, tmp_path
) -> None:
    token = await stack.token(Role.SHOP, shop)
    since = datetime.now(UTC) - timedelta(seconds=1)
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    export = tmp_path / "export.csv"
    export.write_text(CSV.format(day=day), encoding="utf-8")

    first = await asyncio.to_thread(_import, stack, token, export, shop)
    assert first.returncode == 1  # bad rows make the run fail, after importing the good ones
    assert "line 4: quantity" in first.stderr
    assert "line 6: occurred_at" in first.stderr
    assert "2 ticket(s) imported from 5 row(s); 2 error(s)" in first.stdout

    second = await asyncio.to_thread(_import, stack, token, export, shop)
    assert "2 ticket(s) imported" in second.stdout
    await consumed_to_end(settings, GROUP, [SALES_SUBMITTED.name])
    records = await records_since(settings, SALES.name, since, key=shop, expected=2)
    assert sorted(dict(r.headers)["ce_id"] for r in records) == [
        f"{shop}/t2/10".encode(), f"{shop}/t2/12".encode()]


async def test_the_ingest_memory_is_rebuilt_from_what_it_wrote(stack, settings, shop) -> None:
    from services.sales.ingest import SalesIngest

    token = await stack.token(Role.SHOP, shop)
    since = datetime.now(UTC) - timedelta(seconds=1)
    assert (await post(stack, token, ticket(shop, 5))).status_code == 202
    [record] = await records_since(settings, SALES.name, since, key=shop, expected=1)

    restarted = SalesIngest(stack.platform, stack.deps.mappings, stack.deps.unmapped)
    await restarted.seen.own({record.partition})  # as the runtime does on assignment
    assert f"{shop}/t1/5" in restarted.seen.loaded(record.partition)[SALES.name]


async def test_a_till_producing_avro_directly_is_ingested_like_http(stack, settings, shop) -> None:
    from examples.till_kafka_producer import send_ticket

    since = datetime.now(UTC) - timedelta(seconds=1)
    for _ in range(2):  # a resend after a lost acknowledgement is harmless
        await asyncio.to_thread(send_ticket, settings.kafka_bootstrap_servers,
                                settings.schema_registry_url, shop, "t9", 77)
    await consumed_to_end(settings, GROUP, [SALES_SUBMITTED.name])
    [record] = await records_since(settings, SALES.name, since, key=shop, expected=1)
    assert dict(record.headers)["ce_id"] == f"{shop}/t9/77".encode()
    sent = await records_since(settings, SALES_SUBMITTED.name, since, key=shop, expected=2)
    for event in map(as_cloudevent, [*sent, record]):  # the example speaks the binding too
        assert event.get_datacontenttype() == "application/avro"
        assert event.get_dataschema().startswith(f"{settings.schema_registry_url}/schemas/ids/")


async def test_no_ticket_is_doubled_while_ingest_instances_join_and_leave(
    stack, settings, shop
) -> None:
    """Rebalances move partitions between instances mid-stream; repeats keep coming. The
    output still holds each ticket once: a revoked partition's progress is committed before
    its next owner starts, and the next owner re-reads what was written."""
    from services.bus.platform import Platform
    from services.sales.ingest import SalesIngest

    token = await stack.token(Role.SHOP, shop)
    since = datetime.now(UTC) - timedelta(seconds=1)
    numbers = list(range(1, 121))

    async def send(chunk: list[int]) -> None:
        batch = {"tickets": [ticket(shop, n) for n in chunk]}
        assert (await post(stack, token, batch)).status_code == 202

    async with Platform("sales-test-2", settings, handle_signals=False) as second:
        ingest = SalesIngest(second, stack.deps.mappings, stack.deps.unmapped)
        consumer = second.consumer(GROUP, ingest.routes(), owned=ingest.seen)
        async with consumer:
            running = asyncio.create_task(consumer.run())
            for start in range(0, 120, 20):  # every ticket twice, while the group rebalances
                await send(numbers[start:start + 20])
                await send(numbers[max(0, start - 10):start + 10])
            consumer.stop()
            await running
    for start in range(0, 120, 30):  # and again once the second instance has left
        await send(numbers[start:start + 30])
    await consumed_to_end(settings, GROUP, [SALES_SUBMITTED.name])
    records = await records_since(settings, SALES.name, since, key=shop, expected=120)
    ids = [dict(r.headers)["ce_id"] for r in records]
    assert len(ids) == len(set(ids)) == 120
