"""Tokens stored as digests; the ingest stage's memory of written tickets. No broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.auth.tokens import authenticate, digest, issue
from services.events.auth import Role
from services.sales.dedup import SeenTickets

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def test_a_token_is_shown_once_and_stored_only_as_its_digest() -> None:
    token, event = issue(Role.SHOP, "lyon-graine", "caisse 1", NOW)
    assert token.startswith("vvr_") and len(token) > 40
    assert token not in event.model_dump_json()
    assert event.token_sha256 == digest(token)
    store = {event.token_sha256: event}
    who = authenticate(store.get, token)
    assert who is not None and who.is_shop("lyon-graine") and not who.is_shop("autre")


def test_unknown_malformed_and_revoked_tokens_open_nothing() -> None:
    token, event = issue(Role.OPERATOR, None, "astreinte", NOW)
    store = {event.token_sha256: event}
    assert authenticate(store.get, "vvr_unknown") is None
    assert authenticate(store.get, None) is None
    assert authenticate(store.get, token[4:]) is None
    store[event.token_sha256] = event.model_copy(update={"revoked": True})
    assert authenticate(store.get, token) is None


@pytest.mark.parametrize(("role", "subject"), [(Role.SHOP, None), (Role.OPERATOR, "x")])
def test_subjects_go_with_shop_and_producer_roles_only(role: Role, subject: str | None) -> None:
    with pytest.raises(ValueError, match="subject"):
        issue(role, subject, "", NOW)


def test_seen_tickets_forget_what_is_older_than_the_window() -> None:
    seen = SeenTickets(timedelta(days=60))
    seen.add("s/t1/1", NOW - timedelta(days=61))
    seen.add("s/t1/2", NOW - timedelta(days=3))
    assert "s/t1/1" in seen and len(seen) == 2
    assert seen.prune(NOW) == 1
    assert "s/t1/1" not in seen and "s/t1/2" in seen
