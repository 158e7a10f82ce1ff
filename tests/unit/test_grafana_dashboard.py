"""The Grafana dashboard (deploy/grafana/vivres-streams.json) is a sound dashboard, and every
metric its queries name is really exposed: by a bus service's /metrics (services.bus.metrics) or
by the health service's (services.health.app.ReportCollector, fed a report as Monitor builds it).
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from services.health.status import Status
from tests.metric_names import REPORT, exposed, health_samples

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "vivres-streams.json"
METRIC = re.compile(r"\bvivres_[a-z_]+\b")
RATED = re.compile(r"\b(?:rate|irate|increase)\(\s*(vivres_[a-z_]+)")


def _value(samples: list, name: str, **labels: str) -> float:
    [found] = [s.value for s in samples if s.name == name and s.labels == labels]
    return found


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(dashboard: dict) -> list[dict]:
    """Every panel, those folded inside collapsed rows included."""
    return [p for top in dashboard["panels"] for p in [top, *top.get("panels", [])]]


def _exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]


def test_dashboard_is_well_formed(dashboard: dict) -> None:
    assert dashboard["uid"] == "vivres-streams"
    assert dashboard["title"] == "Vivres — santé des flux"
    assert dashboard["refresh"] == "10s" and dashboard["time"]["from"] == "now-1h"
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    source = {"type": "prometheus", "uid": f"${{{variable['name']}}}"}

    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert panel["type"] and panel["title"], panel
        box = panel["gridPos"]
        assert box["x"] >= 0 and box["y"] >= 0 and box["w"] > 0 and box["h"] > 0, panel["title"]
        assert box["x"] + box["w"] <= 24, f"{panel['title']} overflows the 24-wide grid"
        if panel["type"] == "row":
            continue
        assert panel["description"], panel["title"]
        assert panel["datasource"] == source, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"] == source, panel["title"]

    for a, b in itertools.combinations(panels, 2):
        ga, gb = a["gridPos"], b["gridPos"]
        apart = (ga["x"] + ga["w"] <= gb["x"] or gb["x"] + gb["w"] <= ga["x"]
                 or ga["y"] + ga["h"] <= gb["y"] or gb["y"] + gb["h"] <= ga["y"])
        assert apart, f"{a['title']!r} overlaps {b['title']!r}"


def test_every_metric_queried_is_exposed(dashboard: dict) -> None:
    # PromQL names samples as exposed: counters with _total, histograms with _bucket/_sum/_count.
    used = {name for expr in _exprs(dashboard) for name in METRIC.findall(expr)}
    assert used, "no vivres_ metric found in the dashboard's queries"
    assert used <= exposed(), f"not exposed by any service: {sorted(used - exposed())}"
    for expr in _exprs(dashboard):
        for name in RATED.findall(expr):
            assert name.endswith(("_total", "_bucket")), f"rate() of a non-counter: {expr}"


def test_every_health_gauge_is_on_the_dashboard(dashboard: dict) -> None:
    used = {name for expr in _exprs(dashboard) for name in METRIC.findall(expr)}
    health = {s.name for s in health_samples()}
    assert health <= used, f"not shown: {sorted(health - used)}"


def _status_mappings(node: object) -> list[dict]:
    """Every value mapping, anywhere in the dashboard, that names the STALL status."""
    if isinstance(node, list):
        return [m for item in node for m in _status_mappings(item)]
    if not isinstance(node, dict):
        return []
    own = [node["options"]] if node.get("type") == "value" and any(
        o.get("text") == "STALL" for o in node.get("options", {}).values()) else []
    return own + [m for value in node.values() for m in _status_mappings(value)]


def test_status_mappings_follow_the_severity_order(dashboard: dict) -> None:
    mappings = _status_mappings(dashboard)
    assert len(mappings) >= 3  # the overall stat, the groups' timeline and table
    for options in mappings:
        assert {int(code): o["text"] for code, o in options.items()} == {
            s.severity: s.value for s in Status}


def test_health_gauges_carry_the_report_figures() -> None:
    samples = health_samples()
    group = REPORT["groups"][0]
    assert _value(samples, "vivres_health_status") == Status.STALL.severity == 2
    assert _value(samples, "vivres_health_kafka_up") == 1
    assert _value(samples, "vivres_health_brokers") == 2
    assert _value(samples, "vivres_health_active_controller") == 2
    assert _value(samples, "vivres_health_under_replicated_partitions") == 1
    assert _value(samples, "vivres_health_offline_partitions") == 0
    assert _value(samples, "vivres_health_group_status", group="vivres-stock") == 2
    assert _value(samples, "vivres_health_group_lag", group="vivres-stock") == group["lag"]
    assert _value(samples, "vivres_health_partition_lag", group="vivres-stock",
                  topic="sales.tickets", partition="1") == 7
    assert _value(samples, "vivres_health_partition_lag_seconds", group="vivres-stock",
                  topic="sales.tickets", partition="1") == 42.5
    assert _value(samples, "vivres_health_topic_end_offset", topic="sales.tickets") == 20
    assert _value(samples, "vivres_health_topic_records_per_second",
                  topic="sales.tickets") == 0.4
    assert _value(samples, "vivres_health_dead_letters", topic="sales.tickets.dlq") == 3
    assert _value(samples, "vivres_health_service_up", service="stock") == 1
    assert _value(samples, "vivres_health_service_bus_latency_seconds", service="stock",
                  quantile="0.99") == pytest.approx(0.25)
    assert _value(samples, "vivres_health_service_latency_seconds", service="stock",
                  quantile="0.99") == pytest.approx(0.9)
    assert _value(samples, "vivres_health_state_age_seconds", service="stock",
                  topic="sales.tickets") == 10.0
