"""`vivres`: the command line of the bus, for operators, shop staff and the committee."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path

import click

from services.bus import schemas as schema_files
from services.bus.catalog import TOPICS
from services.bus.logging import configure_logging
from services.bus.settings import BusSettings, ShellSettings
from services.cli import sales as sales_cli
from services.cli.caisse import caisse
from services.cli.demo import demo
from services.cli import planning as planning_cli
from services.cli.directory import annuaire, import_directory
from services.cli.health import health
from services.cli.security import security
from services.cli.messages import t
from services.simulator.cli import simulate


@click.group()
def main() -> None:
    """Vivres — bus d'intégration des systèmes alimentaires solidaires."""
    # People read this terminal: only warnings, readable. Services reconfigure for JSON.
    configure_logging(ShellSettings().log_level, "console")


@main.group()
def schemas() -> None:
    """Schémas Avro (schemas/*.avsc) : vérifier, enregistrer une version."""


_SCHEMA_DIR = click.option(
    "--dir", "root", type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=schema_files.SCHEMA_DIR, show_default=True, help="Dossier des schémas.")


@schemas.command("check")
@_SCHEMA_DIR
def schemas_check(root: Path) -> None:
    """Vérifie que chaque schéma lit toutes ses versions antérieures (BACKWARD_TRANSITIVE)."""
    problems = schema_files.check(root)
    if problems:
        click.echo(t("schemas.problems", count=len(problems)), err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    click.echo(t("schemas.ok", count=len(schema_files.load_current(root))))


@schemas.command("freeze")
@_SCHEMA_DIR
def schemas_freeze(root: Path) -> None:
    """Enregistre comme nouvelle version chaque schéma modifié (s'il est compatible)."""
    incompatible = schema_files.incompatibilities(root)
    if incompatible:
        for problem in incompatible:
            click.echo(f"  - {problem}", err=True)
        click.echo(t("schemas.refuse_freeze"), err=True)
        sys.exit(1)
    written = schema_files.freeze(root)
    for path in written:
        click.echo(t("schemas.frozen", path=path.relative_to(root.parent)))
    if not written:
        click.echo(t("schemas.nothing_to_freeze"))


@main.group()
def topics() -> None:
    """Topics Kafka du catalogue : créer ce qui manque, signaler les écarts."""


@topics.command("list")
def topics_list() -> None:
    """Affiche le catalogue des topics."""
    for topic in TOPICS:
        retention = "∞" if topic.retention_ms < 0 else f"{topic.retention_ms // 86_400_000} j"
        click.echo(f"{topic.name:<24} {topic.partitions:>3} part.  clé={topic.key:<10} "
                   f"{topic.cleanup:<8} rétention={retention:<6} {topic.schema_name}  "
                   f"rejets={topic.dead_letter}")


@topics.command("provision")
def topics_provision() -> None:
    """Crée les topics manquants, enregistre les schémas, signale les écarts (idempotent)."""
    from services.bus.provision import provision_catalog

    report = asyncio.run(provision_catalog(BusSettings()))
    for name in report.created:
        click.echo(t("topics.created", name=name))
    for subject, schema_id in report.subjects.items():
        click.echo(t("topics.subject", subject=subject, id=schema_id))
    for what in report.drift:
        click.echo(t("topics.drift", what=what), err=True)
    if not report.ok:
        sys.exit(2)
    click.echo(t("topics.ok", count=len(TOPICS)))


@main.command("asyncapi")
@click.option("--check", is_flag=True,
              help="N'écrit rien ; code 1 si le document diffère de ce qui serait écrit.")
def asyncapi_document(check: bool) -> None:
    """Écrit docs/asyncapi.yaml (AsyncAPI 3) depuis le catalogue, access.py et les schémas."""
    from services.bus import asyncapi

    path = asyncapi.DOCUMENT
    text = asyncapi.render()
    shown = path.relative_to(path.parents[1])
    if path.exists() and path.read_text(encoding="utf-8") == text:
        click.echo(t("asyncapi.up_to_date", path=shown))
        return
    if check:
        click.echo(t("asyncapi.stale", path=shown), err=True)
        sys.exit(1)
    path.write_text(text, encoding="utf-8")
    click.echo(t("asyncapi.written", path=shown))


@main.group()
def dlq() -> None:
    """Files de rejets (<topic>.dlq) : consulter, renvoyer, mettre de côté."""


@dlq.command("show")
@click.argument("topic")
@click.option("--limit", default=20, show_default=True, help="Nombre de rejets affichés.")
def dlq_show(topic: str, limit: int) -> None:
    """Affiche les derniers rejets d'un topic, avec leur cause."""
    from services.bus.deadletter import read_dead_letters

    letters = asyncio.run(read_dead_letters(BusSettings(), topic, limit))
    if not letters:
        click.echo(t("dlq.empty", topic=f"{topic}.dlq"))
        return
    for letter in letters:
        click.echo(f"#{letter.offset}  {letter.failed_at}  {letter.stage:<6} "
                   f"{letter.original_topic}[{letter.original_partition}]@"
                   f"{letter.original_offset}  {letter.error_type}: {letter.error}")


@dlq.command("replay")
@click.argument("topic")
def dlq_replay(topic: str) -> None:
    """Renvoie vers leur topic d'origine les rejets pas encore renvoyés."""
    from services.bus.deadletter import replay_dead_letters

    with click.progressbar(length=0, label=t("dlq.replaying")) as bar:
        count = asyncio.run(replay_dead_letters(BusSettings(), topic, progress=bar))
    click.echo(t("dlq.replayed", count=count))


@dlq.command("set-aside")
@click.argument("group")
@click.argument("topic")
@click.argument("partition", type=int)
@click.argument("offset", type=int)
@click.option("--reason", required=True, help="Pourquoi (gardé avec l'enregistrement).")
@click.option("--by", "operator", default=getpass.getuser, show_default="l'utilisateur",
              help="Qui met de côté (gardé avec l'enregistrement).")
def dlq_set_aside(group: str, topic: str, partition: int, offset: int, reason: str,
                  operator: str) -> None:
    """Met de côté, dans <topic>.dlq, l'enregistrement sur lequel un service est bloqué
    (`vivres health` le nomme), pour que le groupe reprenne après lui. Arrêtez d'abord le
    service ; relancez-le ensuite. L'enregistrement peut être renvoyé plus tard (replay)."""
    from services.bus.deadletter import SetAsideRefused, set_aside

    try:
        done = asyncio.run(set_aside(BusSettings(), group, topic, partition, offset, reason,
                                     operator))
    except SetAsideRefused as refused:
        click.echo(t(refused.key, **refused.fields), err=True)
        sys.exit(1)
    click.echo(t("dlq.set_aside", topic=topic, partition=partition, offset=offset,
                 dead_letter=done.dead_letter, letter=done.letter_offset, group=group,
                 next=done.next_offset))


@main.command("serve")
@click.argument("service", type=click.Choice(["gateway", "ingest", "stock", "orders", "caisse",
                                                   "demand", "planning", "webhooks",
                                                   "health"]))
def serve(service: str) -> None:
    """Lance un service : passerelle HTTP, ventes, stocks, commandes groupées, caisse,
    signaux de demande, planification de la saison, livraison des webhooks, santé des flux."""
    if service == "gateway":
        from services.gateway.main import main as run
    elif service == "ingest":
        from services.sales.ingest import main as run
    elif service == "stock":
        from services.stock.service import main as run
    elif service == "caisse":
        from services.caisse.service import main as run
    elif service == "demand":
        from services.demand.processor import main as run
    elif service == "planning":
        from services.planning.service import main as run
    elif service == "webhooks":
        from services.demand.webhooks import main as run
    elif service == "health":
        from services.health.service import main as run
    else:
        from services.orders.service import main as run
    run()


sales_cli.import_.add_command(import_directory)
sales_cli.import_.add_command(planning_cli.import_history)
main.add_command(sales_cli.import_)
main.add_command(annuaire)
for _command in (planning_cli.season, planning_cli.plan, planning_cli.needs):
    main.add_command(_command)
main.add_command(sales_cli.tokens)
main.add_command(sales_cli.catalog)
main.add_command(simulate)
main.add_command(demo)
main.add_command(caisse)
main.add_command(health)
main.add_command(security)

if __name__ == "__main__":
    main()
