"""`vivres simulate`: realistic till traffic from the Territoires à VivreS épiceries, sent to the
gateway with each shop's token, or summarised with --dry-run."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from services.cli.messages import t
from services.events.sales import PaymentMethod
from services.sales.client import DEFAULT_URL
from services.sales.intake import UPLOAD_WINDOW
from services.simulator import model
from services.simulator.backfill import DEMO_SEED, LIVE_DAYS, live_start
from services.simulator.territories import SHOP_BY_ID, SHOPS, TERRITORIES, Shop
from services.simulator.territories import DEMO_TOKENS



def _speed(_ctx: click.Context, _param: click.Parameter, value: str) -> float | None:
    if value.strip().lower() in ("fast", "rapide"):
        return None
    try:
        factor = float(value)
    except ValueError:
        factor = 0.0
    if not factor > 0:
        raise click.BadParameter(t("simulate.speed.invalid", value=value))
    return factor


@click.command("simulate")
@click.option("--seed", default=DEMO_SEED, show_default=True,
              help="Graine : même graine, mêmes tickets.")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]),
              help=f"Premier jour simulé (AAAA-MM-JJ) ; par défaut, il y a {LIVE_DAYS} jours, "
              "le lendemain de l'historique de la démo (vivres demo backfill).")
@click.option("--days", default=LIVE_DAYS, show_default=True, type=click.IntRange(1, 366),
              help="Nombre de jours simulés.")
@click.option("--territory", "territories", multiple=True,
              type=click.Choice(sorted(TERRITORIES)), help="Ne simuler que ce territoire "
              "(répétable).")
@click.option("--speed", default="fast", show_default=True, callback=_speed,
              help="fast, ou facteur d'accélération (1 = temps réel, 60 = 60× plus vite).")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="VIVRES_GATEWAY_URL",
              help="Adresse de la passerelle.")
@click.option("--tokens", "tokens_path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEMO_TOKENS, show_default=True, help="Jetons des épiceries (JSON).")
@click.option("--dry-run", is_flag=True, help="Résumer ce qui serait envoyé, sans rien envoyer.")
@click.option("--live", is_flag=True, help="Afficher chaque envoi accepté, au lieu d'une barre "
              "de progression.")
@click.option("--supply", is_flag=True, help="Simuler plutôt une semaine d'achats groupés : "
              "offres des producteurs, besoins des épiceries, commandes jusqu'à réception.")
@click.option("--caisse", "caisse_month", is_flag=True, help="Simuler plutôt le mois en cours "
              "des caisses alimentaires communes (directement sur Kafka) : règles, foyers, "
              "crédit du mois, paiements en caisse aux épiceries conventionnées.")
def simulate(seed: int, start: datetime | None, days: int, territories: tuple[str, ...],
             speed: float | None, url: str, tokens_path: Path, dry_run: bool,
             live: bool, supply: bool, caisse_month: bool) -> None:
    """Simule les ventes des épiceries de Territoires à VivreS et les envoie à la passerelle."""
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    if supply:
        _supply_week(tokens_path, url, seed, today, territories)
        return
    if caisse_month:
        _caisse_month(seed, today, territories or tuple(sorted(TERRITORIES)))
        return
    first = start.date() if start else live_start(today)
    shops = [s for s in SHOPS if not territories or s.territory in territories]
    if dry_run:
        uploads = list(model.simulate(shops, first, days, seed))
        _summarise(uploads, shops, first, days, seed)
        return
    tokens = _tokens(tokens_path, shops)
    shops = [s for s in shops if s.id in tokens]
    last = first + timedelta(days=days - 1)
    if first < today - UPLOAD_WINDOW + timedelta(days=1) or last >= today:
        click.echo(t("simulate.window", days=UPLOAD_WINDOW.days, first=first, last=last), err=True)
    _send(list(model.simulate(shops, first, days, seed)), tokens, url, speed, live)


def _tokens(path: Path, shops: list[Shop]) -> dict[str, str]:
    try:
        known = json.loads(path.read_text(encoding="utf-8"))["shops"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise click.UsageError(t("simulate.tokens.missing_file", path=path, error=err)) from None
    tokens = {s.id: known[s.id] for s in shops if s.id in known}
    if not tokens:
        raise click.UsageError(t("simulate.tokens.none", path=path))
    missing = [s.id for s in shops if s.id not in tokens]
    if missing:
        click.echo(t("simulate.tokens.skipped", count=len(missing), shops=", ".join(missing)),
                   err=True)
    return tokens


def _send(uploads: list[model.Upload], tokens: dict[str, str], url: str,
          speed: float | None, live: bool) -> None:
    from services.bus.logging import configure_logging
    from services.simulator.runner import SimulationFailed, run

    configure_logging("WARNING", "console")
    bar = contextlib.nullcontext() if live else click.progressbar(
        length=len(uploads), label=t("simulate.progress"), file=sys.stderr)
    with bar as progress:
        try:
            summary = asyncio.run(run(uploads, tokens, url, speed, progress=progress,
                                      on_sent=_echo_upload if live else None))
        except SimulationFailed as err:
            raise click.ClickException(t("simulate.failed", errors=err.summary.errors,
                                         url=url)) from None
    click.echo(t("simulate.sent", tickets=summary.tickets, refunds=summary.refunds,
                  uploads=summary.uploads, errors=summary.errors))
    if summary.errors:
        click.echo(t("simulate.errors_by_shop", shops=", ".join(
            f"{shop} ({count})" for shop, count in sorted(summary.errors_by_shop.items()))),
            err=True)
        sys.exit(1)


def _supply_week(tokens_path: Path, url: str, seed: int, today, territories) -> None:
    from services.bus.logging import configure_logging
    from services.simulator import supply
    from services.simulator.runner import run_supply_week

    configure_logging("WARNING", "console")
    try:
        tokens = json.loads(tokens_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise click.UsageError(t("simulate.tokens.missing_file", path=tokens_path,
                                 error=err)) from None
    slot = supply.next_slot(today)
    counts = asyncio.run(run_supply_week(tokens, url, slot, seed, click.echo,
                                         territories=territories or None))
    click.echo(t("simulate.supply_done", slot=slot, **counts))


def _caisse_month(seed: int, today: date, territories: tuple[str, ...]) -> None:
    """The month so far (the days the ingest still takes), each territory's caisse in turn."""
    from services.bus.logging import configure_logging
    from services.bus.publisher import open_publisher
    from services.bus.registry import SchemaRegistry
    from services.bus.settings import BusSettings
    from services.caisse.replies import CaisseClient
    from services.caisse.reports import euros
    from services.simulator.caisse import RULES, plan_month, run_month

    configure_logging("WARNING", "console")
    month = today.strftime("%Y-%m")
    first = max(today.replace(day=1), today - UPLOAD_WINDOW + timedelta(days=2))
    last = today - timedelta(days=1)
    settings = BusSettings()

    async def play() -> None:
        async with SchemaRegistry(settings.schema_registry_url) as registry, \
                open_publisher(settings) as publisher, \
                CaisseClient(settings, registry, publisher) as client:
            for territory in territories:
                plan = plan_month(territory, month, seed=seed,
                                  days=(first, last) if first <= last else (today, today))
                tally = await run_month(plan, client, publisher, timeout_s=120)
                click.echo(t("simulate.caisse_done", caisse=TERRITORIES[territory].caisse,
                             month=month, households=tally.households,
                             redemptions=sum(tally.redemptions.values()),
                             declined=sum(tally.declined.values()),
                             net=f"{euros(sum(tally.net_cents(s) for s in plan.checkouts))} "
                                 f"{RULES[territory].currency}"))
    asyncio.run(play())


