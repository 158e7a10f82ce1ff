"""Kafka users and ACLs applied from services/bus/access.py: one SCRAM user per service, with
exactly the ACLs its declaration gives. Run as the cluster's administrator (a super user).

    vivres security apply      create or update every user (passwords generated once, kept in
                               a 0600 file) and create their ACLs; idempotent
    vivres security acls       print what would be granted, per user

SCRAM credentials are set with AlterUserScramCredentials (KIP-554; brokers forward it to the
KRaft controllers) and ACLs with CreateAcls, both through confluent-kafka's admin client
(librdkafka), which salts the password here (RFC 5802's Hi()): the password itself never
crosses the wire.

The controllers answer once a change is in their log; each broker applies it a moment later,
when it replays that log, and a service that logs in meanwhile is refused (`SaslAuthentication
Failed`, and it exits). So `apply` writes the ACLs first and the credentials after them, then
returns only when every user logs in on every broker: a broker that knows a credential has
replayed the ACLs written before it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from services.bus.access import PRINCIPALS, Acl, Pattern, Principal, Resource
from services.bus.admin import admin_client, confluent_admin, settled
from services.bus.settings import BusSettings

SCRAM_ITERATIONS = 8192  # Kafka's minimum is 4096
IN_FORCE_TIMEOUT_S = 60.0  # a broker replays the controllers' log within milliseconds, usually
log = structlog.get_logger("vivres.security")
MECHANISMS = {"SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
              "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512}
# Kafka calls the cluster resource CLUSTER; librdkafka names the same code (4) BROKER.
RESOURCES = {Resource.TOPIC: ResourceType.TOPIC, Resource.GROUP: ResourceType.GROUP,
             Resource.CLUSTER: ResourceType.BROKER,
             Resource.TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID}
PATTERNS = {Pattern.LITERAL: ResourcePatternType.LITERAL,
            Pattern.PREFIXED: ResourcePatternType.PREFIXED}


class SecurityError(RuntimeError):
    pass


def passwords(path: Path, users: Iterable[str]) -> dict[str, str]:
    """Each user's password, generated the first time and kept in `path` (mode 0600)."""
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [user for user in users if user not in known]
    if missing:
        known.update({user: secrets.token_urlsafe(24) for user in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(known, out, indent=2)
    return known


@dataclass(frozen=True)
class Applied:
    users: list[str]
    acls: int


async def apply(settings: BusSettings, secrets_file: Path, *, mechanism: str = "SCRAM-SHA-512",
                principals: Iterable[Principal] = PRINCIPALS) -> Applied:
    """Every principal's SCRAM user and ACLs on the cluster the (administrator's) settings name."""
    principals = list(principals)
    known = passwords(secrets_file, [p.user for p in principals])
    info = ScramCredentialInfo(MECHANISMS[mechanism], SCRAM_ITERATIONS)
    upserts = [UserScramCredentialUpsertion(p.user, info, known[p.user].encode())
               for p in principals]
    bindings = {acl_binding(p.user, acl): (p.user, acl) for p in principals for acl in p.acls()}
    async with confluent_admin(settings) as admin:
        refused = await settled(admin.create_acls(list(bindings)))
        if refused:
            raise SecurityError("ACLs refused: " + "; ".join(
                f"{bindings[binding][1]} for {bindings[binding][0]}: {error}"
                for binding, error in refused.items()))
        refused = await settled(admin.alter_user_scram_credentials(upserts))
    if refused:
        raise SecurityError(f"SCRAM credentials refused: {refused}")
    users = {p.user: known[p.user] for p in principals}
    await until_in_force(settings.model_copy(update={"kafka_sasl_mechanism": mechanism}), users)
    return Applied(list(users), len(bindings))


class _ExpectedRefusals(logging.Filter):
    """aiokafka's error line for each login refused while a broker catches up: expected then,
    and what is still refused at the end is said once, by the SecurityError."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SaslAuthenticationFailed" not in record.getMessage()


async def until_in_force(settings: BusSettings, users: dict[str, str], *,
                         timeout_s: float = IN_FORCE_TIMEOUT_S) -> None:
    """Return once each user logs in with its password on each broker of the cluster; raise
    SecurityError naming who cannot after timeout_s."""
    quiet, aiokafka = _ExpectedRefusals(), logging.getLogger("aiokafka")
    aiokafka.addFilter(quiet)
    try:
        await _until_logged_in(settings, users, timeout_s)
    finally:
        aiokafka.removeFilter(quiet)


async def _until_logged_in(settings: BusSettings, users: dict[str, str],
                           timeout_s: float) -> None:
    async with admin_client(settings) as admin:
        brokers = sorted(f"{b['host']}:{b['port']}"
                         for b in (await admin.describe_cluster())["brokers"])
    waiting = sorted((user, broker) for user in users for broker in brokers)
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout_s
    for attempt in itertools.count(1):
        waiting = [(user, broker) for user, broker in waiting
                   if not await _logs_in(settings, broker, user, users[user])]
        if not waiting:
            log.info("credentials in force", users=len(users), brokers=len(brokers),
                     attempts=attempt, waited_s=round(loop.time() - started, 2))
            return
        if loop.time() > deadline:
            raise SecurityError(f"credentials not in force after {timeout_s:.0f} s: " + ", ".join(
                f"{user} on {broker}" for user, broker in waiting))
        await asyncio.sleep(0.2)


async def _logs_in(settings: BusSettings, broker: str, user: str, password: str) -> bool:
    """Whether `user` authenticates on this one broker (a bootstrap asks it for metadata)."""
    client = AIOKafkaAdminClient(**settings.model_copy(update={
        "kafka_bootstrap_servers": broker, "kafka_sasl_username": user,
        "kafka_sasl_password": SecretStr(password),
        "kafka_sasl_password_file": None}).kafka_options())
    try:
        await client.start()
    except KafkaError:
        return False
    finally:
        await client.close()
    return True


def acl_binding(user: str, acl: Acl) -> AclBinding:
    """ALLOW, from any host, as Kafka's CreateAcls takes it."""
    return AclBinding(RESOURCES[acl.resource], acl.name, PATTERNS[acl.pattern], f"User:{user}",
                      "*", AclOperation[acl.operation.value], AclPermissionType.ALLOW)
