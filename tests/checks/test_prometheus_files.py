"""deploy/prometheus as Prometheus loads it: the configuration of `docker compose --profile ops`
by Prometheus' own configuration loader, and the alert rules (deploy/prometheus/alerts.yml, the
same as deploy/k8s's PrometheusRule: test_k8s_monitoring.py) by its rule-file loader, which parses
every expression with PromQL's parser and every annotation's template, in deploy/tools/
prometheus-check (built by `make prometheus-check`), as `promtool check config` and `promtool
check rules` do. A broken copy of each is refused, so the checker is not one that accepts all."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.checks.deploy_tools import ROOT, go_tool

CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"


def check(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(go_tool("prometheus-check")), *map(str, arguments)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_prometheus_loads_the_configuration_and_the_alert_rules() -> None:
    result = check("-config", CONFIG, RULES)
    assert result.returncode == 0, result.stderr


def broken_copy(tmp_path: Path, original: Path, old: str, new: str) -> Path:
    text = original.read_text(encoding="utf-8")
    assert old in text, f"{original.name} no longer has {old!r}: pick another breakage"
    broken = tmp_path / original.name
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    return broken


@pytest.mark.parametrize(("old", "new", "said"), [
    ("vivres_health_group_status == 3", "vivres_health_group_status == == 3",
     ["VivresConsumerStopped", "could not parse expression"]),
    ("{{ $labels.group }}", "{{ $labels.group }", ["VivresConsumerLagGrowing", "template"]),
    ('for: "5m"', 'for: "5 minutes"', ['duration "5 minutes"']),
], ids=["promql", "template", "duration"])
def test_a_broken_rule_is_refused_saying_where(tmp_path: Path, old: str, new: str,
                                               said: list[str]) -> None:
    result = check(broken_copy(tmp_path, RULES, old, new))
    assert result.returncode == 1
    assert all(words in result.stderr for words in said), result.stderr


def test_a_broken_configuration_is_refused(tmp_path: Path) -> None:
    result = check("-config", broken_copy(tmp_path, CONFIG, "scrape_interval: 10s",
                                           "scrape_intervall: 10s"))
    assert result.returncode == 1
    assert "scrape_intervall" in result.stderr, result.stderr
