"""The demand processor: a faust-streaming app turning sales, refunds and shelf changes into
live demand signals per territory × product (and shop × product). This module wires it;
each job has its module:

    sales.tickets ─┐  all keyed by shop, 6 partitions (sources): a shop's records meet in one
    sales.refunds ─┼─▶ partition. A worker behind its sources folds the backlog in bulk first
    stock.alerts ──┘   (catchup), then the agent `fold` takes the live tail a batch at a time;
                       both fold (fold) into DemandState (state) and write the records changed
                       to table `demand` (RocksDB, changelog) on the partition of their source
    every 0.02 s, per territory × product changed ──▶ demand.shop-signals (publish)
                                                  └─▶ <app id>-partials: one per source
                                                      partition, its shops' sums (combine)
    <app id>-partials, keyed by territory × product ──▶ agent `combine` keeps the newest of
        each partition in table `territory` ──▶ the territory's sum ──▶ demand.signals
        (territories)
    references: shops, till-code mappings, stock on hand, offers, orders (references)

Why this shape: a shop's sales never cross partitions, so sales are folded where they are
read, with no repartition of the tickets (the throughput is one consume, not two); the table
holds one small record per shop and day rather than a key's whole history, so a batch writes a
few records. Workers share the source partitions, so none sees a whole territory: each sends
the sums of its partitions, and the second stage adds them up. What crosses the repartition is
a few hundred bytes per territory × product and flush, whatever the tickets' rate.

Days are buckets of event time, not faust windows (their expiry runs on wall-clock time). The
fold is idempotent by source offset per record, which absorbs faust's redeliveries after a
crash or a table restore; the positions of each source partition, kept with the records, find
the records faust acks without handing them over during a rebalance (tail).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from dataclasses import dataclass
from typing import Any

import faust
import structlog
import uvloop
from faust.types import TopicT
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.bus.admin import admin_client, brokers_of
from services.bus.logging import configure_logging
from services.bus.metrics import MetricsServer
from services.bus.partitions import partition_for
from services.bus.provision import TopicSpec, create_missing
from services.bus.settings import BusSettings
from services.demand import faust_glue
from services.demand.catchup import Write, catch_up
from services.demand.fold import Fold
from services.demand.publish import FLUSH_S, REFRESH_S, Flush
from services.demand.references import References
from services.demand.sources import PARTITIONS, SOURCES
from services.demand.tail import TAIL_CHECK_S, TailCheck
from services.demand.territories import Territories

# The consumer group, the table's changelog and the RocksDB directory are named after it. Bump
# it when the table's layout changes: the new app replays the sources into the new layout.
# (-2: records per shop and day, 2026-11-26.)
APP_ID = "vivres-demand-2"
BATCH = 2000  # records per batch at most
BATCH_S = 0.005  # how long a batch waits to fill
BEHIND = 500  # records from a partition's end: the fold is catching up
PARTIALS_RETENTION_S = 86_400.0  # how long a superseded partial stays in its topic at most
TABLES = ("demand", "territory")  # the first stage's records, the second's partials
TABLE_SEGMENT_MS = 3_600_000  # a changelog's segments roll hourly, so compaction keeps it short
log = structlog.get_logger("vivres.demand")


@dataclass
class Worker:
    """One demand worker's parts, as create_app wires them to faust."""

    app: faust.App
    settings: BusSettings
    refs: References
    fold: Fold
    write: Write  # the first stage's table records, on their source partition
    flush: Flush
    stage: Territories
    tail: TailCheck


