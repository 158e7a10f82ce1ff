"""`vivres caisse ...`: what the committee and the treasurer of a caisse do, from a terminal on
the bus (the same as their HTTP endpoints). Amounts are typed in euros (or the caisse's local
currency): 12,50 or 12.50."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import click

from services.bus.catalog import CAISSE_CONTRIBUTIONS, CAISSE_DECISIONS, MAPPINGS, PRODUCTS
from services.bus.publisher import open_publisher
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.bus.table import TableView
from services.caisse import reports
from services.caisse.books import Books, product_lookup
from services.caisse.replies import CaisseClient, NoAnswer
from services.caisse.checks import month_problem
from services.caisse.rules import check_vote
from services.cli.messages import t
from services.events.caisse import (
    AllowanceRules,
    CaisseRequested,
    CarryOver,
    ContributionRecorded,
    DecisionKind,
    DecisionRecorded,
    Household,
    RequestAnswered,
    RequestKind,
)

T = TypeVar("T")


def cents(text: str) -> int:
    """'12,50' or '12.50' → 1250 (exactly; at most two decimals)."""
    try:
        value = Decimal(text.replace(",", ".").strip())
    except InvalidOperation as err:
        raise click.BadParameter(t("caisse.bad_amount", text=text)) from err
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise click.BadParameter(t("caisse.bad_amount", text=text))
    return int(value * 100)


def _month(_ctx: Any, _param: Any, value: str | None) -> str | None:
    if value is None:
        return None
    if month_problem(value) is not None:  # the caisse's own rule: YYYY-MM, 2000 to 2100
        raise click.BadParameter(t("caisse.bad_month", month=value))
    return value


def _run(work: Callable[[BusSettings], Awaitable[T]]) -> T:
    try:
        return asyncio.run(work(BusSettings()))
    except NoAnswer:
        click.echo(t("caisse.no_answer"), err=True)
        sys.exit(3)


@asynccontextmanager
async def _bus(settings: BusSettings):
    async with SchemaRegistry(settings.schema_registry_url) as registry, \
            open_publisher(settings) as publisher:
        yield registry, publisher


async def _ask(settings: BusSettings, request: CaisseRequested) -> RequestAnswered:
    async with _bus(settings) as (registry, publisher), \
            CaisseClient(settings, registry, publisher) as client:
        return await client.ask(request, timeout_s=30)


def _say(answer: RequestAnswered) -> None:
    if answer.reason is not None:
        click.echo(t("caisse.declined", reason=t(f"caisse.reason.{answer.reason.value}")))
        sys.exit(1)
    click.echo(t("caisse.done", balance=reports.euros(answer.balance_cents or 0)))


CAISSE = click.option("--caisse", required=True, help="La caisse (identifiant).")
MONTH = click.option("--month", "--mois", "month", required=True, callback=_month,
                     help="Le mois, AAAA-MM.")
CARD = click.option("--card", "--carte", "card", required=True, help="L'identifiant de carte.")


def _vote(command: Callable) -> Callable:
    for option in reversed((
            click.option("--effective", "--a-partir-du", "effective",
                         type=click.DateTime(["%Y-%m-%d"]), default=str(datetime.now(UTC).date()),
                         help="Premier jour d'application (AAAA-MM-JJ)."),
            click.option("--criteria", "--critere", "criteria", multiple=True,
                         help="Critère retenu (répétable)."),
            click.option("--for", "--pour", "votes_for", type=int, required=True),
            click.option("--against", "--contre", "votes_against", type=int, required=True),
            click.option("--abstain", "--abstention", "votes_abstain", type=int, default=0),
            click.option("--note", default=None, help="Note du comité."))):
        command = option(command)
    return command


@click.group()
def caisse() -> None:
    """Caisse alimentaire commune : décisions du comité, foyers, crédits, règlements."""


async def _decide(settings: BusSettings, decision: DecisionRecorded) -> None:
    async with open_publisher(settings) as publisher:
        await publisher.publish(CAISSE_DECISIONS, decision)


def _record(caisse_id: str, kind: DecisionKind, effective: datetime, criteria: tuple[str, ...],
            votes_for: int, votes_against: int, votes_abstain: int, note: str | None,
            **fields: Any) -> None:
    try:
        check_vote(votes_for, votes_against, votes_abstain)
    except ValueError:
        click.echo(t("caisse.not_adopted", votes_for=votes_for, against=votes_against),
                   err=True)
        sys.exit(2)
    decision = DecisionRecorded(
        decision_id=f"{caisse_id}-{uuid.uuid4().hex[:12]}", caisse_id=caisse_id, kind=kind,
        effective_on=effective.date(), criteria=criteria, votes_for=votes_for,
        votes_against=votes_against, votes_abstain=votes_abstain, note=note,
        decided_at=datetime.now(UTC), **fields)
    _run(lambda settings: _decide(settings, decision))
    click.echo(t("caisse.decided", id=decision.decision_id, day=decision.effective_on))


@caisse.command("decide")
@CAISSE
@click.argument("kind", type=click.Choice(["approve-shop", "suspend-shop", "approve-producer",
                                           "suspend-producer"]))
@click.argument("subject")
@click.option("--shop-type", "--type", "shop_type", default=None,
              help="Type de commerce conventionné (épicerie sociale, coopérative...).")
@_vote
def decide(caisse: str, kind: str, subject: str, shop_type: str | None, **vote: Any) -> None:
    """Enregistre une décision adoptée : conventionner ou suspendre un commerce, un producteur."""
    _record(caisse, DecisionKind(kind.upper().replace("-", "_")), subject_id=subject,
            shop_type=shop_type, **vote)


@caisse.command("rules")
@CAISSE
@click.option("--currency", "--monnaie", "currency", default="EUR", show_default=True)
@click.option("--base", required=True, help="Allocation mensuelle d'un foyer (ex. 150).")
@click.option("--extra-adult", "--par-adulte", "extra_adult", default="0",
              help="En plus par adulte au-delà du premier.")
@click.option("--child", "--par-enfant", "child", default="0", help="En plus par enfant.")
@click.option("--carry-over", "--report", "carry_over", default="FULL", show_default=True,
              type=click.Choice([c.value for c in CarryOver]),
              help="Solde non dépensé : NONE (perdu), FULL (reporté), CAPPED (plafonné).")
@click.option("--cap", default=None, help="Plafond du report (CAPPED).")
@_vote
def set_rules(caisse: str, currency: str, base: str, extra_adult: str, child: str,
              carry_over: str, cap: str | None, **vote: Any) -> None:
    """Enregistre de nouvelles règles d'allocation adoptées par le comité."""
    rules = AllowanceRules(currency=currency, base_cents=cents(base),
                           per_extra_adult_cents=cents(extra_adult),
                           per_child_cents=cents(child), carry_over=CarryOver(carry_over),
                           carry_over_cap_cents=cents(cap) if cap else None)
    _record(caisse, DecisionKind.SET_RULES, rules=rules, **vote)


