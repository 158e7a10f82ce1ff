"""Leave a shared stack as the suite found it: the consumer groups and topics a test session
made are deleted when it ends, so a developer's stack (and its operators' page) does not fill
with `ops-page-…` groups and `sales-3f2a…` topics.

One mechanism for every test rather than a `finally` in each: what existed when the session
started is kept, and so are the catalog's topics and Kafka's own (`__consumer_offsets`…), which
running services need whoever created them, and the services' own groups and the topics they
own (access.py: `vivres-orders`, the demand app's changelogs): deleted, the next session's
services would read every topic from its start again, each test's commands behind every
earlier session's (the hub page then waited a minute for its orders). A group with members (a
service still running) is left by the broker itself. Two test sessions on one stack at once are
not supported: the first to end would delete the other's topics.
"""

from __future__ import annotations

import structlog

from services.bus.access import PRINCIPALS
from services.bus.admin import admin_client, delete_groups
from services.bus.catalog import TOPICS
from services.bus.settings import BusSettings

log = structlog.get_logger()
KEPT = {name for topic in TOPICS for name in (topic.name, topic.dead_letter)}
KEPT_GROUPS = {group for principal in PRINCIPALS for group in principal.groups}
KEPT_PREFIXES = tuple(prefix for principal in PRINCIPALS for prefix in principal.topic_prefixes)
BATCH = 100  # topics per delete request


class StackAsFound:
    """`await begin()` when the session starts, `await end()` when it ends."""

    def __init__(self, settings: BusSettings) -> None:
        self.settings = settings
        self.groups: set[str] = set()
        self.topics: set[str] = set()

    async def begin(self) -> None:
        self.groups, self.topics = await self._now()

    async def end(self) -> tuple[list[str], list[str]]:
        """Delete what the session made; which groups and topics those were."""
        groups, topics = await self._now()
        made_groups = sorted(groups - self.groups - KEPT_GROUPS)
        made_topics = sorted(t for t in topics - self.topics if t not in KEPT
                             and not t.startswith(("_", *KEPT_PREFIXES)))
        stayed = await delete_groups(self.settings, made_groups)
        if stayed:
            log.warning("test groups left on the stack", groups=stayed)
        async with admin_client(self.settings) as admin:
            for start in range(0, len(made_topics), BATCH):
                await admin.delete_topics(made_topics[start:start + BATCH])
        log.info("test stack cleaned", groups=len(made_groups), topics=len(made_topics))
        return made_groups, made_topics

    async def _now(self) -> tuple[set[str], set[str]]:
        async with admin_client(self.settings) as admin:
            groups = {group for group, *_ in await admin.list_consumer_groups()}
            return groups, set(await admin.list_topics())
