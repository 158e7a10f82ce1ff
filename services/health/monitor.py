"""The health service's loop: every `interval_s`, read Kafka and the services' metrics, judge
every stream on the sliding window, keep the figures an operator sees, and tell what changed.

The report (`GET /v1/health/streams`) is built from the latest sample of everything. When Kafka
or a service does not answer, the report says so (status DOWN, the error, when it was last seen)
and keeps its last figures instead of failing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from aiokafka import TopicPartition

from services.bus.deadletter import read_dead_letters
from services.bus.settings import BusSettings
from services.health import alerts, status
from services.health.kafka import KafkaProbe, KafkaSnapshot
from services.health.scrape import LATENCIES, Scrape, scrape, window_buckets
from services.health.status import Sample, Status
from services.health.stuck import stuck_records

log = structlog.get_logger("vivres.health")

DLQ_SUFFIX = ".dlq"
LATEST_LETTERS = 3


@dataclass(frozen=True)
class HealthConfig:
    interval_s: float = 5.0
    window_s: float = 30.0  # Burrow's window: a stop is told after this long
    history_s: float = 900.0  # lag kept for the operators' chart
    groups: str = r"(?!vivres-dlq-replay\.).*"  # every group but the one-shot DLQ replays
    topics: tuple[str, ...] = ()  # topics to watch besides those the groups read (+ their DLQs)
    targets: Mapping[str, str] = field(default_factory=dict)  # service -> /metrics URL
    webhook_url: str | None = None
    webhook_secret: str | None = None  # when set, alerts carry webhook-signature (several: spaces)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


class Monitor:
    """Collects, judges and reports; `collect()` is one round (the loop calls it)."""

    def __init__(self, settings: BusSettings, config: HealthConfig, http: httpx.AsyncClient,
                 sender: alerts.AlertSender, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.config = config
        self.http = http
        self.sender = sender
        self.clock = clock
        self.samples: dict[tuple[str, TopicPartition], deque[Sample]] = {}
        # (group, partition) -> (committed offset, when first seen at it): outlives the window
        self.first_seen: dict[tuple[str, TopicPartition], tuple[int, float]] = {}
        self.lag_history: dict[str, deque[tuple[float, int]]] = {}
        self.ends_history: dict[str, deque[tuple[float, int]]] = {}
        self.scrapes: dict[str, deque[Scrape]] = {}
        self.letters: dict[str, tuple[int, list[dict[str, Any]]]] = {}  # dlq -> (end, latest)
        self.kafka: KafkaSnapshot | None = None
        self.kafka_error: str | None = None
        self.kafka_seen: float | None = None
        self.report: dict[str, Any] | None = None
        self._conditions: dict[tuple[str, str], dict[str, Any]] = {}
        self._probe: KafkaProbe | None = None
        self.rounds = 0

    async def close(self) -> None:
        await self._close_probe()

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await self.collect()
            await asyncio.sleep(max(0.0, self.config.interval_s - (time.monotonic() - started)))

    async def collect(self) -> dict[str, Any]:
        kafka, scrapes = await asyncio.gather(self._read_kafka(), self._scrape_all())
        if kafka is not None:
            self._remember(kafka)
            await self._read_new_letters(kafka)
        for found in scrapes:
            history = self.scrapes.setdefault(found.service, deque())
            history.append(found)
            self._trim(history, lambda s: s.at, keep=1)
        self.report = self._build()
        after = alerts.conditions(self.report)
        for alert in alerts.changes(self._conditions, after, self.report["generated_at"]):
            self.sender.send(alert)
        self._conditions = after
        self.rounds += 1
        return self.report

    # --- reading --------------------------------------------------------------------------

    async def _read_kafka(self) -> KafkaSnapshot | None:
        try:
            if self._probe is None:
                probe = KafkaProbe(self.settings, groups=self.config.groups,
                                   topics=self.config.topics)
                await asyncio.wait_for(probe.__aenter__(), timeout=self.config.interval_s + 5)
                self._probe = probe
            snapshot = await asyncio.wait_for(self._probe.snapshot(),
                                              timeout=self.config.interval_s + 10)
        except Exception as err:  # noqa: BLE001 - Kafka away or failing: say so, keep going
            self.kafka_error = f"{type(err).__name__}: {err}"[:300]
            log.warning("kafka unreachable", error=self.kafka_error)
            await self._close_probe()  # fresh clients next round
            return None
        self.kafka_error = None
        self.kafka_seen = snapshot.at
        return snapshot

    async def _close_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            try:
                await asyncio.wait_for(probe.__aexit__(), timeout=5)
            except Exception as err:  # noqa: BLE001 - closing a broken client: nothing to do
                log.debug("probe close failed", error=repr(err))

    async def _scrape_all(self) -> list[Scrape]:
        targets = self.config.targets or {}
        return list(await asyncio.gather(*(scrape(self.http, name, url)
                                           for name, url in sorted(targets.items()))))

    async def _read_new_letters(self, kafka: KafkaSnapshot) -> None:
        """The latest reasons of each dead-letter topic whose end moved (read only then)."""
        for topic in kafka.topics:
            if not topic.endswith(DLQ_SUFFIX):
                continue
            end = sum(e for tp, e in kafka.ends.items() if tp.topic == topic)
            known_end, _latest = self.letters.get(topic, (0, []))
            if end == known_end:
                continue
            try:
                found = await read_dead_letters(self.settings, topic.removesuffix(DLQ_SUFFIX),
                                                LATEST_LETTERS)
            except Exception as err:  # noqa: BLE001 - reasons are a bonus: figures go on
                log.warning("dead letters unreadable", dead_letter_topic=topic, error=repr(err))
                continue
            latest = [{"at": letter.failed_at, "service": letter.service, "stage": letter.stage,
                       "error_type": letter.error_type, "error": letter.error,
                       "source": f"{letter.original_topic}[{letter.original_partition}]@"
                                 f"{letter.original_offset}"}
                      for letter in found[-LATEST_LETTERS:]]
            self.letters[topic] = (end, latest)

    def _remember(self, kafka: KafkaSnapshot) -> None:
        self.kafka = kafka
        for group in kafka.groups.values():
            for tp, committed in group.committed.items():
                if tp not in kafka.ends:
                    continue
                history = self.samples.setdefault((group.group, tp), deque())
                history.append(Sample(kafka.at, committed, kafka.ends[tp]))
                self._trim(history, lambda s: s.at, keep=2)
                if self.first_seen.get((group.group, tp), (None,))[0] != committed:
                    self.first_seen[(group.group, tp)] = (committed, kafka.at)
            lag = sum(max(0, kafka.ends[tp] - offset)
                      for tp, offset in group.committed.items() if tp in kafka.ends)
            lags = self.lag_history.setdefault(group.group, deque())
            lags.append((round(kafka.at, 1), lag))
            while lags and lags[0][0] < kafka.at - self.config.history_s:
                lags.popleft()
        for topic in kafka.topics:
            history = self.ends_history.setdefault(topic, deque())
            history.append((kafka.at, sum(e for tp, e in kafka.ends.items() if tp.topic == topic)))
            self._trim(history, lambda point: point[0], keep=2)
        present = {(g.group, tp) for g in kafka.groups.values() for tp in g.committed}
        for key in [k for k in self.samples  # partitions a group no longer has offsets for
                    if k[0] in kafka.groups and k not in present]:
            del self.samples[key]
            self.first_seen.pop(key, None)

    def _trim(self, history: deque, at: Callable[[Any], float], keep: int) -> None:
        """Drop what is older than the window, keeping at least `keep` entries."""
        horizon = self.clock() - self.config.window_s - self.config.interval_s
        while len(history) > keep and at(history[0]) < horizon:
            history.popleft()

    # --- judging and reporting ------------------------------------------------------------

    def _build(self) -> dict[str, Any]:
        now = self.clock()
        groups = self._groups()
        topics, dead_letters = self._topics(now)
        kafka = self._kafka_part()
        services = [self._service(name, history, now)
                    for name, history in sorted(self.scrapes.items())]
        stuck = stuck_records(groups, {name: history[-1]
                                       for name, history in self.scrapes.items() if history})
        for entry in stuck:
            entry["since"] = _iso(entry["since"]) if entry["since"] else None
        overall = status.worst([Status(g["status"]) for g in groups]
                               + [Status(kafka["status"])]
                               + [Status(s["status"]) for s in services]
                               + [Status(d["status"]) for d in dead_letters]
                               + [Status(e["status"]) for e in stuck])
        return {"status": overall.value, "generated_at": _iso(now),
                "window_s": self.config.window_s, "interval_s": self.config.interval_s,
                "kafka": kafka, "groups": groups, "stuck": stuck, "topics": topics,
                "dead_letters": dead_letters, "services": services}

    def _kafka_part(self) -> dict[str, Any]:
        kafka = self.kafka
        cluster = kafka.cluster if kafka is not None else None
        if self.kafka_error is not None or cluster is None:
            state = Status.DOWN
        elif cluster.offline:
            state = Status.DOWN
        elif cluster.under_replicated:
            state = Status.WARN
        else:
            state = Status.OK
        return {
            "status": state.value, "reachable": self.kafka_error is None and kafka is not None,
            "error": self.kafka_error, "bootstrap": self.settings.kafka_bootstrap_servers,
            "last_seen": _iso(self.kafka_seen) if self.kafka_seen else None,
            "brokers": cluster.brokers if cluster else [],
            "controller": cluster.controller if cluster else None,
            "voters": cluster.voters if cluster else [],
            "partitions": cluster.partitions if cluster else 0,
            "under_replicated": cluster.under_replicated if cluster else [],
            "offline": cluster.offline if cluster else [],
        }

    def _groups(self) -> list[dict[str, Any]]:
        """Judged as of the latest snapshot: while Kafka is away, the groups keep the status
        they had when it was last seen (the report says Kafka is DOWN), rather than all
        turning STOP for want of news."""
        kafka = self.kafka
        if kafka is None:
            return []
        found = []
        for name, group in sorted(kafka.groups.items()):
            partitions = []
            for tp in sorted(group.committed, key=lambda tp: (tp.topic, tp.partition)):
                history = self.samples.get((name, tp))
                if not history:
                    continue
                latest = history[-1]
                verdict = status.evaluate(
                    list(history), now=kafka.at, window_s=self.config.window_s,
                    members=group.members, unmoved_since=self.first_seen[(name, tp)][1])
                appended = kafka.waiting_since.get((tp, latest.committed))
                waiting = (max(0.0, kafka.at - appended)
                           if latest.lag and appended is not None else 0.0 if not latest.lag
                           else None)
                partitions.append({
                    "topic": tp.topic, "partition": tp.partition, "committed": latest.committed,
                    "end": latest.end, "lag": latest.lag, "lag_seconds": _round(waiting),
                    "status": verdict.status.value, "reason": verdict.reason})
            if not partitions:  # joined, nothing committed yet: nothing waits for it either
                found.append({
                    "group": name, "state": group.state, "members": group.members,
                    "status": Status.OK.value, "reason": "nothing committed yet", "lag": 0,
                    "lag_seconds": None, "topics": [], "partitions": [], "history": []})
                continue
            worst_partition = max(partitions, key=lambda p: Status(p["status"]).severity)
            lag = sum(p["lag"] for p in partitions)
            lag_seconds = [p["lag_seconds"] for p in partitions if p["lag_seconds"] is not None]
            found.append({
                "group": name, "state": group.state, "members": group.members,
                "status": worst_partition["status"], "reason": worst_partition["reason"],
                "lag": lag, "lag_seconds": max(lag_seconds, default=None),
                "topics": sorted({p["topic"] for p in partitions}),
                "partitions": partitions,
                "history": [list(point) for point in self.lag_history.get(name, ())]})
        return found

    def _topics(self, now: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        kafka = self.kafka
        if kafka is None:
            return [], []
        topics, dead_letters = [], []
        for name in kafka.topics:
            history = self.ends_history.get(name, deque())
            inside = [p for p in history if p[0] >= now - self.config.window_s - 1e-6]
            rate = status.rate(inside if len(inside) >= 2 else list(history)[-2:])
            parts = [tp for tp in kafka.ends if tp.topic == name]
            end = sum(kafka.ends[tp] for tp in parts)
            if name.endswith(DLQ_SUFFIX):
                depth = end - sum(kafka.starts.get(tp, 0) for tp in parts)
                grew = bool(inside) and inside[-1][1] > inside[0][1]
                dead_letters.append({
                    "topic": name, "source": name.removesuffix(DLQ_SUFFIX), "depth": depth,
                    "end": end,
                    "rate": _round(rate), "status": (Status.WARN if grew else Status.OK).value,
                    "latest": self.letters.get(name, (0, []))[1] if depth else []})
            else:
                topics.append({"topic": name, "partitions": len(parts), "end": end,
                               "records_per_s": _round(rate)})
        return topics, dead_letters

    def _service(self, name: str, history: deque[Scrape], now: float) -> dict[str, Any]:
        latest = history[-1]
        seen = [s for s in history if s.up]
        body: dict[str, Any] = {
            "service": name, "url": latest.url, "up": latest.up, "error": latest.error,
            "status": (Status.OK if latest.up else Status.DOWN).value,
            "last_seen": _iso(seen[-1].at) if seen else None}
        newest = seen[-1] if seen else None
        oldest = seen[0] if len(seen) > 1 else None
        for kind, histogram in LATENCIES.items():
            buckets = window_buckets(oldest, newest, histogram) if newest else []
            count = max((c for b, c in buckets if b == float("inf")), default=0.0)
            body[f"{kind}_latency_ms"] = {
                "count": int(count),
                "p50": _ms(status.histogram_quantile(0.5, buckets) if count else None),
                "p99": _ms(status.histogram_quantile(0.99, buckets) if count else None)}
        body["freshness"] = [
            {"state": topic, "newest_event_at": _iso(at), "age_s": _round(now - at, 1)}
            for topic, at in sorted((newest.newest if newest else {}).items())]
        return body


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
