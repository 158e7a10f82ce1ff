"""`vivres security apply` (services/bus/security.py) with fakes for the admin clients: the ACLs
are written before the credentials, and it returns only once every user logs in on every broker,
since a broker applies what the controllers answered for a moment later (a service started in
between was refused and exited: CI stop 30)."""

from __future__ import annotations

from concurrent.futures import Future
from contextlib import asynccontextmanager

import pytest

from services.bus import security
from services.bus.access import PRINCIPALS
from services.bus.settings import BusSettings

ADMIN = BusSettings(kafka_bootstrap_servers="k1:9093", kafka_security_protocol="SASL_SSL",
                    kafka_sasl_username="vivres-admin", kafka_sasl_password="admin")


def _done(keys) -> dict[object, Future]:
    futures = {}
    for key in keys:
        futures[key] = Future()
        futures[key].set_result(None)
    return futures


class _Confluent:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def create_acls(self, bindings):
        self.calls.append("acls")
        return _done(bindings)

    def alter_user_scram_credentials(self, upserts):
        self.calls.append("credentials")
        return _done(u.user for u in upserts)


async def test_the_acls_go_first_and_apply_returns_once_the_credentials_are_in_force(
        monkeypatch, tmp_path) -> None:
    calls: list[str] = []

    @asynccontextmanager
    async def confluent(settings):
        yield _Confluent(calls)

    async def in_force(settings, users):
        calls.append("in force")
        assert settings.kafka_sasl_mechanism == "SCRAM-SHA-256"  # the users' mechanism
        in_force.users = users
    monkeypatch.setattr(security, "confluent_admin", confluent)
    monkeypatch.setattr(security, "until_in_force", in_force)
    secrets = tmp_path / "users.json"
    applied = await security.apply(ADMIN, secrets, mechanism="SCRAM-SHA-256")
    # A broker that knows a user's credential has replayed the ACLs written before it.
    assert calls == ["acls", "credentials", "in force"]
    assert in_force.users == security.passwords(secrets, [p.user for p in PRINCIPALS])
    assert sorted(applied.users) == sorted(p.user for p in PRINCIPALS)


def _cluster(monkeypatch, brokers: list[str], logs_in) -> list[tuple[str, str]]:
    class Admin:
        async def describe_cluster(self):
            return {"brokers": [{"node_id": i, "host": b.split(":")[0],
                                 "port": int(b.split(":")[1])} for i, b in enumerate(brokers)]}

    @asynccontextmanager
    async def admin_client(settings):
        yield Admin()
    tried: list[tuple[str, str]] = []

    async def attempt(settings, broker, user, password):
        tried.append((user, broker))
        assert settings.kafka_sasl_mechanism == ADMIN.kafka_sasl_mechanism
        return logs_in(user, broker, password, tried.count((user, broker)))
    monkeypatch.setattr(security, "admin_client", admin_client)
    monkeypatch.setattr(security, "_logs_in", attempt)
    return tried


async def test_it_waits_until_each_user_logs_in_on_each_broker(monkeypatch) -> None:
    users = {"vivres-stock": "pw-stock", "vivres-caisse": "pw-caisse"}
    # The second broker has not replayed the caisse's credential for its first two attempts.
    tried = _cluster(monkeypatch, ["k1:9093", "k2:9093"],
                     lambda user, broker, password, nth: password == users[user] and not (
                         user == "vivres-caisse" and broker == "k2:9093" and nth <= 2))
    await security.until_in_force(ADMIN, users)
    assert sorted(set(tried)) == sorted((u, b) for u in users for b in ("k1:9093", "k2:9093"))
    assert tried.count(("vivres-caisse", "k2:9093")) == 3
    assert tried.count(("vivres-stock", "k1:9093")) == 1  # logged in: not asked again


async def test_a_user_never_in_force_is_named_after_the_timeout(monkeypatch) -> None:
    _cluster(monkeypatch, ["k1:9093", "k2:9093"],
             lambda user, broker, password, nth: broker == "k1:9093")
    with pytest.raises(security.SecurityError, match=r"vivres-stock on k2:9093$"):
        await security.until_in_force(ADMIN, {"vivres-stock": "pw"}, timeout_s=0.3)
