"""Every topic of the bus in one place: name, partitions, key, value schema, retention, dead letters.

Services declare which of these they read and write; provisioning creates them; the registry
subject of a topic's values is `<topic>-value` (TopicNameStrategy). Keys are UTF-8 strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from services.events import EVENT_TYPES, Event

DAY_MS = 24 * 3600 * 1000
FOREVER = -1


@dataclass(frozen=True)
class Topic:
    """One topic: its shape on the broker and the contract of its records."""

    name: str
    event: type[Event]
    key: str  # what the UTF-8 key is, e.g. "shop_id": records with one key keep their order
    partitions: int = 6
    cleanup: Literal["delete", "compact"] = "delete"
    retention_ms: int = FOREVER
    doc: str = ""
    dead_letter_partitions: int = 1
    dead_letter_retention_ms: int = 30 * DAY_MS
    extra_config: dict[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"{self.name}-value"

    @property
    def dead_letter(self) -> str:
        return f"{self.name}.dlq"

    @property
    def schema_name(self) -> str:
        return self.event.schema_name

    def config(self) -> dict[str, str]:
        """The topic-level configuration provisioning sets and checks for drift."""
        return {
            "cleanup.policy": self.cleanup,
            "retention.ms": str(self.retention_ms),
            **self.extra_config,
        }

    def dead_letter_config(self) -> dict[str, str]:
        return {"cleanup.policy": "delete", "retention.ms": str(self.dead_letter_retention_ms)}


SALES = Topic(
    name="sales.tickets",
    event=EVENT_TYPES["org.vivres.sales.SaleRecorded"],
    key="shop_id",
    doc="Every till ticket. Kept forever: replaying it rebuilds every derived state.",
)
REFUNDS = Topic(
    name="sales.refunds",
    event=EVENT_TYPES["org.vivres.sales.SaleRefunded"],
    key="shop_id",
    doc="Refund tickets, each pointing at the ticket it corrects. Kept forever.",
)

TOPICS: tuple[Topic, ...] = (SALES, REFUNDS)


def by_name(name: str) -> Topic:
    for topic in TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(f"no topic named {name!r} in the catalog")
