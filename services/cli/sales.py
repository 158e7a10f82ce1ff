"""`vivres import sales`, `vivres tokens`, `vivres catalog`: what shops, the hub and operators
run by hand."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from services.auth.tokens import Principal, digest, issue
from services.bus.catalog import HUBS, MAPPINGS, PRODUCERS, SHOPS, TERRITORIES, TOKENS, UNMAPPED
from services.bus.publisher import open_publisher
from services.bus.registry import SchemaRegistry
from services.bus.settings import BusSettings
from services.bus.table import TableView
from services.cli import directory as directory_cli
from services.cli.directory import table
from services.cli.messages import t, words
from services.directory.rules import SHOP
from services.directory.rules import Directory, token_problems
from services.events.auth import Role, TokenIssued
from services.sales.client import DEFAULT_URL, GatewayClient, GatewayError
from services.sales.csv_import import parse
from services.sales.intake import SalesBatch
from services.simulator.territories import DEMO_TOKENS

CHUNK = 200


@click.group("import")
def import_() -> None:
    """Importer des exports de caisse, l'annuaire d'un territoire ou un historique de ventes."""


@import_.command("sales")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--shop", required=True, help="L'épicerie dont c'est l'export.")
@click.option("--url", envvar="VIVRES_GATEWAY_URL", default=DEFAULT_URL, show_default=True,
              help="Adresse de la passerelle (ou VIVRES_GATEWAY_URL).")
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


async def load_directory(settings: BusSettings) -> Directory:
    """The directory as it stands on Kafka (its four tables, read to their end)."""
    async with SchemaRegistry(settings.schema_registry_url) as registry, \
            TableView(settings, registry, TERRITORIES) as territories, \
            TableView(settings, registry, SHOPS) as shops, \
            TableView(settings, registry, PRODUCERS) as producers, \
            TableView(settings, registry, HUBS) as hubs:
        return Directory(*({table.topic.key_of(row): row for row in table.values()}
                           for table in (territories, shops, producers, hubs)))


@asynccontextmanager
async def token_table(settings: BusSettings) -> AsyncIterator[TableView]:
    """The tokens as they stand on Kafka."""
    async with SchemaRegistry(settings.schema_registry_url) as registry, \
            TableView(settings, registry, TOKENS) as table:
        yield table


async def publish_tokens(settings: BusSettings, events: list[TokenIssued]) -> None:
    async with open_publisher(settings) as publisher:
        for event in events:
            await publisher.publish(TOKENS, event)


@tokens.command("issue")
@click.option("--role", required=True, type=click.Choice([r.value.lower() for r in Role]))
@click.option("--shop", help="L'épicerie (rôle shop).")
@click.option("--producer", help="Le producteur (rôle producer).")
@click.option("--hub", help="Le pôle logistique (rôle hub).")
@click.option("--caisse", help="La caisse alimentaire (rôles committee, treasurer).")
@click.option("--label", default="", help="Qui détient ce jeton.")
def tokens_issue(role: str, shop: str | None, producer: str | None, hub: str | None,
                 caisse: str | None, label: str) -> None:
    """Crée un jeton pour une entrée de l'annuaire et l'affiche une seule fois sur la sortie
    standard."""
    given = [s for s in (shop, producer, hub, caisse) if s]
    if len(given) > 1:
        raise click.UsageError(t("tokens.one_subject"))
    subject = given[0] if given else None
    settings = BusSettings()
    who = Role(role.upper())
    found = token_problems(Principal(Role.OPERATOR, None), who, subject,
                           asyncio.run(load_directory(settings)))
    if found:
        for problem in found:
            click.echo(problem.fr, err=True)
        sys.exit(1)
    try:
        token, event = issue(who, subject, label, datetime.now(UTC))
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    asyncio.run(publish_tokens(settings, [event]))
    click.echo(t("tokens.issued", role=role, subject=subject or "-"), err=True)
    click.echo(token)


@tokens.command("list")
@click.option("--subject", required=True, help="L'épicerie, le producteur, le pôle ou la caisse.")
def tokens_list(subject: str) -> None:
    """Liste les jetons d'une entrée (jamais les jetons eux-mêmes), révoqués compris."""

    async def load() -> list[TokenIssued]:
        async with token_table(BusSettings()) as table:
            return sorted((r for r in table.values() if r.subject == subject),
                          key=lambda r: r.issued_at)

    rows = asyncio.run(load())
    if not rows:
        click.echo(t("tokens.none", subject=subject))
        return
    yes, no = words("directory.yes_no")
    headings = words("tokens.headings")
    table(headings, [[r.token_sha256[:12], r.role.value.lower(), r.label or "-",
                      f"{r.issued_at:%Y-%m-%d %H:%M}", yes if r.revoked else no]
                     for r in rows])


@tokens.command("revoke")
@click.argument("token", required=False)
@click.option("--subject", help="Révoque tous les jetons valides de cette entrée.")
def tokens_revoke(token: str | None, subject: str | None) -> None:
    """Révoque un jeton (ou tous ceux d'une entrée, --subject) : il n'ouvre plus rien."""
    if bool(token) == bool(subject):
        raise click.UsageError(t("tokens.revoke_which"))
    settings = BusSettings()

    async def revoke() -> int:
        async with token_table(settings) as table:
            if token:
                record = table.get(digest(token))
                live = [record] if record is not None else []
            else:
                live = [r for r in table.values() if r.subject == subject and not r.revoked]
            now = datetime.now(UTC)
            await publish_tokens(settings, [r.model_copy(update={"revoked": True,
                                                                 "issued_at": now})
                                            for r in live])
            return len(live)

    count = asyncio.run(revoke())
    if token:
        if not count:
            raise click.ClickException(t("tokens.unknown"))
        click.echo(t("tokens.revoked"))
    else:
        click.echo(t("tokens.revoked_subject", count=count, subject=subject))


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


@catalog.command("map")
@click.option("--shop", required=True, help="L'épicerie.")
@click.option("--code", required=True, help="Le code de caisse (PLU, EAN ou interne).")
@click.option("--produit", "product", required=True, help="Le produit du catalogue (son id).")
@click.option("--type-code", "code_kind", default="PLU", show_default=True,
              type=click.Choice(["PLU", "EAN", "INTERNAL"], case_sensitive=False),
              help="Le type de code.")
@directory_cli.URL
@click.option("--token", envvar="VIVRES_TOKEN",
              help="Jeton de l'épicerie, du pôle ou d'opérateur (ou VIVRES_TOKEN).")
def catalog_map(shop: str, code: str, product: str, code_kind: str, url: str,
                token: str | None) -> None:
    """Fait correspondre un code de caisse d'une épicerie à un produit du catalogue."""
    async def map_code() -> None:
        async with directory_cli.open_gateway(url, token) as gateway:
            await gateway.call("POST", "/v1/catalog/mappings", {
                "shop_id": shop, "code": code, "code_kind": code_kind.upper(),
                "product_id": product})

    directory_cli.run(url, map_code(), SHOP)
    click.echo(t("catalog.mapped", shop=shop, code=code, product=product))
