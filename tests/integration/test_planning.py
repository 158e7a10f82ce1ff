"""A season planned on the real broker: two years of a seasonal product's weekly sales are
imported, a shop states its forward needs (one week firm, a contrat de culture) and two
producers declare crop plans over HTTP; the planning service (`vivres serve planning`, a child
process) publishes the coverage, whose weeks add up as stated, with the outlook learned from the
history; one producer's revision changes the totals and the gap, and the SSE stream of the
other producer carries the change, naming neither the first producer nor the shop."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from services.bus.settings import BusSettings
from services.planning.outlook import monday
from services.events.auth import Role
from tests.integration.sales_stack import ServiceProcess, running_gateway
from tests.support import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def planning_service(settings, tmp_path) -> Iterator[ServiceProcess]:
    process = ServiceProcess("planning", settings, tmp_path / "planning.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


IN_SEASON = range(8, 18)  # weeks ahead of this one, in every year: the product's season


def in_season(week: date, this_week: date) -> bool:
    return ((week - this_week).days // 7) % 52 in IN_SEASON


def seasonal_history(this_week: date) -> list[dict]:
    """104 weeks before this one: 8,000 g a week in the season, 1,000 otherwise."""
    weeks = [this_week - timedelta(weeks=k) for k in range(104, 0, -1)]
    return [{"week": w.isoformat(), "units": 8_000 if in_season(w, this_week) else 1_000}
            for w in weeks]


async def _coverage(http: httpx.AsyncClient, headers: dict, territory: str, product: str,
                    check) -> dict:
    async def found():
        answer = await http.get("/v1/planning/coverage", headers=headers,
                                params={"territory": territory, "product": product})
        rows = answer.json() if answer.status_code == 200 else []
        return rows[0] if rows and check(rows[0]) else None
    return await eventually(found, timeout=30, interval=0.3, what="the coverage expected")


async def vivres(url: str, token: str, *args: str) -> str:
    """`vivres ARGS` against the test's gateway: what it printed (it must succeed)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli.main", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "VIVRES_GATEWAY_URL": url, "VIVRES_TOKEN": token})
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    return out.decode()


async def _next_coverage(lines, check) -> dict:
    """The first `event: coverage` on the stream that `check` accepts."""
    event = None
    async for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "coverage":
            data = json.loads(line[6:])
            if check(data):
                return data


