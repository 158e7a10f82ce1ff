"""Whose failure is it: what the consumers retry (ours) and what they decline or dead-letter
(the record's)."""

from __future__ import annotations


import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
)

from services.bus.codec import DecodeError
from services.bus.failures import Stopping, is_infrastructure, until_infrastructure_answers
from services.bus.registry import NotFound, RegistryError


@pytest.mark.parametrize("err", [
    KafkaConnectionError("broker gone"), NotLeaderForPartitionError(), RequestTimedOutError(),
    TopicAuthorizationFailedError(), RegistryError("registry unreachable"),
    ConnectionResetError(), TimeoutError(),
])
def test_our_infrastructure_failing_is_retried(err) -> None:
    assert is_infrastructure(err)


@pytest.mark.parametrize("err", [
    ValueError("year 0 is out of range"), OverflowError("int too big to convert"),
    MessageSizeTooLargeError(), NotFound("schema id 999"), DecodeError("magic byte"),
    KeyError("unknown product"),
])
def test_what_a_record_causes_is_not(err) -> None:
    assert not is_infrastructure(err)


async def test_an_attempt_is_retried_while_the_broker_fails_then_returns() -> None:
    failures = [KafkaConnectionError("down"), RegistryError("down")]
    seen: list[BaseException] = []

    async def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "applied"

    result = await until_infrastructure_answers(attempt, stopping=lambda: False,
                                                waiting=seen.append)
    assert result == "applied"
    assert [type(e) for e in seen] == [KafkaConnectionError, RegistryError]


async def test_a_records_failure_is_raised_at_once_and_stopping_ends_the_wait() -> None:
    async def buggy() -> None:
        raise ValueError("year 0 is out of range")

    with pytest.raises(ValueError):
        await until_infrastructure_answers(buggy, stopping=lambda: False)

    async def down() -> None:
        raise KafkaConnectionError("down")

    with pytest.raises(Stopping):
        await until_infrastructure_answers(down, stopping=lambda: True)
