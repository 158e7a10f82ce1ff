"""`vivres demo seed`: the demo territory's tokens, catalog, till-code mappings and a first
shelf count per shop and product, once. `vivres demo backfill`: the territories' past weeks of
sales, once per stack (services.simulator.backfill says the rule).

Tokens go to `.vivres/demo-tokens.json` (the simulator and `vivres import sales` read it);
running it again reuses them. About one till code in twenty is left unmapped on purpose, so the
operators' list of unmapped codes has something to show.
"""

from __future__ import annotations

import asyncio
import json
import sys
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from services.auth.tokens import Principal, digest, issue
from services.bus.catalog import HUBS as HUB_REGISTRY
from services.bus.catalog import (
    MAPPINGS,
    PLANNING_IMPORTS,
    PLANNING_NEEDS,
    PLANNING_PLANS,
    PRODUCTS,
    SALES,
    STOCK_COUNTS,
    STOCK_LEVELS,
    TOKENS,
)
from services.bus.catalog import PRODUCERS as PRODUCER_REGISTRY
from services.bus.catalog import SHOPS as SHOP_REGISTRY
from services.bus.catalog import TERRITORIES as TERRITORY_REGISTRY
from services.bus.publisher import open_publisher
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.bus.table import TableView
from services.cli.messages import t
from services.events.auth import Role
from services.directory.rules import HUB, PRODUCER, SHOP, TERRITORY, Directory
from services.directory.writer import DirectoryWriter, Refused
from services.events.catalog import ProductDefined, TillCodeMapped, code_key
from services.events.sales import QuantityUnit
from services.events.stock import StockCounted, level_key
from services.simulator import backfill, season
from services.simulator.backfill import Written
from services.simulator.territories import PRODUCTS as DEMO_PRODUCTS
from services.simulator.supply import HUBS as SUPPLY_HUBS
from services.simulator.supply import PRODUCERS as SUPPLY_PRODUCERS
from services.simulator.territories import SHOPS, TERRITORIES, till_code
from services.simulator.territories import DEMO_TOKENS

INITIAL_STOCK = {QuantityUnit.GRAM: 8_000, QuantityUnit.MILLILITRE: 6_000, QuantityUnit.PIECE: 24}
DEMO_PRODUCERS = tuple(producer.id for producer in SUPPLY_PRODUCERS)


def left_unmapped(shop_id: str, product_id: str) -> bool:
    """About one pair in twenty, the same every run."""
    return zlib.crc32(f"{shop_id}/{product_id}".encode()) % 20 == 0


@click.group()
def demo() -> None:
    """Données de démonstration (jetons, catalogue, correspondances)."""