@caisse.command("enrol")
@CAISSE
@CARD
@click.option("--adults", "--adultes", "adults", type=click.IntRange(1, 20), required=True)
@click.option("--children", "--enfants", "children", type=click.IntRange(0, 20), default=0)
@click.option("--band", "--tranche", "band", required=True, help="Tranche de revenus (ex. T2).")
def enrol(caisse: str, card: str, adults: int, children: int, band: str) -> None:
    """Inscrit un foyer sous son identifiant de carte (ou met à jour sa composition)."""
    request = CaisseRequested(
        request_id=f"enrol/{uuid.uuid4().hex}", kind=RequestKind.ENROL, caisse_id=caisse,
        card_id=card, household=Household(adults=adults, children=children, income_band=band),
        requested_at=datetime.now(UTC), requested_by=f"cli:{caisse}")
    _say(_run(lambda settings: _ask(settings, request)))


def _card_command(name: str, kind: RequestKind, help_text: str) -> None:
    @caisse.command(name, help=help_text)
    @CAISSE
    @CARD
    def command(caisse: str, card: str) -> None:
        request = CaisseRequested(request_id=f"{name}/{uuid.uuid4().hex}", kind=kind,
                                  caisse_id=caisse, card_id=card,
                                  requested_at=datetime.now(UTC), requested_by=f"cli:{caisse}")
        _say(_run(lambda settings: _ask(settings, request)))


_card_command("block", RequestKind.BLOCK, "Bloque une carte (perdue, usage abusif).")
_card_command("unblock", RequestKind.UNBLOCK, "Débloque une carte.")
_card_command("leave", RequestKind.LEAVE, "Le foyer quitte la caisse : plus de crédit mensuel.")


