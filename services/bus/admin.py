"""Small questions to the cluster that several parts of the platform ask."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.bus.settings import BusSettings


async def brokers_of(settings: BusSettings) -> int:
    """How many brokers the cluster has."""
    admin = AIOKafkaAdminClient(**settings.kafka_options())
    await admin.start()
    try:
        return len((await admin.describe_cluster())["brokers"])
    finally:
        await admin.close()


async def partitions_of(settings: BusSettings, topic: str) -> list[TopicPartition]:
    """Every partition of a topic (LookupError when the topic does not exist)."""
    admin = AIOKafkaAdminClient(**settings.kafka_options())
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] != 0 or not described["partitions"]:
        raise LookupError(f"topic {topic} does not exist")
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


async def group_members(settings: BusSettings, group: str) -> int:
    """How many members the consumer group has now (0 for an empty or unknown group)."""
    admin = AIOKafkaAdminClient(**settings.kafka_options())
    await admin.start()
    try:
        # One group per request: aiokafka 0.14 cannot decode an answer about several.
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    return sum(len(g["members"]) for g in response.to_object()["groups"]
               if g["group"] == group)
