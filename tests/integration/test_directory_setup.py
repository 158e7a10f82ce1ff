"""A territory set up from nothing but Vivres itself, on the real broker: an operator creates the
territory and its hub over HTTP and gives the hub coordinator a token; the coordinator adds an
épicerie and a producer over HTTP and the rest from a CSV file (`vivres import annuaire`, run
twice: the second changes nothing), and issues everyone's tokens. Then the shops sell and state
needs, the producers declare offers without typing their farm's location, the hub consolidates
without typing its own, and the territory's demand signals and the grid's locality scores come
out of the registered locations. No demo seed: the territory, its shops and producers are the
test's own."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.bus.admin import forget_app
from services.directory.rules import in_france
from services.events.auth import Role
from services.orders.grid import Location, distance_m
from tests.integration.sales_stack import ROOT, ServiceProcess, running_sales_stack, served
from tests.integration.test_demand import demand_process
from tests.support import eventually

pytestmark = pytest.mark.integration
HUB = (45_748_500, 4_846_700)  # Lyon 8e
FARMS = {"near": (45_790_000, 4_880_000), "mid": (45_600_000, 4_450_000),
         "far": (45_200_000, 5_700_000)}  # Caluire, the Monts du Lyonnais, Isère


@pytest.fixture
def orders_service(settings, tmp_path) -> Iterator[ServiceProcess]:
    with served("orders", settings, tmp_path) as process:
        yield process


def _csv(path: Path, run: str, territory: str) -> Path:
    """The coordinator's spreadsheet: a second épicerie and two producers, `;`-separated with
    decimal commas, as a French spreadsheet exports it."""
    (mid_lat, mid_lon), (far_lat, far_lon) = FARMS["mid"], FARMS["far"]
    rows = [
        "type;id;nom;territoire;type_epicerie;commune;jours;lat;lon;bio;labels",
        f"epicerie;epi-2-{run};Épicerie du Plateau;{territory};sociale;Lyon;2,4,6;;;;",
        f"producteur;mid-{run};GAEC des Monts;{territory};;Saint-Symphorien-sur-Coise;;"
        + f"{mid_lat / 1e6:.4f};{mid_lon / 1e6:.4f};non;hve".replace(".", ","),
        f"producteur;far-{run};Ferme de l'Isère;{territory};;Voiron;;"
        + f"{far_lat / 1e6:.4f};{far_lon / 1e6:.4f};oui;".replace(".", ","),
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    return path


async def _import(csv: Path, url: str, token: str) -> tuple[int, str]:
    """`vivres import annuaire` as a person runs it (the gateway runs on this test's loop: the
    command is awaited, never waited for); its exit code and what it wrote to stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli.main", "import", "annuaire", str(csv), "--url", url,
        cwd=ROOT, env={**os.environ, "VIVRES_TOKEN": token},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, out.decode() + err.decode()


