"""deploy/k8s's monitoring: Strimzi's broker metrics and Kafka exporter, the PodMonitors and the
alerts (monitoring.yaml, and deploy/prometheus/alerts.yml for compose), against what the code and
the generated pods really have: every alert names only metrics something exports (the services
and the health service, read from the code; Strimzi's Kafka exporter by its documented names; the
brokers' JMX gauges by the rules generated for them), each health status has its alert, and every
PodMonitor selects pods by labels and ports they carry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from services.bus import access, catalog
from services.health.status import Status
from tests.checks.deploy_tools import generate, load_yaml
from tests.checks.test_k8s_manifests import every, objects
from tests.metric_names import health_samples, service_samples

# Strimzi's Kafka exporter (Strimzi's documentation, "Kafka Exporter metrics"), and the labels
# they carry.
KAFKA_EXPORTER_METRICS = {
    "kafka_brokers": set(),
    "kafka_topic_partitions": {"topic"},
    "kafka_topic_partition_current_offset": {"topic", "partition"},
    "kafka_topic_partition_oldest_offset": {"topic", "partition"},
    "kafka_topic_partition_in_sync_replica": {"topic", "partition"},
    "kafka_topic_partition_leader": {"topic", "partition"},
    "kafka_topic_partition_leader_is_preferred": {"topic", "partition"},
    "kafka_topic_partition_replicas": {"topic", "partition"},
    "kafka_topic_partition_under_replicated_partition": {"topic", "partition"},
    "kafka_consumergroup_current_offset": {"consumergroup", "topic", "partition"},
    "kafka_consumergroup_current_offset_sum": {"consumergroup", "topic"},
    "kafka_consumergroup_lag": {"consumergroup", "topic", "partition"},
    "kafka_consumergroup_lag_sum": {"consumergroup", "topic"},
    "kafka_consumergroup_members": {"consumergroup"},
}
# Strimzi's pods: the labels its pods carry (the nodes' and the exporter's) and its metrics port.
STRIMZI_KIND_LABEL, STRIMZI_CLUSTER_LABEL, STRIMZI_METRICS_PORT = (
    "strimzi.io/kind", "strimzi.io/cluster", "tcp-prometheus")

PROMQL_FUNCTIONS_AND_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring",
                              "group_left", "group_right", "bool", "offset", "inf", "nan"}


def alerts() -> list[dict[str, Any]]:
    [rule] = every("PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def jmx_gauges() -> dict[str, set[str]]:
    """The metrics the brokers' JMX rules name outright (the templated ones are for dashboards)."""
    rules = generate.jmx_rules()
    return {r["name"]: set(r.get("labels", {})) for r in rules if "$" not in r["name"]}


