"""Kafka users and ACLs applied from services/bus/access.py: one SCRAM user per service, with
exactly the ACLs its declaration gives. Run as the cluster's administrator (a super user).

    vivres security apply      create or update every user (passwords generated once, kept in
                               a 0600 file) and create their ACLs; idempotent
    vivres security acls       print what would be granted, per user

SCRAM credentials are set with AlterUserScramCredentials (KIP-554; brokers forward it to the
KRaft controllers) and ACLs with CreateAcls: the salted password is computed here (RFC 5802's
Hi(), PBKDF2-HMAC), so the password itself never crosses the wire. aiokafka carries CreateAcls
but not AlterUserScramCredentials, hence the small request below.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from services.bus.access import PRINCIPALS, Acl, Operation, Pattern, Principal, Resource
from services.bus.settings import BusSettings

SCRAM_ITERATIONS = 8192  # Kafka's minimum is 4096
MECHANISMS = {"SCRAM-SHA-256": (1, "sha256"), "SCRAM-SHA-512": (2, "sha512")}

# Kafka's protocol codes (org.apache.kafka.common.acl / resource)
RESOURCE_CODES = {Resource.TOPIC: 2, Resource.GROUP: 3, Resource.CLUSTER: 4,
                  Resource.TRANSACTIONAL_ID: 5}
OPERATION_CODES = {Operation.READ: 3, Operation.WRITE: 4, Operation.CREATE: 5,
                   Operation.DESCRIBE: 8, Operation.IDEMPOTENT_WRITE: 12}
PATTERN_CODES = {Pattern.LITERAL: 3, Pattern.PREFIXED: 4}
ALLOW = 3


class SecurityError(RuntimeError):
    pass


def salted_password(password: str, salt: bytes, iterations: int, hash_name: str) -> bytes:
    """RFC 5802 Hi(): PBKDF2 with HMAC of the mechanism's hash, one block."""
    return hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, iterations)


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
    code, hash_name = MECHANISMS[mechanism]
    admin = AIOKafkaAdminClient(**settings.kafka_options(), client_id="vivres-security")
    await admin.start()
    try:
        upserts = []
        for principal in principals:
            salt = secrets.token_bytes(32)
            upserts.append((principal.user, code, SCRAM_ITERATIONS, salt,
                            salted_password(known[principal.user], salt, SCRAM_ITERATIONS,
                                            hash_name), {}))
        response = await admin._send_request(AlterUserScramCredentials(upserts))
        failed = [(user, error, message) for user, error, message, _tags
                  in response.results if error]
        if failed:
            raise SecurityError(f"SCRAM credentials refused: {failed}")
        count = 0
        for principal in principals:
            for acl in principal.acls():
                await _create_acl(admin, principal.user, acl)
                count += 1
    finally:
        await admin.close()
    return Applied([p.user for p in principals], count)


async def _create_acl(admin: AIOKafkaAdminClient, user: str, acl: Acl) -> None:
    response = await admin._send_request(CreateAclsRequest(
        RESOURCE_CODES[acl.resource], acl.name, PATTERN_CODES[acl.pattern], f"User:{user}",
        "*", OPERATION_CODES[acl.operation], ALLOW))
    for result in response.creation_responses:
        if result[0]:
            raise SecurityError(f"ACL {acl} for {user} refused: error {result[0]} {result[1]}")


# AlterUserScramCredentials v0 (KIP-554), flexible from its first version.
class _AlterUserScramCredentialsResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("user", CompactString("utf-8")), ("error_code", Int16),
                                 ("error_message", CompactString("utf-8")),
                                 ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class _AlterUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8),
                                   ("tags", TaggedFields))),
        ("upsertions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8),
                                    ("iterations", Int32), ("salt", CompactBytes),
                                    ("salted_password", CompactBytes),
                                    ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentials(Request[_AlterUserScramCredentialsRequest_v0]):
    API_KEY = 51

    def __init__(self, upsertions: list[tuple]) -> None:
        self.upsertions = upsertions

    def build(self, request_struct_class: type[_AlterUserScramCredentialsRequest_v0]
              ) -> _AlterUserScramCredentialsRequest_v0:
        return request_struct_class([], self.upsertions, {})
