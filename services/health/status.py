"""How healthy a consumer is, judged on a sliding window of samples after Burrow's rules. Pure.

Each sample of a partition is what the health service saw at one moment: the group's committed
offset and the partition's end offset (lag = end - committed). Over the window:

1. REWIND  the committed offset went backwards while records wait (checked first, as in Burrow
           since #716: a rewind after a zero lag is still a rewind);
2. OK      the lag was zero at some sample: the consumer caught up within the window;
3. STOP    the committed offset has not moved for the whole window and no member of the group is
           left to move it (Burrow reads commit times from __consumer_offsets; the admin API does
           not give them, so "nobody is committing" is "the group has no member");
4. STALL   the same, but members are there: they hold the partition and do not advance;
5. WARN    the offset moves, but the lag never fell between two samples and grew overall;
6. OK      otherwise: behind, and catching up.

A group's status is its worst partition's. Severity runs OK < WARN < STALL < STOP < REWIND, the
issue's order; DOWN (a part the health service cannot reach) is worse than any of them.
"""

from __future__ import annotations

import itertools

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    STALL = "STALL"
    STOP = "STOP"
    REWIND = "REWIND"
    DOWN = "DOWN"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {status: rank for rank, status in enumerate(Status)}


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe of the statuses; OK when there are none."""
    return max(statuses, key=lambda s: s.severity, default=Status.OK)


@dataclass(frozen=True)
class Sample:
    """One observation of a group's position on one partition."""

    at: float  # seconds (epoch)
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str  # English, for logs and the JSON; pages translate the status, not this


def evaluate(samples: Sequence[Sample], *, now: float, window_s: float, members: int,
             unmoved_since: float | None = None) -> Verdict:
    """The status of one partition from its samples (oldest first) and the group's members;
    `unmoved_since`, when the caller remembers further back than the samples, is when the
    newest committed offset was first seen."""
    if not samples:
        return Verdict(Status.OK, "no committed offset yet")
    inside = [s for s in samples if s.at >= now - window_s] or [samples[-1]]
    latest = inside[-1]
    if latest.lag > 0 and any(b.committed < a.committed for a, b in itertools.pairwise(inside)):
        return Verdict(Status.REWIND, "the committed offset went backwards")
    if any(s.lag == 0 for s in inside):
        return Verdict(Status.OK, "caught up within the window")
    since = _unmoved_since(samples)
    still = now - (since if unmoved_since is None else min(since, unmoved_since))
    if still >= window_s:
        if members == 0:
            return Verdict(Status.STOP, f"no consumer: offset unmoved for {still:.0f}s")
        return Verdict(Status.STALL, f"{members} member(s), offset unmoved for {still:.0f}s")
    lags = [s.lag for s in inside]
    if (len(inside) >= 3 and inside[-1].committed > inside[0].committed
            and all(b >= a for a, b in itertools.pairwise(lags)) and lags[-1] > lags[0]):
        return Verdict(Status.WARN, "consuming, but the lag keeps growing")
    return Verdict(Status.OK, "behind, catching up")


def _unmoved_since(samples: Sequence[Sample]) -> float:
    """The first sample showing the newest committed offset: it has not moved since at least
    then (the history may not reach back to when it was committed)."""
    current, since = samples[-1].committed, samples[-1].at
    for sample in reversed(samples[:-1]):
        if sample.committed != current:
            break
        since = sample.at
    return since


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile of a Prometheus histogram from its cumulative (upper bound, count) buckets,
    interpolated linearly within the bucket, as Prometheus' histogram_quantile() does; None when
    the histogram holds no observation."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            if count == lower_count:
                return bound
            share = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return ordered[-1][0]


def rate(points: Sequence[tuple[float, float]]) -> float | None:
    """Per second growth of a counter between the first and last (time, value) points."""
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return None
    return max(0.0, points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])
