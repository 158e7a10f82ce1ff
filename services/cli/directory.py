"""`vivres annuaire territoire|epicerie|producteur|pole ajouter|modifier|fermer|lister` and
`vivres import annuaire FICHIER.csv`: the directory of a territory, set up by hand or from one
spreadsheet. Both talk to the gateway's directory API (services.gateway.directory), so its
rules (services.directory.rules) decide, and both read what people type with the same
conversions (services.directory.csv_import: degrees, days, oui/non)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx

from services.cli.messages import t, words
from services.directory.csv_import import (
    COLUMNS,
    Column,
    Entry,
    FieldProblem,
    decode,
    fields_of,
    parse,
)
from services.directory.rules import HUB, PRODUCER, SHOP, TERRITORY, Kind
from services.sales.client import DEFAULT_URL, GatewayClient, GatewayError

PATHS = {TERRITORY.name: "/v1/territories", SHOP.name: "/v1/shops",
         PRODUCER.name: "/v1/producers", HUB.name: "/v1/hubs"}
COMMANDS = {TERRITORY.name: "territoire", SHOP.name: "epicerie", PRODUCER.name: "producteur",
            HUB.name: "pole"}


def open_gateway(url: str, token: str | None) -> GatewayClient:
    """The gateway, with the caller's token (the tests put an in-process app behind it)."""
    if not token:
        raise click.UsageError(t("directory.no_token"))
    return GatewayClient(token, url)


URL = click.option("--url", envvar="VIVRES_GATEWAY_URL", default=DEFAULT_URL,
                   show_default=True, help="Adresse de la passerelle (ou VIVRES_GATEWAY_URL).")
TOKEN = click.option("--token", envvar="VIVRES_TOKEN",
                     help="Jeton d'opérateur ou du pôle (ou VIVRES_TOKEN).")


def run(url: str, work: Coroutine[Any, Any, Any], kind: Kind = TERRITORY) -> Any:
    """Run `work`; a refusal of the gateway is said in French and exits 1."""
    try:
        return asyncio.run(work)
    except httpx.TransportError as err:
        raise click.ClickException(t("directory.unreachable", url=url, error=err)) from None
    except GatewayError as err:
        _fail(refusal(err, kind))


# -- what people read ---------------------------------------------------------------------

def say(problem: FieldProblem, *, csv: bool) -> str:
    """A value's problem, naming the CSV column or the CLI option it came from."""
    column = problem.values.get("column", "")
    where = t("directory.where.column", column=column) if csv else problem.values.get(
        "option", column)
    return t(problem.key, **{**problem.values, "where": where})


def _names(kind: Kind, *, csv: bool) -> dict[str, str]:
    """API field → what people gave it as (the column or the option)."""
    return {c.field or kind.id_field: t("directory.where.column", column=c.name) if csv
            else c.flag for c in COLUMNS[kind.name]}


def refusal(err: GatewayError, kind: Kind, *, csv: bool = False) -> list[str]:
    """The gateway's refusal as sentences: the directory's French one (`fr`) when it has one,
    else the field people gave and the API's message."""
    if err.status == 401:
        return [t("directory.unauthorised")]
    if not isinstance(err.detail, list):
        return [t("directory.refused", status=err.status, detail=err.detail)]
    names = _names(kind, csv=csv)
    said = []
    for item in err.detail:
        loc = [str(p) for p in item.get("loc", ()) if p not in ("body", "path", "query")]
        if item.get("type") == "outside_france":  # the API's sentence speaks microdegrees
            said.append(t("directory.outside_france"))
        elif item.get("fr"):
            said.append(item["fr"])
        else:
            where = ".".join([names.get(loc[0], loc[0]), *loc[1:]]) if loc else "?"
            said.append(t("directory.invalid", where=where, msg=item.get("msg", "")))
    return said


def fatal(err: GatewayError) -> bool:
    """Whether no other request can do better: a refused token, the gateway unwell."""
    return err.status in (401, 503) or err.status >= 500


def _fail(lines: list[str]) -> None:
    for line in lines:
        click.echo(line, err=True)
    sys.exit(1)


def table(headings: tuple[str, ...], rows: list[list[str]]) -> None:
    """Rows under their headings, in aligned columns."""
    widths = [max(len(str(cell)) for cell in column)
              for column in zip(headings, *rows, strict=True)]
    for row in (list(headings), *rows):
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
                   .rstrip())


