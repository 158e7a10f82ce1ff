"""The operators' stream-health page in headless Chromium (the system's, driven by Playwright), on
a real health service watching the real broker: two consumer groups committed at known positions
(one caught up, one stopped behind), a dead-letter topic with its reasons, a service's metrics.
Every figure the page shows for the groups, their partitions, the dead letters, the topics, the
services and Kafka equals what GET /v1/health/streams answers; the page says in French why it
cannot show anything (service starting, wrong token, not an operator token, network down) and
keeps the last figures meanwhile; it follows a new round without a reload.
A full-page screenshot is kept in tests/artifacts/operator-page.png."""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from playwright.async_api import async_playwright, expect

from services.bus.client import new_consumer
from services.bus.deadletter import Stage, dead_letter_headers
from services.bus.metrics import Metrics, MetricsServer
from services.bus.settings import BusSettings
from services.events.auth import Role
from services.health.monitor import HealthConfig
from tests.e2e.browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    accessibility_problems,
    keep_screenshot,
    page_problems,
    require_chromium,
)
from tests.integration.health_stack import running_health

pytestmark = pytest.mark.integration

ARTIFACT = ARTIFACTS / "operator-page.png"
WAIT_MS = 30_000  # the page polls every interval_s (5 s while it has no report yet)
DASH = "–"

PRODUCED = {0: 6, 1: 4, 2: 5}  # records per partition
CAUGHT_UP = {0: 6, 1: 4, 2: 5}  # group A's committed offsets
BEHIND = {0: 2, 1: 4, 2: 1}  # group B's: 4 + 0 + 4 records behind


# --- the page's formatting, mirrored (exploitation.html: decimal, duration, millis, rate) ----

