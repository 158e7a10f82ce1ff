"""API tokens: issued once, stored only as SHA-256 digests, checked per request. Pure."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.events.auth import Role, TokenIssued

PREFIX = "vvr_"
ROLES_WITH_SUBJECT = {Role.SHOP, Role.PRODUCER, Role.COMMITTEE, Role.TREASURER}
# A hub coordinator's token names its hub (the directory's hub id); one with none, issued before
# the directory, still pools orders but may not write the directory.
ROLES_MAYBE_SUBJECT = {Role.HUB}


def digest(token: str) -> str:
    """The stored form of a token. Tokens are 256-bit random, so an unsalted hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue(role: Role, subject: str | None, label: str, now: datetime) -> tuple[str, TokenIssued]:
    """A new token (shown once) and the event that records its digest."""
    if role not in ROLES_MAYBE_SUBJECT and (role in ROLES_WITH_SUBJECT) != bool(subject):
        needs = "needs" if role in ROLES_WITH_SUBJECT else "takes no"
        raise ValueError(f"a {role.value} token {needs} subject (shop, producer or caisse id)")
    token = PREFIX + secrets.token_urlsafe(32)
    return token, TokenIssued(token_sha256=digest(token), role=role, subject=subject,
                              label=label, issued_at=now)


@dataclass(frozen=True)
class Principal:
    """Who a request acts for."""

    role: Role
    subject: str | None

    def is_shop(self, shop_id: str) -> bool:
        return self.role is Role.SHOP and self.subject == shop_id


def authenticate(lookup: Callable[[str], TokenIssued | None], presented: str | None
                 ) -> Principal | None:
    """The principal of a presented token, or None when it is unknown or revoked."""
    if not presented or not presented.startswith(PREFIX):
        return None
    record = lookup(digest(presented))
    if record is None or record.revoked:
        return None
    return Principal(record.role, record.subject)
