"""Replay throughput of the demand processor next to a bare aiokafka + fastavro
consume-and-decode loop over the same topic, in the same run.

    make up
    .venv/bin/python -m bench.demand_replay --seed-days 90   # a fresh stack: 90 days of the
                                  # simulated territories (~440,000 lines), straight to Kafka
    .venv/bin/python -m bench.demand_replay                  # whatever sales.tickets holds

1. bare loop: read `sales.tickets` from its beginning to its current end, decoding every
   record (Confluent wire format, fastavro, the registry's schema); count the ticket lines;
2. catch-up: `vivres serve demand` with a fresh app id (its own consumer group and table) and
   a fresh RocksDB directory. Start-up is from the spawn to its first bulk read; the catch-up
   is what the worker logs ("caught up": records, seconds); the whole is from the spawn until
   its group has committed the end of its three sources;
3. live replay: the same worker with the bulk catch-up off (VIVRES_DEMAND_BULK_CATCH_UP=0),
   faust streaming the whole backlog through the agent; start-up (spawn to faust's "Worker
   ready") reported apart;
4. faust's own ceiling: a worker whose agent does nothing with the same sources
   (`bench.faust_noop`), in records/s and the ticket lines those records carry.
Prints a Markdown row: lines/s of each and the ratios to the bare loop. Target (issue 15):
catch-up ≥ 0.5× the bare loop.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fastavro
from aiokafka import TopicPartition

from bench.gateway_ingest import ROOT
from services.bus.admin import forget_app, partitions_of
from services.bus.catalog import SALES
from services.bus.client import new_consumer
from services.bus.partitions import bounds
from services.bus.publisher import open_publisher
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.demand.sources import SOURCES as DEMAND_SOURCES
from services.simulator.backfill import backfill
from services.simulator.territories import SHOPS

SOURCES = [topic.name for topic in DEMAND_SOURCES]
CAUGHT_UP = re.compile(r"""["']seconds["']: ([0-9.]+), ["']folding_s["'].*caught up""")


async def bare_loop(settings: BusSettings) -> tuple[int, int, float]:
    """(records, lines, seconds) of a plain consume-and-decode of sales.tickets."""
    partitions = await partitions_of(settings, SALES.name)
    schemas: dict[int, object] = {}
    records = lines = 0
    async with SchemaRegistry(settings.schema_registry_url) as registry:
        consumer = new_consumer(settings, committed=False, max_partition_fetch_bytes=4 << 20)
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


class Commits:
    """A group's committed offsets against its topics' ends, asked through one kept consumer
    (a consumer started per question costs the broker and the machine what the worker being
    measured needs)."""

    def __init__(self, settings: BusSettings, group: str, topics: list[str]) -> None:
        self.settings, self.topics = settings, topics
        self.consumer = new_consumer(settings, group=group)

    async def __aenter__(self) -> Commits:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def at_end(self) -> bool:
        partitions: list[TopicPartition] = []
        for topic in self.topics:
            try:
                partitions += await partitions_of(self.settings, topic)
            except LookupError:
                return False
        ends = await self.consumer.end_offsets(partitions)
        for tp, end in ends.items():
            if end and (await self.consumer.committed(tp) or 0) < end:
                return False
        return True


@dataclass
class Run:
    startup_s: float  # spawn → its first bulk read (catch-up) or faust's "Worker ready"
    fold_s: float  # the backlog's folding alone
    total_s: float  # spawn → the group committed its sources' end


async def processor(settings: BusSettings, *, bulk: bool) -> Run:
    """A fresh demand worker over the whole of its sources."""
    app_id = f"bench-demand-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as datadir:
        log_path = Path(datadir) / "worker.log"
        env = {**os.environ, "VIVRES_DEMAND_APP_ID": app_id, "VIVRES_DEMAND_DATADIR": datadir,
               "VIVRES_LOG_LEVEL": "INFO", "VIVRES_LOG_FORMAT": "json",
               "VIVRES_DEMAND_BULK_CATCH_UP": "1" if bulk else "0"}
        started = time.perf_counter()
        with log_path.open("w") as log:
            worker = subprocess.Popen([str(ROOT / ".venv" / "bin" / "vivres"), "serve",
                                       "demand"], env=env, cwd=ROOT, stdout=log,
                                      stderr=subprocess.STDOUT)
        try:
            marker = "catching up in bulk" if bulk else "[^Worker]: Ready"
            startup = None
            # its log first (cheap to read), then, once it says it caught up, its commits
            while startup is None or (bulk and not _caught_up(log_path)):
                await asyncio.sleep(0.1)
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited ({worker.returncode}): {log_path}")
                if startup is None and marker in log_path.read_text(errors="replace"):
                    startup = time.perf_counter() - started
            async with Commits(settings, app_id, SOURCES) as commits:
                while not await commits.at_end():  # noqa: ASYNC110 - another process's
                    await asyncio.sleep(0.2)
            total = time.perf_counter() - started
            fold = _caught_up(log_path) if bulk else total - (startup or 0)
            return Run(startup or 0.0, fold, total)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            await forget_app(settings, app_id)