async def test_a_territory_set_up_from_nothing_gives_signals_and_grid_scores(
        settings, registry, tmp_path, orders_service) -> None:
    run = uuid.uuid4().hex[:6]
    territory, hub_id, product = f"terr-{run}", f"pole-{run}", f"poireau-{run}"
    app_id = f"test-demand-{run}"
    demand = demand_process(settings, tmp_path, territory, app_id)
    slot = (datetime.now(UTC) + timedelta(days=2)).date()
    async with running_sales_stack(settings) as stack, \
            httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        async def call(token: str, path: str, body: dict, expected: int = 201) -> dict:
            response = await http.post(path, json=body,
                                       headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == expected, f"{path}: {response.text}"
            return response.json()

        async def token_for(issuer: str, role: str, subject: str) -> str:
            return (await call(issuer, "/v1/tokens", {"role": role, "subject": subject,
                                                      "label": "mise en place"}))["token"]

        # the operator: the territory, its hub, and the hub coordinator's token
        operator = await stack.token(Role.OPERATOR, None)
        await call(operator, "/v1/territories", {"territory_id": territory, "name": "Lyon test"})
        await call(operator, "/v1/hubs", {"hub_id": hub_id, "territory": territory,
                                          "name": "Pôle de Gerland", "lat_e6": HUB[0],
                                          "lon_e6": HUB[1], "delivery_weekdays": [4]})
        hub = await token_for(operator, "HUB", hub_id)
        # the coordinator: an épicerie and a producer over HTTP, the rest from a spreadsheet
        await call(hub, "/v1/shops", {"shop_id": f"epi-1-{run}", "name": "Épicerie de Gerland",
                                      "territory": territory, "kind": "solidaire",
                                      "commune": "Lyon", "opening_days": [2, 3, 5]})
        near_lat, near_lon = FARMS["near"]
        await call(hub, "/v1/producers", {"producer_id": f"near-{run}",
                                          "farm_name": "Ferme de Caluire", "commune": "Caluire",
                                          "farm_lat_e6": near_lat, "farm_lon_e6": near_lon,
                                          "organic": True, "territories": [territory]})
        csv = _csv(tmp_path / "annuaire.csv", run, territory)
        code, said = await _import(csv, stack.url, hub)
        assert code == 0, said
        code, said = await _import(csv, stack.url, hub)
        assert code == 0 and "3 déjà à jour" in said, said
        await eventually(lambda: len([s for s in stack.deps.directory.shops.values()
                                      if s.territory == territory]) == 2,
                         what="both épiceries in the directory")
        listed = await http.get("/v1/producers", params={"territory": territory},
                                headers={"Authorization": f"Bearer {hub}"})
        producers = {p["producer_id"].split("-")[0]: p for p in listed.json()}
        assert set(producers) == {"near", "mid", "far"}
        assert (producers["far"]["farm_lat_e6"], producers["far"]["farm_lon_e6"]) == FARMS["far"]
        assert all(in_france(p["farm_lat_e6"], p["farm_lon_e6"]) for p in producers.values())
        shops = sorted(s.shop_id for s in stack.deps.directory.shops.values()
                       if s.territory == territory)
        shop = {s: await token_for(hub, "SHOP", s) for s in shops}
        farm = {name: await token_for(hub, "PRODUCER", p["producer_id"])
                for name, p in producers.items()}

        # the catalog and the tills' codes, then a day of sales
        await call(hub, "/v1/catalog/products", {"product_id": product, "name": "Poireau",
                                                 "unit": "GRAM", "category": "legumes"})
        for s in shops:
            await call(shop[s], "/v1/catalog/mappings", {"shop_id": s, "code": "2002",
                                                         "code_kind": "PLU",
                                                         "product_id": product})
        demand.start()
        try:
            yesterday = datetime.now(UTC) - timedelta(days=1)  # a signal's days end yesterday
            for n, s in enumerate(shops * 3):
                await call(shop[s], "/v1/sales", {
                    "shop_id": s, "till_id": "t1", "ticket_number": n + 1,
                    "occurred_at": (yesterday - timedelta(minutes=n)).isoformat(),
                    "lines": [{"product_code": "2002", "code_kind": "PLU",
                               "label": "Poireaux", "quantity": 1_000, "unit": "GRAM",
                               "unit_price_cents": 320, "paid_cents": 96}],
                    "payments": [{"method": "CASH", "amount_cents": 96}]}, expected=202)

            async def signal() -> dict | None:
                response = await http.get("/v1/demand", params={"territory": territory},
                                          headers={"Authorization": f"Bearer {farm['near']}"})
                found = [s for s in response.json() if s["product_id"] == product]
                return found[0] if found and sum(d["units"] for d in found[0]["sold"]) == \
                    6_000 else None
            territory_signal = await eventually(signal, timeout=120, interval=0.5,
                                                what="the territory's demand signal")
            assert territory_signal["shop_id"] is None
        finally:
            demand.stop()
            await forget_app(settings, app_id)

        # offers without a farm's location, needs, and a consolidation without the hub's
        window = {"window_start": (slot - timedelta(days=7)).isoformat(),
                  "window_end": (slot + timedelta(days=30)).isoformat()}
        for name, token in farm.items():
            offer = await call(token, "/v1/availability", {
                "offer_id": f"{name}-{run}-poireau", "territory": territory,
                "product_id": product, "quantity_per_slot": 60_000, "pack_size": 5_000,
                "price_cents": 320, **window})
            assert (offer["farm_lat_e6"], offer["farm_lon_e6"]) == FARMS[name]
        orders_service.restart()  # it reads the offers when it starts
        for s in shops:
            await call(shop[s], "/v1/needs", {"need_id": f"{s}-need", "shop_id": s,
                                              "territory": territory, "product_id": product,
                                              "quantity": 8_000,
                                              "delivery_slot": slot.isoformat()},
                       expected=202)
        await call(hub, "/v1/orders/consolidate", {"territory": territory,
                                                   "delivery_slot": slot.isoformat()},
                   expected=202)

        async def order() -> dict | None:
            response = await http.get("/v1/orders", params={"territory": territory},
                                      headers={"Authorization": f"Bearer {hub}"})
            return response.json()[0] if response.json() else None
        pooled = await eventually(order, timeout=60, what="the pooled order")
        assert (pooled["hub_lat_e6"], pooled["hub_lon_e6"]) == HUB
        ranked = {c["producer_id"].split("-")[0]: c for c in pooled["lines"][0]["candidates"]}
        for name, (lat, lon) in FARMS.items():  # distances from the registered locations
            assert ranked[name]["distance_m"] == distance_m(Location(*HUB), Location(lat, lon))
        assert ranked["near"]["locality"] > ranked["mid"]["locality"] > \
            ranked["far"]["locality"]
        assert pooled["producer_id"] == f"near-{run}"
