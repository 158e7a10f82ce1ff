"""Which subscriptions a signal goes to, and how deliveries are signed."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime

from services.demand.webhooks import coverage_body, matches, sign
from services.events.demand import SubscriptionRecorded
from services.events.planning import CropPlanned
from services.planning.coverage import compute
from tests.support import demand_signal as signal

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def subscription(**fields) -> SubscriptionRecorded:
    return SubscriptionRecorded(**{"subscription_id": "s1", "producer_id": "ferme",
                                   "url": "https://ferme.example/hook", "secret": "k",
                                   "created_at": NOW, **fields})


def test_the_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"territory": "lyon"}'
    assert sign("secret", body) == "sha256=" + hmac.new(b"secret", body,
                                                        hashlib.sha256).hexdigest()


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
