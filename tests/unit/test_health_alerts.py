"""How the alert sender signs what it posts (Standard Webhooks), with a fake endpoint."""

from __future__ import annotations

import httpx
import pytest

from services.bus.signature import SIGNATURE, Replayed, new_secret, verify
from services.health.alerts import Alert, AlertSender
from tests.support import eventually

ALERT = Alert("group", "vivres-stock", "OK", "STOP", "2026-11-26T10:04:05Z", "…")


async def post(alert: Alert, secret: str | None, answers: list[int]) -> list[httpx.Request]:
    """What the sender posted for one alert, the endpoint answering `answers` in turn."""
    sent: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(answers[len(sent) - 1])

    clock = iter(range(1_800_000_000, 1_800_000_100, 3)).__next__
    async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as http, \
            AlertSender("https://ops.example/alerts", http, secret=secret, backoff_s=0,
                        clock=clock) as sender:
        sender.send(alert)
        await eventually(lambda: sender.sent, what="the alert delivered")
    return sent


async def test_both_secrets_sign_and_a_retry_keeps_its_id_with_a_new_timestamp() -> None:
    old, new = "s3cret", new_secret()
    first, retry = await post(ALERT, f"{new} {old}", [500, 204])
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    assert first.headers["webhook-id"].startswith("alert_")
    assert first.headers["webhook-timestamp"] != retry.headers["webhook-timestamp"]
    seen: dict[str, int] = {}
    assert verify([old], retry.headers, retry.content, 1_800_000_010, seen=seen)
    assert verify([new], retry.headers, retry.content, 1_800_000_010)
    with pytest.raises(Replayed):
        verify([new], first.headers, first.content, 1_800_000_010, seen=seen)


async def test_unsigned_without_a_secret_and_each_alert_has_its_own_id() -> None:
    [one] = await post(ALERT, None, [204])
    [other] = await post(Alert("group", "vivres-stock", "STOP", "OK", "2026-11-26T10:05:00Z",
                               "…"), None, [204])
    assert SIGNATURE not in one.headers and one.headers["webhook-timestamp"] == "1800000000"
    assert one.headers["webhook-id"] != other.headers["webhook-id"]


async def test_a_malformed_whsec_secret_fails_at_start() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="base64"):
            AlertSender("https://ops.example/alerts", http, secret="whsec_%%")


async def test_alerts_waiting_for_a_down_receiver_are_bounded_and_the_newest_kept(
        monkeypatch) -> None:
    monkeypatch.setattr("services.health.alerts.PENDING_ALERTS", 3)
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(204))
                                 ) as http:
        sender = AlertSender("https://ops.example/alerts", http)  # not started: nothing leaves
        for number in range(5):
            sender.send(Alert("group", f"g{number}", "OK", "STOP", "2026-11-26T10:04:05Z", "…"))
        assert sender._queue.qsize() == 3 and sender.failed == 2
        assert [sender._queue.get_nowait().subject for _ in range(3)] == ["g2", "g3", "g4"]