def known_metrics() -> dict[str, set[str]]:
    """Every metric name something exports, with the labels its samples carry."""
    found: dict[str, set[str]] = {}
    for sample in health_samples() + service_samples():
        found.setdefault(sample.name, set()).update(sample.labels)
    return {**found, **KAFKA_EXPORTER_METRICS, **jmx_gauges()}


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """The metrics an expression reads, each with the label names its matchers use: strings,
    range durations, grouping clauses and function names are not metrics."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    found = []
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b\s*(\{[^}]*\})?\s*(\()?", text):
        name, matchers, call = match.groups()
        if call or name.lower() in PROMQL_FUNCTIONS_AND_WORDS:
            continue
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers or ""))
        found.append((name, labels))
    return found


def grouping(expr: str) -> set[str]:
    return {label.strip() for clause in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr)
            for label in clause.split(",") if label.strip()}


def test_selectors_are_read_as_prometheus_would() -> None:
    expr = ('sum by (route) (rate(vivres_http_requests_total{status=~"5..", route!="/x"}[5m]))'
            " / on (route) absent(up) and time() > 1")
    assert selectors(expr) == [("vivres_http_requests_total", {"status", "route"}), ("up", set())]
    assert grouping(expr) == {"route"}


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_each_alert_reads_metrics_that_are_exported_with_their_labels(alert: dict) -> None:
    known = known_metrics()
    read = selectors(alert["expr"])
    assert read, f"{alert['alert']} reads no metric"
    for name, labels in read:
        assert name in known, f"{alert['alert']}: {name} is exported by nothing"
        assert labels <= known[name], f"{alert['alert']}: {name} has no {labels - known[name]}"
    carried = set().union(*(known[name] for name, _ in read)) | grouping(alert["expr"])
    assert grouping(alert["expr"]) <= set().union(*(known[name] for name, _ in read))
    templated = {label for text in alert["annotations"].values()
                 for label in re.findall(r"\$labels\.([a-zA-Z_]+)", text)}
    assert templated <= carried, f"{alert['alert']}: no label {templated - carried}"


def test_the_metric_names_are_the_codes_own() -> None:
    # the sets the alerts are held against are not vacuous: they hold what the alerts rely on
    known = known_metrics()
    for name in ("vivres_health_group_status", "vivres_health_kafka_up",
                 "vivres_records_dead_lettered_total", "vivres_http_requests_total",
                 "vivres_consumer_blocked_since_timestamp_seconds"):
        assert name in known
    assert "vivres_no_such_metric" not in known
    assert set(generate.JMX_GAUGES) == set(jmx_gauges())


def test_every_health_status_has_its_alert() -> None:
    exprs = {a["expr"]: a for a in alerts()}
    for status in (Status.WARN, Status.STALL, Status.STOP, Status.REWIND):
        assert f"vivres_health_group_status == {status.severity}" in exprs, status
    read = {name for a in alerts() for name, _ in selectors(a["expr"])}
    # Kafka DOWN (unreachable, offline partitions), WARN (under-replicated), services DOWN,
    # new dead letters, records a service cannot get past, freshness, the health service itself
    assert {"vivres_health_kafka_up", "kafka_controller_kafkacontroller_offlinepartitionscount",
            "kafka_topic_partition_under_replicated_partition", "vivres_health_service_up",
            "vivres_records_dead_lettered_total",
            "vivres_consumer_blocked_since_timestamp_seconds", "vivres_health_state_age_seconds",
            "vivres_health_status"} <= read


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_alerts_speak_french_first_then_english(alert: dict) -> None:
    assert alert["alert"].startswith("Vivres") and alert["labels"]["severity"] in (
        "critical", "warning")
    french, english = alert["annotations"]["summary"].split(" / ")
    assert french and english
    first, then = alert["annotations"]["description"].splitlines()
    assert first.startswith("Première chose") and then.startswith("First:")


def test_the_drift_check_fails_when_a_metric_facing_part_changes(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate.main(["--check"]) == 0
    changes = {
        "deploy/k8s/kafka.yaml": lambda patch: patch.setitem(
            generate.JMX_GAUGES, "kafka_server_replicamanager_leadercount",
            "kafka.server<type=ReplicaManager, name=LeaderCount><>Value"),
        "deploy/k8s/monitoring.yaml": lambda patch: patch.setattr(
            generate, "STRIMZI_METRICS_PORT", "metrics"),
        "deploy/prometheus/alerts.yml": lambda patch: patch.setitem(
            generate.ALERT_GROUPS, "vivres-kafka", generate.KAFKA_ALERTS[:-1]),
    }
    for stale, change in changes.items():
        capsys.readouterr()
        with monkeypatch.context() as patch:
            change(patch)
            assert generate.main(["--check"]) == 1, stale
        assert stale in capsys.readouterr().out
    assert generate.main(["--check"]) == 0


def test_the_compose_rules_are_the_prometheus_rule() -> None:
    [rule] = every("PrometheusRule")
    [read] = load_yaml(generate.PROMETHEUS_RULES)
    assert read == {"groups": rule["spec"]["groups"]}


def test_the_kafka_exports_broker_metrics_and_runs_the_exporter(tmp_path: Path) -> None:
    [kafka] = every("Kafka")
    source = kafka["spec"]["kafka"]["metricsConfig"]
    assert source["type"] == "jmxPrometheusExporter"
    ref = source["valueFrom"]["configMapKeyRef"]
    [config] = [c for c in objects()["kafka.yaml"] if c["kind"] == "ConfigMap"]
    assert config["metadata"]["name"] == ref["name"] and ref["key"] in config["data"]
    mounted = tmp_path / ref["key"]  # as the ConfigMap's key is mounted in the Kafka pods
    mounted.write_text(config["data"][ref["key"]], encoding="utf-8")
    [rules] = load_yaml(mounted)
    assert rules["rules"] == generate.jmx_rules() and rules["lowercaseOutputName"] is True
    exporter = kafka["spec"]["kafkaExporter"]
    topics, groups = re.compile(exporter["topicRegex"]), re.compile(exporter["groupRegex"])
    for topic in catalog.TOPICS:
        assert topics.search(topic.name) and topics.search(topic.dead_letter), topic.name
    for other in ("__consumer_offsets", "kafkasql-journal", "vivres-demand-2-changelog"):
        assert not topics.search(other), other
    for group in (g for p in access.PRINCIPALS for g in p.groups):
        assert groups.search(group), group
    for other in ("vivres-dlq-replay.sales.tickets", "vivres-registry-1f0e", "vivres-stockx"):
        assert not groups.search(other), other


def _pods() -> dict[str, tuple[dict[str, str], set[str]]]:
    """Each generated workload's pod labels and container port names."""
    return {w["metadata"]["name"]: (
        w["spec"]["template"]["metadata"]["labels"],
        {p["name"] for c in w["spec"]["template"]["spec"]["containers"]
         for p in c.get("ports", [])})
        for kind in ("Deployment", "StatefulSet", "Job") for w in every(kind)}