def _echo_upload(upload: model.Upload) -> None:
    """One line per accepted upload: what a shop's till just sent."""
    for ticket in upload.batch.tickets:
        paid = sum(p.amount_cents for p in ticket.payments)
        caisse = sum(p.amount_cents for p in ticket.payments if p.method is PaymentMethod.CAISSE)
        click.echo(t("simulate.live_ticket", at=f"{ticket.occurred_at:%d/%m %H:%M}",
                     shop=ticket.shop_id, lines=len(ticket.lines), paid=_euros(paid),
                     caisse=f" (caisse {_euros(caisse)})" if caisse else "",
                     late=t("simulate.live_late") if upload.late else ""))
    for refund in upload.batch.refunds:
        click.echo(t("simulate.live_refund", at=f"{refund.occurred_at:%d/%m %H:%M}",
                     shop=refund.shop_id, original=refund.original_ticket_id))


def _euros(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d} €"


def _summarise(uploads: list[model.Upload], shops: list[Shop], first: date, days: int,
               seed: int) -> None:
    """Per territory: open store-days, tickets, lines, refunds, caisse redemptions, late uploads."""
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    open_days: dict[str, set[tuple[str, date]]] = defaultdict(set)
    for upload in uploads:
        row_name = SHOP_BY_ID[upload.shop_id].territory
        row = rows[row_name]
        row["uploads"] += 1
        row["late"] += upload.late
        row["late_tickets"] += len(upload.batch.tickets) * upload.late
        row["refunds"] += len(upload.batch.refunds)
        for ticket in upload.batch.tickets:
            open_days[row_name].add((ticket.shop_id, ticket.occurred_at.date()))
            row["tickets"] += 1
            row["lines"] += len(ticket.lines)
            row["caisse"] += any(p.method is PaymentMethod.CAISSE for p in ticket.payments)
    click.echo(t("simulate.dry.title", first=first, last=first + timedelta(days=days - 1),
                 seed=seed,
                  shops=len(shops)))
    click.echo(t("simulate.dry.header"))
    total: Counter[str] = Counter()
    names = sorted({s.territory for s in shops})
    for name in [*names, None]:
        row = total if name is None else rows[name]
        n_shops = len(shops) if name is None else sum(s.territory == name for s in shops)
        store_days = set().union(*open_days.values()) if name is None else open_days[name]
        n_days, dates = len(store_days), len({day for _, day in store_days})
        if name is not None:
            total.update(row)
        label = t("simulate.dry.total") if name is None else TERRITORIES[name].name
        click.echo(f"{label:<14} {n_shops:>9}  {n_days:>13}  {row['tickets']:>7}  "
                   f"{row['tickets'] / max(n_days, 1):>9.1f}  {row['lines']:>6}  "
                   f"{row['lines'] / max(row['tickets'], 1):>8.1f}  {row['refunds']:>9}  "
                   f"{row['caisse'] / max(dates, 1):>8.1f}  "
                   f"{row['late']:>6} ({row['late_tickets']})")
    if uploads:
        click.echo(t("simulate.dry.uploads", uploads=len(uploads),
                      first_at=f"{uploads[0].deliver_at:%Y-%m-%d %H:%M}",
                      last_at=f"{uploads[-1].deliver_at:%Y-%m-%d %H:%M}"))
