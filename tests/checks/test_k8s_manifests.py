"""deploy/k8s: the committed manifests are what deploy/k8s/generate.py makes from the catalog, the
principals and services.toml, they say what those say, and every object is valid against its
schema: Kubernetes' own for the core objects (kubernetes-validate's strict JSON schemas, an
unknown field refused), Strimzi's and the prometheus-operator's CRDs for the custom resources.
The monitoring objects (PodMonitors, alerts) have their own tests: test_k8s_monitoring.py.

The validator and the schemas are fetched once by `make kube-schemas` (deploy/k8s/schemas.py) into
~/.cache/vivres/k8s/; without them these tests fail, naming that target."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any


from services.bus import access, catalog
from tests.checks.deploy_tools import K8S, generate, validator_paths

STRIMZI_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}
MONITORING_KINDS = {"PodMonitor", "PrometheusRule"}


@cache
def objects() -> dict[str, list[dict[str, Any]]]:
    """Each file's objects as the generator makes them (without the comments)."""
    return {name: [generate.plain(doc) for doc in docs]
            for name, docs in generate.documents().items()}


def every(kind: str | None = None) -> Iterator[dict[str, Any]]:
    for docs in objects().values():
        yield from (obj for obj in docs if kind is None or obj["kind"] == kind)


def validate(*, files: Iterable[Path] = (), stdin: list[Any] | None = None) -> dict[str, Any]:
    """The validator's JSON report (deploy/k8s/validate.py, run by the validator's Python)."""
    paths = validator_paths()
    crds = [option for directory in paths.crd_dirs for option in ("--crds", str(directory))]
    command = [str(paths.python), str(K8S / "validate.py"), *crds, "--json",
               *(["--stdin"] if stdin is not None else []), *map(str, files)]
    result = subprocess.run(command, input=json.dumps(stdin) if stdin is not None else None,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


# --- the files are the generator's ------------------------------------------------------------


def test_the_committed_manifests_are_what_the_generator_makes() -> None:
    assert sorted(p.name for p in K8S.glob("*.yaml")) == sorted(generate.render())
    for path, text in generate.outputs().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(K8S.parents[1])} differs from what the catalog, access.py and "
            "services.toml give: run .venv/bin/python deploy/k8s/generate.py")


# --- against the schemas ----------------------------------------------------------------------


def test_every_object_is_valid_against_kubernetes_and_strimzi_schemas() -> None:
    report = validate(files=sorted(K8S.glob("*.yaml")))
    invalid = {f"{Path(d['file']).name}#{d['index']} {d['kind']}/{d['name']}": d["errors"]
               for d in report["documents"] if d["errors"]}
    assert not invalid, json.dumps(invalid, indent=2)
    # the YAML reads back as the generator's objects (the emitter is sound) ...
    parsed: dict[str, list[Any]] = {}
    for doc in report["documents"]:
        parsed.setdefault(Path(doc["file"]).name, []).append(doc["object"])
    assert parsed == objects()
    # ... and each kind was checked, against the CRDs and Kubernetes versions expected
    kinds = {d["kind"] for d in report["documents"]}
    assert STRIMZI_KINDS | MONITORING_KINDS | {"Deployment", "StatefulSet", "Service",
                                               "PodDisruptionBudget", "ConfigMap", "Job"} <= kinds
    assert set(report["crds"]) >= {"kafkas.kafka.strimzi.io", "kafkanodepools.kafka.strimzi.io",
                                   "kafkatopics.kafka.strimzi.io", "kafkausers.kafka.strimzi.io",
                                   "podmonitors.monitoring.coreos.com",
                                   "prometheusrules.monitoring.coreos.com"}
    assert report["kubernetes"] == ["1.30", "1.37"]


