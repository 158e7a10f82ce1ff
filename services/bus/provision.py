"""Idempotent provisioning from the topic catalog: create what is missing, report what drifted.

Drift (a partition count or a topic setting that differs from the catalog) is reported, never
"fixed" silently: shrinking partitions is impossible and changing retention can lose data, so an
operator decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from services.bus.catalog import TOPICS, Topic
from services.bus.registry import SchemaRegistry
from services.bus.schemas import schema
from services.bus.settings import BusSettings

TOPIC_METADATA_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TopicSpec:
    """What one broker topic should look like (a catalog topic or its dead-letter topic)."""

    name: str
    partitions: int
    config: dict[str, str]
    replication_factor: int = 1


@dataclass(frozen=True)
class Report:
    created: list[str]
    drift: list[str]
    subjects: dict[str, int]  # subject -> registry id of its current schema

    @property
    def ok(self) -> bool:
        return not self.drift


def specs(topics: Sequence[Topic], brokers: int = 1) -> list[TopicSpec]:
    """The topics and their dead-letter topics as the catalog wants them on `brokers` brokers."""
    out: list[TopicSpec] = []
    for topic in topics:
        factor = topic.replication(brokers)[0]
        out.append(TopicSpec(topic.name, topic.partitions, topic.config(brokers), factor))
        out.append(TopicSpec(topic.dead_letter, topic.dead_letter_partitions,
                             topic.dead_letter_config(brokers), factor))
    return out


async def provision(
    admin: AIOKafkaAdminClient,
    registry: SchemaRegistry,
    topics: Sequence[Topic],
) -> Report:
    """Create missing topics and dead-letter topics, set BACKWARD_TRANSITIVE, register schemas.
    Replication follows the catalog, within the number of brokers the cluster has."""
    brokers = len((await admin.describe_cluster())["brokers"])  # the admin client is at hand
    wanted = specs(topics, brokers)
    created = await create_missing(admin, wanted)
    drift = await _drift(admin, [spec for spec in wanted if spec.name not in created])

    await registry.set_compatibility("BACKWARD_TRANSITIVE")
    subjects: dict[str, int] = {}
    for topic in topics:
        await registry.set_compatibility("BACKWARD_TRANSITIVE", topic.subject)
        subjects[topic.subject] = await registry.register(topic.subject, schema(topic.schema_name))
    return Report(created=created, drift=drift, subjects=subjects)


async def create_missing(admin: AIOKafkaAdminClient, wanted: Sequence[TopicSpec]) -> list[str]:
    """Create the `wanted` topics that do not exist, and wait until the metadata shows every
    one of them; the names of those created."""
    existing = set(await admin.list_topics())
    missing = [spec for spec in wanted if spec.name not in existing]
    created: list[str] = []
    if missing:
        response = await admin.create_topics([
            NewTopic(spec.name, spec.partitions, spec.replication_factor,
                     topic_configs=spec.config)
            for spec in missing
        ])
        for name, code, message in _topic_errors(response):
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:  # lost a race with another provisioner
                raise RuntimeError(f"could not create topic {name}: error {code} {message}")
    await wait_for_topics(admin, wanted)
    return created


def _topic_errors(response) -> list[tuple[str, int, str | None]]:
    return [(entry[0], entry[1], entry[2] if len(entry) > 2 else None)
            for entry in response.topic_errors]


async def wait_for_topics(admin: AIOKafkaAdminClient, wanted: Sequence[TopicSpec]) -> None:
    """Wait until the metadata shows every partition of every wanted topic."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TOPIC_METADATA_TIMEOUT_S
    names = [spec.name for spec in wanted]
    while True:
        described = {t["topic"]: t for t in await admin.describe_topics(names)}
        if all(described.get(name, {}).get("error_code") == 0
               and described[name]["partitions"] for name in names):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"topics not visible after {TOPIC_METADATA_TIMEOUT_S:.0f}s: {names}")
        await asyncio.sleep(0.2)


async def _drift(admin: AIOKafkaAdminClient, existing: Sequence[TopicSpec]) -> list[str]:
    if not existing:
        return []
    drift: list[str] = []
    described = {t["topic"]: t for t in await admin.describe_topics([s.name for s in existing])}
    for spec in existing:
        partitions = described[spec.name]["partitions"]
        if len(partitions) != spec.partitions:
            drift.append(f"{spec.name}: {len(partitions)} partitions, "
                         f"catalog says {spec.partitions}")
        replicas = min(len(p["replicas"]) for p in partitions)
        if replicas != spec.replication_factor:
            drift.append(f"{spec.name}: {replicas} replicas, catalog says "
                         f"{spec.replication_factor} on this cluster")
    responses = await admin.describe_configs([
        ConfigResource(ConfigResourceType.TOPIC, spec.name) for spec in existing
    ])
    actual_configs = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in responses for resource in response.resources
    }
    for spec in existing:
        actual = actual_configs.get(spec.name, {})
        for key, value in spec.config.items():
            if actual.get(key) != value:
                drift.append(f"{spec.name}: {key}={actual.get(key)}, catalog says {value}")
    return drift


async def provision_catalog(settings: BusSettings, topics: Sequence[Topic] = TOPICS) -> Report:
    """Provision the whole catalog on the servers the settings name."""
    admin = AIOKafkaAdminClient(**settings.kafka_options(),
                                client_id="vivres-provision")
    await admin.start()
    try:
        async with SchemaRegistry(settings.schema_registry_url) as registry:
            return await provision(admin, registry, topics)
    finally:
        await admin.close()