def _caught_up(log_path: Path) -> float | None:
    """The seconds of the catch-up the worker logged (its structlog event, as JSON or as
    faust's handler prints the dict), once it has."""
    found = CAUGHT_UP.search(log_path.read_text(errors="replace"))
    return None if found is None else float(found[1])


async def seed(settings: BusSettings, days: int) -> None:
    """The directory (`vivres demo seed`) and `days` of the simulated territories' sales, up
    to yesterday, written straight to the sources."""
    await asyncio.to_thread(subprocess.run, [str(ROOT / ".venv" / "bin" / "vivres"), "demo",
                            "seed"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    today = datetime.now(UTC).date()
    async with open_publisher(settings) as publisher:
        written = await backfill(publisher, SHOPS, today - timedelta(days=days), days, seed=42)
    print(f"seeded {written.tickets:,} tickets ({written.lines:,} lines), "
          f"{written.refunds:,} refunds")


async def source_records(settings: BusSettings) -> int:
    """Records in the processor's three sources."""
    partitions = [tp for topic in SOURCES for tp in await partitions_of(settings, topic)]
    return sum(end - first for first, end in (await bounds(settings, partitions)).values())


def faust_ceiling(records: int) -> tuple[int, float]:
    """(records, seconds) of a faust worker doing nothing with the same sources."""
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "bench.faust_noop",
                          str(records)], cwd=ROOT, capture_output=True, text=True, timeout=900,
                         check=True).stdout.split()
    return int(out[out.index("records") + 1]), float(out[out.index("seconds") + 1])


async def main(seed_days: int, runs: int) -> None:
    settings = BusSettings()
    if seed_days:
        await seed(settings, seed_days)
    bare_runs, bulk_runs = [], []
    for _ in range(runs):  # side by side, in turns: the machine's noise hits both alike
        records, lines, bare_s = await bare_loop(settings)
        bare_runs.append(bare_s)
        bulk_runs.append(await processor(settings, bulk=True))
    bare_s = statistics.median(bare_runs)
    bulk = min(bulk_runs, key=lambda run: abs(run.fold_s - statistics.median(
        r.fold_s for r in bulk_runs)))  # the median run
    streamed = await processor(settings, bulk=False)
    all_records = await source_records(settings)
    noop_records, noop_s = faust_ceiling(all_records)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    bare = lines / bare_s
    per_record = lines / all_records  # what a record of the sources is worth in ticket lines
    ratios = [bare_run / run.fold_s for bare_run, run in zip(bare_runs, bulk_runs, strict=True)]
    print(f"| {datetime.now(UTC):%Y-%m-%d} | {machine} | {records:,} tickets, {lines:,} lines "
          f"({all_records:,} source records) | bare aiokafka + fastavro {bare:,.0f} lines/s "
          f"(median of {runs}) | "
          f"catch-up {lines / bulk.fold_s:,.0f} lines/s, ratio {statistics.median(ratios):.2f} "
          f"(turns: {', '.join(f'{r:.2f}' for r in ratios)}) "
          f"({bulk.fold_s:.1f} s; start-up {bulk.startup_s:.1f} s; {bulk.total_s:.1f} s to "
          f"committed) | live replay {lines / streamed.fold_s:,.0f} lines/s, ratio "
          f"{lines / streamed.fold_s / bare:.3f} ({streamed.fold_s:.1f} s; start-up "
          f"{streamed.startup_s:.1f} s) | faust no-op agent {noop_records / noop_s:,.0f} "
          f"records/s (≈ {noop_records / noop_s * per_record:,.0f} lines/s) |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed-days", type=int, default=0,
                        help="first write this many days of simulated sales to the sources")
    parser.add_argument("--runs", type=int, default=3,
                        help="turns of the bare loop and the catch-up (medians reported)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seed_days, arguments.runs))
