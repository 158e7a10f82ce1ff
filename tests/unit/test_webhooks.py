"""Which subscriptions a signal goes to, and how deliveries are signed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace

import httpx
import pytest

from services.bus.metrics import Metrics
from services.bus.runtime import Received
from services.bus.signature import Refused, Replayed, verify
from services.demand.webhooks import Deliveries, coverage_body, matches, signal_body
from services.events.demand import SubscriptionRecorded
from services.events.planning import CropPlanned
from services.planning.coverage import compute
from tests.support import demand_signal as signal

NOW = datetime(2026, 11, 25, tzinfo=UTC)
NEW_SECRET = "whsec_bmV3LXNlY3JldC0zMi1ieXRlcy0tLS0tLS0tLS0="


def subscription(**fields) -> SubscriptionRecorded:
    return SubscriptionRecorded(**{"subscription_id": "s1", "producer_id": "ferme",
                                   "url": "https://ferme.example/hook", "secret": "k",
                                   "created_at": NOW, **fields})


async def test_a_retry_keeps_its_webhook_id_is_re_signed_and_replays_are_refused() -> None:
    """Standard Webhooks on the delivery path, with a fake endpoint: refuses the first attempt,
    takes the retry; a receiver verifying with the rotated pair of secrets."""
    sent: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(503 if len(sent) == 1 else 204)

    clock = iter([1_800_000_000, 1_800_000_007]).__next__
    lyon = signal("lyon")
    platform = SimpleNamespace(metrics=Metrics("webhooks"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as http:
        rotating = subscription(secret=f"{NEW_SECRET} k")  # the new secret and the old
        deliveries = Deliveries(platform, {"s1": rotating}, {}, http, backoff_s=0, clock=clock)
        await deliveries.handle(Received(event=lyon, key="lyon", meta=None,
                                         topic="demand.signals", partition=2, offset=41,
                                         timestamp_ms=0))
    first, retry = sent
    assert first.content == retry.content == signal_body(lyon)
    assert first.headers["webhook-id"] == retry.headers["webhook-id"] == "s1/demand-signal/2/41"
    assert (first.headers["webhook-timestamp"], retry.headers["webhook-timestamp"]) == (
        "1800000000", "1800000007")
    assert verify(NEW_SECRET, first.headers, first.content, 1_800_000_001)
    seen: dict[str, int] = {}
    assert verify("k", retry.headers, retry.content, 1_800_000_010, seen=seen)
    with pytest.raises(Replayed):  # the captured first attempt, played again
        verify(["k"], first.headers, first.content, 1_800_000_010, seen=seen)
    with pytest.raises(Refused, match="tolerance"):  # or the retry, an hour later
        verify(["k"], retry.headers, retry.content, 1_800_003_600, seen={})


def test_filters_select_territory_product_and_category() -> None:
    lyon = signal("lyon")
    category = {"carotte": "legumes"}.get
    assert matches(subscription(), lyon, category)
    assert matches(subscription(territory="lyon", product_id="carotte",
                                category="legumes"), lyon, category)
    assert not matches(subscription(territory="marseille"), lyon, category)
    assert not matches(subscription(product_id="pomme"), lyon, category)
    assert not matches(subscription(category="fruits"), lyon, category)


def test_never_a_shop_s_signal_nor_to_a_revoked_subscription() -> None:
    assert not matches(subscription(), signal("lyon", "a-shop"), lambda _p: None)
    assert not matches(subscription(revoked=True), signal("lyon"), lambda _p: None)


def test_a_coverage_goes_only_to_who_asked_for_it_as_that_producer_sees_it() -> None:
    week = date(2026, 11, 30)
    plans = [CropPlanned(plan_key=CropPlanned.key(p, "lyon", "carotte", week), producer_id=p,
                         territory="lyon", product_id="carotte", week=week, units=u,
                         planned_at=NOW) for p, u in (("ferme", 300), ("gaec-voisin", 200))]
    coverage = compute("lyon", "carotte", {}, [], plans, date(2026, 12, 1), NOW)
    category = {"carotte": "legumes"}.get
    assert not matches(subscription(), coverage, category)  # signals only, by default
    wanted = subscription(events=("demand.signal", "planning.coverage"), territory="lyon")
    assert matches(wanted, coverage, category)
    assert not matches(wanted.model_copy(update={"territory": "marseille"}), coverage, category)
    body = coverage_body(coverage, wanted, "GRAM")
    assert b"gaec-voisin" not in body
    first = json.loads(body)["weeks"][0]
    assert (first["mine"], first["plans"], first["producers"]) == (300, 500, 2)