def _targets(monitor: dict, labels: dict[str, str], ports: set[str]) -> list[str]:
    """The ports of a pod a PodMonitor scrapes (none when it does not select the pod)."""
    if not monitor["spec"]["selector"]["matchLabels"].items() <= labels.items():
        return []
    return [e["port"] for e in monitor["spec"]["podMetricsEndpoints"] if e["port"] in ports]


def test_pod_monitors_scrape_every_service_at_its_metrics() -> None:
    monitors = list(every("PodMonitor"))
    pods = _pods()
    for service in generate.services_from_toml():
        labels, ports = pods[service.workload]
        scraped = [port for m in monitors for port in _targets(m, labels, ports)]
        # the bus services on their metrics port; the health service serves /metrics on its own
        assert scraped == (["metrics"] if service.metrics else ["http"]), service.name
    services = {s.workload for s in generate.services_from_toml()}
    for name, (labels, ports) in pods.items():  # the registry, the provisioning Job
        if name not in services:
            assert not [p for m in monitors for p in _targets(m, labels, ports)], name
    for monitor in monitors:
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["path"] == "/metrics"


def test_the_kafka_pod_monitor_selects_strimzis_pods() -> None:
    [kafka] = every("Kafka")
    [monitor] = [m for m in every("PodMonitor") if m["metadata"]["name"] == "vivres-kafka"]
    assert monitor["spec"]["selector"]["matchLabels"] == {
        STRIMZI_CLUSTER_LABEL: kafka["metadata"]["name"], STRIMZI_KIND_LABEL: "Kafka"}
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == [STRIMZI_METRICS_PORT]


def test_the_operators_guide_lists_every_alert_with_its_severity() -> None:
    guide = (generate.ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(Vivres\w+)` \((critical|warning)\b", guide, re.MULTILINE))
    assert rows == {a["alert"]: a["labels"]["severity"] for a in alerts()}