def _broken() -> dict[str, dict[str, Any]]:
    """One wrong field or type in an object of each kind."""
    first = {kind: next(every(kind)) for kind in
             ("Deployment", "StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap", "Job",
              "Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "PodMonitor",
              "PrometheusRule")}
    broken: dict[str, dict[str, Any]] = {}

    def case(label: str, kind: str, change: Any) -> None:
        obj = copy.deepcopy(first[kind])
        change(obj)
        broken[label] = obj

    case("Deployment replicas as a string", "Deployment",
         lambda o: o["spec"].update(replicas="two"))
    case("Deployment container with an unknown field", "Deployment",
         lambda o: o["spec"]["template"]["spec"]["containers"][0].update(imagePolicy="Always"))
    case("StatefulSet claim without its spec", "StatefulSet",
         lambda o: o["spec"]["volumeClaimTemplates"][0].update(spec="5Gi"))
    case("Service port as a string", "Service", lambda o: o["spec"]["ports"][0].update(port="x"))
    case("Service named with a dot", "Service", lambda o: o["metadata"].update(name="a.b"))
    case("PodDisruptionBudget unknown field", "PodDisruptionBudget",
         lambda o: o["spec"].update(maxUnavailble=1))
    case("ConfigMap data not strings", "ConfigMap", lambda o: o.update(data={"a": {"b": 1}}))
    case("Job restartPolicy unknown field", "Job",
         lambda o: o["spec"]["template"]["spec"].update(restart="Never"))
    case("Kafka listener name against its pattern", "Kafka",
         lambda o: o["spec"]["kafka"]["listeners"][0].update(name="TLS-9093"))
    case("Kafka replicas (gone with node pools)", "Kafka",
         lambda o: o["spec"]["kafka"].update(replicas=3))
    case("KafkaNodePool with a ZooKeeper role", "KafkaNodePool",
         lambda o: o["spec"].update(roles=["zookeeper"]))
    case("KafkaNodePool storage type unknown", "KafkaNodePool",
         lambda o: o["spec"]["storage"].update(type="persistent"))
    case("KafkaTopic partitions as a string", "KafkaTopic",
         lambda o: o["spec"].update(partitions="six"))
    case("KafkaTopic unknown field", "KafkaTopic", lambda o: o["spec"].update(replicationFactor=3))
    case("KafkaTopic in the deprecated v1beta2", "KafkaTopic",
         lambda o: o.update(apiVersion="kafka.strimzi.io/v1beta2"))
    case("KafkaTopic metadata unknown field", "KafkaTopic",
         lambda o: o["metadata"].update(label={}))
    case("KafkaUser operation unknown", "KafkaUser",
         lambda o: o["spec"]["authorization"]["acls"][0].update(operations=["Reed"]))
    case("KafkaUser ACL without operations", "KafkaUser",
         lambda o: o["spec"]["authorization"]["acls"][0].pop("operations"))
    case("Kafka metricsConfig of an unknown type", "Kafka",
         lambda o: o["spec"]["kafka"]["metricsConfig"].update(type="jmx"))
    case("Kafka exporter unknown field", "Kafka",
         lambda o: o["spec"]["kafkaExporter"].update(topicRegexp=".*"))
    case("PodMonitor endpoint unknown field", "PodMonitor",
         lambda o: o["spec"]["podMetricsEndpoints"][0].update(portName="metrics"))
    case("PodMonitor without a selector", "PodMonitor", lambda o: o["spec"].pop("selector"))
    case("PrometheusRule `for` not a duration", "PrometheusRule",
         lambda o: o["spec"]["groups"][0]["rules"][0].update({"for": "ten minutes"}))
    case("PrometheusRule annotation not a string", "PrometheusRule",
         lambda o: o["spec"]["groups"][0]["rules"][0]["annotations"].update(runbook={"a": 1}))
    return broken


def test_a_broken_object_of_each_kind_is_refused() -> None:
    broken = _broken()
    report = validate(stdin=list(broken.values()))
    accepted = [label for label, doc in zip(broken, report["documents"], strict=True)
                if not doc["errors"]]
    assert not accepted, f"the validator let these through: {accepted}"


# --- they say what the catalog, access.py and services.toml say --------------------------------


def test_one_topic_per_catalog_topic_and_dead_letter_topic() -> None:
    topics = {t["spec"]["topicName"]: t for t in objects()["topics.yaml"]}
    assert set(topics) == ({t.name for t in catalog.TOPICS}
                           | {t.dead_letter for t in catalog.TOPICS})
    for topic in catalog.TOPICS:
        kept, dead = topics[topic.name]["spec"], topics[topic.dead_letter]["spec"]
        assert (kept["partitions"], kept["replicas"]) == (topic.partitions, 3)
        assert kept["config"] == topic.config(3) and kept["config"]["min.insync.replicas"] == "2"
        assert dead["partitions"] == topic.dead_letter_partitions
        assert dead["config"] == topic.dead_letter_config(3)


def test_each_principal_is_a_kafka_user_with_exactly_its_acls() -> None:
    kinds = {v: k for k, v in generate.RESOURCE_TYPES.items()}
    operations = {v: k for k, v in generate.OPERATIONS.items()}
    users = {u["metadata"]["name"]: u["spec"] for u in objects()["users.yaml"]}
    assert set(users) == {p.user for p in access.PRINCIPALS} | {generate.ADMIN}
    for principal in access.PRINCIPALS:
        spec = users[principal.user]
        assert spec["authentication"] == {"type": "scram-sha-512"}
        granted = set()
        for rule in spec["authorization"]["acls"]:
            resource = rule["resource"]
            assert rule.get("type", "allow") == "allow"
            for operation in rule["operations"]:
                if resource["type"] == "cluster":
                    name, pattern = "kafka-cluster", access.Pattern.LITERAL
                else:
                    name = resource["name"]
                    pattern = (access.Pattern.PREFIXED if resource["patternType"] == "prefix"
                               else access.Pattern.LITERAL)
                granted.add(access.Acl(kinds[resource["type"]], name, pattern,
                                       operations[operation]))
        assert granted == set(principal.acls()), principal.user
    # the administrator is the cluster's super user, with no ACL of its own
    assert "authorization" not in users[generate.ADMIN]
    [kafka] = every("Kafka")
    assert kafka["spec"]["kafka"]["authorization"]["superUsers"] == [generate.ADMIN]