@caisse.command("credit")
@CAISSE
@MONTH
def credit(caisse: str, month: str) -> None:
    """Crédite l'allocation du mois à chaque foyer (une seule fois, même relancé)."""
    async def work(settings: BusSettings) -> list[RequestAnswered]:
        async with _bus(settings) as (registry, publisher), \
                CaisseClient(settings, registry, publisher) as client:
            return await client.credit_month(caisse, month, f"cli:{caisse}")
    answers = _run(work)
    if any(a.reason is not None for a in answers):
        click.echo(t("caisse.no_rules", month=month), err=True)
        sys.exit(1)
    click.echo(t("caisse.credited", households=sum(a.entries for a in answers),
                 amount=reports.euros(sum(a.amount_cents for a in answers)), month=month))


@caisse.command("contribute")
@CAISSE
@CARD
@MONTH
@click.option("--amount", "--montant", "amount", required=True, help="Montant versé (ex. 10).")
@click.option("--band", "--tranche", "band", required=True, help="Tranche de revenus.")
def contribute(caisse: str, card: str, month: str, amount: str, band: str) -> None:
    """Enregistre la cotisation d'un foyer pour un mois (barème progressif)."""
    contribution = ContributionRecorded(
        contribution_id=f"{card}-{month}", caisse_id=caisse, card_id=card, month=month,
        amount_cents=cents(amount), income_band=band, recorded_at=datetime.now(UTC))

    async def work(settings: BusSettings) -> None:
        async with open_publisher(settings) as publisher:
            await publisher.publish(CAISSE_CONTRIBUTIONS, contribution)
    _run(work)
    click.echo(t("caisse.contributed", amount=reports.euros(contribution.amount_cents)))


@caisse.command("settle")
@CAISSE
@MONTH
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Écrit aussi le CSV pour la trésorerie.")
def settle(caisse: str, month: str, csv_path: Path | None) -> None:
    """Calcule et enregistre le règlement du mois de chaque commerce : paiements moins
    remboursements."""
    async def work(settings: BusSettings):
        async with _bus(settings) as (registry, publisher):
            return await Books(settings, registry).settle(publisher, caisse, month)
    settlements = _run(work)
    for s in settlements:
        click.echo(f"{s.shop_id:<44} {s.redemptions:>6} {s.refunds:>4} "
                   f"{reports.euros(s.net_cents):>12} {s.currency}")
    total = sum(s.net_cents for s in settlements)
    click.echo(t("caisse.settled", shops=len(settlements), total=reports.euros(total),
                 month=month))
    if csv_path is not None:
        csv_path.write_text(reports.settlements_csv(settlements), encoding="utf-8")
        click.echo(t("caisse.csv_written", path=csv_path))


@caisse.command("report")
@CAISSE
@click.option("--month", "--mois", "months", multiple=True, required=True, callback=lambda c, p,
              v: tuple(_month(c, p, m) for m in v), help="Mois (AAAA-MM), répétable.")
@click.option("--json", "as_json", is_flag=True, help="Le rapport complet en JSON.")
def report(caisse: str, months: tuple[str, ...], as_json: bool) -> None:
    """Rapport pour le comité et les financeurs : dépenses par commerce, type, mois, tranche,
    part locale et bio, cotisations et allocations."""
    async def work(settings: BusSettings) -> reports.Report:
        async with SchemaRegistry(settings.schema_registry_url) as registry, \
                TableView(settings, registry, MAPPINGS) as mappings, \
                TableView(settings, registry, PRODUCTS) as products:
            return await Books(settings, registry).report(
                caisse, months, product_lookup(mappings, products))
    result = _run(work)
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    for title, group in ((t("caisse.by_shop"), result.by_shop),
                         (t("caisse.by_shop_type"), result.by_shop_type),
                         (t("caisse.by_month"), result.by_month),
                         (t("caisse.by_band"), result.by_income_band)):
        click.echo(f"\n{title}")
        for key, spend in sorted(group.items()):
            click.echo(f"  {key:<44} {reports.euros(spend.net_cents):>12}  "
                       f"{_pct(spend.share(spend.local_cents))} {t('caisse.local')}  "
                       f"{_pct(spend.share(spend.organic_cents))} {t('caisse.organic')}")
    click.echo(f"\n{t('caisse.contributions')}")
    for band, row in result.as_dict()["contributions"].items():
        click.echo(f"  {band:<12} " + t("caisse.contribution_row", households=row["households"],
               allowances=reports.euros(row["allowances_cents"]),
               contributions=reports.euros(row["contributions_cents"])))
    click.echo("\n" + t("caisse.total", total=reports.euros(result.total.net_cents)))


def _pct(share: float | None) -> str:
    return "  –  " if share is None else f"{share * 100:4.0f} %"

