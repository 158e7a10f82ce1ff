"""Which subscriptions a signal goes to, and how deliveries are signed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from services.demand.webhooks import matches, sign
from services.events.demand import SubscriptionRecorded
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
