"""The directory's rules and its writer, without a broker: every refusal with its status, type
and French sentence; who may write what; a repeat changes nothing; and the gateway's routes
answer them (a fake publisher, plain dicts for the tables)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.auth.tokens import Principal, digest, issue
from services.directory.rules import (
    HUB,
    PRODUCER,
    SHOP,
    TERRITORY,
    Directory,
    Refusal,
    in_france,
    selling_problems,
    token_problems,
)
from services.directory.writer import DirectoryWriter, Refused
from services.events.auth import Role
from services.gateway.app import GatewayDeps, create_app

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
OPERATOR = Principal(Role.OPERATOR, None)
LYON_HUB = Principal(Role.HUB, "pole-lyon")


class Published:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    async def publish(self, topic, event, **_kw) -> None:
        self.events.append((topic.name, event))

    async def publish_many(self, topic, events, **_kw) -> None:
        for event in events:
            await self.publish(topic, event)


def _territory(tid: str = "lyon", **more) -> dict:
    return {"territory_id": tid, "name": tid.title(), "timezone": "Europe/Paris",
            "caisse": None, **more}


def _shop(sid: str = "epi-gerland", territory: str = "lyon", **more) -> dict:
    return {"shop_id": sid, "name": "Épicerie de Gerland", "territory": territory,
            "kind": "solidaire", "commune": "Lyon", "timezone": "Europe/Paris",
            "opening_days": (2, 4, 6), **more}


def _producer(pid: str = "ferme-monts", **more) -> dict:
    return {"producer_id": pid, "farm_name": "Ferme des Monts", "commune": "Yzeron",
            "farm_lat_e6": 45_707_000, "farm_lon_e6": 4_589_000, "organic": True,
            "labels": ("hve",), "territories": ("lyon",), **more}


def _hub(hid: str = "pole-lyon", **more) -> dict:
    return {"hub_id": hid, "territory": "lyon", "name": "Pôle de Lyon", "lat_e6": 45_734_000,
            "lon_e6": 4_869_000, "delivery_weekdays": (4,), **more}


@pytest.fixture
async def writer() -> DirectoryWriter:
    """A directory with Lyon, its hub, one shop and one producer."""
    w = DirectoryWriter(Directory({}, {}, {}, {}), Published(), clock=lambda: NOW)
    await w.create(OPERATOR, TERRITORY, _territory(caisse="calim"))
    await w.create(OPERATOR, TERRITORY, _territory("marseille"))
    await w.create(OPERATOR, HUB, _hub())
    await w.create(OPERATOR, SHOP, _shop())
    await w.create(OPERATOR, PRODUCER, _producer())
    return w


async def _refused(write) -> list[Refusal]:
    with pytest.raises(Refused) as caught:
        await write
    return caught.value.refusals


def test_france_is_the_metropole_corsica_and_the_overseas_departements() -> None:
    assert in_france(45_764_043, 4_835_659)  # Lyon
    assert in_france(42_697_000, 9_450_000)  # Bastia
    assert in_france(-20_882_000, 55_450_000)  # Saint-Denis de La Réunion
    assert not in_france(4_835_659, 45_764_043)  # latitude and longitude swapped
    assert not in_france(43_296_000, -5_370_000)  # Marseille with a sign lost: the Atlantic
    assert not in_france(45, 4)  # degrees where microdegrees are expected
    assert not in_france(40_416_000, -3_703_000)  # Madrid


async def test_a_repeat_changes_nothing_and_other_values_under_its_id_conflict(writer) -> None:
    published = len(writer.publisher.events)
    again = await writer.create(OPERATOR, SHOP, _shop())
    assert not again.changed and len(writer.publisher.events) == published
    [conflict] = await _refused(writer.create(OPERATOR, SHOP, _shop(name="Autre nom")))
    assert (conflict.status, conflict.type) == (409, "conflicting_id")
    assert "modifiez" in conflict.fr


@pytest.mark.parametrize(("kind", "fields", "type_", "loc", "french"), [
    (SHOP, _shop("epi-x", territory="nantes"), "unknown_territory", ("territory",),
     "« nantes » n'existe pas"),
    (PRODUCER, _producer("ferme-x", territories=("lyon", "brest")), "unknown_territory",
     ("territories",), "« brest »"),
    (PRODUCER, _producer("ferme-x", farm_lat_e6=4_589_000, farm_lon_e6=45_707_000),
     "outside_france", ("farm_lat_e6",), "n'est pas en France"),
    (HUB, _hub("pole-x", lat_e6=51_507_000, lon_e6=-127_000), "outside_france", ("lat_e6",),
     "n'est pas en France"),
    (PRODUCER, _producer("epi-gerland"), "duplicate_id", ("producer_id",), "déjà celui"),
    (HUB, _hub("ferme-monts"), "duplicate_id", ("hub_id",), "déjà celui"),
])
async def test_each_problem_is_a_422_naming_its_field_in_french(writer, kind, fields, type_,
                                                                loc, french) -> None:
    [refusal] = await _refused(writer.create(OPERATOR, kind, fields))
    assert (refusal.status, refusal.type, refusal.loc) == (422, type_, loc)
    assert french in refusal.fr
    assert refusal.detail()["loc"] == ["body", *loc]


async def test_a_closed_territory_takes_no_new_shop(writer) -> None:
    await writer.close(OPERATOR, TERRITORY, "marseille")
    [refusal] = await _refused(writer.create(OPERATOR, SHOP, _shop("epi-m", "marseille")))
    assert refusal.type == "closed_territory"


@pytest.mark.parametrize(("who", "kind", "fields", "allowed"), [
    (LYON_HUB, SHOP, _shop("epi-new"), True),  # the hub adds its territory's shops
    (LYON_HUB, PRODUCER, _producer("ferme-new"), True),
    (LYON_HUB, SHOP, _shop("epi-new", "marseille"), False),  # not another territory's
    (LYON_HUB, PRODUCER, _producer("ferme-new", territories=("marseille",)), False),
    (LYON_HUB, TERRITORY, _territory("nantes"), False),  # operators set up territories
    (LYON_HUB, HUB, _hub("pole-2"), False),
    (Principal(Role.HUB, None), SHOP, _shop("epi-new"), False),  # a hub token of no hub
    (Principal(Role.SHOP, "epi-gerland"), SHOP, _shop("epi-new"), False),
    (Principal(Role.PRODUCER, "ferme-monts"), PRODUCER, _producer("ferme-new"), False),
    (Principal(Role.COMMITTEE, "calim"), SHOP, _shop("epi-new"), False),
])
async def test_who_may_create(writer, who, kind, fields, allowed) -> None:
    if allowed:
        assert (await writer.create(who, kind, fields)).changed
    else:
        [refusal] = await _refused(writer.create(who, kind, fields))
        assert (refusal.status, refusal.type) == (403, "forbidden")


async def test_a_shop_and_a_producer_correct_their_own_entry_only(writer) -> None:
    shop = Principal(Role.SHOP, "epi-gerland")
    fixed = await writer.update(shop, SHOP, "epi-gerland", {"opening_days": (1, 3)})
    assert fixed.changed and fixed.entry.opening_days == (1, 3)
    assert fixed.entry.registered_at == NOW
    [moved] = await _refused(writer.update(shop, SHOP, "epi-gerland",
                                           {"territory": "marseille"}))
    assert moved.status == 403  # not its territory: the hub or an operator moves it
    farm = Principal(Role.PRODUCER, "ferme-monts")
    assert (await writer.update(farm, PRODUCER, "ferme-monts", {"commune": "Vaugneray"})
            ).entry.commune == "Vaugneray"
    [other] = await _refused(writer.update(Principal(Role.PRODUCER, "ferme-x"), PRODUCER,
                                           "ferme-monts", {"commune": "Brindas"}))
    assert other.status == 403
    hub = await writer.update(LYON_HUB, HUB, "pole-lyon", {"delivery_weekdays": (2, 4)})
    assert hub.entry.delivery_weekdays == (2, 4)


async def test_a_closed_entry_keeps_its_id_and_refuses_corrections(writer) -> None:
    closed = await writer.close(LYON_HUB, SHOP, "epi-gerland")
    assert closed.changed and closed.entry.closed_at == NOW
    assert not (await writer.close(LYON_HUB, SHOP, "epi-gerland")).changed
    [refusal] = await _refused(writer.update(OPERATOR, SHOP, "epi-gerland", {"name": "X"}))
    assert (refusal.status, refusal.type) == (409, "closed")
    [unknown] = await _refused(writer.close(OPERATOR, SHOP, "epi-nowhere"))
    assert (unknown.status, unknown.type) == (404, "unknown")
    after, before = NOW + timedelta(minutes=5), NOW - timedelta(hours=3)
    [selling] = selling_problems(writer.directory, [("epi-gerland", after)] * 2)
    assert selling.type == "closed_shop" and "fermée depuis le 03/12/2026" in selling.fr
    assert selling_problems(writer.directory, [("epi-gerland", before)]) == []  # uploaded late
    assert selling_problems(writer.directory, [("epi-nowhere", before)])[0].type == \
        "unknown_shop"


async def test_tokens_only_for_the_directory_s_open_subjects(writer) -> None:
    d = writer.directory
    assert token_problems(OPERATOR, Role.SHOP, "epi-gerland", d) == []
    assert token_problems(OPERATOR, Role.HUB, "pole-lyon", d) == []
    assert token_problems(OPERATOR, Role.COMMITTEE, "calim", d) == []
    assert [p.type for p in token_problems(OPERATOR, Role.SHOP, "epi-nowhere", d)] == [
        "unknown_subject"]
    assert [p.type for p in token_problems(OPERATOR, Role.PRODUCER, "epi-gerland", d)] == [
        "unknown_subject"]  # a shop's id is not a producer
    assert [p.type for p in token_problems(OPERATOR, Role.COMMITTEE, "lyon", d)] == [
        "unknown_subject"]  # the committee's subject is a caisse
    assert token_problems(LYON_HUB, Role.PRODUCER, "ferme-monts", d) == []
    assert [p.status for p in token_problems(LYON_HUB, Role.OPERATOR, None, d)] == [403]
    assert [p.status for p in token_problems(LYON_HUB, Role.HUB, "pole-lyon", d)] == [403]
    await writer.close(OPERATOR, SHOP, "epi-gerland")
    assert [p.type for p in token_problems(OPERATOR, Role.SHOP, "epi-gerland", d)] == [
        "closed_subject"]


# -- over HTTP ----------------------------------------------------------------------------


class Tokens(dict):
    def put(self, event) -> None:
        self[event.token_sha256] = event


@pytest.fixture
async def http(writer):
    tokens = Tokens()
    bearer = {}
    for name, role, subject in (("operator", Role.OPERATOR, None),
                                ("hub", Role.HUB, "pole-lyon"),
                                ("shop", Role.SHOP, "epi-gerland"),
                                ("producer", Role.PRODUCER, "ferme-monts")):
        token, event = issue(role, subject, name, NOW)
        tokens.put(event)
        bearer[name] = {"Authorization": f"Bearer {token}"}
    deps = GatewayDeps(writer.publisher, tokens, {}, {}, {}, {}, {}, {},
                       directory=writer.directory, clock=lambda: NOW)
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.bearer = bearer
        client.tokens = tokens
        yield client


async def test_http_create_repeat_conflict_and_problems(http) -> None:
    body = {"shop_id": "epi-croix", "name": "Épicerie de la Croix-Rousse",
            "territory": "lyon", "kind": "sociale", "opening_days": [2, 5]}
    created = await http.post("/v1/shops", json=body, headers=http.bearer["hub"])
    assert created.status_code == 201, created.text
    assert created.json()["timezone"] == "Europe/Paris"  # the territory's
    again = await http.post("/v1/shops", json=body, headers=http.bearer["hub"])
    assert again.status_code == 200
    conflict = await http.post("/v1/shops", json=body | {"kind": "solidaire"},
                               headers=http.bearer["hub"])
    assert conflict.status_code == 409 and conflict.json()["detail"][0]["type"] == \
        "conflicting_id"
    unknown = await http.post("/v1/shops", json=body | {"shop_id": "x", "territory": "nantes"},
                              headers=http.bearer["operator"])
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["fr"].startswith("Le territoire « nantes »")
    zone = await http.post("/v1/territories", json={"territory_id": "brest", "name": "Brest",
                                                    "timezone": "Europe/Brest"},
                           headers=http.bearer["operator"])
    assert zone.status_code == 422 and zone.json()["detail"][0]["loc"] == [
        "body", "timezone"]


async def test_http_reads_for_everyone_writes_as_the_rules_say(http) -> None:
    for who in ("operator", "hub", "shop", "producer"):
        listed = await http.get("/v1/producers", params={"territory": "lyon"},
                                headers=http.bearer[who])
        assert [p["producer_id"] for p in listed.json()] == ["ferme-monts"]
    assert (await http.get("/v1/shops")).status_code == 401
    fixed = await http.patch("/v1/producers/ferme-monts", json={"labels": ["hve", "bio"]},
                             headers=http.bearer["producer"])
    assert fixed.status_code == 200 and fixed.json()["labels"] == ["hve", "bio"]
    other = await http.patch("/v1/shops/epi-gerland", json={"name": "X"},
                             headers=http.bearer["producer"])
    assert other.status_code == 403
    closed = await http.post("/v1/shops/epi-gerland/close", headers=http.bearer["shop"])
    assert closed.status_code == 403  # a shop corrects its entry, its hub closes it
    closed = await http.post("/v1/shops/epi-gerland/close", headers=http.bearer["hub"])
    assert closed.status_code == 200 and closed.json()["closed_at"]
    assert (await http.get("/v1/shops", headers=http.bearer["shop"])).json() == []
    listed = await http.get("/v1/shops", params={"closed": True}, headers=http.bearer["shop"])
    assert [s["shop_id"] for s in listed.json()] == ["epi-gerland"]
    missing = await http.get("/v1/hubs/pole-x", headers=http.bearer["shop"])
    assert missing.status_code == 404


async def test_http_tokens_are_issued_once_for_known_subjects(http) -> None:
    issued = await http.post("/v1/tokens", json={"role": "PRODUCER", "subject": "ferme-monts",
                                                 "label": "portable"},
                             headers=http.bearer["hub"])
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert http.tokens[digest(token)].subject == "ferme-monts"
    listed = await http.get("/v1/tokens", params={"subject": "ferme-monts"},
                            headers=http.bearer["hub"])
    assert token not in listed.text and any(t["label"] == "portable" for t in listed.json())
    unknown = await http.post("/v1/tokens", json={"role": "SHOP", "subject": "epi-nowhere"},
                              headers=http.bearer["operator"])
    assert unknown.status_code == 422 and "ajoutez-le d'abord" in unknown.json()[
        "detail"][0]["fr"]
    assert (await http.post("/v1/tokens", json={"role": "OPERATOR"},
                            headers=http.bearer["hub"])).status_code == 403
    assert (await http.get("/v1/tokens", params={"subject": "ferme-monts"},
                           headers=http.bearer["shop"])).status_code == 403


def _ticket(shop: str, at: datetime) -> dict:
    return {"shop_id": shop, "till_id": "t1", "ticket_number": 7,
            "occurred_at": at.isoformat(), "timezone": "Europe/Paris",
            "lines": [{"product_code": "2002", "code_kind": "PLU", "label": "Poireaux",
                       "quantity": 500, "unit": "GRAM", "unit_price_cents": 300,
                       "paid_cents": 45}],
            "payments": [{"method": "CASH", "amount_cents": 45}]}


async def test_http_tickets_of_an_unknown_or_closed_shop_are_refused(http) -> None:
    shop = http.bearer["shop"]
    accepted = await http.post("/v1/sales", json=_ticket("epi-gerland", NOW), headers=shop)
    assert accepted.status_code == 202, accepted.text
    await http.post("/v1/shops/epi-gerland/close", headers=http.bearer["hub"])
    late = await http.post("/v1/sales", json=_ticket("epi-gerland", NOW - timedelta(hours=2)),
                           headers=shop)  # a till's late upload of the day before closing
    assert late.status_code == 202, late.text
    after = await http.post("/v1/sales", json=_ticket("epi-gerland", NOW + timedelta(minutes=1)),
                            headers=shop)
    assert after.status_code == 422
    assert after.json()["detail"][0]["fr"] == \
        "L'épicerie « epi-gerland » est fermée depuis le 03/12/2026."
    token, event = issue(Role.SHOP, "epi-ghost", "x", NOW)  # a token from before the directory
    http.tokens.put(event)
    ghost = await http.post("/v1/sales", json=_ticket("epi-ghost", NOW),
                            headers={"Authorization": f"Bearer {token}"})
    assert ghost.status_code == 422 and ghost.json()["detail"][0]["type"] == "unknown_shop"
