"""Server-Sent Events over a followed table: a resumable stream of its rows as they change.

Each event's id is a cursor: the next offset per partition of the table's topic the client has
seen. Reconnecting with `Last-Event-ID` sends what changed since, then follows. `render` turns
a row into the event's JSON data, or None to leave it out of this client's stream.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

KEEPALIVE_S = 15.0
CURSOR_PART = re.compile(r"([0-9]{1,9}):([0-9]{1,19})")  # ASCII digits: int() takes no "²"
Render = Callable[[Any], dict[str, Any] | None]


def parse_cursor(text: str | None) -> dict[int, int]:
    """'0:12,2:40' -> {0: 12, 2: 40}; anything unreadable counts as no cursor."""
    cursor: dict[int, int] = {}
    for part in (text or "").split(","):
        if (found := CURSOR_PART.fullmatch(part.strip())) is not None:
            cursor[int(found[1])] = int(found[2])
    return cursor


def format_cursor(cursor: dict[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(cursor.items()))


def stream(table: Any, last_event_id: str | None, event: str, render: Render
           ) -> StreamingResponse:
    """`event: <event>` for every row `render` keeps: first those changed since the cursor
    (all without one), then each change as it happens; a comment every KEEPALIVE_S."""
    changes = table.watch()  # before the snapshot: nothing falls between the two

    async def events() -> AsyncIterator[str]:
        cursor = parse_cursor(last_event_id)
        try:
            snapshot = sorted(table.positions.items(), key=lambda item: item[1])
            for key, (partition, offset) in snapshot:
                if offset >= cursor.get(partition, 0):
                    if (message := _message(table, key, cursor, event, render)) is not None:
                        yield message
            while True:
                try:
                    key = await asyncio.wait_for(changes.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": toujours là\n\n"
                    continue
                if (message := _message(table, key, cursor, event, render)) is not None:
                    yield message
        finally:
            table.unwatch(changes)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _message(table: Any, key: str, cursor: dict[int, int], event: str, render: Render
             ) -> str | None:
    row = table.get(key)
    partition, offset = table.positions.get(key, (0, -1))
    if offset < cursor.get(partition, 0):
        return None  # already sent (the snapshot and the watch overlap)
    cursor[partition] = offset + 1
    if row is None or (data := render(row)) is None:
        return None
    return (f"id: {format_cursor(cursor)}\nevent: {event}\n"
            f"data: {json.dumps(data, ensure_ascii=False)}\n\n")
