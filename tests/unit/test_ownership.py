"""Partition ownership in the runtime: a partition's state is loaded once when it is assigned,
written after the effects it led to are acknowledged and before its offsets are committed, and
forgotten when it is revoked. No broker: a recording stand-in for aiokafka's consumer."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from services.bus.metrics import Metrics
from services.bus.ownership import PartitionStates
from services.bus.runtime import Consumer, _Listener


class Recorder:
    """The publisher and the aiokafka consumer as the runtime uses them, logging in order."""

    def __init__(self) -> None:
        self.log: list = []

    async def settle(self) -> None:
        self.log.append("settle")

    async def commit(self, offsets: dict) -> None:
        self.log.append(("commit", {tp.partition: o for tp, o in offsets.items()}))


def states(recorder: Recorder, loads: list[int]) -> PartitionStates[list[str]]:
    async def load(partition: int) -> list[str]:
        loads.append(partition)
        await asyncio.sleep(0)  # a real load waits on the broker
        return [f"state of {partition}"]

    async def save(partition: int, state: list[str]) -> None:
        recorder.log.append(("save", partition, list(state)))

    return PartitionStates(load, save=save)


def consumer(recorder: Recorder, owned: PartitionStates) -> Consumer:
    runtime = Consumer(service="test", group_id="test-group", routes=[], settings=None,
                       registry=None, producer=None, metrics=Metrics("test"),
                       publisher=recorder, owned=owned)
    runtime._consumer = recorder
    return runtime


def tps(*partitions: int, topics=("a", "b")) -> set[TopicPartition]:
    return {TopicPartition(topic, p) for topic in topics for p in partitions}


async def test_a_partition_assigned_on_every_topic_is_loaded_once() -> None:
    loads: list[int] = []
    owned = states(Recorder(), loads)
    await _Listener(consumer(Recorder(), owned)).on_partitions_assigned(tps(1, 4))
    assert sorted(loads) == [1, 4]


async def test_a_record_and_the_assignment_asking_together_load_once() -> None:
    loads: list[int] = []
    owned = states(Recorder(), loads)
    first, second = await asyncio.gather(owned.get(3), owned.own({3}))
    assert loads == [3] and first == ["state of 3"]


async def test_the_state_is_written_between_the_effects_and_the_commit() -> None:
    recorder = Recorder()
    loads: list[int] = []
    owned = states(recorder, loads)
    runtime = consumer(recorder, owned)
    await owned.own({0, 1})
    runtime._progress = {TopicPartition("a", 0): 7}
    async with runtime.lock:
        await runtime.commit_progress(tps(0, 1))
    assert recorder.log == ["settle", ("save", 0, ["state of 0"]), "settle", ("commit", {0: 7})]


async def test_a_revoked_partition_is_committed_then_forgotten_and_loaded_again_on_return(
) -> None:
    recorder = Recorder()
    loads: list[int] = []
    owned = states(recorder, loads)
    runtime = consumer(recorder, owned)
    listener = _Listener(runtime)
    await listener.on_partitions_assigned(tps(0, 1))
    runtime._progress = {TopicPartition("b", 1): 3}
    await listener.on_partitions_revoked(tps(1))
    assert recorder.log[-1] == ("commit", {1: 3})
    assert owned.loaded(1) is None and owned.loaded(0) is not None
    await listener.on_partitions_assigned(tps(1))
    assert sorted(loads) == [0, 1, 1]


async def test_nothing_is_saved_of_a_partition_already_forgotten() -> None:
    recorder = Recorder()
    owned = states(recorder, [])
    await owned.own({2})
    owned.forget({2})
    assert await owned.save({2}) is True
    assert recorder.log == []
    assert await PartitionStates(lambda p: asyncio.sleep(0)).save({2}) is False
