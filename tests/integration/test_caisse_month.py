"""A month of a simulated caisse (Montpellier: 400 households, four approved épiceries) played
on the real broker: every caisse payment asked at checkout, tickets recorded after. The month
settles to the cent of what the tills were told, through `vivres caisse settle`, and the
committee's report adds up to the ledger."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.bus.catalog import PRODUCTS, REFUNDS_SUBMITTED, SALES_SUBMITTED
from services.bus.table import TableView
from services.caisse.books import Books, product_lookup
from services.caisse.ledger import Ledger
from services.caisse.replies import CaisseClient
from services.cli.demo import _seed as seed_demo
from services.events.caisse import EntryKind
from services.sales.ingest import GROUP as INGEST
from services.simulator.caisse import expected_credit, plan_month, run_month
from tests.integration.sales_stack import ROOT, ServiceProcess, running_sales_stack
from tests.support import consumed_to_end

pytestmark = pytest.mark.integration


def last_month() -> str:
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def vivres(settings, *args: str) -> str:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "SCHEMA_REGISTRY_URL": settings.schema_registry_url}
    done = subprocess.run([sys.executable, "-m", "services.cli.main", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_month_settles_to_the_cent_and_the_reports_add_up(settings, registry,
                                                                  tmp_path) -> None:
    month = last_month()
    caisse = f"montpellier-{uuid.uuid4().hex[:6]}"
    plan = plan_month("montpellier", month, caisse_id=caisse)
    process = ServiceProcess("caisse", settings, tmp_path / "caisse.log")
    async with running_sales_stack(settings, ingest_window=timedelta(days=75)) as stack:
        await seed_demo(settings, tmp_path / "tokens.json")  # catalog and till-code mappings
        process.start()
        try:
            async with CaisseClient(settings, registry, stack.platform.publisher) as client:
                tally = await run_month(plan, client, stack.platform.publisher, timeout_s=90)
        finally:
            process.stop()
        await consumed_to_end(settings, INGEST, [SALES_SUBMITTED.name, REFUNDS_SUBMITTED.name])
        async with TableView(settings, registry, PRODUCTS) as products:
            report = await Books(settings, registry).report(
                caisse, [month], product_lookup(stack.deps.mappings, products))

    assert tally.households == 400
    assert tally.credited_cents == expected_credit(plan, "montpellier")
    assert sum(tally.redemptions.values()) > 1_000  # a month of four shops' caisse payments

    # The treasurer's settlement, through the CLI, to the cent of what the tills were told.
    csv_path = tmp_path / "reglements.csv"
    vivres(settings, "caisse", "settle", "--caisse", caisse, "--month", month, "--csv",
           str(csv_path))
    rows = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8")), delimiter=";"))
    by_shop = {row[1]: row for row in rows[1:]}
    shops = set(plan.checkouts)
    assert set(by_shop) == shops | {"TOTAL"}
    for shop in shops:
        assert int(by_shop[shop][8]) == tally.net_cents(shop), shop
        assert int(by_shop[shop][4]) == tally.redemptions[shop], shop
    assert int(by_shop["TOTAL"][8]) == sum(tally.net_cents(s) for s in shops)

    # The books: the ledger folds cleanly and holds exactly that.
    entries = await Books(settings, registry).entries(caisse)
    Ledger.fold(entries)
    money = [e for e in entries if e.kind in (EntryKind.REDEEMED, EntryKind.REFUNDED)]
    assert -sum(e.amount_cents for e in money) == int(by_shop["TOTAL"][8])

    # The committee's report adds up to the ledger in every grouping, and joins every
    # redemption to its ticket's lines.
    net = int(by_shop["TOTAL"][8])
    assert report.total.net_cents == net
    for name, group in report.groups().items():
        assert sum(s.net_cents for s in group.values()) == net, name
    assert set(report.by_shop_type) <= {"épicerie sociale", "épicerie solidaire"}
    assert report.total.joined_cents == report.total.redeemed_cents
    assert 0 < report.total.local_cents < report.total.joined_cents
    assert 0 < report.total.organic_cents < report.total.joined_cents
    assert sum(report.contributions_by_band.values()) == sum(
        c.amount_cents for c in plan.contributions)
    assert sum(report.allowances_by_band.values()) == tally.credited_cents
    printed = json.loads(vivres(settings, "caisse", "report", "--caisse", caisse, "--month",
                                month, "--json"))
    assert printed["total"]["net_cents"] == net
    assert printed["total"]["local_share"] == report.total.as_dict()["local_share"]
