"""Per-partition state of a consumer that owns its partitions: the runtime loads it when a
partition is assigned, saves it before each commit and forgets it on revocation, so a service
only says how a partition's state is read back and written out (`Consumer(owned=...)`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

S = TypeVar("S")


class PartitionStates(Generic[S]):
    """The state of each owned partition, loaded once even when the assignment and a record
    ask for it at the same time; `save` (when given) writes a partition's state before its
    offsets are committed, so the next owner's load starts from what was committed."""

    def __init__(self, load: Callable[[int], Awaitable[S]], *,
                 save: Callable[[int, S], Awaitable[None]] | None = None) -> None:
        self._load = load
        self._save = save
        self._states: dict[int, S] = {}
        self._loading: dict[int, asyncio.Future[S]] = {}

    async def get(self, partition: int) -> S:
        if partition not in self._states:
            if partition not in self._loading:
                self._loading[partition] = asyncio.ensure_future(self._load(partition))
            try:
                loaded = await self._loading[partition]
            finally:
                self._loading.pop(partition, None)
            self._states.setdefault(partition, loaded)
        return self._states[partition]

    def loaded(self, partition: int) -> S | None:
        return self._states.get(partition)

    def states(self) -> list[S]:
        """The states loaded now."""
        return list(self._states.values())

    async def own(self, partitions: Iterable[int]) -> None:
        """Load newly assigned partitions, all at once: a long assignment costs the group its
        member (each load is a few round trips, TLS ones on a secured cluster)."""
        await asyncio.gather(*(self.get(p) for p in set(partitions)))

    async def save(self, partitions: Iterable[int]) -> bool:
        """Write the loaded states of these partitions; False when there is nothing to save."""
        if self._save is None:
            return False
        for partition in sorted(set(partitions)):
            state = self._states.get(partition)
            if state is not None:
                await self._save(partition, state)
        return True

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop partitions that may move: their state is loaded again if they come back."""
        for partition in partitions:
            self._states.pop(partition, None)
