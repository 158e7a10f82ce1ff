"""Which tickets an output partition already holds, within the upload window. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta


class SeenTickets:
    """Event ids written to one partition, forgotten once older than the window (by event time).

    The gateway refuses tickets older than the same window, so nothing forgotten can come back.
    """

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._seen: dict[str, datetime] = {}

    def add(self, event_id: str, occurred_at: datetime) -> None:
        self._seen[event_id] = occurred_at

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def prune(self, now: datetime) -> int:
        """Forget ids older than the window; returns how many were forgotten."""
        horizon = now - self.window
        old = [event_id for event_id, at in self._seen.items() if at < horizon]
        for event_id in old:
            del self._seen[event_id]
        return len(old)
