"""`vivres import sales`, `vivres tokens`, `vivres catalog`: what shops, the hub and operators
run by hand."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from services.auth.tokens import digest, issue
from services.bus.catalog import MAPPINGS, TOKENS, UNMAPPED
from services.bus.publisher import open_publisher
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.bus.table import TableView
from services.cli.messages import t
from services.events.auth import Role
from services.sales.client import DEFAULT_URL, GatewayClient, GatewayError
from services.sales.csv_import import parse
from services.sales.intake import SalesBatch
from services.simulator.territories import DEMO_TOKENS

CHUNK = 200


@click.group("import")
def import_() -> None:
    """Importer des exports de caisse."""


@import_.command("sales")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--shop", required=True, help="L'épicerie dont c'est l'export.")
@click.option("--url", default=DEFAULT_URL, show_default=True, help="Adresse de la passerelle.")
@click.option("--token", envvar="VIVRES_TOKEN", help="Jeton de l'épicerie (ou VIVRES_TOKEN).")
def import_sales(file: Path, shop: str, url: str, token: str | None) -> None:
    """Importe un export CSV de caisse ; un ré-import ne change rien."""
    token = token or _demo_token(shop)
    parsed = parse(file.read_text(encoding="utf-8-sig").splitlines(), shop)
    imported, refused = asyncio.run(_post(parsed.tickets, url, token))
    for error in parsed.errors:
        click.echo(t("import.row_error", line=error.line, message=error.message), err=True)
    for ticket_id, message in refused:
        click.echo(t("import.refused", ticket=ticket_id, message=message), err=True)
    click.echo(t("import.summary", tickets=imported, rows=parsed.rows,
                 errors=len(parsed.errors) + len(refused)))
    if parsed.errors or refused:
        sys.exit(1)


async def _post(tickets: list, url: str, token: str) -> tuple[int, list[tuple[str, str]]]:
    imported, refused = 0, []
    async with GatewayClient(token, url) as gateway:
        with click.progressbar(length=len(tickets), label=t("import.progress"),
                               file=sys.stderr) as bar:
            for start in range(0, len(tickets), CHUNK):
                chunk = tickets[start:start + CHUNK]
                try:
                    await gateway.post_sales(SalesBatch(tickets=chunk))
                    imported += len(chunk)
                except GatewayError as err:
                    if err.status != 422:
                        raise click.ClickException(t("import.gateway", error=err)) from err
                    for ticket in chunk:  # find which ticket the gateway refuses
                        try:
                            await gateway.post_sales(SalesBatch(tickets=[ticket]))
                            imported += 1
                        except GatewayError as one:
                            refused.append((ticket.ticket_id, str(one.detail)))
                bar.update(len(chunk))
    return imported, refused


def _demo_token(shop: str) -> str:
    try:
        return json.loads(DEMO_TOKENS.read_text())["shops"][shop]
    except (OSError, KeyError, ValueError):
        raise click.UsageError(t("import.no_token", shop=shop)) from None


@click.group()
def tokens() -> None:
    """Jetons d'accès à l'API (stockés hachés)."""


@tokens.command("issue")
@click.option("--role", required=True, type=click.Choice([r.value.lower() for r in Role]))
@click.option("--shop", help="L'épicerie (rôle shop).")
@click.option("--producer", help="Le producteur (rôle producer).")
@click.option("--label", default="", help="Qui détient ce jeton.")
def tokens_issue(role: str, shop: str | None, producer: str | None, label: str) -> None:
    """Crée un jeton et l'affiche une seule fois sur la sortie standard."""
    try:
        token, event = issue(Role(role.upper()), shop or producer, label, datetime.now(UTC))
    except ValueError as err:
        raise click.UsageError(str(err)) from None

    async def publish() -> None:
        async with open_publisher(BusSettings()) as publisher:
            await publisher.publish(TOKENS, event)

    asyncio.run(publish())
    click.echo(t("tokens.issued", role=role, subject=shop or producer or "-"), err=True)
    click.echo(token)


@tokens.command("revoke")
@click.argument("token")
def tokens_revoke(token: str) -> None:
    """Révoque un jeton : il n'ouvre plus rien."""
    settings = BusSettings()

    async def revoke() -> bool:
        async with SchemaRegistry(settings.schema_registry_url) as registry, \
                TableView(settings, registry, TOKENS) as table:
            record = table.get(digest(token))
            if record is None:
                return False
            async with open_publisher(settings) as publisher:
                await publisher.publish(TOKENS, record.model_copy(
                    update={"revoked": True, "issued_at": datetime.now(UTC)}))
            return True

    if not asyncio.run(revoke()):
        raise click.ClickException(t("tokens.unknown"))
    click.echo(t("tokens.revoked"))


@click.group()
def catalog() -> None:
    """Catalogue commun des produits et correspondances des codes de caisse."""


@catalog.command("unmapped")
@click.option("--shop", required=True, help="L'épicerie.")
def catalog_unmapped(shop: str) -> None:
    """Liste les codes de caisse vendus sans correspondance au catalogue."""
    settings = BusSettings()

    async def load() -> list:
        async with SchemaRegistry(settings.schema_registry_url) as registry, \
                TableView(settings, registry, MAPPINGS) as mappings, \
                TableView(settings, registry, UNMAPPED) as unmapped:
            return sorted((u for u in unmapped.values()
                           if u.shop_id == shop and mappings.get(u.code_key) is None),
                          key=lambda u: u.first_seen_at)

    codes = asyncio.run(load())
    if not codes:
        click.echo(t("catalog.none_unmapped", shop=shop))
    for code in codes:
        click.echo(f"{code.code_kind.value:<8} {code.code:<16} {code.label:<30} "
                   f"{code.first_seen_at:%Y-%m-%d}  {code.ticket_id}")