def _days(days: list[int]) -> str:
    names = words("directory.days")
    return " ".join(names[d - 1] for d in days) or "-"


def _degrees(lat_e6: int, lon_e6: int) -> str:
    return f"{lat_e6 / 1e6:.6f}, {lon_e6 / 1e6:.6f}"


ROWS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    TERRITORY.name: lambda e: [e["territory_id"], e["name"], e["timezone"], e["caisse"] or "-"],
    SHOP.name: lambda e: [e["shop_id"], e["name"], e["territory"], e["kind"],
                          e.get("commune") or "-", _days(e.get("opening_days", []))],
    PRODUCER.name: lambda e: [e["producer_id"], e["farm_name"], e["commune"],
                              words("directory.yes_no")[0 if e["organic"] else 1],
                              ",".join(e["territories"]), ",".join(e["labels"]) or "-",
                              _degrees(e["farm_lat_e6"], e["farm_lon_e6"])],
    HUB.name: lambda e: [e["hub_id"], e["name"], e["territory"],
                         _days(e["delivery_weekdays"]), _degrees(e["lat_e6"], e["lon_e6"])],
}


# -- vivres annuaire <kind> <action> ------------------------------------------------------

def _options(columns: tuple[Column, ...], *, values: bool, adding: bool = False
             ) -> Callable[[Callable], Callable]:
    """--id, with `values` an option per other column (all texts, read by fields_of; bio a
    flag), --url and --token."""
    def decorate(command: Callable) -> Callable:
        command = TOKEN(URL(command))
        for column in reversed(columns if values else columns[:1]):
            helped = t("directory.required", help=column.help.rstrip(".")) if (
                adding and column.required) else column.help
            if column.name == "bio":
                command = click.option("--bio/--non-bio", "bio", default=None,
                                       help=helped)(command)
            elif column.name == "id":
                command = click.option("--id", "entry_id", required=True,
                                       help=column.help)(command)
            else:
                command = click.option(column.flag, column.name, help=helped)(command)
        return command
    return decorate


def _given(values: dict[str, Any]) -> dict[str, str | None]:
    """Options as the texts people typed (the bio flag as oui/non)."""
    bio = values.pop("bio", None)
    if bio is not None:
        values["bio"] = "oui" if bio else "non"
    return values


def _fields(kind: Kind, values: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    fields, problems = fields_of(kind, _given(values), partial=partial)
    if problems:
        raise click.UsageError("\n".join(say(p, csv=False) for p in problems))
    return fields


def kind_group(kind: Kind) -> click.Group:
    columns = COLUMNS[kind.name]
    what = t(f"directory.kind.{kind.name}")
    group = click.Group(COMMANDS[kind.name], help=t("directory.help.group", what=what))

    async def call(url: str, token: str | None, method: str, path: str,
                   body: dict[str, Any] | None = None,
                   params: dict[str, Any] | None = None) -> tuple[int, Any]:
        async with open_gateway(url, token) as gateway:
            return await gateway.call(method, path, body, params)

    @group.command("ajouter", help=t("directory.help.add", what=what))
    @_options(columns, values=True, adding=True)
    def add(entry_id: str, url: str, token: str | None, **values: Any) -> None:
        fields = _fields(kind, {**values, "id": entry_id}, partial=False)
        status, _ = run(url, call(url, token, "POST", PATHS[kind.name], fields), kind)
        click.echo(t("directory.created" if status == 201 else "directory.unchanged",
                     what=what, id=entry_id))

    @group.command("modifier", help=t("directory.help.update", what=what))
    @_options(columns, values=True)
    def update(entry_id: str, url: str, token: str | None, **values: Any) -> None:
        changes = _fields(kind, values, partial=True)
        if not changes:
            raise click.UsageError(t("directory.nothing_to_change"))
        run(url, call(url, token, "PATCH", f"{PATHS[kind.name]}/{entry_id}", changes),
             kind)
        click.echo(t("directory.updated", what=what, id=entry_id))

    @group.command("fermer", help=t("directory.help.close", what=what))
    @_options(columns, values=False)
    def close(entry_id: str, url: str, token: str | None) -> None:
        run(url, call(url, token, "POST", f"{PATHS[kind.name]}/{entry_id}/close"), kind)
        click.echo(t("directory.closed", what=what, id=entry_id))

    @group.command("lister", help=t("directory.help.list", what=what))
    @click.option("--territoire", help="Seulement ce territoire.")
    @click.option("--fermes", is_flag=True, help="Les entrées fermées aussi.")
    @URL
    @TOKEN
    def list_(territoire: str | None, fermes: bool, url: str, token: str | None) -> None:
        params = {"closed": str(fermes).lower(),
                  **({"territory": territoire} if territoire else {})}
        _, entries = run(url, call(url, token, "GET", PATHS[kind.name], params=params),
                          kind)
        if not entries:
            click.echo(t("directory.none", what=what))
            return
        headings = words(f"directory.headings.{kind.name}")
        rows = [ROWS[kind.name](e) for e in entries]
        if fermes:
            headings = (*headings, t("directory.closed_heading"))
            rows = [[*row, (e["closed_at"] or "")[:10] or "-"]
                    for row, e in zip(rows, entries, strict=True)]
        table(headings, rows)

    return group


@click.group("annuaire")
def annuaire() -> None:
    """Annuaire du territoire : territoires, épiceries, producteurs, pôles logistiques."""


for _kind in (TERRITORY, SHOP, PRODUCER, HUB):
    annuaire.add_command(kind_group(_kind))


# -- vivres import annuaire FICHIER.csv ---------------------------------------------------

@dataclass
class Imported:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, sentence)
    conflicts: int = 0  # refused because the id exists with other values


