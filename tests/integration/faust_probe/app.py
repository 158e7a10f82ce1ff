"""Tiny faust-streaming app used to probe faust against the real Kafka broker.

Nothing is created at import time: build the app with :func:`create_app`, or run
a worker with::

    python -m tests.integration.faust_probe.app --broker 127.0.0.1:9092 \
        --prefix faust-3f2a9c --datadir /tmp/x

Topology (everything namespaced by ``prefix``, which is also the app id and
therefore the consumer group id):

* ``<prefix>.in``  -- keys: product id (utf-8), values: JSON ``{"qty": 3}``
* agent ``tally`` (``concurrency=1``) adds ``qty`` into table ``totals``
  (RocksDB store, changelog topic ``<prefix>-totals-changelog``, ``default=int``)
* ``<prefix>.out`` -- after every update: JSON ``{"product": key, "total": N}``

``ready_file`` (optional): touched once the worker has an assignment, table recovery
is complete and stream partitions have been seeked to their committed offsets, i.e.
once records produced from then on are processed exactly once by this worker.  Tests
must produce only after this: faust 0.15.3 processes records that are ALREADY waiting
in the input topic twice when it has to restore a table from its changelog at
startup (``Recovery.on_recovery_completed`` resumes stream partitions before seeking
them; observed against Kafka 4.4.0, client-side, cf. faust-streaming/faust#216).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import faust

TOPIC_PARTITIONS = 2


def in_topic_name(prefix: str) -> str:
    return f"{prefix}.in"


def out_topic_name(prefix: str) -> str:
    return f"{prefix}.out"


def changelog_topic_name(prefix: str) -> str:
    # faust names changelogs "<app id>-<table name>-changelog"
    return f"{prefix}-totals-changelog"


def create_app(
    broker: str, topic_prefix: str, datadir: str, *, ready_file: str | None = None
) -> faust.App:
    app = faust.App(
        id=topic_prefix,
        broker=f"kafka://{broker}",
        store="rocksdb://",
        datadir=datadir,
        topic_partitions=TOPIC_PARTITIONS,
        topic_replication_factor=1,
        table_standby_replicas=0,  # single worker: no standby partitions
        web_enabled=False,
        autodiscover=False,
        # at_least_once is faust's default; stated to make the contract explicit.
        processing_guarantee="at_least_once",
        # The test SIGKILLs a worker and restarts it in the same group; the dead
        # member must leave the group quickly (broker minimum is 6 s).
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=15.0,
        broker_commit_interval=0.5,
    )

    in_topic = app.topic(
        in_topic_name(topic_prefix),
        key_type=str,
        key_serializer="raw",
        value_serializer="json",
        partitions=TOPIC_PARTITIONS,
    )
    out_topic = app.topic(
        out_topic_name(topic_prefix),
        key_type=str,
        key_serializer="raw",
        value_serializer="json",
        partitions=TOPIC_PARTITIONS,
    )
    totals = app.Table(
        "totals",
        default=int,
        partitions=TOPIC_PARTITIONS,
        key_type=str,
        value_type=int,
    )

    @app.agent(in_topic, concurrency=1)
    async def tally(stream):  # type: ignore[no-untyped-def]
        async for key, value in stream.items():
            totals[key] += int(value["qty"])
            await out_topic.send(key=key, value={"product": key, "total": totals[key]})

    if ready_file is not None:
        ready_path = Path(ready_file)

        @app.timer(0.1)
        async def signal_ready() -> None:
            if ready_path.exists():
                return
            source = in_topic.get_topic_name()
            assigned = any(tp.topic == source for tp in app.consumer.assignment())
            if assigned and app.tables.recovery.completed.is_set() and not app.rebalancing:
                ready_path.touch()

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.faust_probe.app")
    parser.add_argument("--broker", required=True, help="host:port of a Kafka bootstrap server")
    parser.add_argument("--prefix", required=True, help="app id and topic prefix")
    parser.add_argument("--datadir", required=True, help="faust datadir (RocksDB lives here)")
    parser.add_argument("--ready-file", default=None, help="touched when ready to process")
    parser.add_argument("--loglevel", default="warning")
    args = parser.parse_args(argv)

    app = create_app(args.broker, args.prefix, args.datadir, ready_file=args.ready_file)
    # mode's Worker installs SIGTERM/SIGINT handlers for a graceful stop and
    # calls sys.exit when the app stops.  Pass it an empty argv so it does not
    # try to parse ours.
    sys.argv = sys.argv[:1]
    faust.Worker(app, loglevel=args.loglevel).execute_from_commandline()


if __name__ == "__main__":
    main()
