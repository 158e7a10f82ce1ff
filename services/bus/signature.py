"""Standard Webhooks (standardwebhooks.com, spec 1.0.0): how what Vivres POSTs is signed, and
how a receiver checks it.

Every delivery carries three headers:

    webhook-id         the event's id: the same on every retry of one delivery
    webhook-timestamp  when this attempt was made, integer unix seconds
    webhook-signature  `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per secret
                       currently valid, space-separated (during a rotation both old and new sign)

A secret is written the Standard Webhooks way, `whsec_<base64 of the key>`. A secret without that
prefix (the plain ones Vivres handed out before) is used as its UTF-8 bytes. Where one setting
holds the secrets, they are separated by spaces: `"whsec_new whsec_old"` signs with both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as randomness
from collections.abc import Iterable, Mapping, MutableMapping

ID, TIMESTAMP, SIGNATURE = "webhook-id", "webhook-timestamp", "webhook-signature"
PREFIX = "whsec_"
TOLERANCE_S = 300


class Refused(Exception):
    """A delivery not to be trusted; its message says why."""


class Replayed(Refused):
    """A genuine delivery whose id was already accepted: acknowledge it, do not act on it again."""


def new_secret() -> str:
    """A fresh `whsec_` secret (32 random bytes)."""
    return PREFIX + base64.b64encode(randomness.token_bytes(32)).decode()


def secrets_of(setting: str | Iterable[str] | None) -> list[str]:
    """The secrets of a setting: one string, space-separated, or already a list."""
    if setting is None:
        return []
    if isinstance(setting, str):
        return setting.split()
    return [s for s in setting if s]


def key(secret: str) -> bytes:
    """The HMAC key of a secret; ValueError for a `whsec_` one that is not base64."""
    if not secret.startswith(PREFIX):
        return secret.encode()
    try:
        return base64.b64decode(secret[len(PREFIX):], validate=True)
    except binascii.Error as err:
        raise ValueError(f"a {PREFIX} secret must be base64: {err}") from None


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of a delivery."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key(secret), signed, hashlib.sha256).digest()).decode()


def sign(secrets: str | Iterable[str], webhook_id: str, body: bytes,
         timestamp: int) -> dict[str, str]:
    """The three headers of one attempt at a delivery, signed by every secret given."""
    return {ID: webhook_id, TIMESTAMP: str(timestamp),
            SIGNATURE: " ".join(signature(s, webhook_id, timestamp, body)
                                for s in secrets_of(secrets))}


def verify(secrets: str | Iterable[str], headers: Mapping[str, str], body: bytes, now: float,
           tolerance_s: float = TOLERANCE_S,
           seen: MutableMapping[str, int] | None = None) -> str:
    """The delivery's webhook-id when one of `secrets` signed it and its timestamp is within
    `tolerance_s` of `now` (unix seconds); else Refused. With `seen` (the ids accepted so far,
    with their newest timestamp), an id met again is Replayed, and ids older than the tolerance
    are forgotten: a delivery that old is refused as stale anyway."""
    webhook_id, timestamp, given = _read(headers)
    if abs(now - timestamp) > tolerance_s:
        raise Refused(f"{TIMESTAMP} {timestamp} is {now - timestamp:+.0f} s from now "
                      f"(tolerance {tolerance_s:g} s)")
    if not _signed_by_one(secrets_of(secrets), webhook_id, timestamp, body, given):
        raise Refused(f"no {SIGNATURE} matches a secret")
    if seen is not None:
        _remember(seen, webhook_id, timestamp, now - tolerance_s)
    return webhook_id


def _read(headers: Mapping[str, str]) -> tuple[str, int, list[str]]:
    found = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in (ID, TIMESTAMP, SIGNATURE) if not found.get(name)]
    if missing:
        raise Refused(f"missing {', '.join(missing)}")
    try:
        timestamp = int(found[TIMESTAMP])
    except ValueError:
        raise Refused(f"{TIMESTAMP} is not unix seconds: {found[TIMESTAMP][:40]!r}") from None
    return found[ID], timestamp, found[SIGNATURE].split()


def _signed_by_one(secrets: list[str], webhook_id: str, timestamp: int, body: bytes,
                   given: list[str]) -> bool:
    expected = [signature(s, webhook_id, timestamp, body).encode() for s in secrets]
    return any(hmac.compare_digest(e, g.encode(errors="replace")) for e in expected for g in given)


def _remember(seen: MutableMapping[str, int], webhook_id: str, timestamp: int,
              horizon: float) -> None:
    for old in [i for i, at in seen.items() if at < horizon]:
        del seen[old]
    known = seen.get(webhook_id)
    seen[webhook_id] = max(timestamp, known or timestamp)  # a newer capture stays refused
    if known is not None:
        raise Replayed(f"{ID} {webhook_id} already accepted")
