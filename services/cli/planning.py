"""`vivres saison`, `vivres plan declarer`, `vivres besoins declarer` and `vivres import
historique FICHIER.csv`: planning a season from a terminal, through the gateway's planning API
(services.gateway.planning), whose rules (services.planning.rules) decide and whose French
sentences are shown as they are.

Quantities are typed as people say them: `12kg`, `12,5 kg`, `800 g`, `3 L`, `24` (pieces, or the
product's kilograms or litres when no unit is given).
"""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from services.cli.directory import URL, open_gateway, run, table
from services.cli.messages import t
from services.planning.outlook import monday

QUANTITY = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*(kg|g|l|ml|pi[eè]ces?|pcs?)?\s*$", re.I)
SCALE = {"kg": 1000, "g": 1, "l": 1000, "ml": 1}
BIG = {"GRAM": ("kg", 1000), "MILLILITRE": ("L", 1000), "PIECE": ("pièces", 1)}


def base_units(text: str, unit: str) -> int:
    """'12,5 kg' → 12500 for a product sold by the gram; no unit: kg, L or pieces."""
    found = QUANTITY.match(text)
    if found is None:
        raise click.BadParameter(t("planning.bad_quantity", text=text))
    number = float(found[1].replace(",", "."))
    given = (found[2] or "").lower()
    if given in SCALE:
        if unit == "PIECE":
            raise click.BadParameter(t("planning.pieces_only", text=text))
        return round(number * SCALE[given])
    return round(number * BIG[unit][1])


def said(units: float | None, unit: str) -> str:
    """Base units as people read them: 12.5 kg, 3 L, 24 pièces."""
    if units is None:
        return "—"
    name, per = BIG.get(unit, ("", 1))
    value = units / per
    text = f"{value:.1f}".rstrip("0").rstrip(".") if per > 1 else f"{value:.0f}"
    return f"{text.replace('.', ',')} {name}".strip()


def mondays(first: date, last: date) -> list[date]:
    """The Mondays of the weeks from `first`'s to `last`'s (none when `last` comes first)."""
    week, weeks = monday(first), []
    while week <= last and first <= last:
        weeks.append(week)
        week += timedelta(weeks=1)
    return weeks


async def _unit(gateway, product: str) -> str:
    _, products = await gateway.call("GET", "/v1/catalog/products")
    found = next((p for p in products if p["product_id"] == product), None)
    if found is None:
        raise click.UsageError(t("planning.unknown_product", product=product))
    return found["unit"]


TOKEN = click.option("--token", envvar="VIVRES_TOKEN", help="Votre jeton (ou VIVRES_TOKEN).")
TERRITORY = click.option("--territoire", "territory", required=True, help="Le territoire.")
PRODUCT = click.option("--produit", "product", required=True, help="Le produit du catalogue.")
WEEKS = [click.option("--du", "first", required=True, type=click.DateTime(["%Y-%m-%d"]),
                      help="Première semaine (un jour de la semaine, AAAA-MM-JJ)."),
         click.option("--au", "last", required=True, type=click.DateTime(["%Y-%m-%d"]),
                      help="Dernière semaine (comprise)."),
         click.option("--par-semaine", "per_week", required=True,
                      help="Quantité par semaine : 12kg, 800 g, 3 L, 24 (pièces)…")]


def _weeks(options):
    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


@click.command("saison")
@TERRITORY
@PRODUCT
@URL
@TOKEN
def season(territory: str, product: str, url: str, token: str | None) -> None:
    """Les 26 semaines à venir : prévision, besoins des épiceries, plans, écart."""
    async def fetch() -> list[dict[str, Any]]:
        async with open_gateway(url, token) as gateway:
            _, rows = await gateway.call("GET", "/v1/planning/coverage",
                                         params={"territory": territory, "product": product})
            return rows
    rows = run(url, fetch())
    if not rows:
        click.echo(t("planning.no_coverage", territory=territory, product=product))
        return
    [found] = rows
    unit = found["unit"] or "PIECE"
    if found["history_weeks"] < 52:
        click.echo(t("planning.short_history", weeks=found["history_weeks"]))
    table(tuple(t(f"planning.column.{c}") for c in
                ("week", "outlook", "band", "needs", "firm", "plans", "mine", "gap")),
          [[w["week"], said(w["outlook"], unit),
            f"{said(w['outlook_p10'], unit)} – {said(w['outlook_p90'], unit)}",
            said(w["needs"], unit), said(w["firm"], unit), said(w["plans"], unit),
            said(w["mine"], unit), _gap(w["gap"], unit)] for w in found["weeks"]])


