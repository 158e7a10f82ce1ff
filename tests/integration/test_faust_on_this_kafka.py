"""faust-streaming + aiokafka against the real broker this suite runs on.

Proves, end to end on the broker behind ``kafka_bootstrap``:

* a faust worker joins a consumer group and consumes (agent, ``concurrency=1``);
* a RocksDB-backed table (rocksdict) is updated and written to its changelog topic;
* output records are produced;
* after the worker is SIGKILLed and restarted with an EMPTY datadir, the table is
  rebuilt from the changelog topic and totals continue from the recovered values,
  with no record counted twice.

The app runs at_least_once, so two things are controlled for:

* before killing the worker, the test waits until the group's committed offsets
  cover every input record (faust flushes its producer -- changelog included --
  before committing), so the restart has nothing legitimate to replay;
* records are produced only once the worker reports ready (see ``ready_file`` in
  ``faust_probe/app.py``): faust 0.15.3 double-processes records that are already
  waiting when it starts with a table to restore (client-side ordering race in
  ``Recovery.on_recovery_completed``; reproduced ~50% of runs on Kafka 4.4.0).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.bus.client import new_consumer
from services.bus.settings import BusSettings
from tests.integration.faust_probe.app import (
    TOPIC_PARTITIONS,
    changelog_topic_name,
    in_topic_name,
    out_topic_name,
)

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
# Per waiting step.  Healthy run: ~2 s to first ready, ~6 s to ready after SIGKILL
# (the dead member must expire: broker_session_timeout=6 s), ~13 s in total.
STEP_DEADLINE_S = 20.0

Output = tuple[int, int, str, int]  # partition, offset, product, total


class FaustWorkerProcess:
    """A faust worker subprocess whose output goes to a log file."""

    def __init__(self, bootstrap: str, prefix: str, workdir: Path) -> None:
        workdir.mkdir(parents=True)
        self.log_path = workdir / "worker.log"
        self.ready_file = workdir / "ready"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "tests.integration.faust_probe.app",
                "--broker", bootstrap,
                "--prefix", prefix,
                "--datadir", str(workdir / "data"),
                "--ready-file", str(self.ready_file),
                "--loglevel", "info",
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(
                f"faust worker exited with {self.proc.returncode}; log tail:\n{self.log_tail()}"
            )

    async def wait_ready(self, deadline_s: float = STEP_DEADLINE_S) -> float:
        start = time.monotonic()
        while not self.ready_file.exists():
            self.assert_alive()
            if time.monotonic() - start > deadline_s:
                pytest.fail(
                    f"faust worker not ready within {deadline_s}s; log tail:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.1)
        return time.monotonic() - start

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()

    def log_tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "<no log>"


@contextlib.contextmanager
def running_worker(bootstrap: str, prefix: str, workdir: Path) -> Iterator[FaustWorkerProcess]:
    worker = FaustWorkerProcess(bootstrap, prefix, workdir)
    try:
        yield worker
    finally:
        worker.stop()


async def produce(bootstrap: str, topic: str, records: list[tuple[str, int]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, qty in records:
            await producer.send_and_wait(
                topic, key=key.encode(), value=json.dumps({"qty": qty}).encode()
            )
    finally:
        await producer.stop()


def add(totals: dict[str, int], records: list[tuple[str, int]]) -> dict[str, int]:
    totals = dict(totals)
    for key, qty in records:
        totals[key] = totals.get(key, 0) + qty
    return totals


def latest(history: list[Output]) -> dict[str, int]:
    return {product: total for _, _, product, total in history}


async def read_outputs(consumer: AIOKafkaConsumer, history: list[Output], timeout_ms: int) -> None:
    batches = await consumer.getmany(timeout_ms=timeout_ms)
    for records in batches.values():
        for rec in records:
            out = json.loads(rec.value)
            assert rec.key.decode() == out["product"], rec
            history.append((rec.partition, rec.offset, out["product"], out["total"]))


async def wait_for_outputs(
    consumer: AIOKafkaConsumer,
    history: list[Output],
    expected_count: int,
    expected: dict[str, int],
    worker: FaustWorkerProcess,
    deadline_s: float = STEP_DEADLINE_S,
) -> None:
    """Read the output topic until ``expected_count`` records arrived, then check totals.

    One output record per input record: fewer means lost input, more means
    double processing, and the latest total per key must equal ``expected``.
    """
    deadline = time.monotonic() + deadline_s
    while len(history) < expected_count:
        worker.assert_alive()
        if time.monotonic() > deadline:
            pytest.fail(
                f"only {len(history)}/{expected_count} output records within {deadline_s}s; "
                f"latest totals {latest(history)}, expected {expected}\n"
                f"worker log tail:\n{worker.log_tail()}"
            )
        await read_outputs(consumer, history, timeout_ms=500)
    # Anything beyond the expected count would be a duplicate; give it a moment to show up.
    await read_outputs(consumer, history, timeout_ms=1000)
    assert (len(history), latest(history)) == (expected_count, expected), (
        f"output history (partition, offset, product, total): {history}"
    )


async def wait_for_committed(
    admin: AIOKafkaAdminClient,
    group: str,
    end_offsets: dict[TopicPartition, int],
    worker: FaustWorkerProcess,
    deadline_s: float = STEP_DEADLINE_S,
) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        worker.assert_alive()
        meta = await admin.list_consumer_group_offsets(group)
        committed = {tp: m.offset for tp, m in meta.items() if tp in end_offsets}
        if all(committed.get(tp, -1) >= off for tp, off in end_offsets.items()):
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"group {group} did not commit {end_offsets} within {deadline_s}s "
                f"(committed {committed})\nworker log tail:\n{worker.log_tail()}"
            )
        await asyncio.sleep(0.25)


async def wait_for_leaders(
    admin: AIOKafkaAdminClient, topics: list[str], deadline_s: float = STEP_DEADLINE_S
) -> None:
    """Wait until the broker's metadata has a leader for every partition of ``topics``,
    so the worker sees the pre-created 2-partition topics instead of creating its own."""
    deadline = time.monotonic() + deadline_s
    while True:
        described = await admin.describe_topics(topics)
        if all(
            t["error_code"] == 0
            and len(t["partitions"]) == TOPIC_PARTITIONS
            and all(p["error_code"] == 0 and p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"topics {topics} have no leaders within {deadline_s}s: {described}")
        await asyncio.sleep(0.1)


async def test_faust_table_survives_worker_kill_via_changelog(
    settings: BusSettings, kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    prefix = unique_name("faust")
    in_topic, out_topic = in_topic_name(prefix), out_topic_name(prefix)
    in_tps = [TopicPartition(in_topic, p) for p in range(TOPIC_PARTITIONS)]
    t0 = time.monotonic()

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    consumer = new_consumer(settings, out_topic, auto_offset_reset="earliest", committed=False)
    try:
        # Create source/sink up front, co-partitioned with the table changelog
        # (broker auto-creation would use the broker's num.partitions).
        await admin.create_topics(
            [NewTopic(t, TOPIC_PARTITIONS, 1) for t in (in_topic, out_topic)]
        )
        await wait_for_leaders(admin, [in_topic, out_topic])
        history: list[Output] = []

        first = [("apple", 1), ("pear", 2), ("apple", 3), ("fig", 5), ("pear", 4),
                 ("apple", 2), ("fig", 1), ("kiwi", 7)]
        expected = add({}, first)

        # Phase 1: fresh group, fresh datadir.
        with running_worker(kafka_bootstrap, prefix, tmp_path / "worker-1") as worker:
            ready_1 = await worker.wait_ready()
            # Started late on purpose: right after creation a KRaft broker may still answer
            # ListOffsets with NOT_LEADER (retried, but logged as an error).  It reads from
            # earliest, so nothing is missed.
            await consumer.start()
            await produce(kafka_bootstrap, in_topic, first)
            await wait_for_outputs(consumer, history, len(first), expected, worker)

            end_offsets = await consumer.end_offsets(in_tps)
            await wait_for_committed(admin, prefix, end_offsets, worker)
            assert changelog_topic_name(prefix) in await admin.list_topics()
            worker.kill()  # no graceful shutdown, no final commit, local state abandoned

        # Phase 2: restart with an EMPTY datadir -> the table must come from the changelog.
        second = [("apple", 10), ("kiwi", 1), ("fig", 100), ("plum", 4)]
        expected = add(expected, second)
        with running_worker(kafka_bootstrap, prefix, tmp_path / "worker-2") as worker:
            ready_2 = await worker.wait_ready()
            await produce(kafka_bootstrap, in_topic, second)
            await wait_for_outputs(
                consumer, history, len(first) + len(second), expected, worker
            )

        log.warning(
            "faust probe ok: first ready %.1fs, ready after SIGKILL + recovery %.1fs, total %.1fs",
            ready_1, ready_2, time.monotonic() - t0,
        )
    finally:
        await consumer.stop()
        with contextlib.suppress(Exception):
            await admin.delete_topics(
                [in_topic, out_topic, changelog_topic_name(prefix),
                 f"{prefix}-__assignor-__leader"]
            )
        await admin.close()