def decimal(value: float, digits: int) -> str:
    rounded = math.floor(value * 10 ** digits + 0.5) / 10 ** digits  # JS Math.round
    return f"{rounded:.{digits}f}".rstrip("0").rstrip(".").replace(".", ",")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    if seconds < 60:
        return f"{decimal(seconds, 1)} s"
    whole = math.floor(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} j {whole % 86400 // 3600} h"


def millis(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{decimal(value, 1)} ms" if value < 1000 else duration(value / 1000)


def rate(value: float | None) -> str:
    return DASH if value is None else f"{decimal(value, 2)} /s"


def integer(value: int | None) -> str:
    return DASH if value is None else str(value)


def raw(value: Any) -> str:
    """A `data-valeur` attribute: the JSON value as JavaScript's String() writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- what the page shows, read from its DOM in one go -------------------------------------

READ_PAGE = """() => {
  const clean = (e) => e ? e.textContent.replace(/\\s+/g, " ").trim() : null;
  const field = (root, name) => {
    const e = root.querySelector(`[data-champ="${name}"]`);
    return e ? {text: clean(e), value: e.dataset.valeur ?? null} : null;
  };
  const fields = (root, names) => Object.fromEntries(names.map((n) => [n, field(root, n)]));
  const groups = {};
  for (const row of document.querySelectorAll("tr[data-groupe]")) {
    const block = row.closest("tbody");
    const partitions = {};
    for (const p of block.querySelectorAll("tr[data-partition]")) {
      partitions[p.dataset.partition] = fields(p, ["topic", "partition", "committed", "end",
        "lag", "lag_seconds", "status", "reason"]);
    }
    groups[row.dataset.groupe] = {
      ...fields(row, ["status", "group", "state", "members", "lag", "lag_seconds", "reason"]),
      points: Number(row.querySelector("svg.courbe")?.dataset.points ?? 0),
      polyline: (row.querySelector("svg.courbe polyline")?.getAttribute("points") || "")
        .trim().split(/\\s+/).filter(Boolean).length,
      open: !block.querySelector("tr.detail").hidden, partitions};
  }
  const dead = {};
  for (const card of document.querySelectorAll("[data-rejets]")) {
    dead[card.dataset.rejets] = {
      status: field(card, "status"), depth: field(card.querySelector("dl"), "depth"),
      source: field(card.querySelector("dl"), "source"), rate: field(card, "rate"),
      latest: [...card.querySelectorAll("li[data-motif]")].map((li) => ({
        text: clean(li), error: field(li, "error").text, source: field(li, "source").text}))};
  }
  const topics = {};
  for (const row of document.querySelectorAll("tr[data-topic]")) {
    topics[row.dataset.topic] = fields(row, ["partitions", "end", "records_per_s"]);
  }
  const services = {};
  for (const row of document.querySelectorAll("tr[data-service]")) {
    services[row.dataset.service] = {
      ...fields(row, ["status", "service", "event_p50", "event_p99", "bus_p50", "bus_p99",
                      "count", "error"]),
      freshness: Object.fromEntries([...row.querySelectorAll("li[data-etat]")].map(
        (li) => [li.dataset.etat, field(li, "age_s")]))};
  }
  const k = document.querySelector("[data-kafka]");
  const list = (name) => [...k.querySelectorAll(`[data-champ="${name}"] li`)].map(clean);
  const kafka = {
    ...fields(k, ["status", "reachable", "bootstrap", "brokers", "controller", "voters",
                  "partitions", "under_replicated", "offline", "last_seen", "error"]),
    broker_ids: [...k.querySelectorAll("li[data-broker]")].map((li) => li.dataset.broker),
    broker_text: [...k.querySelectorAll("li[data-broker]")].map(clean),
    under_list: list("under_replicated"), offline_list: list("offline")};
  return {overall: clean(document.querySelector('[data-champ="statut-global"]')),
          generated: clean(document.querySelector('[data-champ="genere"]')),
          groups, dead, topics, services, kafka};
}"""


def assert_page_matches(shown: dict[str, Any], report: dict[str, Any]) -> None:
    """Every figure on the page is the report's, and nothing more."""
    assert shown["overall"] == report["status"]
    assert shown["generated"] == report["generated_at"]

    assert set(shown["groups"]) == {g["group"] for g in report["groups"]}
    for group in report["groups"]:
        row = shown["groups"][group["group"]]
        where = group["group"]
        assert row["status"]["text"] == group["status"], where
        assert row["group"]["text"] == group["group"], where
        assert row["state"]["value"] == group["state"], where
        assert row["members"]["text"] == integer(group["members"]), where
        assert row["lag"]["text"] == integer(group["lag"]), where
        assert row["lag_seconds"]["text"] == duration(group["lag_seconds"]), where
        assert row["lag_seconds"]["value"] == raw(group["lag_seconds"]), where
        assert group["reason"] in row["reason"]["text"], where
        assert row["points"] == row["polyline"] == len(group["history"]), where
        assert set(row["partitions"]) == {f"{p['topic']}[{p['partition']}]"
                                          for p in group["partitions"]}, where
        for p in group["partitions"]:
            cells = row["partitions"][f"{p['topic']}[{p['partition']}]"]
            where = f"{group['group']} {p['topic']}[{p['partition']}]"
            assert cells["topic"]["value"] == p["topic"], where
            for name in ("partition", "committed", "end", "lag"):
                assert cells[name]["text"] == integer(p[name]), (where, name)
            assert cells["lag_seconds"]["text"] == duration(p["lag_seconds"]), where
            assert cells["lag_seconds"]["value"] == raw(p["lag_seconds"]), where
            assert cells["status"]["text"] == p["status"], where
            assert p["reason"] in cells["reason"]["text"], where

    assert set(shown["dead"]) == {d["topic"] for d in report["dead_letters"]}
    for letters in report["dead_letters"]:
        card = shown["dead"][letters["topic"]]
        assert card["status"]["text"] == letters["status"]
        assert card["source"]["text"] == letters["source"]
        assert card["depth"]["text"] == integer(letters["depth"])
        assert card["rate"]["text"] == rate(letters["rate"])
        assert card["rate"]["value"] == raw(letters["rate"])
        assert len(card["latest"]) == len(letters["latest"])
        newest_first = list(reversed(letters["latest"]))
        for seen, letter in zip(card["latest"], newest_first, strict=True):
            assert seen["error"] == letter["error"] and seen["source"] == letter["source"]
            for part in (letter["service"], letter["stage"], letter["error_type"]):
                assert part in seen["text"]

    assert set(shown["topics"]) == {t["topic"] for t in report["topics"]}
    for topic in report["topics"]:
        row = shown["topics"][topic["topic"]]
        assert row["partitions"]["text"] == integer(topic["partitions"])
        assert row["end"]["text"] == integer(topic["end"])
        assert row["records_per_s"]["text"] == rate(topic["records_per_s"])
        assert row["records_per_s"]["value"] == raw(topic["records_per_s"])

    assert set(shown["services"]) == {s["service"] for s in report["services"]}
    for service in report["services"]:
        row = shown["services"][service["service"]]
        assert row["status"]["text"] == service["status"]
        assert row["service"]["value"] == ("up" if service["up"] else "down")
        for kind in ("event", "bus"):
            for quantile in ("p50", "p99"):
                value = service[f"{kind}_latency_ms"][quantile]
                assert row[f"{kind}_{quantile}"]["text"] == millis(value), (kind, quantile)
                assert row[f"{kind}_{quantile}"]["value"] == raw(value), (kind, quantile)
        assert row["count"]["text"] == integer(service["event_latency_ms"]["count"])
        assert (row["error"] or {}).get("text") == service["error"]
        assert {state: cell["text"] for state, cell in row["freshness"].items()} == {
            f["state"]: duration(f["age_s"]) for f in service["freshness"]}

    kafka, shown_kafka = report["kafka"], shown["kafka"]
    assert shown_kafka["status"]["text"] == kafka["status"]
    assert shown_kafka["reachable"]["value"] == raw(kafka["reachable"])
    assert shown_kafka["reachable"]["text"] == ("oui" if kafka["reachable"] else "non")
    assert shown_kafka["bootstrap"]["text"] == kafka["bootstrap"]
    assert shown_kafka["broker_ids"] == [str(b["id"]) for b in kafka["brokers"]]
    for text, broker in zip(shown_kafka["broker_text"], kafka["brokers"], strict=True):
        assert f"{broker['host']}:{broker['port']}" in text
    assert shown_kafka["brokers"]["value"] == str(len(kafka["brokers"]))
    assert shown_kafka["controller"]["text"] == integer(kafka["controller"])
    assert shown_kafka["voters"]["text"] == (", ".join(map(str, kafka["voters"])) or DASH)
    assert shown_kafka["partitions"]["text"] == integer(kafka["partitions"])
    for name in ("under_replicated", "offline"):
        assert shown_kafka[name]["value"] == str(len(kafka[name]))
        listed = shown_kafka["under_list" if name == "under_replicated" else "offline_list"]
        assert listed[:20] == kafka[name][:20]
    assert shown_kafka["last_seen"]["value"] == raw(kafka["last_seen"])
    assert shown_kafka["error"]["text"] == (kafka["error"] or DASH)


# --- helpers ------------------------------------------------------------------------------



# Chrome logs every non-2xx answer and every failed fetch as a console error; these are the
# page's own expected refusals (503 while starting, the simulated outage), nothing else is.
EXPECTED_LOAD_FAILURE = re.compile(
    r"^Failed to load resource: (the server responded with a status of 503|net::ERR_FAILED)")
CSP_LISTENER = """document.addEventListener("securitypolicyviolation", (event) => {
  window.violations = window.violations || [];
  window.violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});"""




async def set_up_topic(settings: BusSettings, topic: str, group_a: str, group_b: str) -> None:
    """The topic with PRODUCED records, group A committed at CAUGHT_UP and group B at BEHIND
    (both then left: Empty, no member), and the dead-letter topic with two letters."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers,
                                client_id="vivres-tests")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1), NewTopic(f"{topic}.dlq", 1, 1)])
    finally:
        await admin.close()
    await produce(settings, topic, PRODUCED)
    await dead_letters(settings, topic, 2)
    tps = {p: TopicPartition(topic, p) for p in PRODUCED}
    for group, offsets in ((group_a, CAUGHT_UP), (group_b, BEHIND)):
        consumer = new_consumer(settings, group=group)
        await consumer.start()
        try:
            consumer.assign(list(tps.values()))
            await consumer.commit({tps[p]: offset for p, offset in offsets.items()})
        finally:
            await consumer.stop()


async def produce(settings: BusSettings, topic: str, counts: dict[int, int]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for partition, count in counts.items():
            for n in range(count):
                await producer.send_and_wait(topic, f"record {n}".encode(), key=b"k",
                                             partition=partition)
    finally:
        await producer.stop()


async def dead_letters(settings: BusSettings, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for n in range(count):
            record = SimpleNamespace(topic=topic, partition=n % 3, offset=n, headers=[])
            error = ValueError(f"quantity must be positive (got -{n + 1})")
            await producer.send_and_wait(
                f"{topic}.dlq", b"\x00not avro", key=b"k",
                headers=dead_letter_headers(record, Stage.HANDLE, error, "stock"))
    finally:
        await producer.stop()


def group_of(report: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    found = [g for g in (report or {}).get("groups", []) if g["group"] == name]
    return found[0] if found else None


async def test_the_operator_page_shows_every_figure_of_the_report_and_follows_it(
        tmp_path) -> None:
    chromium = require_chromium()
    settings = BusSettings()
    run = uuid.uuid4().hex[:8]
    topic = f"ops-page-{run}"
    group_a, group_b = f"ops-page-{run}-a", f"ops-page-{run}-b"
    await set_up_topic(settings, topic, group_a, group_b)

    metrics = Metrics("stock")
    async with MetricsServer(metrics) as metrics_server:
        config = HealthConfig(interval_s=1.0, window_s=3.0, history_s=900.0,
                              groups=rf"{re.escape(f'ops-page-{run}')}-[ab]", topics=(topic,),
                              targets={"stock": metrics_server.url})
        async with running_health(settings, config, loop=False) as stack, \
                async_playwright() as playwright:
            monitor = stack.health.monitor
            operator = await stack.token()
            shop = await stack.token(Role.SHOP)
            browser = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=chromium, headless=True,
                args=CHROMIUM_ARGS, locale="fr-FR", timezone_id="Europe/Paris",
                viewport={"width": 1280, "height": 900})
            try:
                page = await browser.new_page()
                problems = page_problems(page, EXPECTED_LOAD_FAILURE)
                await page.add_init_script(CSP_LISTENER)

                # before the first round: the service says 503, the page says it is starting
                loaded = await page.goto(f"{stack.url}/exploitation#token={operator}")
                assert loaded is not None and loaded.ok
                policy = loaded.headers["content-security-policy"]
                assert "script-src 'sha256-" in policy and "style-src 'sha256-" in policy
                await expect(page.locator("#erreur")).to_contain_text(
                    "première collecte en cours", timeout=WAIT_MS)
                await expect(page.locator("#etat")).to_have_text("nouvel essai…")
                assert "token=" not in page.url  # wiped from the address bar, kept in the tab
                assert await page.evaluate("sessionStorage.getItem('vivres-jeton')") == operator

                # rounds until B has been still for a whole window with nobody in it: STOP
                rounds = 0

                async def round_() -> dict[str, Any]:
                    nonlocal rounds
                    rounds += 1
                    now = time.time()
                    metrics.applied(topic, now - 0.4 * rounds, now - 0.02 * rounds)
                    return await monitor.collect()

                deadline = time.monotonic() + 60
                while (group_of(await round_(), group_b) or {}).get("status") != "STOP" \
                        or rounds < 3:
                    if time.monotonic() > deadline:
                        pytest.fail(f"{group_b} not STOP within 60 s: {monitor.report}")
                    await asyncio.sleep(0.7)
                await dead_letters(settings, topic, 1)  # one more: the dead letters grow
                report = await round_()

                b, a = group_of(report, group_b), group_of(report, group_a)
                assert (b["status"], b["lag"], b["members"], b["state"]) == ("STOP", 8, 0,
                                                                             "Empty")
                assert {p["partition"]: (p["committed"], p["end"], p["lag"])
                        for p in b["partitions"]} == {
                    p: (BEHIND[p], PRODUCED[p], PRODUCED[p] - BEHIND[p]) for p in PRODUCED}
                assert (a["status"], a["lag"]) == ("OK", 0)
                assert b["lag_seconds"] is not None and b["lag_seconds"] >= 0
                [letters] = report["dead_letters"]
                assert (letters["depth"], letters["status"], len(letters["latest"])) == (
                    3, "WARN", 3)
                [service] = report["services"]
                assert service["up"] and service["event_latency_ms"]["p50"] is not None

                # the page picks the report up by itself (it retries after the 503)
                generated = page.locator('[data-champ="genere"]')
                await expect(generated).to_have_text(report["generated_at"], timeout=WAIT_MS)
                await expect(page.locator(f'tr[data-groupe="{group_b}"]')).to_be_visible()
                await expect(page.locator("#etat")).to_have_text("en direct")
                await expect(page.locator("#erreur")).to_be_empty()
                async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
                    answer = await http.get("/v1/health/streams",
                                            headers={"Authorization": f"Bearer {operator}"})
                assert answer.status_code == 200, answer.text
                served = answer.json()
                assert served == report  # loop=False: nothing moved since the last round
                assert_page_matches(await page.evaluate(READ_PAGE), served)

                # B's figures as set up, in its row and its partitions (open: it is not OK)
                row_b = page.locator(f'tr[data-groupe="{group_b}"]')
                await expect(row_b.locator('[data-champ="status"]')).to_have_text("STOP")
                await expect(row_b.locator('[data-champ="lag"]')).to_have_text("8")
                await expect(row_b.locator('[data-champ="members"]')).to_have_text("0")
                block_b = page.locator(f'tbody[data-groupe-bloc="{group_b}"]')
                for p in PRODUCED:
                    cells = block_b.locator(f'tr[data-partition="{topic}[{p}]"]')
                    await expect(cells).to_be_visible()
                    await expect(cells.locator('[data-champ="committed"]')).to_have_text(
                        str(BEHIND[p]))
                    await expect(cells.locator('[data-champ="end"]')).to_have_text(
                        str(PRODUCED[p]))
                    await expect(cells.locator('[data-champ="lag"]')).to_have_text(
                        str(PRODUCED[p] - BEHIND[p]))
                await expect(block_b.locator("svg.graphe")).to_be_visible()  # lag over time
                # B waits on one record per partition: named, with how to set it aside
                waiting = {p for p in PRODUCED if PRODUCED[p] > BEHIND[p]}
                assert {(e["group"], e["partition"], e["offset"]) for e in report["stuck"]
                        if e["group"] == group_b} == {(group_b, p, BEHIND[p]) for p in waiting}
                await expect(page.locator("#bloques")).to_be_visible()
                for p in waiting:
                    card = page.locator(f'[data-bloque="{group_b}/{topic}/{p}"]')
                    await expect(card.locator('[data-champ="set-aside"]')).to_contain_text(
                        f"vivres dlq set-aside {group_b} {topic} {p} {BEHIND[p]}")
                    await expect(card.locator('[data-champ="status"]')).to_have_text("STOP")
                # A is OK: folded until asked, then its partitions show
                block_a = page.locator(f'tbody[data-groupe-bloc="{group_a}"]')
                await expect(block_a.locator(f'tr[data-partition="{topic}[0]"]')).to_be_hidden()
                await block_a.locator("button.deplier").click()
                await expect(block_a.locator(f'tr[data-partition="{topic}[0]"]')).to_be_visible()
                await expect(block_a.locator("button.deplier")).to_have_attribute(
                    "aria-expanded", "true")
                await expect(page.locator(f'[data-rejets="{topic}.dlq"] [data-champ="depth"]')
                             ).to_have_text("3")
                await expect(page.locator('[data-service="stock"] [data-champ="status"]')
                             ).to_have_text("OK")
                await expect(page.locator('[data-champ="statut-global"]')).to_have_text("STOP")
                assert await page.title() == "STOP · Santé des flux — Vivres"

                assert await accessibility_problems(page) == []
                await keep_screenshot(page, ARTIFACT, height=900, size=30_000)

                # the network goes away: the figures stay, stamped, with a French message
                await page.evaluate("window.sansRecharger = true")
                await page.route("**/v1/health/streams", lambda route: route.abort())
                await expect(page.locator("#erreur")).to_contain_text(
                    "Service de santé injoignable", timeout=WAIT_MS)
                await expect(page.locator("#erreur")).to_contain_text("Derniers chiffres affichés")
                await expect(page.locator("#fraicheur")).to_have_class("perimee")
                await expect(page.locator("#fraicheur")).to_contain_text("données du ")
                await expect(row_b.locator('[data-champ="lag"]')).to_have_text("8")
                await page.unroute("**/v1/health/streams")
                await expect(page.locator("#etat")).to_have_text("en direct", timeout=WAIT_MS)
                await expect(page.locator("#erreur")).to_be_empty()
                await expect(page.locator("#fraicheur")).not_to_have_class("perimee")

                # live: three more records on partition 0 and one more round; no reload
                await produce(settings, topic, {0: 3})
                later = await round_()
                assert group_of(later, group_b)["lag"] == 11
                assert group_of(later, group_a)["lag"] == 3
                await expect(generated).to_have_text(later["generated_at"], timeout=WAIT_MS)
                await expect(row_b.locator('[data-champ="lag"]')).to_have_text("11")
                await expect(block_b.locator(f'tr[data-partition="{topic}[0]"] '
                                             '[data-champ="end"]')).to_have_text("9")
                await expect(page.locator(f'tr[data-groupe="{group_a}"] [data-champ="lag"]')
                             ).to_have_text("3")
                await expect(block_a.locator(f'tr[data-partition="{topic}[0]"]')
                             ).to_be_visible()  # A stays open as the operator left it
                assert await page.evaluate("window.sansRecharger") is True
                assert_page_matches(await page.evaluate(READ_PAGE), later)

                assert await page.evaluate("window.violations || []") == []
                assert problems == []

                # a wrong token, and one of a role without access, each say so in French
                for token, message in (("vvr_pas-un-vrai-jeton", "Jeton refusé"),
                                       (shop, "n'est pas un jeton d'opérateur")):
                    other = await browser.new_page()
                    await other.goto(f"{stack.url}/exploitation#token={token}")
                    await expect(other.locator("#erreur")).to_contain_text(message,
                                                                            timeout=WAIT_MS)
                    await expect(other.locator("#etat")).to_have_text("arrêté")
                    await expect(other.locator("#rapport")).to_be_hidden()
                    await expect(other.locator("tr[data-groupe]")).to_have_count(0)
                    await other.close()
            finally:
                await browser.close()
