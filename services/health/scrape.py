"""Reading a service's /metrics: its latency histograms and the freshness of what it applied."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

# The histograms every consuming service keeps (services.bus.metrics), per input topic.
LATENCIES = {"event": "vivres_event_age_seconds", "bus": "vivres_bus_latency_seconds"}
NEWEST = "vivres_state_newest_event_timestamp_seconds"
BLOCKED = "vivres_consumer_blocked_since_timestamp_seconds"  # services.bus.metrics.blocked


@dataclass(frozen=True)
class Blocked:
    """A record a service cannot get past while the broker or registry fails it."""

    group: str
    topic: str
    partition: int
    offset: int
    error: str
    since: float


@dataclass(frozen=True)
class Scrape:
    """One read of a service's metrics; `up` False (with the error) when it did not answer."""

    service: str
    url: str
    at: float
    up: bool
    error: str | None = None
    # histogram name -> cumulative buckets {upper bound: count}, summed over the service's topics
    buckets: dict[str, dict[float, float]] = field(default_factory=dict)
    newest: dict[str, float] = field(default_factory=dict)  # topic -> newest event time applied
    blocked: tuple[Blocked, ...] = ()


def parse(service: str, url: str, at: float, text: str) -> Scrape:
    wanted = {f"{name}_bucket" for name in LATENCIES.values()}
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    newest: dict[str, float] = {}
    blocked: list[Blocked] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                histogram = sample.name.removesuffix("_bucket")
                buckets[histogram][float(sample.labels["le"])] += sample.value
            elif sample.name == NEWEST:
                newest[sample.labels.get("topic", "")] = sample.value
            elif sample.name == BLOCKED:
                labels = sample.labels
                blocked.append(Blocked(labels["group"], labels["topic"],
                                       int(labels["partition"]), int(labels["offset"]),
                                       labels["error"], sample.value))
    return Scrape(service, url, at, True,
                  buckets={name: dict(counts) for name, counts in buckets.items()},
                  newest=newest, blocked=tuple(blocked))


async def scrape(http: httpx.AsyncClient, service: str, url: str) -> Scrape:
    at = time.time()
    try:
        response = await http.get(url, timeout=3.0)
        response.raise_for_status()
    except httpx.HTTPError as err:
        return Scrape(service, url, at, False, error=f"{type(err).__name__}: {err}"[:300])
    return parse(service, url, at, response.text)


def window_buckets(old: Scrape | None, new: Scrape, histogram: str) -> list[tuple[float, float]]:
    """The histogram's buckets counting only what was observed between two scrapes (all of it
    when there is no earlier scrape or the service restarted and its counters fell)."""
    now = new.buckets.get(histogram, {})
    before = old.buckets.get(histogram, {}) if old is not None and old.up else {}
    if any(count < before.get(bound, 0.0) for bound, count in now.items()):
        before = {}  # counters reset: the service restarted
    return [(bound, count - before.get(bound, 0.0)) for bound, count in now.items()]