async def test_needs_and_two_producers_plans_make_the_coverage_and_a_revision_streams(
        settings: BusSettings, planning_service: ServiceProcess) -> None:
    run = uuid.uuid4().hex[:6]
    territory, product = f"saison-{run}", f"courgette-{run}"
    shop, farm_a, farm_b = f"epi-{run}", f"ferme-a-{run}", f"ferme-b-{run}"
    this_week = monday(datetime.now(UTC).date())
    weeks = [this_week + timedelta(weeks=k) for k in (2, 3, 4)]
    async with running_gateway(settings, "planning-test") as stack, \
            httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        operator = {"Authorization": f"Bearer {await stack.token(Role.OPERATOR, None)}"}
        bearer = {who: {"Authorization": f"Bearer {await stack.token(role, who, territory)}"}
                  for role, who in ((Role.SHOP, shop), (Role.PRODUCER, farm_a),
                                    (Role.PRODUCER, farm_b))}
        answer = await http.post("/v1/catalog/products", headers=operator, json={
            "product_id": product, "name": "Courgette", "category": "legumes", "unit": "GRAM"})
        assert answer.status_code in (200, 201), answer.text

        answer = await http.post("/v1/planning/history", headers=operator, json={
            "territory": territory, "product_id": product,
            "weeks": seasonal_history(this_week)})
        assert answer.status_code == 201 and answer.json() == {"imported": 104}, answer.text
        answer = await http.post("/v1/planning/needs", headers=bearer[shop], json={
            "product_id": product, "firm": True, "price_cents": 240,
            "weeks": [{"week": weeks[0].isoformat(), "units": 3_000}]})
        assert answer.status_code == 201, answer.text
        answer = await http.post("/v1/planning/needs", headers=bearer[shop], json={
            "product_id": product,
            "weeks": [{"week": w.isoformat(), "units": 2_000} for w in weeks[1:]]})
        assert answer.status_code == 201, answer.text
        for farm, units in ((farm_a, 1_500), (farm_b, 2_500)):
            answer = await http.post("/v1/planning/plans", headers=bearer[farm], json={
                "territory": territory, "product_id": product,
                "weeks": [{"week": w.isoformat(), "units": units} for w in weeks]})
            assert answer.status_code == 201, answer.text

        def planned(total: int):
            return lambda c: all(w["plans"] == total for w in c["weeks"][2:5])
        seen = await _coverage(http, bearer[farm_a], territory, product, planned(4_000))
        assert seen["history_weeks"] == 104 and seen["unit"] == "GRAM"
        rows = {w["week"]: w for w in seen["weeks"]}
        first = rows[weeks[0].isoformat()]
        assert (first["needs"], first["firm"], first["plans"], first["producers"],
                first["mine"]) == (3_000, 3_000, 4_000, 2, 1_500)
        for row in (rows[w.isoformat()] for w in weeks):
            assert row["demand"] == max(row["outlook"], row["needs"])
            assert row["gap"] == pytest.approx(row["demand"] - 4_000, abs=0.2)
            assert row["outlook_p10"] <= row["outlook"] <= row["outlook_p90"]
        # the outlook learned the season from the imported years (holiday weeks sell less)
        season = [w["outlook"] for w in seen["weeks"]
                  if in_season(date.fromisoformat(w["week"]), this_week)]
        off = [w["outlook"] for w in seen["weeks"][:6]]
        assert len(season) == 10 and min(season) > 3 * max(off), (season, off)
        assert farm_b not in json.dumps(seen) and shop not in json.dumps(seen)

        async with http.stream("GET", "/v1/planning/stream", headers=bearer[farm_b],
                               params={"territory": territory, "product": product},
                               timeout=httpx.Timeout(10, read=45)) as stream:
            lines = stream.aiter_lines()
            before = await asyncio.wait_for(_next_coverage(lines, planned(4_000)), 30)
            assert before["weeks"][2]["mine"] == 2_500
            answer = await http.post("/v1/planning/plans", headers=bearer[farm_a], json={
                "territory": territory, "product_id": product,
                "weeks": [{"week": weeks[0].isoformat(), "units": 500}]})
            assert answer.status_code == 201, answer.text
            after = await asyncio.wait_for(
                _next_coverage(lines, lambda c: c["weeks"][2]["plans"] == 3_000), 30)
        assert after["weeks"][2]["gap"] == pytest.approx(before["weeks"][2]["gap"] + 1_000,
                                                         abs=0.2)
        assert after["weeks"][3]["plans"] == 4_000 and after["weeks"][2]["mine"] == 2_500
        assert farm_a not in json.dumps(after) and shop not in json.dumps(after)

        # the same from a terminal: farm B revises a week, then reads the season
        token_b = bearer[farm_b]["Authorization"].split()[1]
        said = await vivres(stack.url, token_b, "plan", "declarer", "--territoire", territory,
                            "--produit", product, "--du", weeks[2].isoformat(), "--au",
                            weeks[2].isoformat(), "--par-semaine", "3,5 kg")
        assert "Plan enregistré : 1 semaines" in said, said


        async def season_with_the_plan() -> str | None:
            """The CLI's season once the planner has folded the plan in (it follows
            planning.plans: the coverage changes a moment after the plan is accepted)."""
            said = await vivres(stack.url, token_b, "saison", "--territoire", territory,
                                "--produit", product)
            line = next(li for li in said.splitlines() if li.startswith(weeks[2].isoformat()))
            cells = re.split(r"\s{2,}", line)  # week, outlook, band, needs, firm, plans, mine
            return said if (cells[3], cells[5], cells[6]) == ("2 kg", "5 kg", "3,5 kg") else None
        said = await eventually(season_with_the_plan, what="the season with farm B's plan")
        assert said.splitlines()[0].startswith("semaine du") and farm_a not in said

        answer = await http.get("/v1/planning/needs", headers=bearer[shop])
        assert [(n["week"], n["units"], n["firm"]) for n in answer.json()] == [
            (weeks[0].isoformat(), 3_000, True), (weeks[1].isoformat(), 2_000, False),
            (weeks[2].isoformat(), 2_000, False)]


async def test_a_past_week_is_refused_in_french_and_nothing_is_written(
        settings: BusSettings) -> None:
    run = uuid.uuid4().hex[:6]
    territory, farm = f"saison-{run}", f"ferme-{run}"
    async with running_gateway(settings, "planning-refusal-test") as stack, \
            httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        bearer = {"Authorization": f"Bearer {await stack.token(Role.PRODUCER, farm, territory)}"}
        past = monday(datetime.now(UTC).date()) - timedelta(weeks=1)
        answer = await http.post("/v1/planning/plans", headers=bearer, json={
            "territory": territory, "product_id": "carotte",
            "weeks": [{"week": past.isoformat(), "units": 100}]})
        assert answer.status_code == 422, answer.text
        [problem] = [p for p in answer.json()["detail"] if p["type"] == "past_week"]
        assert problem["loc"] == ["body", "weeks", "0", "week"] and "passée" in problem["fr"]
        answer = await http.get("/v1/planning/plans", headers=bearer)
        assert answer.json() == []
