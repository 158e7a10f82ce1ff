"""Status changes, posted to the operators' alert webhook.

`changes()` (pure) compares two reports' conditions: a group, Kafka itself, a service's metrics
endpoint or a dead-letter topic that changed status, and a dead-letter topic that received new
letters. `AlertSender` posts each as JSON to the configured URL, in order, retrying a refused or
failed delivery with backoff; the collection never waits for it.

The payload has a French `text` that chat tools (Mattermost, Slack, Matrix bridges) show as is:

    {"kind": "group", "subject": "vivres-stock", "previous": "OK", "status": "STOP",
     "at": "2026-11-26T10:04:05Z", "text": "…", "detail": {...}}
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import structlog

from services.bus.signature import ID, TIMESTAMP, key, secrets_of, sign
from services.health.status import Status

log = structlog.get_logger("vivres.health.alerts")

KINDS_FR = {"group": "Le groupe de consommateurs", "kafka": "Le cluster Kafka",
            "service": "Le service", "dead_letters": "La file de rejets"}


@dataclass(frozen=True)
class Alert:
    kind: str  # group | kafka | service | dead_letters
    subject: str
    previous: str | None
    status: str
    at: str
    text: str
    detail: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return asdict(self)


def conditions(report: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """What a report says about each thing an operator is alerted on."""
    found: dict[tuple[str, str], dict[str, Any]] = {
        ("kafka", "cluster"): {"status": report["kafka"]["status"],
                               "detail": {"error": report["kafka"].get("error"),
                                          "under_replicated": report["kafka"]["under_replicated"],
                                          "offline": report["kafka"]["offline"]}},
    }
    for group in report["groups"]:
        found[("group", group["group"])] = {
            "status": group["status"],
            "detail": {"lag": group["lag"], "lag_seconds": group["lag_seconds"],
                       "members": group["members"], "reason": group["reason"]}}
    for service in report["services"]:
        found[("service", service["service"])] = {
            "status": service["status"], "detail": {"url": service["url"],
                                                    "error": service["error"]}}
    for letters in report["dead_letters"]:
        found[("dead_letters", letters["topic"])] = {
            "status": letters["status"], "end": letters["end"],
            "detail": {"depth": letters["depth"], "latest": letters["latest"][-1:]}}
    return found


def changes(before: Mapping[tuple[str, str], dict[str, Any]],
            after: Mapping[tuple[str, str], dict[str, Any]], at: str) -> list[Alert]:
    """The alerts between two reports. A thing first seen counts as having been OK (so a
    problem present at start-up is told), except dead letters already there (not new)."""
    alerts = []
    for (kind, subject), now in after.items():
        was = before.get((kind, subject))
        if kind == "dead_letters":
            # new letters: the end moved (the depth could stay while retention trims the start)
            if was is not None and now["end"] > was["end"]:
                alerts.append(_alert(kind, subject, was["status"], now, at,
                                     new=now["end"] - was["end"]))
            continue
        previous = was["status"] if was is not None else Status.OK.value
        if now["status"] != previous:
            alerts.append(_alert(kind, subject, previous, now, at))
    return alerts


def _alert(kind: str, subject: str, previous: str, now: dict[str, Any], at: str,
           new: int = 0) -> Alert:
    detail = dict(now["detail"])
    if kind == "dead_letters":
        reason = (detail["latest"][0]["error"] if detail["latest"] else "")[:200]
        text = (f"{KINDS_FR[kind]} {subject} a reçu {new} rejet(s) (profondeur "
                f"{detail['depth']}) : {reason}")
        detail["new"] = new
    else:
        text = f"{KINDS_FR[kind]} {subject} est passé de {previous} à {now['status']}"
        if kind == "group":
            text += f" (retard {detail['lag']} enregistrement(s) ; {detail['reason']})"
        elif detail.get("error"):
            text += f" : {detail['error']}"
    return Alert(kind, subject, previous, now["status"], at, text, detail)


PENDING_ALERTS = 1000


class AlertSender:
    """Posts alerts in order to one webhook URL, with Standard Webhooks headers (as the demand
    webhooks: services.bus.signature), signed when secrets are shared (space-separated, for a
    rotation); a failed post is retried with backoff, under the same webhook-id."""

    def __init__(self, url: str | None, http: httpx.AsyncClient, *, secret: str | None = None,
                 attempts: int = 5, backoff_s: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.secrets = secrets_of(secret)
        for each in self.secrets:
            key(each)  # a malformed whsec_ secret fails at start, not at the first alert
        self.http = http
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.clock = clock
        self.sent = 0
        self.failed = 0
        # Bounded: a receiver down for hours must not grow the health service; the newest
        # alerts say the current state, so the oldest one waiting is the one dropped.
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=PENDING_ALERTS)
        self._task: asyncio.Task[None] | None = None

    def send(self, alert: Alert) -> None:
        log.warning("status changed", kind=alert.kind, subject=alert.subject,
                    previous=alert.previous, status=alert.status, text=alert.text)
        if self.url:
            if self._queue.full():
                dropped = self._queue.get_nowait()
                self.failed += 1
                log.error("alert dropped: the receiver is behind", kind=dropped.kind,
                          subject=dropped.subject, status=dropped.status)
            self._queue.put_nowait(alert)

    async def __aenter__(self) -> AlertSender:
        self._task = asyncio.create_task(self._deliver(), name="health-alerts")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _deliver(self) -> None:
        while True:
            await self._post(await self._queue.get())

    async def _post(self, alert: Alert) -> None:
        body = json.dumps(alert.payload(), ensure_ascii=False).encode()
        webhook_id = alert_id(body)
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            error = await self._attempt(webhook_id, body)
            if error is None:
                self.sent += 1
                return
            log.warning("alert not delivered", subject=alert.subject, attempt=attempt,
                        webhook_id=webhook_id, error=error[:300])
            if attempt < self.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        self.failed += 1

    async def _attempt(self, webhook_id: str, body: bytes) -> str | None:
        """None when the post was accepted, else why not."""
        timestamp = int(self.clock())
        headers = {"Content-Type": "application/json", ID: webhook_id, TIMESTAMP: str(timestamp)}
        if self.secrets:
            headers = {**headers, **sign(self.secrets, webhook_id, body, timestamp)}
        try:
            response = await self.http.post(self.url, content=body, headers=headers, timeout=10)
        except Exception as err:  # noqa: BLE001 - e.g. an invalid URL: log, go on
            return f"{type(err).__name__}: {err}"
        return None if response.status_code < 300 else f"HTTP {response.status_code}"


def alert_id(body: bytes) -> str:
    """An alert's webhook-id: from its content (kind, subject, statuses, time), so the same on
    every retry and different for every alert."""
    return "alert_" + hashlib.sha256(body).hexdigest()[:32]
