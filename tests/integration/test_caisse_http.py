"""The caisse over HTTP, on the real broker with the caisse service as its own process: the
committee sets rules, approves a shop, enrols households and credits the month; shops redeem
and refund at the till with synchronous answers; the treasurer settles and exports; each role
only does what it may."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from services.events.auth import Role
from tests.integration.caisse_support import RULES
from tests.integration.sales_stack import ServiceProcess, running_sales_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(settings):
    async with running_sales_stack(settings) as running:
        yield running


@pytest.fixture(scope="module")
def caisse_process(settings, tmp_path_factory):
    process = ServiceProcess("caisse", settings,
                             tmp_path_factory.mktemp("caisse") / "caisse.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def post(http: httpx.AsyncClient, path: str, token: str, body: dict, *,
               expect: int = 200) -> dict | list:
    """POST, asking again while the caisse is still starting (504: nothing was applied
    twice, the same request may be sent again)."""
    deadline = asyncio.get_running_loop().time() + 90
    while True:
        response = await http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        if response.status_code != 504 or asyncio.get_running_loop().time() > deadline:
            break
    assert response.status_code == expect, response.text
    return response.json()


async def test_the_caisse_from_the_till_to_the_treasurer(stack, caisse_process) -> None:
    caisse, other = f"caisse-{uuid.uuid4().hex[:6]}", f"caisse-{uuid.uuid4().hex[:6]}"
    shop_a, shop_b = f"shop-a-{caisse}", f"shop-b-{caisse}"
    committee = await stack.token(Role.COMMITTEE, caisse)
    treasurer = await stack.token(Role.TREASURER, caisse)
    outsider = await stack.token(Role.COMMITTEE, other)
    till_a, till_b = await stack.token(Role.SHOP, shop_a), await stack.token(Role.SHOP, shop_b)
    month = datetime.now(UTC).astimezone().strftime("%Y-%m")
    vote = {"effective_on": "2026-01-01", "criteria": ["qualité", "pratiques sociales"],
            "votes_for": 14, "votes_against": 2, "votes_abstain": 1}
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        await post(http, "/v1/caisse/decisions", committee,
                   {"kind": "SET_RULES", "rules": RULES.model_dump(mode="json"), **vote},
                   expect=201)
        await post(http, "/v1/caisse/decisions", committee,
                   {"kind": "APPROVE_SHOP", "subject_id": shop_a,
                    "shop_type": "épicerie solidaire", **vote}, expect=201)
        refused = await post(http, "/v1/caisse/decisions", committee,
                             {"kind": "APPROVE_SHOP", "subject_id": shop_b,
                              **{**vote, "votes_for": 2}}, expect=422)
        assert "not adopted" in str(refused)
        assert refused["detail"][0]["loc"] == ["body", "votes_for"]  # said next to the field
        await post(http, "/v1/caisse/decisions", till_a,
                   {"kind": "APPROVE_SHOP", "subject_id": shop_a, **vote}, expect=403)

        family = {"card_id": f"{caisse}-family", "adults": 2, "children": 3,
                  "income_band": "T1"}
        single = {"card_id": f"{caisse}-single", "adults": 1, "children": 0,
                  "income_band": "T4"}
        for household in (family, single):
            assert (await post(http, "/v1/caisse/households", committee,
                               household))["outcome"] == "DONE"
        await post(http, "/v1/caisse/households", treasurer, family, expect=403)
        credited = await post(http, "/v1/caisse/credits", committee, {"month": month})
        assert (credited["households"], credited["credited_cents"]) == (2, 34_500 + 15_000)
        again = await post(http, "/v1/caisse/credits", treasurer, {"month": month})
        assert again["households"] == 0  # once per household, however often it is asked

        pay = {"redemption_id": "t1-42", "card_id": family["card_id"], "amount_cents": 2_350,
               "ticket_id": f"{shop_a}/caisse-1/42"}
        authorized = await post(http, "/v1/caisse/redemptions", till_a, pay)
        assert (authorized["outcome"], authorized["balance_cents"]) == ("AUTHORIZED", 32_150)
        assert await post(http, "/v1/caisse/redemptions", till_a, pay) == authorized
        await post(http, "/v1/caisse/redemptions", till_a, {**pay, "amount_cents": 1},
                   expect=409)
        for till, body, reason in (
                (till_b, {**pay, "redemption_id": "b-1"}, "SHOP_NOT_APPROVED"),
                (till_a, {**pay, "redemption_id": "a-2", "card_id": "nobody"}, "UNKNOWN_CARD"),
                (till_a, {**pay, "redemption_id": "a-3", "amount_cents": 15_001,
                          "card_id": single["card_id"]}, "INSUFFICIENT_BALANCE")):
            declined = await post(http, "/v1/caisse/redemptions", till, body)
            assert (declined["outcome"], declined["reason"]) == ("DECLINED", reason)

        given_back = await post(http, "/v1/caisse/refunds", till_a, {
            "refund_id": "rf-1", "redemption_id": "t1-42", "card_id": family["card_id"],
            "amount_cents": 350})
        assert (given_back["outcome"], given_back["balance_cents"]) == ("AUTHORIZED", 32_500)

        foreign = await post(http, f"/v1/caisse/cards/{single['card_id']}/block", outsider, {})
        assert foreign["reason"] == "UNKNOWN_CARD"  # another caisse's committee: not its card
        blocked = await post(http, f"/v1/caisse/cards/{single['card_id']}/block", committee, {})
        assert blocked["outcome"] == "DONE"
        declined = await post(http, "/v1/caisse/redemptions", till_a,
                              {**pay, "redemption_id": "a-4", "card_id": single["card_id"]})
        assert declined["reason"] == "CARD_BLOCKED"

        await post(http, "/v1/caisse/contributions", treasurer,
                   {"card_id": family["card_id"], "month": month, "amount_cents": 100,
                    "income_band": "T1"}, expect=201)
        settled = await post(http, "/v1/caisse/settlements", treasurer, {"month": month})
        assert [(s["shop_id"], s["net_cents"]) for s in settled] == [(shop_a, 2_000)]
        await post(http, "/v1/caisse/settlements", committee, {"month": month}, expect=403)
        exported = await http.get("/v1/caisse/settlements",
                                  params={"month": month, "format": "csv"},
                                  headers={"Authorization": f"Bearer {treasurer}"})
        assert exported.headers["content-type"].startswith("text/csv")
        assert exported.content.startswith(b"\xef\xbb\xbfcaisse;commerce;")  # UTF-8, BOM
        rows = {row[1]: row for row in csv.reader(io.StringIO(exported.text), delimiter=";")}
        assert rows[shop_a][-2:] == ["2000", "20,00"]
        report = (await http.get("/v1/caisse/reports", params={"month": month},
                                 headers={"Authorization": f"Bearer {committee}"})).json()
        assert report["total"]["net_cents"] == 2_000
        assert report["by_shop_type"]["épicerie solidaire"]["net_cents"] == 2_000
        assert report["contributions"]["T1"] == {"households": 1, "allowances_cents": 34_500,
                                                 "contributions_cents": 100}
