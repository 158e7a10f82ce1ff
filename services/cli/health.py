"""`vivres health`: the stream health report as a table, for operators, cron and scripts.

Exit code: 0 when everything is OK, 1 when something is not, 2 when the health service cannot
be asked (down, or the token refused). It reads the health service's report, which judges each
group over a sliding window: a one-shot look at Kafka could not tell a stop from a pause.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import httpx

from services.cli.messages import t, words
from services.simulator.territories import DEMO_TOKENS

DEFAULT_URL = "http://127.0.0.1:8090"


@click.command("health")
@click.option("--url", envvar="VIVRES_HEALTH_URL", default=DEFAULT_URL, show_default=True,
              help="Adresse du service de santé (ou VIVRES_HEALTH_URL).")
@click.option("--token", envvar="VIVRES_TOKEN", help="Jeton d'exploitation (ou VIVRES_TOKEN).")
@click.option("--json", "as_json", is_flag=True, help="Affiche le rapport JSON tel quel.")
@click.option("--all", "show_all", is_flag=True,
              help="Montre aussi ce qui va bien (par défaut : seulement ce qui ne va pas).")
def health(url: str, token: str | None, as_json: bool, show_all: bool) -> None:
    """État des flux : retard des consommateurs, rejets, services, brokers ; code de sortie
    non nul dès que quelque chose ne va pas."""
    token = token or _demo_token()
    if not token:
        click.echo(t("health.no_token"), err=True)
        sys.exit(2)
    try:
        response = httpx.get(f"{url.rstrip('/')}/v1/health/streams", timeout=15,
                             headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as err:
        click.echo(t("health.unreachable", url=url, error=err), err=True)
        sys.exit(2)
    if response.status_code != 200:
        detail = response.json().get("detail", "") if response.headers.get(
            "content-type", "").startswith("application/json") else response.text[:200]
        click.echo(t("health.refused", status=response.status_code, detail=detail), err=True)
        sys.exit(2)
    report = response.json()
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(render(report, show_all))
    sys.exit(0 if report["status"] == "OK" else 1)


def rows(report: dict[str, Any], show_all: bool) -> list[tuple[str, str, str, str, str]]:
    """One row per thing judged: Kafka, each group, each service, each dead-letter topic."""
    kafka = report["kafka"]
    found = [(kafka["status"], "kafka", "", "",
              kafka["error"] or t("health.kafka", brokers=len(kafka["brokers"]),
                                  controller=_dash(kafka["controller"]),
                                  under=len(kafka["under_replicated"]),
                                  offline=len(kafka["offline"])))]
    for group in report["groups"]:
        found.append((group["status"], group["group"], str(group["lag"]),
                      _dash(group["lag_seconds"]),
                      t("health.group", state=group["state"], members=group["members"],
                        reason=group["reason"])))
    for entry in report.get("stuck", ()):
        found.append((entry["status"],
                      f"{entry['topic']}[{entry['partition']}]@{entry['offset']}", "", "",
                      t("health.stuck", group=entry["group"],
                        error=entry["error"] or entry["reason"] or "-",
                        command=entry["set_aside"])))
    for service in report["services"]:
        latency, bus = service["event_latency_ms"], service["bus_latency_ms"]
        found.append((service["status"], f"service {service['service']}", "", "",
                      service["error"] or t("health.service", p50=_ms(latency["p50"]),
                                            p99=_ms(latency["p99"]), bus99=_ms(bus["p99"]))))
    for letters in report["dead_letters"]:
        if letters["depth"] or letters["status"] != "OK":
            reason = letters["latest"][-1]["error"][:80] if letters["latest"] else ""
            found.append((letters["status"], letters["topic"], "", "",
                          t("health.letters", depth=letters["depth"], reason=reason)))
    return [row for row in found if show_all or row[0] != "OK"]


def render(report: dict[str, Any], show_all: bool = False) -> str:
    table = [words("health.columns"), *rows(report, show_all)]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    lines = [t("health.header", status=report["status"], at=report["generated_at"],
               window=f"{report['window_s']:g}")]
    lines += ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)),
                         row[4]]).rstrip() for row in table]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    """A latency as people read it: 83.7 ms, 12.3 s, 5 min, 3 h, 14 j."""
    if value is None:
        return "-"
    for unit, size in (("j", 86_400_000), ("h", 3_600_000), ("min", 60_000)):
        if value >= size:
            return f"{value / size:.0f} {unit}"
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.1f} ms"


def _dash(value: object) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _demo_token() -> str | None:
    if DEMO_TOKENS.exists():
        return json.loads(DEMO_TOKENS.read_text(encoding="utf-8")).get("operator")
    return None
