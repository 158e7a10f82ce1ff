"""`vivres annuaire ...`, `vivres import annuaire` and `vivres tokens` against the real gateway
app in process (its directory tables plain dicts, a publisher that records): what people type
reaches the directory's rules, and what they read back is French. No broker."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from services.auth.tokens import digest, issue
from services.cli import directory as directory_cli
from services.cli import sales as sales_cli
from services.cli.main import main
from services.directory.rules import Directory
from services.events.auth import Role, TokenIssued
from services.gateway.app import GatewayDeps, create_app
from services.sales.client import GatewayClient

EXAMPLE = Path(__file__).parents[2] / "examples" / "annuaire-exemple.csv"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Tokens(dict):
    def put(self, event: TokenIssued) -> None:
        self[event.token_sha256] = event


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def publish(self, topic: Any, event: Any, **_: Any) -> None:
        self.events.append((topic.name, event))


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> GatewayDeps:
    """The gateway app behind the CLI's client, with an operator's token in VIVRES_TOKEN."""
    token, record = issue(Role.OPERATOR, None, "tests", NOW)
    deps = GatewayDeps(publisher=Recorder(), tokens=Tokens({record.token_sha256: record}),
                       products={}, mappings={}, unmapped={}, stock={}, offers={}, orders={},
                       directory=Directory({}, {}, {}, {}), clock=lambda: NOW)
    app = create_app(deps)
    monkeypatch.setattr(directory_cli, "open_gateway", lambda url, token: GatewayClient(
        token, url, transport=httpx.ASGITransport(app=app)))
    monkeypatch.setenv("VIVRES_TOKEN", token)
    monkeypatch.delenv("VIVRES_LANG", raising=False)
    return deps


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def annuaire(*args: str) -> Result:
    return run("annuaire", *args)


TERRITORY = ("territoire", "ajouter", "--id", "val-ardoise", "--nom", "Val d'Ardoise",
             "--caisse", "caisse-val")


def test_add_correct_close_and_list_a_shop(gateway: GatewayDeps) -> None:
    assert annuaire(*TERRITORY).exit_code == 0
    added = annuaire("epicerie", "ajouter", "--id", "epi-tilleuls", "--nom", "Les Tilleuls",
                     "--territoire", "val-ardoise", "--type", "sociale", "--jours", "lun-mer")
    assert added.exit_code == 0, added.output
    assert "Ajout enregistré : épicerie « epi-tilleuls »" in added.output
    shop = gateway.directory.shops["epi-tilleuls"]
    assert shop.opening_days == (1, 2, 3) and shop.timezone == "Europe/Paris"

    again = annuaire("epicerie", "ajouter", "--id", "epi-tilleuls", "--nom", "Les Tilleuls",
                     "--territoire", "val-ardoise", "--type", "sociale", "--jours", "1,2,3")
    assert again.exit_code == 0 and "Déjà à jour" in again.output
    published = len(gateway.publisher.events)

    fixed = annuaire("epicerie", "modifier", "--id", "epi-tilleuls", "--commune", "Angers")
    assert fixed.exit_code == 0, fixed.output
    assert gateway.directory.shops["epi-tilleuls"].commune == "Angers"
    assert gateway.directory.shops["epi-tilleuls"].opening_days == (1, 2, 3)  # untouched
    assert len(gateway.publisher.events) == published + 1

    listed = annuaire("epicerie", "lister", "--territoire", "val-ardoise")
    heading, row = listed.output.splitlines()
    assert heading.split() == ["id", "nom", "territoire", "type", "commune", "jours"]
    assert row.split() == ["epi-tilleuls", "Les", "Tilleuls", "val-ardoise", "sociale",
                           "Angers", "lun", "mar", "mer"]

    assert annuaire("epicerie", "fermer", "--id", "epi-tilleuls").exit_code == 0
    assert gateway.directory.shops["epi-tilleuls"].closed_at == NOW
    assert "Aucune entrée (épicerie)" in annuaire("epicerie", "lister").output
    with_closed = annuaire("epicerie", "lister", "--fermes").output
    assert "fermé le" in with_closed and "2026-03-02" in with_closed


def test_a_producer_in_degrees_is_kept_in_microdegrees(gateway: GatewayDeps) -> None:
    annuaire(*TERRITORY)
    result = annuaire("producteur", "ajouter", "--id", "ferme-des-saules", "--nom",
                      "Ferme des Saules", "--commune", "Brissac", "--lat", "47,353",
                      "--lon", "-0.447", "--bio", "--territoires", "val-ardoise")
    assert result.exit_code == 0, result.output
    farm = gateway.directory.producers["ferme-des-saules"]
    assert (farm.farm_lat_e6, farm.farm_lon_e6, farm.organic) == (47353000, -447000, True)
    assert "47.353000, -0.447000" in annuaire("producteur", "lister").output


def test_a_refusal_is_said_in_french_and_exits_1(gateway: GatewayDeps) -> None:
    unknown = annuaire("epicerie", "ajouter", "--id", "epi-x", "--nom", "X",
                       "--territoire", "nulle-part", "--type", "solidaire")
    assert unknown.exit_code == 1
    assert "Le territoire « nulle-part » n'existe pas dans l'annuaire." in unknown.stderr
    assert gateway.publisher.events == []

    annuaire(*TERRITORY)
    swapped = annuaire("pole", "ajouter", "--id", "pole-a", "--territoire", "val-ardoise",
                       "--nom", "Pôle", "--lat", "-0.56", "--lon", "47.47")
    assert swapped.exit_code == 1
    assert "n'est pas en France" in swapped.stderr and "en degrés" in swapped.stderr

    # the API's own validation (no French sentence) names the option people typed
    bad_zone = annuaire("territoire", "modifier", "--id", "val-ardoise",
                        "--fuseau", "Lune/Mer")
    assert bad_zone.exit_code == 1 and bad_zone.stderr.startswith("--fuseau : ")

    missing = annuaire("pole", "modifier", "--id", "pole-inconnu", "--nom", "P")
    assert missing.exit_code == 1
    assert "Aucune entrée « pole-inconnu » (pôle logistique)" in missing.stderr


def test_typing_mistakes_are_caught_before_the_gateway(gateway: GatewayDeps) -> None:
    result = annuaire("epicerie", "ajouter", "--id", "e1", "--territoire", "val-ardoise",
                      "--type", "associative", "--jours", "lun,dim,huit")
    assert result.exit_code == 2
    assert "--nom : valeur manquante." in result.stderr
    assert "--type : « associative » : sociale ou solidaire." in result.stderr
    assert "--jours : « huit » n'est pas un jour" in result.stderr
    assert gateway.publisher.events == []


def test_importing_a_territory_twice_changes_nothing_the_second_time(
        gateway: GatewayDeps) -> None:
    first = run("import", "annuaire", str(EXAMPLE))
    assert first.exit_code == 0, first.output + first.stderr
    assert "6 ajoutée(s), 0 modifiée(s), 0 déjà à jour, 0 ligne(s) refusée(s) sur 6" \
        in first.stdout
    assert set(gateway.directory.shops) == {"epi-pont-neuf", "epi-tilleuls"}
    assert gateway.directory.shops["epi-tilleuls"].opening_days == (1, 2, 3, 4, 5)
    assert gateway.directory.hubs["pole-ardoise"].lat_e6 == 47478419
    published = list(gateway.publisher.events)

    second = run("import", "annuaire", str(EXAMPLE))
    assert second.exit_code == 0
    assert "0 ajoutée(s), 0 modifiée(s), 6 déjà à jour" in second.stdout
    assert gateway.publisher.events == published


def test_bad_rows_and_refused_rows_are_reported_by_line(gateway: GatewayDeps,
                                                        tmp_path: Path) -> None:
    edited = tmp_path / "annuaire.csv"
    edited.write_text("\n".join([
        "type;id;nom;territoire;type_epicerie;commune;jours",
        "territoire;val;Val;;;;",
        "epicerie;e1;Une;val;sociale;Angers;1",
        "epicerie;e2;Deux;ailleurs;sociale;;",      # line 4: refused by the directory
        "epicerie;e3;Trois;val;sociale;;9",         # line 5: no such day
    ]), encoding="utf-8")
    result = run("import", "annuaire", str(edited))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-2:] == [
        "ligne 4 : Le territoire « ailleurs » n'existe pas dans l'annuaire.",
        "ligne 5 : colonne jours : « 9 » n'est pas un jour (1 lundi … 7 dimanche, lun, "
        "mardi, 1-5)."]
    assert "2 ajoutée(s), 0 modifiée(s), 0 déjà à jour, 2 ligne(s) refusée(s) sur 4" \
        in result.stdout
    assert set(gateway.directory.shops) == {"e1"}

    # the file corrected: the same again is up to date, a changed entry needs --mettre-a-jour
    edited.write_text(edited.read_text().replace("Angers;1", "Trélazé;1"), encoding="utf-8")
    conflict = run("import", "annuaire", str(edited))
    assert conflict.exit_code == 1
    assert "ligne 3 : « e1 » existe déjà (épicerie) avec d'autres valeurs" in conflict.stderr
    assert "--mettre-a-jour" in conflict.stderr
    updated = run("import", "annuaire", str(edited), "--mettre-a-jour")
    assert "1 modifiée(s), 1 déjà à jour" in updated.stdout
    assert gateway.directory.shops["e1"].commune == "Trélazé"


def test_a_token_of_the_wrong_kind_stops_the_import(gateway: GatewayDeps,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVRES_TOKEN", "vvr_not-a-token")
    result = run("import", "annuaire", str(EXAMPLE))
    assert result.exit_code == 1
    assert "Jeton refusé par la passerelle" in result.stderr
    assert gateway.publisher.events == []


# -- vivres tokens ------------------------------------------------------------------------

@pytest.fixture
def bus(gateway: GatewayDeps, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """The tokens commands' Kafka side: the gateway's directory and tokens, a recorder."""
    from contextlib import asynccontextmanager

    published = Recorder()

    async def load_directory(_settings: Any) -> Directory:
        return gateway.directory

    @asynccontextmanager
    async def token_table(_settings: Any):  # noqa: ANN202
        yield gateway.tokens

    async def publish_tokens(_settings: Any, events: list[TokenIssued]) -> None:
        for event in events:
            await published.publish(type("T", (), {"name": "auth.tokens"}), event)
            gateway.tokens.put(event)

    monkeypatch.setattr(sales_cli, "load_directory", load_directory)
    monkeypatch.setattr(sales_cli, "token_table", token_table)
    monkeypatch.setattr(sales_cli, "publish_tokens", publish_tokens)
    return published


def test_tokens_are_issued_only_for_entries_of_the_directory(gateway: GatewayDeps,
                                                             bus: Recorder) -> None:
    refused = run("tokens", "issue", "--role", "hub", "--hub", "pole-ardoise")
    assert refused.exit_code == 1
    assert "Aucun(e) pôle logistique « pole-ardoise » dans l'annuaire" in refused.stderr
    assert bus.events == []

    run("import", "annuaire", str(EXAMPLE))
    issued = run("tokens", "issue", "--role", "hub", "--hub", "pole-ardoise", "--label", "Léa")
    assert issued.exit_code == 0, issued.stderr
    [(_, event)] = bus.events
    assert (event.role, event.subject, event.token_sha256) == (
        Role.HUB, "pole-ardoise", digest(issued.stdout.strip()))
    committee = run("tokens", "issue", "--role", "committee", "--caisse", "caisse-val-ardoise")
    assert committee.exit_code == 0
    assert run("tokens", "issue", "--role", "committee", "--caisse", "autre").exit_code == 1


def test_list_and_revoke_all_of_a_subjects_tokens(gateway: GatewayDeps, bus: Recorder) -> None:
    run("import", "annuaire", str(EXAMPLE))
    first = run("tokens", "issue", "--role", "shop", "--shop", "epi-tilleuls",
                "--label", "caisse 1")
    run("tokens", "issue", "--role", "shop", "--shop", "epi-tilleuls", "--label", "caisse 2")
    run("tokens", "issue", "--role", "shop", "--shop", "epi-pont-neuf")
    assert run("tokens", "revoke", first.stdout.strip()).exit_code == 0

    listed = run("tokens", "list", "--subject", "epi-tilleuls").stdout.splitlines()
    assert listed[0].split() == ["empreinte", "rôle", "pour", "délivré", "le", "révoqué"]
    revoked_first = {line.split()[-1]: line for line in listed[1:]}
    assert set(revoked_first) == {"oui", "non"}
    assert digest(first.stdout.strip())[:12] in revoked_first["oui"]
    assert "caisse 1" in revoked_first["oui"] and "caisse 2" in revoked_first["non"]

    revoked = run("tokens", "revoke", "--subject", "epi-tilleuls")
    assert "1 jeton(s) de « epi-tilleuls » révoqué(s)." in revoked.stdout
    live = [t for t in gateway.tokens.values() if not t.revoked]
    assert {t.subject for t in live} == {None, "epi-pont-neuf"}  # the operator's and the other
    assert run("tokens", "revoke").exit_code == 2