def test_the_services_of_services_toml_run_with_their_users_ports_and_bounds() -> None:
    workloads = {w["metadata"]["name"]: w for kind in ("Deployment", "StatefulSet")
                 for w in every(kind) if w["metadata"]["name"] != generate.REGISTRY}
    services = generate.services_from_toml()
    assert {s.name for s in services} == {"ingest", "stock", "orders", "caisse", "demand",
                                          "planning", "webhooks", "gateway", "health"}
    assert set(workloads) == {f"vivres-{s.name}" for s in services}
    for service in services:
        w = workloads[f"vivres-{service.name}"]
        [container] = w["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert container["command"] == ["vivres", "serve", service.name]
        assert env["KAFKA_SASL_USERNAME"]["value"] == f"vivres-{service.name}"
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": f"vivres-{service.name}", "key": "password"}
        if service.metrics:
            assert env["VIVRES_METRICS_PORT"]["value"] == str(service.metrics)
        consumed = access.by_user(f"vivres-{service.name}").consumes
        bound = max((catalog.by_name(t).partitions for t in consumed), default=None)
        annotations = w["metadata"].get("annotations", {})
        if service.name in ("health", "planning"):
            assert w["spec"]["replicas"] == 1
        elif bound is not None:
            assert annotations[generate.ANNOTATION_MAX_REPLICAS] == str(bound)
            assert 1 < w["spec"]["replicas"] <= bound
    assert workloads["vivres-demand"]["kind"] == "StatefulSet"
    assert workloads["vivres-planning"]["spec"]["strategy"] == {"type": "Recreate"}
    targets = next(e["value"] for e in every_container_env("vivres-health")
                   if e["name"] == "VIVRES_HEALTH_TARGETS")
    assert {t.split("=")[0] for t in targets.split(",")} == {
        s.name for s in services if s.metrics}


def every_container_env(workload: str) -> list[dict[str, Any]]:
    w = next(w for kind in ("Deployment", "StatefulSet") for w in every(kind)
             if w["metadata"]["name"] == workload)
    return w["spec"]["template"]["spec"]["containers"][0]["env"]


def test_the_objects_refer_to_one_another() -> None:
    [kafka] = every("Kafka")
    cluster = kafka["metadata"]["name"]
    users = {u["metadata"]["name"] for u in every("KafkaUser")}
    config_maps = {c["metadata"]["name"] for c in every("ConfigMap")}
    pods = []
    for kind in ("Deployment", "StatefulSet", "Job"):
        for w in every(kind):
            template = w["spec"]["template"]
            if kind != "Job":
                assert (w["spec"]["selector"]["matchLabels"].items()
                        <= template["metadata"]["labels"].items())
            pods.append(template["metadata"]["labels"])
            spec = template["spec"]
            for container in spec["containers"]:
                ports = {p["name"] for p in container.get("ports", [])}
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    if probe in container:
                        assert container[probe]["httpGet"]["port"] in ports, (w, probe)
                for env in container["env"]:
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:  # the Secrets the User Operator makes
                        assert ref["name"] in users and ref["key"] == "password"
                mounts = {m["name"] for m in container.get("volumeMounts", [])}
                claims = {c["metadata"]["name"] for c in w["spec"].get("volumeClaimTemplates", [])}
                assert mounts <= {v["name"] for v in spec.get("volumes", [])} | claims
            for volume in spec.get("volumes", []):
                if "secret" in volume:
                    assert volume["secret"]["secretName"] == f"{cluster}-cluster-ca-cert"
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in config_maps
    for selector in ([s["spec"]["selector"] for s in every("Service")]
                     + [b["spec"]["selector"]["matchLabels"]
                        for b in every("PodDisruptionBudget")]):
        assert any(selector.items() <= labels.items() for labels in pods), selector
    for obj in every():
        if obj["kind"] in STRIMZI_KINDS - {"Kafka"}:
            assert obj["metadata"]["labels"]["strimzi.io/cluster"] == cluster
    bootstrap = f"{cluster}-kafka-bootstrap:{kafka['spec']['kafka']['listeners'][0]['port']}"
    assert {e["value"] for w in ("vivres-gateway", "vivres-demand")
            for e in every_container_env(w) if e["name"] == "KAFKA_BOOTSTRAP_SERVERS"} == {
        bootstrap}
