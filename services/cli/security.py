"""`vivres security`: the services' Kafka users and ACLs, from services/bus/access.py."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from services.bus.access import PRINCIPALS
from services.bus.settings import BusSettings, ShellSettings
from services.cli.messages import t

# beside the administrator's secrets of the local stack (deploy/local/stack.py: Layout.secrets)
DEFAULT_SECRETS = ShellSettings().state_dir / "secrets" / "kafka-users.json"


@click.group()
def security() -> None:
    """Utilisateurs Kafka des services et leurs droits (ACL), tirés du catalogue."""


@security.command("acls")
def acls() -> None:
    """Affiche les droits de chaque service (ce que `apply` accorde)."""
    for principal in PRINCIPALS:
        click.echo(f"User:{principal.user}  — {principal.doc}")
        for acl in principal.acls():
            click.echo(f"    {acl.operation:<17} {acl.resource:<16} {acl.pattern:<8} "
                       f"{acl.name or '*'}")


@security.command("apply")
@click.option("--secrets", "secrets_file", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_SECRETS, show_default=True,
              help="Fichier (0600) des mots de passe des services, créés au premier passage.")
def apply_(secrets_file: Path) -> None:
    """Crée ou met à jour l'utilisateur SCRAM de chaque service et ses ACL (idempotent ; à
    lancer avec les droits d'administrateur du cluster)."""
    from services.bus.security import SecurityError, apply

    settings = BusSettings()
    if not settings.kafka_security_protocol.startswith("SASL"):
        click.echo(t("security.not_secured"), err=True)
        sys.exit(2)
    try:
        applied = asyncio.run(apply(settings, secrets_file))
    except SecurityError as err:
        click.echo(t("security.refused", error=err), err=True)
        sys.exit(1)
    click.echo(t("security.applied", users=len(applied.users), acls=applied.acls,
                 path=secrets_file))
