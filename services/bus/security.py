"""Kafka users and ACLs applied from services/bus/access.py: one SCRAM user per service, with
exactly the ACLs its declaration gives. Run as the cluster's administrator (a super user).

    vivres security apply      create or update every user (passwords generated once, kept in
                               a 0600 file) and create their ACLs; idempotent
    vivres security acls       print what would be granted, per user

SCRAM credentials are set with AlterUserScramCredentials (KIP-554; brokers forward it to the
KRaft controllers) and ACLs with CreateAcls, both through confluent-kafka's admin client
(librdkafka), which salts the password here (RFC 5802's Hi()): the password itself never
crosses the wire.
"""

from __future__ import annotations

import json
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

from services.bus.access import PRINCIPALS, Acl, Pattern, Principal, Resource
from services.bus.admin import confluent_admin, settled
from services.bus.settings import BusSettings

SCRAM_ITERATIONS = 8192  # Kafka's minimum is 4096
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
        refused = await settled(admin.alter_user_scram_credentials(upserts))
        if refused:
            raise SecurityError(f"SCRAM credentials refused: {refused}")
        refused = await settled(admin.create_acls(list(bindings)))
    if refused:
        raise SecurityError("ACLs refused: " + "; ".join(
            f"{bindings[binding][1]} for {bindings[binding][0]}: {error}"
            for binding, error in refused.items()))
    return Applied([p.user for p in principals], len(bindings))


def acl_binding(user: str, acl: Acl) -> AclBinding:
    """ALLOW, from any host, as Kafka's CreateAcls takes it."""
    return AclBinding(RESOURCES[acl.resource], acl.name, PATTERNS[acl.pattern], f"User:{user}",
                      "*", AclOperation[acl.operation.value], AclPermissionType.ALLOW)
