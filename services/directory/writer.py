"""Writing the directory: one path for the gateway's routes, the CSV import and the demo seed.
Each write is checked (services.directory.rules), published to its compacted topic, and put in
the directory as it stands, so the next request sees it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.auth.tokens import Principal
from services.bus.catalog import HUBS, PRODUCERS, SHOPS, TERRITORIES, Topic
from services.directory.rules import (
    HUB,
    PRODUCER,
    SHOP,
    TERRITORY,
    Directory,
    Kind,
    Refusal,
    authorise,
    closed,
    conflict,
    problems,
    same,
    unknown,
)
from services.events.base import Event

TOPICS: dict[str, Topic] = {TERRITORY.name: TERRITORIES, SHOP.name: SHOPS,
                            PRODUCER.name: PRODUCERS, HUB.name: HUBS}


class Refused(Exception):
    """One or more refusals of a write, all of one status (the first's)."""

    def __init__(self, refusals: list[Refusal]) -> None:
        super().__init__("; ".join(r.msg for r in refusals))
        self.refusals = refusals

    @property
    def status(self) -> int:
        return self.refusals[0].status


@dataclass
class Written:
    entry: Any  # the entry as it now stands
    changed: bool  # False: it already said so, nothing was published


class DirectoryWriter:
    def __init__(self, directory: Directory, publisher: Any,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.directory = directory
        self.publisher = publisher
        self.clock = clock

    async def create(self, who: Principal, kind: Kind, fields: dict[str, Any]) -> Written:
        """A new entry (the same again changes nothing; other values under its id: 409)."""
        entry = kind.event(**fields, **{kind.event.time_field: self.clock()})
        authorise(who, "create", kind, entry, self.directory)
        existing = self.directory.get(kind, fields[kind.id_field])
        if existing is not None:
            if same(existing, entry):
                return Written(existing, False)
            raise Refused([conflict(kind, entry, existing)])
        return await self._write(kind, entry)

    async def update(self, who: Principal, kind: Kind, entry_id: str,
                     changes: dict[str, Any]) -> Written:
        """The entry with `changes` (fields → new values) made."""
        existing = self._existing(kind, entry_id)
        if existing.closed_at is not None:
            raise Refused([closed(kind, entry_id)])
        entry = kind.event.model_validate(  # the changes checked as fields
            {**existing.model_dump(), **changes, kind.event.time_field: self.clock()})
        authorise(who, "update", kind, entry, self.directory, before=existing)
        if same(existing, entry):
            return Written(existing, False)
        return await self._write(kind, entry)

    async def close(self, who: Principal, kind: Kind, entry_id: str) -> Written:
        """The entry closed: it keeps its id and history; closing it again changes nothing."""
        existing = self._existing(kind, entry_id)
        authorise(who, "close", kind, existing, self.directory)
        if existing.closed_at is not None:
            return Written(existing, False)
        now = self.clock()
        return await self._publish(kind, existing.model_copy(
            update={"closed_at": now, kind.event.time_field: now}))

    def _existing(self, kind: Kind, entry_id: str) -> Any:
        existing = self.directory.get(kind, entry_id)
        if existing is None:
            raise Refused([unknown(kind, entry_id)])
        return existing

    async def _write(self, kind: Kind, entry: Event) -> Written:
        found = problems(kind, entry, self.directory)
        if found:
            raise Refused(found)
        return await self._publish(kind, entry)

    async def _publish(self, kind: Kind, entry: Event) -> Written:
        await self.publisher.publish(TOPICS[kind.name], entry)
        table = self.directory.table(kind)
        if hasattr(table, "put"):
            table.put(entry)
        else:
            table[getattr(entry, kind.id_field)] = entry  # type: ignore[index]
        return Written(entry, True)
