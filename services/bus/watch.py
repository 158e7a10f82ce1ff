"""Which keys of a table changed, for one watcher that may read them slowly, in bounded memory.

A watcher of a table only needs to know *which* keys changed: it reads the row from the table
when it gets to it, so a key changed twice while it was busy is pending once, and read once with
its newest row. At most `bound` distinct keys are kept; one more and the watcher has fallen
behind: the pending keys are dropped and its next read raises `FellBehind`, which says "read the
table afresh" (what a resync costs is the watcher's to choose; holding every change is never
the answer). A watcher's memory is therefore at most `bound` keys, whatever the rate of changes
and however slow its reader.
"""

from __future__ import annotations

import asyncio

PENDING_BOUND = 1024  # distinct keys: about 100 kB of short strings per watcher at most
# An in-process follower (the planner, the demand stage) keeps up but in bursts, and falling
# behind costs it a pass over the whole table: it keeps more keys, still a bound.
FOLLOWER_BOUND = 100_000


class FellBehind(Exception):  # noqa: N818 (a state, not an error: the watcher resyncs)
    """More than `bound` distinct keys changed before the watcher read them: they are gone;
    read the table afresh. The watcher collects changes again from this point on."""


class ChangedKeys:
    """The keys changed since they were last read, oldest change first, each once."""

    def __init__(self, bound: int = PENDING_BOUND) -> None:
        if bound < 1:
            raise ValueError("a watcher's bound is at least one key")
        self.bound = bound
        self.fell_behind = 0  # how many times: for metrics and tests
        self._pending: dict[str, None] = {}  # an ordered set: the order of their last change
        self._behind = False
        self._ready = asyncio.Event()

    def add(self, key: str) -> None:
        """Note that `key`'s row changed (never blocks, never grows past the bound)."""
        if self._behind:
            return
        # To the end: the order of last changes is each partition's offset order, which a
        # cursor of offsets (the SSE streams') relies on.
        self._pending.pop(key, None)
        self._pending[key] = None
        if len(self._pending) > self.bound:
            self._pending.clear()
            self._behind = True
            self.fell_behind += 1
        self._ready.set()

    def get_nowait(self) -> str | None:
        """The key changed longest ago, or None when none is pending; `FellBehind` once after
        falling behind."""
        if self._behind:
            self._behind = False
            self._ready.clear()
            raise FellBehind(f"more than {self.bound} keys changed before they were read")
        if not self._pending:
            self._ready.clear()
            return None
        key = next(iter(self._pending))
        del self._pending[key]
        return key

    async def get(self) -> str:
        """Wait for a changed key (or `FellBehind`)."""
        while (key := self.get_nowait()) is None:
            await self._ready.wait()
        return key

    @property
    def behind(self) -> bool:
        """Fallen behind, and not told yet (it holds no key until then)."""
        return self._behind

    def __len__(self) -> int:
        return len(self._pending)