@demo.command("seed")
@click.option("--tokens", "path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEMO_TOKENS, show_default=True, help="Où écrire les jetons de démo.")
def seed(path: Path) -> None:
    """Crée (une fois) les jetons, le catalogue et les correspondances de la démo."""
    tokens, created = asyncio.run(_seed(BusSettings(), path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tokens, indent=2, ensure_ascii=False), encoding="utf-8")
    path.chmod(0o600)
    click.echo(t("demo.seeded", shops=len(tokens["shops"]), producers=len(tokens["producers"]),
                 created=created, path=path))


async def _seed(settings: BusSettings, path: Path) -> tuple[dict, int]:
    now = datetime.now(UTC)
    async with SchemaRegistry(settings.schema_registry_url) as registry, \
            TableView(settings, registry, TOKENS) as known_tokens, \
            TableView(settings, registry, PRODUCTS) as known_products, \
            TableView(settings, registry, MAPPINGS) as known_mappings, \
            TableView(settings, registry, STOCK_LEVELS) as known_levels, \
            TableView(settings, registry, SHOP_REGISTRY) as known_shops, \
            TableView(settings, registry, TERRITORY_REGISTRY) as known_territories, \
            TableView(settings, registry, PRODUCER_REGISTRY) as known_producers, \
            TableView(settings, registry, HUB_REGISTRY) as known_hubs, \
            open_publisher(settings) as publisher:
        previous = _read(path)
        directory = Directory(known_territories, known_shops, known_producers, known_hubs)
        created = await _directory(DirectoryWriter(directory, publisher, lambda: now))

        async def token(role: Role, subject: str | None, label: str, old: str | None) -> str:
            if old and (record := known_tokens.get(digest(old))) and not record.revoked:
                return old
            new, event = issue(role, subject, label, now)
            await publisher.publish(TOKENS, event)
            return new

        tokens = {
            "shops": {s.id: await token(Role.SHOP, s.id, f"démo : {s.name}",
                                        previous.get("shops", {}).get(s.id)) for s in SHOPS},
            "producers": {p: await token(Role.PRODUCER, p, "démo",
                                         previous.get("producers", {}).get(p))
                          for p in DEMO_PRODUCERS},
            **{role.value.lower(): await token(role, None, "démo",
                                               previous.get(role.value.lower()))
               for role in (Role.HUB, Role.OPERATOR)},
            # each territory's hub coordinator, who may also write its territory's directory
            "hubs": {hub_id(t): await token(Role.HUB, hub_id(t), f"démo : pôle de {t}",
                                            previous.get("hubs", {}).get(hub_id(t)))
                     for t in sorted(TERRITORIES)},
            # a caisse's committee and treasurer act for their own caisse (one per territory)
            **{f"{role.value.lower()}s": {
                caisse: await token(role, caisse, f"démo : {TERRITORIES[caisse].caisse}",
                                    previous.get(f"{role.value.lower()}s", {}).get(caisse))
                for caisse in sorted(TERRITORIES)} for role in (Role.COMMITTEE, Role.TREASURER)},
        }
        for product in DEMO_PRODUCTS:
            if known_products.get(product.id) is None:
                labels = (*product.labels, *(("local",) if product.local else ()))
                await publisher.publish(PRODUCTS, ProductDefined(
                    product_id=product.id, name=product.name, category=product.category,
                    unit=product.unit, organic=product.organic, labels=tuple(labels),
                    defined_at=now))
                created += 1
        for shop in SHOPS:
            for product in DEMO_PRODUCTS:
                code, kind = till_code(shop.id, product.id)
                if left_unmapped(shop.id, product.id) or \
                        known_mappings.get(code_key(shop.id, kind, code)) is not None:
                    continue
                await publisher.enqueue(MAPPINGS, TillCodeMapped(
                    shop_id=shop.id, code=code, code_kind=kind, product_id=product.id,
                    mapped_at=now))
                created += 1
        for shop in SHOPS:  # a first shelf count, so the demo's stock starts from something
            for product in DEMO_PRODUCTS:
                if known_levels.get(level_key(shop.id, product.id)) is not None:
                    continue
                await publisher.enqueue(STOCK_COUNTS, StockCounted(
                    count_id=f"demo-initial/{shop.id}/{product.id}", shop_id=shop.id,
                    product_id=product.id, quantity=INITIAL_STOCK[product.unit],
                    unit=product.unit, counted_at=now))
                created += 1
        await publisher.settle()
    return tokens, created


def hub_id(territory: str) -> str:
    return f"pole-{territory}"


async def _directory(writer: DirectoryWriter) -> int:
    """The demo's territories, hubs, épiceries and producers, through the directory's writer
    as a real set-up is (an entry written by an earlier demo is brought up to date); how many
    were written."""
    operator = Principal(Role.OPERATOR, None)
    entries = [(TERRITORY, {"territory_id": t.id, "name": t.name, "timezone": "Europe/Paris",
                            "caisse": t.id}) for t in TERRITORIES.values()]
    entries += [(HUB, {"hub_id": hub_id(t), "territory": t, "name": f"Pôle logistique ({t})",
                       "lat_e6": lat, "lon_e6": lon, "delivery_weekdays": (4,)})
                for t, (lat, lon) in SUPPLY_HUBS.items()]
    entries += [(SHOP, {"shop_id": s.id, "name": s.name, "territory": s.territory,
                        "kind": s.kind, "commune": TERRITORIES[s.territory].name,
                        "timezone": s.timezone,
                        "opening_days": tuple(d + 1 for d, hours in enumerate(s.hours) if hours)})
                for s in SHOPS]
    entries += [(PRODUCER, {"producer_id": p.id, "farm_name": p.name, "commune": p.commune,
                            "farm_lat_e6": p.lat_e6, "farm_lon_e6": p.lon_e6,
                            "organic": p.organic, "labels": p.labels,
                            "territories": (p.territory,)}) for p in SUPPLY_PRODUCERS]
    written = 0
    for kind, fields in entries:
        try:
            written += (await writer.create(operator, kind, fields)).changed
        except Refused as refused:
            if refused.status != 409:
                raise
            changes = {k: v for k, v in fields.items() if k != kind.id_field}
            written += (await writer.update(operator, kind, fields[kind.id_field], changes)
                        ).changed
    return written


@demo.command("backfill")
def backfill_history() -> None:
    """Écrit (une fois par pile) les semaines passées des épiceries, avant le direct."""
    from services.bus.logging import configure_logging

    configure_logging("WARNING", "console")
    today = datetime.now(ZoneInfo("Europe/Paris")).date()  # the simulator's "today"
    first, days = backfill.history_span(today)
    last = first + timedelta(days=days - 1)
    settings = BusSettings()
    if asyncio.run(backfill.holds_sales(settings)):
        click.echo(t("demo.history_present", topic=SALES.name))
        return
    label = t("demo.history_progress", weeks=backfill.HISTORY_WEEKS, first=first, last=last)
    with click.progressbar(length=days, label=label, file=sys.stderr) as bar:
        written = asyncio.run(_backfill(settings, first, days, bar.update))
    click.echo(t("demo.history_written", tickets=written.tickets, lines=written.lines,
                 refunds=written.refunds, first=first, last=last))


@demo.command("season")
def season_history() -> None:
    """Écrit (une fois par pile) la saison : deux ans de ventes d'avant Vivres, besoins
    prévisionnels et plans de culture."""
    from services.bus.logging import configure_logging

    configure_logging("WARNING", "console")
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    settings = BusSettings()
    if asyncio.run(backfill.holds_sales(settings, PLANNING_IMPORTS.name)):
        click.echo(t("demo.season_present", topic=PLANNING_IMPORTS.name))
        return
    _season(settings, backfill.history_span(today)[0], today)


def _season(settings: BusSettings, before: date, today: date) -> None:
    """The years of weekly sales before the tickets' first day `before` (imported, as from a
    former till software), then the coming season's forward needs and crop plans."""
    first, days = season.history_span(before)
    label = t("demo.season_progress", years=season.HISTORY_YEARS, first=first,
              last=before - timedelta(days=1))
    with click.progressbar(length=days, label=label, file=sys.stderr) as bar:
        series = season.daily_units(SHOPS, first, days, backfill.DEMO_SEED, bar.update)
    now = datetime.now(UTC)
    weeks = list(season.imported(series, now))
    history: dict[tuple[str, str], dict[date, int]] = {}
    for week in weeks:
        history.setdefault((week.territory, week.product_id), {})[week.week] = week.units
    plans = season.plans(history, today, now)
    needs = season.needs(history, SHOPS, plans, today, now)

    async def write() -> None:
        async with open_publisher(settings) as publisher:
            for topic, events in ((PLANNING_IMPORTS, weeks), (PLANNING_PLANS, plans),
                                  (PLANNING_NEEDS, needs)):
                for event in events:
                    await publisher.enqueue(topic, event)
            await publisher.settle()
    asyncio.run(write())
    click.echo(t("demo.season_written", weeks=len(weeks), needs=len(needs),
                 firm=sum(n.firm for n in needs), plans=len(plans)))


async def _backfill(settings: BusSettings, first: date, days: int,
                    progress: Callable[[int], None]) -> Written:
    async with open_publisher(settings) as publisher:
        return await backfill.backfill(publisher, SHOPS, first, days, backfill.DEMO_SEED,
                                       progress=progress)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
