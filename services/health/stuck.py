"""The records a service cannot get past, named for the operator. Pure.

Two views meet here. A service whose broker or registry fails a record keeps retrying it and
shows it on its /metrics (`services.bus.metrics.Metrics.blocked`), error included. And a group
that does not move while records wait for it (STALL with members, STOP without) waits on the
record at its committed offset, whatever the reason (a service down, or stopped on it). Each
entry says how to set that record aside (`vivres dlq set-aside`), so the partition goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.health.scrape import Scrape
from services.health.status import Status

WAITING = (Status.STALL, Status.STOP)


def set_aside_command(group: str, topic: str, partition: int, offset: int) -> str:
    return (f'vivres dlq set-aside {group} {topic} {partition} {offset} '
            f'--reason "…"')


def stuck_records(groups: Iterable[Mapping[str, Any]],
                  scrapes: Mapping[str, Scrape]) -> list[dict[str, Any]]:
    """One entry per (group, topic, partition) held up on a record, worst first."""
    found: dict[tuple[str, str, int], dict[str, Any]] = {}
    for group in groups:
        for part in group["partitions"]:
            if Status(part["status"]) in WAITING and part["lag"]:
                key = (group["group"], part["topic"], part["partition"])
                found[key] = _entry(*key, part["committed"], status=part["status"],
                                    reason=part["reason"])
    for service, latest in sorted(scrapes.items()):
        for blocked in latest.blocked if latest.up else ():
            key = (blocked.group, blocked.topic, blocked.partition)
            known = found.get(key)
            status = known["status"] if known else Status.STALL.value
            found[key] = _entry(*key, blocked.offset, status=status, service=service,
                                error=blocked.error, since=blocked.since,
                                reason=known["reason"] if known else None)
    return sorted(found.values(), key=lambda e: (-Status(e["status"]).severity, e["group"],
                                                 e["topic"], e["partition"]))


def _entry(group: str, topic: str, partition: int, offset: int, *, status: str,
           service: str | None = None, error: str | None = None, since: float | None = None,
           reason: str | None = None) -> dict[str, Any]:
    return {"group": group, "topic": topic, "partition": partition, "offset": offset,
            "status": status, "service": service, "error": error, "since": since,
            "reason": reason, "set_aside": set_aside_command(group, topic, partition, offset)}