def create_app(settings: BusSettings, datadir: str, *, app_id: str = APP_ID,
               territories: frozenset[str] = frozenset(), brokers: int = 1,
               bulk_catch_up: bool = True) -> faust.App:
    """The app; `territories`, when given, is all it folds (a processor per territory); its
    table's changelog is replicated as the catalog's topics are on `brokers` brokers. Without
    `bulk_catch_up`, faust streams the backlog too (bench.demand_replay compares the two)."""
    app = faust.App(
        app_id, broker=f"kafka://{settings.kafka_bootstrap_servers}", store="rocksdb://",
        datadir=datadir, topic_partitions=PARTITIONS,
        topic_replication_factor=SOURCES[0].replication(brokers)[0],
        table_standby_replicas=0, web_enabled=False, autodiscover=False,
        processing_guarantee="at_least_once", consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=1.0, broker_rebalance_timeout=30.0,
        broker_commit_interval=0.5, stream_buffer_maxsize=4 * BATCH,
        broker_credentials=_credentials(settings))
    sources = app.topic(*(t.name for t in SOURCES), key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw")
    partials = app.topic(partials_topic(app_id), partitions=PARTITIONS, internal=True,
                         key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", compacting=True, deleting=True,
                         retention=PARTIALS_RETENTION_S)
    table = app.Table(TABLES[0], default=None, partitions=PARTITIONS, key_type=str)
    combined = app.Table(TABLES[1], default=None, partitions=PARTITIONS, key_type=str)
    refs = References(settings, client_id=app_id)
    fold = Fold(settings, refs, table.items, territories)
    write = faust_glue.TableWriter(table, SOURCES[0].name).write
    worker = Worker(
        app, settings, refs, fold, write,
        flush=Flush(fold, partials.get_topic_name(), lambda shop: _owns(app, shop)),
        stage=Territories(refs, combined.items,
                          faust_glue.TableWriter(combined, partials.get_topic_name()).write),
        tail=TailCheck(fold, write, lambda: app.rebalancing))
    _on_assignments(worker, table, combined, bulk_catch_up)
    _agents(worker, sources, partials)
    _background(worker)
    return app


def _on_assignments(worker: Worker, table: faust.Table, combined: faust.Table,
                    bulk_catch_up: bool) -> None:
    """What a rebalance does: revoked, both stages forget; restored, they reload, and the
    first stage folds its backlog in bulk before faust streams (catchup)."""
    app, fold, flush, stage = worker.app, worker.fold, worker.flush, worker.stage

    @app.on_partitions_revoked.connect
    async def revoked(*_args: Any, **_kwargs: Any) -> None:
        fold.forget()
        stage.forget()

    @table.on_recover
    async def recovered() -> None:
        """The table restored, before faust seeks and resumes the sources: the backlog. The
        state is loaded, so every pair's partials go out again after a rebalance."""
        fold.state()
        if not bulk_catch_up:
            return
        flush.catching_up = True
        try:
            offsets = await catch_up(worker.settings, fold, app.consumer.assignment(),
                                     worker.write)
            if offsets:
                await faust_glue.commit(app, offsets)
        finally:
            flush.catching_up = False

    @combined.on_recover
    async def combined_recovered() -> None:
        stage.state()

    @app.on_before_shutdown.connect
    async def close(*_args: Any, **_kwargs: Any) -> None:
        await worker.refs.close()


def _agents(worker: Worker, sources: TopicT, partials: TopicT) -> None:
    """The two stages' agents: the sources' live tail folded a batch at a time; the
    partials kept per partition and summed per territory."""
    app, refs, fold, stage = worker.app, worker.refs, worker.fold, worker.stage

    @app.agent(sources, concurrency=1)
    async def live(stream):  # type: ignore[no-untyped-def]
        await refs.ready()
        async for batch in stream.take_events(BATCH, within=BATCH_S):
            worker.flush.catching_up = _behind(app, batch)
            await fold.take(batch, worker.write)

    @app.agent(partials, concurrency=1)
    async def combine(stream):  # type: ignore[no-untyped-def]
        await refs.ready()
        async for batch in stream.take_events(BATCH, within=BATCH_S):
            stage.take((event.message.partition, event.value) for event in batch)
            await stage.publish()


def _background(worker: Worker) -> None:
    """The timers and tasks: flushes, the tail check, reference changes, metrics."""
    app, refs = worker.app, worker.refs

    @app.timer(TAIL_CHECK_S)
    async def tail_check() -> None:
        await worker.tail(app.consumer.assignment(), app.consumer.highwater)

    @app.task
    async def follow_references() -> None:
        await refs.ready()
        await refs.follow_changes(worker.fold.dirty, worker.stage.dirty)

    @app.timer(FLUSH_S)
    async def publish() -> None:
        await worker.flush()
        await worker.stage.publish()

    @app.timer(REFRESH_S)
    async def refresh() -> None:
        await worker.flush.refresh()

    @app.task
    async def serve_metrics() -> None:
        async with MetricsServer(refs.metrics, worker.settings.metrics_host,
                                 worker.settings.metrics_port) as server:
            log.info("metrics served", url=server.url)
            await asyncio.Event().wait()  # until the worker stops and cancels its tasks


def partials_topic(app_id: str) -> str:
    return f"{app_id}-partials"


async def internal_topics(settings: BusSettings, app_id: str) -> int:
    """Create the app's changelogs and partials topic, as faust would, before faust subscribes
    to them; the cluster's brokers. A topic faust creates itself is missing from its consumer's
    first metadata, and a table write of the catch-up then fails (PartitionsMismatch, "the
    changelog has 0 partitions": seen on a fresh `make run`)."""
    brokers = await brokers_of(settings)
    factor = SOURCES[0].replication(brokers)[0]
    wanted = [TopicSpec(f"{app_id}-{table}-changelog", PARTITIONS,
                        {"cleanup.policy": "compact", "segment.ms": str(TABLE_SEGMENT_MS)},
                        factor) for table in TABLES]
    wanted.append(TopicSpec(partials_topic(app_id), PARTITIONS, {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(int(PARTIALS_RETENTION_S * 1000))}, factor))
    async with admin_client(settings) as admin:
        await create_missing(admin, wanted)
    return brokers


def forget_local_tables(app: faust.App) -> None:
    """Remove the tables' local RocksDB copies, so that they are restored from their
    changelogs alone. faust 0.15.3 writes a record to RocksDB at once, sends it to the changelog
    and records the changelog offset as persisted only when its ack has been handled; a worker
    killed with acks unhandled restarts from an older offset and replays those changelog
    records over the newer local ones. A record can then be older than the positions written
    after it, and what it missed is never folded (a fresh-clone run ended with a territory's
    sums 30 to 40 % short after SIGKILLs during the catch-up). A changelog is one ordered log:
    restored alone, no record is older than a position after it. Its records are one per shop
    and day, compacted hourly (TABLE_SEGMENT_MS): the restore is short."""
    shutil.rmtree(app.conf.tabledir, ignore_errors=True)


def _credentials(settings: BusSettings) -> faust.auth.Credentials | None:
    """The same identity as our own clients (services.bus.settings), in faust's terms."""
    options = settings.kafka_options()
    if settings.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    if not settings.kafka_security_protocol.startswith("SASL"):
        return None
    return faust.SASLCredentials(username=options["sasl_plain_username"],
                                 password=options["sasl_plain_password"],
                                 ssl_context=options.get("ssl_context"),
                                 mechanism=options["sasl_mechanism"])


def _owns(app: faust.App, shop: str) -> bool:
    """Whether the source partition a shop's records go to is this worker's."""
    partition = partition_for(shop.encode(), PARTITIONS)
    return any(tp.partition == partition for tp in app.consumer.assignment()
               if tp.topic == SOURCES[0].name)


def _behind(app: faust.App, batch: list[Any]) -> bool:
    """Whether the batch's last record of some partition is far from its end (a backlog)."""
    last = {event.message.tp: event.message.offset for event in batch}
    return any((app.consumer.highwater(tp) or 0) - offset > BEHIND
               for tp, offset in last.items())


class DemandSettings(BaseSettings):
    """The demand processor's own settings (the bus's are BusSettings)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    datadir: str = Field(".vivres/demand", validation_alias="VIVRES_DEMAND_DATADIR")
    territories: str = Field("", validation_alias="VIVRES_DEMAND_TERRITORIES")  # a,b: only these
    app_id: str = Field(APP_ID, validation_alias="VIVRES_DEMAND_APP_ID")
    bulk_catch_up: bool = Field(True, validation_alias="VIVRES_DEMAND_BULK_CATCH_UP")


def main() -> None:
    settings = BusSettings()
    configure_logging(settings.log_level, settings.log_format)
    demand = DemandSettings()
    app = create_app(settings, demand.datadir, app_id=demand.app_id,
                     territories=frozenset(t for t in demand.territories.split(",") if t),
                     brokers=asyncio.run(internal_topics(settings, demand.app_id)),
                     bulk_catch_up=demand.bulk_catch_up)
    forget_local_tables(app)
    sys.argv = sys.argv[:1]  # mode's worker parses argv: give it none of ours
    uvloop.install()  # faust's consumer path runs a third faster on it (measured)
    faust.Worker(app, loglevel=settings.log_level.lower()).execute_from_commandline()
