"""The README's "Mettre Vivres en place pour votre territoire", run as it is written: its shell
block, in a directory of the test's own (the checkout's .venv and examples/ beside it), against
a real gateway, ingest stage and demand worker on the real broker. It must end with the
territory's demand signal on the producers' feed, for the producer token it printed."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from services.bus.admin import forget_app
from services.events.auth import Role
from services.simulator.territories import PRODUCTS as DEMO_PRODUCTS
from tests.integration.sales_stack import ROOT, running_sales_stack
from tests.integration.test_demand import demand_process
from tests.support import eventually

pytestmark = pytest.mark.integration
SECTION = "## Mettre Vivres en place pour votre territoire"
TERRITORY, PRODUCT = "val-ardoise", "carotte"  # as the README names them


def readme_block() -> str:
    """The section's shell block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert SECTION in text, "the README lost its set-up walk-through"
    found = re.search(r"```sh\n(.*?)```", text.split(SECTION, 1)[1], re.S)
    assert found, "no ```sh block in the walk-through"
    return found.group(1)


async def _demo_product(stack) -> None:
    """The demo's carrots, as `make run`'s seed defines them (the walk-through maps to it)."""
    if stack.deps.products.get(PRODUCT) is not None:
        return
    carrot = next(p for p in DEMO_PRODUCTS if p.id == PRODUCT)
    hub = await stack.token(Role.OPERATOR, None)
    async with httpx.AsyncClient(base_url=stack.url) as http:
        made = await http.post("/v1/catalog/products", headers={"Authorization": f"Bearer {hub}"},
                               json={"product_id": carrot.id, "name": carrot.name,
                                     "category": carrot.category, "unit": carrot.unit.value,
                                     "organic": carrot.organic, "labels": ["local"]})
        assert made.status_code == 201, made.text


async def test_the_readme_walk_through_ends_with_a_signal(settings, registry, tmp_path) -> None:
    started = datetime.now(UTC)
    app_id = f"test-demand-{uuid.uuid4().hex[:6]}"
    demand = demand_process(settings, tmp_path, TERRITORY, app_id)
    here = tmp_path / "checkout"
    here.mkdir()
    (here / ".venv").symlink_to(Path(sys.prefix))
    (here / "examples").symlink_to(ROOT / "examples")
    async with running_sales_stack(settings) as stack:
        await _demo_product(stack)
        demand.start()
        try:
            script = readme_block() + '\necho "PRODUCTEUR=$PRODUCTEUR"\n'
            process = await asyncio.create_subprocess_exec(
                "bash", "-e", "-c", script, cwd=here,
                env={**os.environ, "VIVRES_GATEWAY_URL": stack.url, "VIVRES_LANG": "fr"},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(process.communicate(), timeout=300)
            said = out.decode() + err.decode()
            assert process.returncode == 0, said
            assert "déjà à jour" in said, said  # the territory's row, added by hand before
            assert "epi-tilleuls" in said, said  # the épiceries listed
            producer = re.search(r"^PRODUCTEUR=(vvr_\S+)$", out.decode(), re.M).group(1)

            async def signal() -> dict | None:
                async with httpx.AsyncClient(base_url=stack.url) as http:
                    response = await http.get("/v1/demand", params={"territory": TERRITORY},
                                              headers={"Authorization": f"Bearer {producer}"})
                assert response.status_code == 200, response.text
                return next((s for s in response.json() if s["product_id"] == PRODUCT
                             and datetime.fromisoformat(s["computed_at"]) > started
                             and sum(d["units"] for d in s["sold"]) >= 2_300), None)
            await eventually(signal, timeout=120, interval=0.5,
                             what="the territory's carrots on the producers' feed")
        finally:
            demand.stop()
            await forget_app(settings, app_id)
