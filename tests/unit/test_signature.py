"""Standard Webhooks signing and verification (services.bus.signature)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.bus.signature import (
    ID,
    SIGNATURE,
    TIMESTAMP,
    Refused,
    Replayed,
    key,
    new_secret,
    sign,
    signature,
    verify,
)

# The test vector of the Standard Webhooks reference library: standard-webhooks/standard-webhooks,
# libraries/python/tests/test_webhooks.py, test_sign_function.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

NOW = 1_800_000_000
BODY = b'{"territory": "lyon"}'


def test_the_spec_test_vector() -> None:
    assert signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    headers = {ID: SPEC_ID, TIMESTAMP: str(SPEC_TIMESTAMP), SIGNATURE: SPEC_SIGNATURE}
    assert verify([SPEC_SECRET], headers, SPEC_BODY, SPEC_TIMESTAMP) == SPEC_ID


def test_a_plain_secret_is_its_utf8_bytes_and_a_new_one_is_whsec() -> None:
    assert key("s3cret") == b"s3cret"
    fresh = new_secret()
    assert fresh.startswith("whsec_") and len(key(fresh)) == 32
    with pytest.raises(ValueError, match="base64"):
        key("whsec_not base64!")


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = sign(f"{new} {old}", "d1", BODY, NOW)
    assert len(headers[SIGNATURE].split()) == 2
    assert verify([old], headers, BODY, NOW) == "d1"
    assert verify(new, headers, BODY, NOW) == "d1"  # one string: space-separated secrets
    with pytest.raises(Refused, match="no webhook-signature"):
        verify([new_secret()], headers, BODY, NOW)


def test_a_tampered_body_id_or_timestamp_is_refused() -> None:
    headers = sign("k", "d1", BODY, NOW)
    for changed, body in (({}, b'{"territory": "nice"}'), ({ID: "d2"}, BODY),
                          ({TIMESTAMP: str(NOW + 1)}, BODY)):
        with pytest.raises(Refused, match="no webhook-signature"):
            verify("k", {**headers, **changed}, body, NOW)


@pytest.mark.parametrize("age", [301, -301, 86_400])
def test_a_stale_or_future_delivery_is_refused(age: int) -> None:
    headers = sign("k", "d1", BODY, NOW - age)
    with pytest.raises(Refused, match="tolerance 300 s"):
        verify("k", headers, BODY, NOW)
    assert verify("k", headers, BODY, NOW, tolerance_s=abs(age)) == "d1"


def test_a_replayed_id_is_refused_even_re_signed_later_and_old_ids_are_forgotten() -> None:
    seen: dict[str, int] = {}
    verify("k", sign("k", "d1", BODY, NOW), BODY, NOW, seen=seen)
    with pytest.raises(Replayed):
        verify("k", sign("k", "d1", BODY, NOW), BODY, NOW + 1, seen=seen)
    retry = sign("k", "d1", BODY, NOW + 200)  # a retry of ours (or a capture of it): same id
    with pytest.raises(Replayed):
        verify("k", retry, BODY, NOW + 200, seen=seen)
    with pytest.raises(Replayed):  # the id is remembered from its newest timestamp
        verify("k", retry, BODY, NOW + 450, seen=seen)
    verify("k", sign("k", "d2", BODY, NOW + 900), BODY, NOW + 900, seen=seen)
    assert set(seen) == {"d2"}


def test_missing_or_malformed_headers_are_refused_whatever_their_case() -> None:
    headers = {name.title(): value for name, value in sign("k", "d1", BODY, NOW).items()}
    assert verify("k", headers, BODY, NOW) == "d1"
    with pytest.raises(Refused, match="missing webhook-signature"):
        verify("k", {ID: "d1", TIMESTAMP: str(NOW)}, BODY, NOW)
    with pytest.raises(Refused, match="not unix seconds"):
        verify("k", {**headers, "Webhook-Timestamp": "2026-11-25T10:00:00Z"}, BODY, NOW)
    with pytest.raises(Refused, match="no webhook-signature"):
        verify("k", {**headers, "Webhook-Signature": "v1a,xyz sha256=abc"}, BODY, NOW)


def test_the_receivers_snippet_of_the_docs_agrees() -> None:
    """docs/demand.md's standard-library receiver, run against what Vivres sends."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "demand.md").read_text()
    snippet = re.search(r"```python\n(import base64.*?)```", page, re.DOTALL)[1]
    receiver: dict = {}
    exec(compile(snippet, "docs/demand.md", "exec"), receiver)  # our own docs
    old, new = "s3cret", new_secret()
    receiver["SECRETS"][:] = [old]
    now = int(receiver["time"].time())
    headers = sign([new, old], "d1", BODY, now)
    assert receiver["is_new_delivery"](headers, BODY)
    assert not receiver["is_new_delivery"](headers, BODY)  # a repeat
    for forged, body in ((headers, b"{}"), (sign(old, "d2", BODY, now - 301), BODY),
                         ({ID: "d3", TIMESTAMP: str(now)}, BODY)):
        with pytest.raises(ValueError):
            receiver["is_new_delivery"](forged, body)