def _gap(gap: float, unit: str) -> str:
    if abs(gap) < 0.5:
        return t("planning.covered")
    return t("planning.missing" if gap > 0 else "planning.surplus", units=said(abs(gap), unit))


@click.group("plan")
def plan() -> None:
    """Plans de culture d'un producteur (jeton de producteur)."""


@plan.command("declarer")
@TERRITORY
@PRODUCT
@_weeks(WEEKS)
@URL
@TOKEN
def declare_plan(territory: str, product: str, first, last, per_week: str, url: str,
                 token: str | None) -> None:
    """Déclare (ou révise) ce que vous prévoyez de récolter chaque semaine ; 0 retire."""
    async def send() -> int:
        async with open_gateway(url, token) as gateway:
            units = base_units(per_week, await _unit(gateway, product))
            weeks = [{"week": w.isoformat(), "units": units}
                     for w in mondays(first.date(), last.date())]
            _, body = await gateway.call("POST", "/v1/planning/plans", {
                "territory": territory, "product_id": product, "weeks": weeks})
            return len(body["plans"])
    click.echo(t("planning.plans_written", weeks=run(url, send()), product=product,
                 territory=territory))


@click.group("besoins")
def needs() -> None:
    """Besoins prévisionnels d'une épicerie (jeton d'épicerie, ou du pôle pour ses épiceries)."""


@needs.command("declarer")
@click.option("--epicerie", "shop", help="L'épicerie (avec un jeton du pôle).")
@PRODUCT
@_weeks(WEEKS)
@click.option("--engage", "firm", is_flag=True, help="Un engagement d'achat (contrat de culture).")
@click.option("--prix", "price", help="Prix engagé par kg, litre ou pièce, en euros (2,40).")
@URL
@TOKEN
def declare_needs(shop: str | None, product: str, first, last, per_week: str, firm: bool,
                  price: str | None, url: str, token: str | None) -> None:
    """Déclare ce que l'épicerie prévoit d'acheter chaque semaine d'une saison à venir."""
    cents = None if price is None else round(float(price.replace(",", ".")) * 100)

    async def send() -> int:
        async with open_gateway(url, token) as gateway:
            units = base_units(per_week, await _unit(gateway, product))
            weeks = [{"week": w.isoformat(), "units": units}
                     for w in mondays(first.date(), last.date())]
            _, body = await gateway.call("POST", "/v1/planning/needs", {
                "shop_id": shop, "product_id": product, "weeks": weeks, "firm": firm,
                "price_cents": cents})
            return len(body["needs"])
    click.echo(t("planning.needs_written", weeks=run(url, send()), product=product))


@click.command("historique")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@URL
@TOKEN
def import_history(file: Path, url: str, token: str | None) -> None:
    """Importe des ventes hebdomadaires d'avant Vivres (colonnes territoire;produit;semaine;
    unites, en unités de base : grammes, millilitres, pièces), jeton d'opérateur."""
    series = read_history(file)

    async def send() -> int:
        async with open_gateway(url, token) as gateway:
            done = 0
            for (territory, product), weeks in sorted(series.items()):
                _, body = await gateway.call("POST", "/v1/planning/history", {
                    "territory": territory, "product_id": product, "weeks": weeks})
                done += body["imported"]
            return done
    click.echo(t("planning.history_written", weeks=run(url, send()), pairs=len(series)))


def read_history(file: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The spreadsheet's rows by territory × product (`;` or `,` separated, UTF-8 with or
    without BOM); a row that cannot be read stops with its line number."""
    text = file.read_text(encoding="utf-8-sig")
    dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=";,")
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for line, row in enumerate(csv.DictReader(text.splitlines(), dialect=dialect), start=2):
        try:
            week = monday(date.fromisoformat(row["semaine"].strip()))
            units = round(float(row["unites"].strip().replace(",", ".")))
            key = (row["territoire"].strip(), row["produit"].strip())
        except (KeyError, ValueError, AttributeError):
            raise click.ClickException(t("planning.bad_row", line=line, file=file)) from None
        series.setdefault(key, []).append({"week": week.isoformat(), "units": units})
    return series
