"""Integration tests talk to the real Kafka broker and schema registry (never a mock).

`make test` starts the local stack when it is not running; KAFKA_BOOTSTRAP_SERVERS and
SCHEMA_REGISTRY_URL point the suite at other servers. An unreachable stack fails the suite: it
is never skipped. Each test works on topics with unique names.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def settings() -> BusSettings:
    return BusSettings()


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: BusSettings) -> str:
    return settings.kafka_bootstrap_servers


@pytest.fixture(scope="session")
def registry_url(settings: BusSettings) -> str:
    return settings.schema_registry_url


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """unique_name("sales") -> "sales-3f2a9c1d": one per call, so tests never share topics."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
async def admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="vivres-tests")
    try:
        await asyncio.wait_for(client.start(), timeout=30)
    except Exception as err:  # noqa: BLE001 - say clearly what is missing, then fail
        pytest.fail(f"Kafka is not reachable at {kafka_bootstrap} ({err!r}): run `make up`")
    yield client
    await client.close()


@pytest.fixture
async def registry(registry_url: str) -> AsyncIterator[SchemaRegistry]:
    async with SchemaRegistry(registry_url) as client:
        yield client
