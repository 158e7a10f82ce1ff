"""Whose failure is it: our infrastructure's, or the record's?

The one rule every consumer follows (issue 14): a failure caused by what a record says is never
fatal (the record is declined or dead-lettered and the partition goes on); a failure of our own
infrastructure (the broker or the registry unreachable, a leader moving, a timeout) is retried
until it passes, because no other record would fare better meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)

from services.bus.registry import NotFound, RegistryError

T = TypeVar("T")
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 10.0

# Kafka errors that are about us, not about the record, although Kafka does not mark them
# retriable: a missing ACL (an operator's fix, then it passes) or a client-side timeout.
_OURS = (TopicAuthorizationFailedError, GroupAuthorizationFailedError,
         ClusterAuthorizationFailedError, TransactionalIdAuthorizationFailed, KafkaTimeoutError,
         KafkaConnectionError)


def is_infrastructure(err: BaseException) -> bool:
    """True for a failure of the broker, the registry or the network; False for one that the
    record's content caused (a value Avro cannot encode, a record too large for the topic, a
    reference the registry does not know, a bug that this record triggers)."""
    if isinstance(err, NotFound):
        return False  # the registry answered: what was asked of it does not exist
    if isinstance(err, (RegistryError, ConnectionError, TimeoutError, *_OURS)):
        return True
    return isinstance(err, KafkaError) and bool(getattr(err, "retriable", False))


class Stopping(Exception):
    """Asked to stop while waiting for the infrastructure: the record is left undone."""


async def until_infrastructure_answers(
    attempt: Callable[[], Awaitable[T]], *, stopping: Callable[[], bool],
    waiting: Callable[[BaseException], None] = lambda _err: None,
) -> T:
    """Run `attempt` until it does not fail for infrastructure reasons, with a capped
    exponential backoff; a record's own failure is raised at once. `waiting(err)` is told of
    each wait (e.g. to show the blocked record); raises Stopping when asked to stop meanwhile."""
    delay = BACKOFF_FIRST_S
    while True:
        try:
            return await attempt()
        except Exception as err:  # noqa: BLE001 - sorted below, re-raised when it is the record's
            if not is_infrastructure(err):
                raise
            if stopping():
                raise Stopping from err
            waiting(err)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
