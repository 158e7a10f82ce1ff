"""A service held up on a record, end to end: its /metrics name the record (health reads them
and says how to set it aside), an operator sets it aside with `vivres dlq set-aside` once the
service is stopped, and the service, started again, goes on after it. Refusals change nothing."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from click.testing import CliRunner

from services.bus.catalog import Topic
from services.bus.deadletter import SetAsideRefused, read_dead_letters, set_aside
from services.bus.platform import Platform
from services.bus.provision import provision
from services.bus.runtime import Received, Route
from services.cli.main import main as vivres
from services.events.sales import SaleRecorded
from services.health.scrape import scrape
from services.health.stuck import stuck_records
from tests.support import committed_offset, eventually, sale

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(admin, registry, unique_name):
    topic = Topic(name=unique_name("aside"), event=SaleRecorded, key="shop_id", partitions=1)
    await provision(admin, registry, [topic])
    yield topic
    await admin.delete_topics([topic.name, topic.dead_letter])


async def test_a_blocked_record_is_named_set_aside_and_the_service_goes_on(
    settings, admin, topic, unique_name
) -> None:
    handled: list[int] = []

    async def handler(received: Received) -> None:
        if received.event.ticket_number == 2:  # e.g. an output the broker always fails
            raise KafkaConnectionError("the broker refuses what this record writes")
        handled.append(received.event.ticket_number)

    group = unique_name("aside-grp")
    async with Platform("aside-test", settings, handle_signals=False) as platform:
        await platform.publisher.publish_many(topic, [sale(number=n) for n in (1, 2, 3)])
        async with platform.consumer(group, [Route(topic, handler)]) as consumer:
            task = asyncio.create_task(consumer.run())
            async with httpx.AsyncClient() as http:
                async def named() -> list[dict]:
                    seen = await scrape(http, "aside-test", platform.metrics_server.url)
                    return stuck_records([], {"aside-test": seen})
                [entry] = await eventually(named, what="the blocked record named")
            assert (entry["group"], entry["topic"], entry["partition"], entry["offset"]) == (
                group, topic.name, 0, 1)
            assert "refuses what this record writes" in entry["error"]
            assert entry["set_aside"].startswith(f"vivres dlq set-aside {group} {topic.name} 0 1")

            with pytest.raises(SetAsideRefused) as live:  # Kafka lets no one commit for it
                await set_aside(settings, group, topic.name, 0, 1, "test", "ops")
            assert live.value.key == "dlq.group_active"
            consumer.stop()
            await asyncio.wait_for(task, timeout=30)
    assert handled == [1]

    with pytest.raises(SetAsideRefused) as elsewhere:
        await set_aside(settings, group, topic.name, 0, 2, "test", "ops")
    assert elsewhere.value.key == "dlq.not_at_head"
    refused = await asyncio.to_thread(CliRunner().invoke, vivres, [
        "dlq", "set-aside", group, topic.name, "0", "2", "--reason", "x"])
    assert refused.exit_code == 1 and "n'attend pas l'offset 2" in refused.output
    assert await read_dead_letters(settings, topic.name) == []  # refusals changed nothing

    result = await asyncio.to_thread(CliRunner().invoke, vivres, [
        "dlq", "set-aside", group, topic.name, "0", "1", "--reason", "sortie refusée",
        "--by", "camille"])
    assert result.exit_code == 0, result.output
    assert "mis de côté dans" in result.output and "reprendra à l'offset 2" in result.output
    [letter] = await read_dead_letters(settings, topic.name)
    assert (letter.stage, letter.original_offset, letter.service) == (
        "operator", 1, "operator:camille")
    assert "sortie refusée (par camille)" in letter.error
    assert await committed_offset(settings, group, topic.name) == 2

    async with Platform("aside-test", settings, handle_signals=False) as platform:
        async with platform.consumer(group, [Route(topic, handler)]) as consumer:
            task = asyncio.create_task(consumer.run())
            await eventually(lambda: handled == [1, 3], what="the service going on after it")
            consumer.stop()
            await task
