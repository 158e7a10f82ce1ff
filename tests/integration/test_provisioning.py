"""Provisioning from the catalog creates what is missing, is idempotent, and reports drift."""

from __future__ import annotations

import pytest
from aiokafka.admin import NewPartitions

from services.bus.catalog import Topic
from services.bus.provision import provision
from services.events.sales import SaleRecorded, SaleRefunded

pytestmark = pytest.mark.integration


async def test_provision_creates_then_changes_nothing_then_reports_drift(
    admin, registry, unique_name
) -> None:
    tickets = Topic(name=unique_name("prov"), event=SaleRecorded, key="shop_id", partitions=3)
    refunds = Topic(name=unique_name("prov"), event=SaleRefunded, key="shop_id", partitions=2,
                    retention_ms=7 * 86_400_000)

    first = await provision(admin, registry, [tickets, refunds])
    assert sorted(first.created) == sorted(
        [tickets.name, tickets.dead_letter, refunds.name, refunds.dead_letter])
    assert first.drift == []
    assert await registry.compatibility(tickets.subject) == "BACKWARD_TRANSITIVE"

    second = await provision(admin, registry, [tickets, refunds])
    assert second.created == []
    assert second.drift == []
    assert second.subjects == first.subjects  # same schema, same id: nothing re-registered
    assert await registry.versions(tickets.subject) == [1]

    await admin.create_partitions({tickets.name: NewPartitions(total_count=5)})
    drifted = Topic(name=refunds.name, event=SaleRefunded, key="shop_id", partitions=2,
                    retention_ms=30 * 86_400_000)
    third = await provision(admin, registry, [tickets, drifted])
    assert third.created == []
    assert f"{tickets.name}: 5 partitions, catalog says 3" in third.drift
    assert f"{refunds.name}: retention.ms=604800000, catalog says 2592000000" in third.drift
