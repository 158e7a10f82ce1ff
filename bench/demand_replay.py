"""Replay throughput of the demand processor (one faust worker) next to a bare aiokafka +
fastavro consume-and-decode loop over the same topic, in the same run.

    make up                      # or any stack whose sales.tickets holds tickets (make run)
    .venv/bin/python -m bench.demand_replay

1. bare loop: read `sales.tickets` from its beginning to its current end, decoding every
   record (Confluent wire format, fastavro, the registry's schema); count the ticket lines;
2. the processor: `vivres serve demand` with a fresh app id (its own consumer group and table)
   and a fresh RocksDB directory, timed from start until its group has committed the end of
   its three sources, `sales.tickets`, `sales.refunds` and `stock.alerts` (start-up included).
3. faust's own ceiling: a worker whose agent does nothing with the same sources
   (`bench.faust_noop`), in records/s and the ticket lines those records carry.
Prints a Markdown row: lines/s for each, and the processor's ratio to the bare loop. Target
(issue 6): ≥ 50,000 lines/s.
"""

from __future__ import annotations

import asyncio
import io
import os
import platform
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime

import fastavro
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.gateway_ingest import ROOT
from services.bus.admin import partitions_of
from services.bus.catalog import SALES
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.demand.processor import SOURCES as DEMAND_SOURCES

SOURCES = [topic.name for topic in DEMAND_SOURCES]


async def bare_loop(settings: BusSettings) -> tuple[int, int, float]:
    """(records, lines, seconds) of a plain consume-and-decode of sales.tickets."""
    partitions = await partitions_of(settings, SALES.name)
    schemas: dict[int, object] = {}
    records = lines = 0
    async with SchemaRegistry(settings.schema_registry_url) as registry:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                                    enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
        await consumer.start()
        try:
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            started = time.perf_counter()
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                for batch in (await consumer.getmany(timeout_ms=500,
                                                     max_records=5_000)).values():
                    for record in batch:
                        schema_id = int.from_bytes(record.value[1:5], "big")
                        if schema_id not in schemas:
                            schemas[schema_id] = fastavro.parse_schema(
                                await registry.schema(schema_id))
                        ticket = fastavro.schemaless_reader(io.BytesIO(record.value[5:]),
                                                            schemas[schema_id])
                        records += 1
                        lines += len(ticket["lines"])
            return records, lines, time.perf_counter() - started
        finally:
            await consumer.stop()


async def committed_to_end(settings: BusSettings, group: str, topics: list[str]) -> bool:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                                group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions: list[TopicPartition] = []
        for topic in topics:
            try:
                partitions += await partitions_of(settings, topic)
            except LookupError:
                return False
        ends = await consumer.end_offsets(partitions)
        for tp, end in ends.items():
            if end and (await consumer.committed(tp) or 0) < end:
                return False
        return True
    finally:
        await consumer.stop()


async def processor(settings: BusSettings) -> float:
    """Seconds for a fresh demand worker to fold all of sales.tickets."""
    app_id = f"bench-demand-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as datadir:
        env = {**os.environ, "VIVRES_DEMAND_APP_ID": app_id, "VIVRES_DEMAND_DATADIR": datadir,
               "VIVRES_LOG_LEVEL": "WARNING"}
        started = time.perf_counter()
        worker = subprocess.Popen([str(ROOT / ".venv" / "bin" / "vivres"), "serve", "demand"],
                                  env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            done = False
            while not done:  # poll the group's commits (another process's progress)
                await asyncio.sleep(0.5)
                done = await committed_to_end(settings, app_id, SOURCES)
            return time.perf_counter() - started
        finally:
            worker.terminate()
            worker.wait(timeout=60)


async def source_records(settings: BusSettings) -> int:
    """Records in the processor's three sources."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        partitions = [tp for topic in SOURCES for tp in await partitions_of(settings, topic)]
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)
    finally:
        await consumer.stop()


def faust_ceiling(records: int) -> tuple[int, float]:
    """(records, seconds) of a faust worker doing nothing with the same sources."""
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "bench.faust_noop",
                          str(records)], cwd=ROOT, capture_output=True, text=True, timeout=900,
                         check=True).stdout.split()
    return int(out[out.index("records") + 1]), float(out[out.index("seconds") + 1])


async def main() -> None:
    settings = BusSettings()
    records, lines, bare_s = await bare_loop(settings)
    faust_s = await processor(settings)
    all_records = await source_records(settings)
    noop_records, noop_s = faust_ceiling(all_records)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    bare, ours = lines / bare_s, lines / faust_s
    per_record = lines / all_records  # what a record of the sources is worth in ticket lines
    print(f"| {datetime.now(UTC):%Y-%m-%d} | {machine} | {records:,} tickets, {lines:,} lines "
          f"({all_records:,} source records) | bare aiokafka + fastavro {bare:,.0f} lines/s | "
          f"processor {ours:,.0f} lines/s ({faust_s:.0f} s, start-up included) | ratio "
          f"{ours / bare:.3f} | faust no-op agent {noop_records / noop_s:,.0f} records/s "
          f"(≈ {noop_records / noop_s * per_record:,.0f} lines/s) |")


if __name__ == "__main__":
    asyncio.run(main())
