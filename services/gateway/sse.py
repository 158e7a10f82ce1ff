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

from services.bus.watch import PENDING_BOUND, ChangedKeys, FellBehind

KEEPALIVE_S = 15.0
CURSOR_PART = re.compile(r"([0-9]{1,9}):([0-9]{1,19})")  # ASCII digits: int() takes no "²"
Render = Callable[[Any], dict[str, Any] | None]


def documented(event: str, data: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a stream route: what its events are (OpenAPI has no term for them)."""
    return {200: {"description": (
        f"Server-Sent Events. Each `event: {event}` carries {data} as JSON in `data:`; its "
        "`id:` is a cursor (the next offset per partition, `0:12,2:40`): reconnect with it "
        "in `Last-Event-ID` to get what changed since. A comment every "
        f"{KEEPALIVE_S:.0f} s keeps the connection open. A client too slow to read is sent "
        "the newest row of each key again rather than every change."),
        "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


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
    (all without one), then each change as it happens; a comment every KEEPALIVE_S.

    A slow client holds at most PENDING_BOUND changed keys here (a key changed twice while it
    was slow is sent once, with its newest row). Past that it has fallen behind and is sent a
    fresh snapshot from its cursor, just as if it had reconnected with Last-Event-ID: no
    client change, no reconnection and no new token check, and the pages already keep the
    newest row per key. Dropping it instead would only bring it back for that same snapshot.
    """
    changes = table.watch(PENDING_BOUND)  # before the snapshot: nothing falls between the two

    async def events() -> AsyncIterator[str]:
        cursor = parse_cursor(last_event_id)
        try:
            while True:  # once, then again each time the client falls behind
                for key, position in _changed_since(table, cursor):
                    # A row changed since the snapshot was taken is left to `changes`: sent
                    # now, its newer offset would pass the cursor over the rows still to send.
                    if table.positions.get(key) == position and (
                            message := _message(table, key, cursor, event, render)) is not None:
                        yield message
                try:
                    while True:
                        if (key := await _next_change(changes)) is None:
                            yield ": toujours là\n\n"
                        elif (message := _message(table, key, cursor, event, render)):
                            yield message
                except FellBehind:
                    continue  # a fresh snapshot from the cursor
        finally:
            table.unwatch(changes)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _changed_since(table: Any, cursor: dict[int, int]) -> list[tuple[str, tuple[int, int]]]:
    """The keys whose row is at or past the cursor, in offset order (one per row at most)."""
    return sorted(((key, (partition, offset)) for key, (partition, offset)
                   in table.positions.items() if offset >= cursor.get(partition, 0)),
                  key=lambda item: item[1])


async def _next_change(changes: ChangedKeys) -> str | None:
    """The next changed key, None after KEEPALIVE_S of silence (`FellBehind` when the client
    could not keep up)."""
    try:
        return await asyncio.wait_for(changes.get(), KEEPALIVE_S)
    except TimeoutError:
        return None


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