async def import_entries(entries: list[Entry], gateway: GatewayClient, *, update: bool,
                         progress: Any = None) -> Imported:
    """Each entry created through the API, in the order given; one the directory already has
    the same counts as unchanged; with `update`, one it has with other values is corrected."""
    done = Imported()
    for entry in entries:
        path = PATHS[entry.kind.name]
        try:
            status, _ = await gateway.call("POST", path, entry.fields)
            if status == 201:
                done.created += 1
            else:
                done.unchanged += 1
        except GatewayError as err:
            if fatal(err):
                raise
            conflict = err.status == 409 and isinstance(err.detail, list) and any(
                d.get("type") == "conflicting_id" for d in err.detail)
            if conflict and update:
                changes = {k: v for k, v in entry.fields.items() if k != entry.kind.id_field}
                try:
                    await gateway.call("PATCH", f"{path}/{entry.entry_id}", changes)
                    done.updated += 1
                except GatewayError as again:
                    if fatal(again):
                        raise
                    done.refused += [(entry.line, s) for s in refusal(again, entry.kind,
                                                                      csv=True)]
            else:
                done.conflicts += conflict
                done.refused += [(entry.line, s) for s in refusal(err, entry.kind, csv=True)]
        if progress is not None:
            progress.update(1)
    return done


@click.command("annuaire")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mettre-a-jour", "update", is_flag=True,
              help="Corriger les entrées qui existent avec d'autres valeurs.")
@URL
@TOKEN
def import_directory(file: Path, update: bool, url: str, token: str | None) -> None:
    """Importe l'annuaire d'un territoire depuis un CSV (voir examples/annuaire-exemple.csv) ;
    un second import ne change rien."""
    parsed = parse(decode(file.read_bytes()))

    async def send() -> Imported:
        async with open_gateway(url, token) as gateway:
            with click.progressbar(length=len(parsed.entries), label=t("directory.progress"),
                                   file=sys.stderr) as bar:
                return await import_entries(parsed.entries, gateway, update=update,
                                            progress=bar)

    done = run(url, send()) if parsed.entries else Imported()
    problems = sorted([(e.line, say(e.problem, csv=True)) for e in parsed.errors]
                      + done.refused)
    for line, sentence in problems:
        click.echo(t("directory.line", line=line, message=sentence), err=True)
    if done.conflicts:
        click.echo(t("directory.import.hint_update"), err=True)
    refused_rows = len({line for line, _ in problems})
    click.echo(t("directory.import.summary", created=done.created, updated=done.updated,
                 unchanged=done.unchanged, refused=refused_rows, rows=parsed.rows))
    if problems:
        sys.exit(1)
