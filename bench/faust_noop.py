"""faust-streaming's own ceiling: a worker whose agent does nothing with the demand processor's
sources, run to their end. `bench.demand_replay` starts it as a subprocess:

    .venv/bin/python -m bench.faust_noop RECORDS

It consumes sales.tickets, sales.refunds and stock.alerts from the beginning in a group of its
own (the processor's settings: batches of events, uvloop) and prints `records <n> seconds <s>`
once it has taken RECORDS records (or nothing came for 3 s: faust drops a few records in its
first rebalance), timed from the first record to the last.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid

import faust
import uvloop

from bench.demand_replay import SOURCES
from services.bus.settings import BusSettings
from services.demand.processor import BATCH, BATCH_S


def main() -> None:
    wanted = int(sys.argv[1])
    settings = BusSettings()
    app = faust.App(f"bench-faust-noop-{uuid.uuid4().hex[:6]}",
                    broker=f"kafka://{settings.kafka_bootstrap_servers}", store="memory://",
                    datadir=tempfile.mkdtemp(), topic_partitions=6, web_enabled=False,
                    autodiscover=False, consumer_auto_offset_reset="earliest",
                    stream_buffer_maxsize=4 * BATCH)
    sources = app.topic(*SOURCES, key_type=bytes, value_type=bytes, key_serializer="raw",
                        value_serializer="raw")
    seen = {"records": 0, "first": 0.0, "last": 0.0}

    def done() -> None:
        print(f"records {seen['records']} seconds {seen['last'] - seen['first']:.3f}",
              flush=True)
        os._exit(0)  # the measure is taken: no graceful shutdown to wait for

    @app.agent(sources, concurrency=1)
    async def noop(stream):  # type: ignore[no-untyped-def]
        async for batch in stream.take_events(BATCH, within=BATCH_S):
            seen["last"] = time.perf_counter()
            seen["first"] = seen["first"] or seen["last"]
            seen["records"] += len(batch)
            if seen["records"] >= wanted:
                done()

    @app.timer(1.0)
    async def idle() -> None:  # faust drops a few records in its first rebalance: stop when
        if seen["first"] and time.perf_counter() - seen["last"] > 3.0:  # nothing more comes
            done()

    sys.argv = sys.argv[:1]
    uvloop.install()
    faust.Worker(app, loglevel="warning", redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
