"""Bearer tokens on every request that writes or reads people's data."""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from services.auth.tokens import Principal, authenticate
from services.events.auth import Role
from services.gateway.deps import Tokens


async def principal(request: Request, tokens: Tokens) -> Principal:
    """The caller, from `Authorization: Bearer <token>` (401 when missing, unknown or revoked).
    A token the table does not know yet may have just been issued by another process (`vivres
    tokens issue`, then a request at once): the table first reads what the topic holds now."""
    if not getattr(tokens, "healthy", True):  # a revocation could be missing: refuse, say why
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "the token table is not current (Kafka or the registry is away)")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" else None
    who = authenticate(tokens.get, presented)
    if who is None and presented and hasattr(tokens, "catch_up"):
        await tokens.catch_up()
        who = authenticate(tokens.get, presented)
    if who is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing, unknown or revoked token",
                            headers={"WWW-Authenticate": "Bearer"})
    return who


def require_shop_or_staff(who: Principal, shop_id: str) -> None:
    """The shop itself, the hub or an operator (403 otherwise)."""
    _require_self_or_staff(who, Role.SHOP, shop_id, f"not allowed for shop {shop_id}")


def require_producer_or_staff(who: Principal, producer_id: str) -> None:
    """The producer itself, the hub or an operator (403 otherwise)."""
    _require_self_or_staff(who, Role.PRODUCER, producer_id,
                           f"not allowed for producer {producer_id}: the producer itself, "
                           "the hub or an operator")


def _require_self_or_staff(who: Principal, role: Role, subject: str, refusal: str) -> None:
    if not (who.role is role and who.subject == subject
            or who.role in (Role.HUB, Role.OPERATOR)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, refusal)


def require(who: Principal, *roles: Role) -> None:
    if who.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"a {who.role.value} token cannot do this "
                            f"(needs {' or '.join(r.value for r in roles)})")
