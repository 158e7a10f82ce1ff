"""Access tokens, stored as digests. Wire form: schemas/auth/TokenIssued.avsc (compacted topic)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


from services.events.base import Event, WireTime


class Role(StrEnum):
    SHOP = "SHOP"
    PRODUCER = "PRODUCER"
    HUB = "HUB"
    COMMITTEE = "COMMITTEE"
    OPERATOR = "OPERATOR"
    TREASURER = "TREASURER"


class TokenIssued(Event):
    schema_name: ClassVar[str] = "org.vivres.auth.TokenIssued"
    time_field: ClassVar[str] = "issued_at"

    token_sha256: str
    role: Role
    subject: str | None = None
    label: str
    issued_at: WireTime
    revoked: bool = False

    @property
    def event_id(self) -> str:
        return f"token/{self.token_sha256[:16]}/{'revoked' if self.revoked else 'issued'}"

    @property
    def event_source(self) -> str:
        return "/auth/tokens"
