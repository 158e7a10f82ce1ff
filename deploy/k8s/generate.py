"""The Kubernetes manifests of Vivres on Strimzi, generated from the catalog and the principals.

    .venv/bin/python deploy/k8s/generate.py           write deploy/k8s/*.yaml
    .venv/bin/python deploy/k8s/generate.py --check   exit 1 when a file differs from what would
                                                      be written (tests/checks/ checks it)

What comes from where:
    kafka.yaml      the Strimzi Kafka cluster (KRaft, node pools, TLS + SCRAM-SHA-512, simple
                    authorization with the administrator as super user, broker metrics by the
                    JMX exporter rules of a ConfigMap, the Kafka exporter)
    topics.yaml     one KafkaTopic per catalog topic and per dead-letter topic: what provisioning
                    creates (services.bus.provision.specs on BROKERS brokers)
    users.yaml      one KafkaUser per principal of services/bus/access.py, its ACLs from
                    Principal.acls(), and the administrator
    services.yaml   the services of deploy/local/services.toml that `vivres serve`, with their
                    metrics ports; replicas bounded by the partitions of what they consume
    registry.yaml   Apicurio Registry (kafkasql storage) with its user and topics
    provision.yaml  the one-shot `vivres topics provision` (schemas) as the administrator
    monitoring.yaml the prometheus-operator's PodMonitors (Kafka nodes and exporter, the
                    services, the health service) and the PrometheusRule of the alerts; the
                    same rules go to deploy/prometheus/alerts.yml for compose's Prometheus

The YAML is written by services/bus/yaml.py (block style, strings quoted unless plainly
strings), so that the generator needs nothing beyond the project's own dependencies.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository's packages first
    sys.path.insert(0, str(ROOT))

from services.bus import access, catalog  # noqa: E402
from services.bus.provision import specs  # noqa: E402
from services.bus.yaml import Doc, Note, dump, plain  # noqa: E402, F401 - plain: tests
from services.health.status import Status  # noqa: E402

# --- what the manifests target ------------------------------------------------------------------

# Strimzi 0.51.0's CRDs serve kafka.strimzi.io v1 and v1beta2 (v1beta2 deprecated there, no
# longer served by Strimzi 1.x): v1, served from Strimzi 0.49 on, applies to both lines. Kafka
# 4.2.0 is Strimzi 0.51.0's default Kafka version (its build's kafka.version); we run 4.4.0
# locally: set the version your operator supports.
STRIMZI_VERSION = "0.51.0"
STRIMZI_API = "kafka.strimzi.io/v1"
KAFKA_VERSION = "4.2.0"
CLUSTER = "vivres"
BROKERS = 3
CONTROLLERS = 3
REPLICATION_FACTOR = 3  # the cluster's defaults; each topic's own come from the catalog
MIN_INSYNC_REPLICAS = 2
LISTENER_PORT = 9093
BOOTSTRAP = f"{CLUSTER}-kafka-bootstrap:{LISTENER_PORT}"
CLUSTER_CA_SECRET = f"{CLUSTER}-cluster-ca-cert"  # Strimzi's cluster CA, key ca.crt
CA_DIR = "/etc/vivres/kafka-ca"
ADMIN = "vivres-admin"  # the cluster's super user: provisioning, `vivres demo`, DLQ replays

# Built from the repository's Dockerfile (`docker build -t vivres:0.1.0 .`) and pushed where the
# cluster pulls from; retag to your registry's name.
IMAGE = "vivres:0.1.0"
REGISTRY_IMAGE = "apicurio/apicurio-registry:3.0.9"
REGISTRY = "vivres-registry"
REGISTRY_PORT = 8080
REGISTRY_URL = f"http://{REGISTRY}:{REGISTRY_PORT}/apis/ccompat/v7"
REGISTRY_TOPICS = ("kafkasql-journal", "kafkasql-snapshots")
REGISTRY_GROUP_PREFIX = f"{REGISTRY}-"

GATEWAY_PORT = 8080
HEALTH_PORT = 8090
DEMAND_DATADIR = "/var/lib/vivres/demand"  # made and owned by the Dockerfile
SERVICES_TOML = ROOT / "deploy" / "local" / "services.toml"
ANNOTATION_MAX_REPLICAS = "vivres/max-replicas"

# How many of each service run: the partition-scaled ones, the demand processor among them,
# start at 2 (at most their inputs' partition count, written beside them); the health service
# alone (one monitor), the planning service too (its history has one writer).
SCALED_REPLICAS = 2
SINGLE = {"health", "planning"}

# Metrics. Strimzi serves the broker and controller metrics (the JMX exporter rules below) and the
# Kafka exporter's on each of its pods' port 9404, named tcp-prometheus; its pods carry the labels
# strimzi.io/cluster and strimzi.io/kind (Kafka, for the nodes and the exporter alike).
KAFKA_METRICS = f"{CLUSTER}-kafka-metrics"  # the ConfigMap of the JMX exporter's rules
KAFKA_METRICS_KEY = "kafka-metrics-config.yml"
STRIMZI_METRICS_PORT = "tcp-prometheus"
STRIMZI_POD_LABELS = {"strimzi.io/cluster": CLUSTER, "strimzi.io/kind": "Kafka"}
PROMETHEUS_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"  # the same rules, for compose

HEADER = ("Generated by deploy/k8s/generate.py from services/bus/catalog.py, "
          "services/bus/access.py and deploy/local/services.toml: do not edit, regenerate with "
          "`.venv/bin/python deploy/k8s/generate.py` (deploy/k8s/README.md).")


# --- shared pieces ------------------------------------------------------------------------------


def meta(name: str, *, labels: dict[str, str] | None = None,
         annotations: dict[str, str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name}
    if labels:
        found["labels"] = labels
    if annotations:
        found["annotations"] = annotations
    return found


def strimzi(kind: str, name: str, spec: dict[str, Any], *, comment: str = "",
            annotations: dict[str, str] | None = None) -> Doc:
    """A custom resource of the cluster (its operators pick it by the strimzi.io/cluster label)."""
    labels = None if kind == "Kafka" else {"strimzi.io/cluster": CLUSTER}
    return Doc({"apiVersion": STRIMZI_API, "kind": kind,
                "metadata": meta(name, labels=labels, annotations=annotations),
                "spec": spec}, comment)


def app_labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "vivres"}


# --- kafka.yaml ---------------------------------------------------------------------------------


def kafka() -> list[Doc]:
    cluster = strimzi("Kafka", CLUSTER, {
        "kafka": {
            "version": KAFKA_VERSION,
            "listeners": [Note({
                "name": "tls", "port": LISTENER_PORT, "type": "internal", "tls": True,
                "authentication": {"type": "scram-sha-512"},
            }, f"Inside the cluster only: {BOOTSTRAP}, TLS (Strimzi's cluster CA, Secret "
               f"{CLUSTER_CA_SECRET}) and a SCRAM-SHA-512 KafkaUser per service.")],
            "authorization": Note({"type": "simple", "superUsers": [ADMIN]},
                                  "Kafka's StandardAuthorizer; each service gets only the ACLs "
                                  "of its KafkaUser. The administrator (provisioning, demo, "
                                  "dead-letter replays) is a super user."),
            "config": {
                "default.replication.factor": REPLICATION_FACTOR,
                "min.insync.replicas": MIN_INSYNC_REPLICAS,
                "offsets.topic.replication.factor": REPLICATION_FACTOR,
                "transaction.state.log.replication.factor": REPLICATION_FACTOR,
                "transaction.state.log.min.isr": MIN_INSYNC_REPLICAS,
                "auto.create.topics.enable": False,
            },
            "metricsConfig": Note({
                "type": "jmxPrometheusExporter",
                "valueFrom": {"configMapKeyRef": {"name": KAFKA_METRICS,
                                                  "key": KAFKA_METRICS_KEY}},
            }, f"Broker and controller metrics on every node's port 9404 ({STRIMZI_METRICS_PORT}),"
               f" by the JMX exporter rules of the ConfigMap {KAFKA_METRICS} below; scraped by "
               "the PodMonitor vivres-kafka (monitoring.yaml)."),
        },
        "kafkaExporter": Note({
            "topicRegex": exporter_topic_regex(),
            "groupRegex": exporter_group_regex(),
            "resources": _resources("50m", "128Mi", "256Mi"),
        }, "Strimzi's Kafka exporter: lag per group and partition, offsets, in-sync replicas "
           "(kafka_consumergroup_*, kafka_topic_partition_*), for the catalog's topics and their "
           "dead letters and for the services' consumer groups (access.py)."),
        "entityOperator": Note({
            "topicOperator": {"resources": _resources("100m", "256Mi", "512Mi")},
            "userOperator": {"resources": _resources("100m", "256Mi", "512Mi")},
        }, "KafkaTopic (topics.yaml) and KafkaUser (users.yaml) become topics, SCRAM users "
           "and ACLs."),
    }, comment=(f"Apache Kafka {KAFKA_VERSION} in KRaft mode, run by the Strimzi operator "
                f"({STRIMZI_VERSION}'s CRDs; kafka.strimzi.io/v1). Its nodes are the "
                "KafkaNodePools below."),
        annotations={"strimzi.io/kraft": "enabled", "strimzi.io/node-pools": "enabled"})
    pools = [
        strimzi("KafkaNodePool", "controllers", {
            "replicas": CONTROLLERS, "roles": ["controller"],
            "storage": {"type": "persistent-claim", "size": "10Gi", "deleteClaim": False},
            "resources": _resources("250m", "1Gi", "1Gi"),
        }, comment="The KRaft quorum: 3 controllers, one may be lost."),
        strimzi("KafkaNodePool", "brokers", {
            "replicas": BROKERS, "roles": ["broker"],
            "storage": {"type": "persistent-claim", "size": "100Gi", "deleteClaim": False},
            "resources": _resources("500m", "2Gi", "2Gi"),
            "jvmOptions": {"-Xms": "1g", "-Xmx": "1g"},
        }, comment=(f"{BROKERS} brokers: every topic has {REPLICATION_FACTOR} replicas and "
                    f"takes a write once {MIN_INSYNC_REPLICAS} have it, so one broker may be "
                    "lost without losing or refusing a write.")),
    ]
    return [cluster, *pools, kafka_metrics_config()]


def exporter_topic_regex() -> str:
    """The catalog's topics and their dead letters, by their first name part (Go's regexp
    syntax, as the exporter reads it): the registry's journal and Kafka's own topics are left
    out."""
    heads = sorted({topic.name.split(".")[0] for topic in catalog.TOPICS})
    return f"^({'|'.join(heads)})\\..+$"


def exporter_group_regex() -> str:
    """The services' consumer groups (not the one-shot dead-letter replays)."""
    groups = sorted(g for p in access.PRINCIPALS for g in p.groups)
    return f"^({'|'.join(groups)})$"


# The gauges the alerts read (ALERTS), each by a rule of its own with its name written out, so a
# test can tell the alerts name only metrics the brokers export; then general rules for the rest.
JMX_GAUGES = {
    "kafka_server_replicamanager_underreplicatedpartitions":
        "kafka.server<type=ReplicaManager, name=UnderReplicatedPartitions><>Value",
    "kafka_server_replicamanager_underminisrpartitioncount":
        "kafka.server<type=ReplicaManager, name=UnderMinIsrPartitionCount><>Value",
    "kafka_controller_kafkacontroller_offlinepartitionscount":
        "kafka.controller<type=KafkaController, name=OfflinePartitionsCount><>Value",
    "kafka_controller_kafkacontroller_activecontrollercount":
        "kafka.controller<type=KafkaController, name=ActiveControllerCount><>Value",
}
JMX_GENERAL_RULES = [
    {"pattern": "kafka.server<type=BrokerTopicMetrics, name=(.+)PerSec, topic=(.+)><>Count",
     "name": "kafka_server_brokertopicmetrics_$1_total", "type": "COUNTER",
     "labels": {"topic": "$2"}},
    {"pattern": r"kafka.(\w+)<type=([^,]+), name=([^,]+)PerSec\w*><>Count",
     "name": "kafka_$1_$2_$3_total", "type": "COUNTER"},
    {"pattern": r"kafka.(\w+)<type=([^,]+), name=([^,]+), (\w+)=([^,]+)><>Value",
     "name": "kafka_$1_$2_$3", "type": "GAUGE", "labels": {"$4": "$5"}},
    {"pattern": r"kafka.(\w+)<type=([^,]+), name=([^,]+)><>Value",
     "name": "kafka_$1_$2_$3", "type": "GAUGE"},
    {"pattern": "kafka.server<type=raft-metrics><>(.+):", "name": "kafka_server_raftmetrics_$1",
     "type": "GAUGE"},
]


def jmx_rules() -> list[dict[str, Any]]:
    explicit = [{"pattern": pattern, "name": name, "type": "GAUGE"}
                for name, pattern in JMX_GAUGES.items()]
    return explicit + JMX_GENERAL_RULES  # the exporter takes the first rule that matches


def kafka_metrics_config() -> Doc:
    config = dump([Doc({"lowercaseOutputName": True, "lowercaseOutputLabelNames": True,
                        "rules": jmx_rules()})],
                  "Prometheus JMX exporter rules of the Kafka nodes (deploy/k8s/generate.py).")
    return Doc({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": meta(KAFKA_METRICS, labels=app_labels(KAFKA_METRICS)),
                "data": {KAFKA_METRICS_KEY: config}},
               "What the Kafka's metricsConfig exports: the first rule a JMX attribute matches "
               "names it.")


def _resources(cpu: str, memory: str, memory_limit: str, cpu_limit: str | None = None
               ) -> dict[str, Any]:
    limits = {"memory": memory_limit}
    if cpu_limit:
        limits["cpu"] = cpu_limit
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": limits}


# --- topics.yaml --------------------------------------------------------------------------------


def topics() -> list[Doc]:
    docs = {topic.name: topic.doc for topic in catalog.TOPICS}
    docs.update({t.dead_letter: f"Dead letters of {t.name}." for t in catalog.TOPICS})
    return [strimzi("KafkaTopic", spec.name, {
        "topicName": spec.name, "partitions": spec.partitions,
        "replicas": spec.replication_factor, "config": dict(spec.config),
    }, comment=docs[spec.name]) for spec in specs(catalog.TOPICS, BROKERS)]


# --- users.yaml ---------------------------------------------------------------------------------

RESOURCE_TYPES = {access.Resource.TOPIC: "topic", access.Resource.GROUP: "group",
                  access.Resource.TRANSACTIONAL_ID: "transactionalId",
                  access.Resource.CLUSTER: "cluster"}
OPERATIONS = {access.Operation.READ: "Read", access.Operation.WRITE: "Write",
              access.Operation.CREATE: "Create", access.Operation.DESCRIBE: "Describe",
              access.Operation.IDEMPOTENT_WRITE: "IdempotentWrite"}


def strimzi_acls(acls: Iterable[access.Acl]) -> list[dict[str, Any]]:
    """Kafka ACLs as Strimzi's simple authorization rules, one per resource pattern with its
    operations. A LITERAL "*" is Kafka's wildcard (every name), as it is in Strimzi; the cluster
    resource has no name in Strimzi (there is one cluster)."""
    grouped: dict[tuple[str, str, str], set[str]] = {}
    for acl in acls:
        if not acl.name:
            raise ValueError(f"{acl}: Kafka refuses an empty resource name (use '*' LITERAL)")
        pattern = "literal" if acl.pattern is access.Pattern.LITERAL else "prefix"
        key = (RESOURCE_TYPES[acl.resource], acl.name, pattern)
        grouped.setdefault(key, set()).add(OPERATIONS[acl.operation])
    rules = []
    for (kind, name, pattern), operations in sorted(grouped.items()):
        resource: dict[str, Any] = {"type": kind}
        if kind != "cluster":
            resource.update(name=name, patternType=pattern)
        rules.append({"resource": resource, "operations": sorted(operations), "type": "allow"})
    return rules


def user(name: str, acls: list[dict[str, Any]] | None, comment: str) -> Doc:
    spec: dict[str, Any] = {"authentication": {"type": "scram-sha-512"}}
    if acls is not None:
        spec["authorization"] = {"type": "simple", "acls": acls}
    return strimzi("KafkaUser", name, spec, comment=comment)


def users() -> list[Doc]:
    docs = [user(p.user, strimzi_acls(p.acls()), p.doc) for p in access.PRINCIPALS]
    docs.append(user(ADMIN, None, (
        "The cluster's administrator, a super user (kafka.yaml): `vivres topics provision` "
        "(provision.yaml), `vivres demo`, `vivres tokens`, dead-letter replays. Its password is "
        f"in the Secret {ADMIN}, key password, as every user's is.")))
    return docs


# --- services.yaml ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    name: str
    metrics: int | None

    @property
    def principal(self) -> access.Principal:
        return access.by_user(f"vivres-{self.name}")

    @property
    def workload(self) -> str:
        return f"vivres-{self.name}"

    @property
    def max_replicas(self) -> int | None:
        """Members of a consumer group beyond its inputs' partitions get none: the most
        partitions among what it consumes (None: it consumes in no group)."""
        consumed = self.principal.consumes
        return max(catalog.by_name(t).partitions for t in consumed) if consumed else None


def services_from_toml(path: Path = SERVICES_TOML) -> list[Service]:
    """The long-running services of services.toml (`vivres serve NAME`)."""
    found = []
    for entry in tomllib.loads(path.read_text(encoding="utf-8"))["service"]:
        if entry["command"].split()[:2] == ["vivres", "serve"]:
            found.append(Service(entry["name"], entry.get("metrics")))
    return found


def replicas(service: Service) -> int:
    if service.name in SINGLE:
        return 1
    bound = service.max_replicas
    return SCALED_REPLICAS if bound is None else min(SCALED_REPLICAS, bound)


def _env(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def kafka_env(user_name: str) -> list[Any]:
    """How a Vivres process reaches the cluster as `user_name` (services.bus.settings)."""
    return [
        _env("KAFKA_BOOTSTRAP_SERVERS", BOOTSTRAP),
        _env("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        _env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        _env("KAFKA_SASL_USERNAME", user_name),
        Note({"name": "KAFKA_SASL_PASSWORD",
              "valueFrom": {"secretKeyRef": {"name": user_name, "key": "password"}}},
             "The Secret the User Operator makes for the KafkaUser of the same name."),
        _env("KAFKA_SSL_CAFILE", f"{CA_DIR}/ca.crt"),
        _env("SCHEMA_REGISTRY_URL", REGISTRY_URL),
        _env("VIVRES_LOG_LEVEL", "INFO"),
        _env("VIVRES_LOG_FORMAT", "json"),
    ]


def ca_volume() -> dict[str, Any]:
    return {"name": "kafka-ca",
            "secret": {"secretName": CLUSTER_CA_SECRET,
                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}}


def ca_mount() -> dict[str, Any]:
    return {"name": "kafka-ca", "mountPath": CA_DIR, "readOnly": True}


def _http_probe(path: str, port: str, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period,
            "timeoutSeconds": 5, "failureThreshold": failures}


SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}


def service_container(service: Service, every: list[Service]) -> dict[str, Any]:
    env = kafka_env(service.principal.user)
    ports: list[dict[str, Any]] = []
    if service.metrics:
        env += [_env("VIVRES_METRICS_HOST", "0.0.0.0"),
                _env("VIVRES_METRICS_PORT", str(service.metrics))]
        ports.append({"name": "metrics", "containerPort": service.metrics})
    if service.name == "gateway":
        env += [_env("VIVRES_HTTP_HOST", "0.0.0.0"), _env("VIVRES_HTTP_PORT", str(GATEWAY_PORT))]
        ports.insert(0, {"name": "http", "containerPort": GATEWAY_PORT})
    if service.name == "health":
        targets = ",".join(f"{s.name}=http://{s.workload}:{s.metrics}/metrics"
                           for s in every if s.metrics)
        env += [_env("VIVRES_HEALTH_HOST", "0.0.0.0"),
                _env("VIVRES_HEALTH_PORT", str(HEALTH_PORT)),
                Note(_env("VIVRES_HEALTH_TARGETS", targets),
                     "Each service's /metrics through its Service (one pod of it per scrape)."),
                _env("VIVRES_HEALTH_WEBHOOK_URL", "")]
        ports.append({"name": "http", "containerPort": HEALTH_PORT})
    if service.name == "demand":
        env.append(_env("VIVRES_DEMAND_DATADIR", DEMAND_DATADIR))
    mounts = [ca_mount(), {"name": "tmp", "mountPath": "/tmp"}]
    if service.name == "demand":
        mounts.append({"name": "data", "mountPath": DEMAND_DATADIR})

    if service.name == "gateway":  # /healthz answers 503 while its tables cannot follow Kafka:
        # out of the Service then, but not restarted (a Kafka outage would restart every pod)
        readiness = _http_probe("/healthz", "http", 10, 3)
        liveness = _http_probe("/metrics", "metrics", 20, 3)
        startup = _http_probe("/metrics", "metrics", 5, 60)
    elif service.name == "health":
        readiness = _http_probe("/healthz", "http", 10, 3)
        liveness = _http_probe("/healthz", "http", 20, 3)
        startup = _http_probe("/healthz", "http", 5, 60)
    else:
        readiness = _http_probe("/metrics", "metrics", 10, 3)
        liveness = _http_probe("/metrics", "metrics", 20, 3)
        startup = _http_probe("/metrics", "metrics", 5, 120 if service.name == "demand" else 60)
    memory = {"demand": ("1Gi", "2Gi"), "gateway": ("512Mi", "1Gi")}.get(
        service.name, ("256Mi", "512Mi"))
    return {
        "name": service.name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["vivres", "serve", service.name],
        "env": env,
        "ports": ports,
        "startupProbe": startup,
        "readinessProbe": readiness,
        "livenessProbe": liveness,
        "resources": _resources("100m" if service.name != "demand" else "250m",
                                memory[0], memory[1], "1"),
        "securityContext": SECURITY,
        "volumeMounts": mounts,
    }


def pod_template(service: Service, every: list[Service]) -> dict[str, Any]:
    annotations = {}
    if service.metrics or service.name == "health":
        annotations = {"prometheus.io/scrape": "true",
                       "prometheus.io/port": str(service.metrics or HEALTH_PORT),
                       "prometheus.io/path": "/metrics"}
    spec: dict[str, Any] = {
        "containers": [service_container(service, every)],
        "volumes": [ca_volume(), {"name": "tmp", "emptyDir": {}}],
        "securityContext": {"runAsNonRoot": True, "fsGroup": 10001},
        "terminationGracePeriodSeconds": 30,
    }
    if replicas(service) > 1:
        spec["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": service.workload}}}]
    metadata: dict[str, Any] = {"labels": app_labels(service.workload)}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": spec}


def workload(service: Service, every: list[Service]) -> Doc:
    count = replicas(service)
    bound = service.max_replicas
    annotations = {}
    if service.name == "demand":
        annotations = {ANNOTATION_MAX_REPLICAS: str(bound)}
        comment = (
            "The demand processor (faust): a StatefulSet, each worker's RocksDB tables on a "
            "volume of its own that outlives the pod, so that a restart reads the tables' "
            f"changelogs from where the volume is rather than from their start. At most {bound} "
            "workers share the source partitions; a second stage sums their territories "
            "(services/demand/processor.py).")
    elif service.name == "health":
        comment = "Stream health (one monitor; its page /exploitation, JSON, /metrics, alerts)."
    elif service.name == "planning":
        comment = (f"{service.principal.doc} One instance, replaced rather than rolled (the "
                   "history it keeps has one writer); it follows its inputs as tables, so a "
                   "new pod starts from them (services/planning/service.py).")
    elif bound is None:
        comment = (f"{service.principal.doc} Stateless over HTTP: scale it freely.")
    else:
        annotations = {ANNOTATION_MAX_REPLICAS: str(bound)}
        comment = (f"{service.principal.doc} At most {bound} replicas: its consumer group "
                   f"reads {_inputs(service)}, and a member beyond {bound} would get no "
                   "partition.")
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet" if service.name == "demand" else "Deployment",
        "metadata": meta(service.workload, labels=app_labels(service.workload),
                         annotations=annotations),
        "spec": {},
    }
    spec = body["spec"]
    if service.name == "demand":
        spec["serviceName"] = service.workload
    spec["replicas"] = count
    spec["selector"] = {"matchLabels": {"app.kubernetes.io/name": service.workload}}
    spec["template"] = pod_template(service, every)
    if service.name == "demand":
        spec["volumeClaimTemplates"] = [{
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "5Gi"}}}}]
    elif service.name == "planning":
        spec["strategy"] = {"type": "Recreate"}
    else:
        spec["strategy"] = {"type": "RollingUpdate",
                            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    return Doc(body, comment)


def _inputs(service: Service) -> str:
    parts = [f"{t} ({catalog.by_name(t).partitions})" for t in service.principal.consumes]
    return ", ".join(parts)


def k8s_service(service: Service) -> Doc:
    ports = []
    if service.name == "gateway":
        ports.append({"name": "http", "port": GATEWAY_PORT, "targetPort": "http"})
    if service.name == "health":
        ports.append({"name": "http", "port": HEALTH_PORT, "targetPort": "http"})
    if service.metrics:
        ports.append({"name": "metrics", "port": service.metrics, "targetPort": "metrics"})
    spec: dict[str, Any] = {"selector": {"app.kubernetes.io/name": service.workload},
                            "ports": ports}
    if service.name == "demand":
        spec = {"clusterIP": "None", **spec}  # the StatefulSet's governing Service
    return Doc({"apiVersion": "v1", "kind": "Service",
                "metadata": meta(service.workload, labels=app_labels(service.workload)),
                "spec": spec})


def disruption_budget(service: Service) -> Doc:
    return Doc({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": meta(service.workload, labels=app_labels(service.workload)),
                "spec": {"maxUnavailable": 1,
                         "selector": {"matchLabels": {
                             "app.kubernetes.io/name": service.workload}}}},
               "A node drain takes one pod at a time (a single-replica service gets none: "
               "it would block drains).")


def services() -> list[Doc]:
    every = services_from_toml()
    docs: list[Doc] = []
    for service in every:
        docs.append(workload(service, every))
        docs.append(k8s_service(service))
        if replicas(service) > 1:
            docs.append(disruption_budget(service))
    return docs


# --- registry.yaml ------------------------------------------------------------------------------


def registry() -> list[Doc]:
    journal = {"cleanup.policy": "delete", "retention.ms": "-1",
               "min.insync.replicas": str(MIN_INSYNC_REPLICAS)}
    topics_ = [strimzi("KafkaTopic", name, {
        "topicName": name, "partitions": 1, "replicas": REPLICATION_FACTOR, "config": journal,
    }, comment=f"Apicurio Registry's kafkasql storage: {what} (one partition, kept forever).")
        for name, what in zip(REGISTRY_TOPICS, ("its journal", "its snapshots"), strict=True)]
    rules = strimzi_acls(
        [access.Acl(access.Resource.TOPIC, name, access.Pattern.LITERAL, op)
         for name in REGISTRY_TOPICS
         for op in (access.Operation.READ, access.Operation.WRITE, access.Operation.DESCRIBE)]
        + [access.Acl(access.Resource.GROUP, REGISTRY_GROUP_PREFIX, access.Pattern.PREFIXED,
                      access.Operation.READ),
           access.Acl(access.Resource.CLUSTER, "kafka-cluster", access.Pattern.LITERAL,
                      access.Operation.IDEMPOTENT_WRITE)])
    registry_user = user(REGISTRY, rules, (
        "Apicurio Registry: reads and writes its two topics, each of its consumers in a group "
        f"of its own ({REGISTRY_GROUP_PREFIX}<uuid>)."))
    jaas = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
            'username="${KAFKA_SASL_USERNAME}" password="${KAFKA_SASL_PASSWORD}";')
    client = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
              "sasl.jaas.config": jaas, "ssl.truststore.type": "PEM",
              "ssl.truststore.location": f"{CA_DIR}/ca.crt"}
    properties = [
        "# Read through SMALLRYE_CONFIG_LOCATIONS. Apicurio hands apicurio.kafkasql.producer.*,",
        "# .consumer.* and .admin.* to its Kafka clients as they are.",
        "apicurio.storage.kind=kafkasql",
        f"apicurio.kafkasql.bootstrap.servers={BOOTSTRAP}",
        f"apicurio.kafkasql.topic={REGISTRY_TOPICS[0]}",
        f"apicurio.kafkasql.snapshots.topic={REGISTRY_TOPICS[1]}",
        "apicurio.kafkasql.topic.auto-create=false",
        # each of its consumers (journal, snapshots) in a group of its own: this prefix + a UUID
        f"apicurio.kafkasql.consumer.group-prefix={REGISTRY_GROUP_PREFIX}",
        "apicurio.ccompat.use-canonical-hash=true",
    ] + [f"apicurio.kafkasql.{role}.{key}={value}"
         for role in ("producer", "consumer", "admin") for key, value in client.items()]
    config = Doc({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": meta(REGISTRY, labels=app_labels(REGISTRY)),
                  "data": {"registry.properties": "\n".join(properties) + "\n"}})
    env = [
        _env("SMALLRYE_CONFIG_LOCATIONS", "/etc/vivres/registry/registry.properties"),
        _env("KAFKA_SASL_USERNAME", REGISTRY),
        {"name": "KAFKA_SASL_PASSWORD",
         "valueFrom": {"secretKeyRef": {"name": REGISTRY, "key": "password"}}},
        _env("JAVA_OPTS_APPEND", "-Xms64m -Xmx384m"),
    ]
    deployment = Doc({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta(REGISTRY, labels=app_labels(REGISTRY)),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": REGISTRY}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": app_labels(REGISTRY)},
                "spec": {
                    "containers": [{
                        "name": "registry", "image": REGISTRY_IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "env": env,
                        "ports": [{"name": "http", "containerPort": REGISTRY_PORT}],
                        "readinessProbe": _http_probe("/health/ready", "http", 10, 3),
                        "livenessProbe": _http_probe("/health/live", "http", 20, 3),
                        "startupProbe": _http_probe("/health/started", "http", 5, 60),
                        "resources": _resources("100m", "512Mi", "768Mi", "1"),
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]},
                                            "seccompProfile": {"type": "RuntimeDefault"}},
                        "volumeMounts": [
                            ca_mount(),
                            {"name": "config", "mountPath": "/etc/vivres/registry",
                             "readOnly": True}],
                    }],
                    "volumes": [ca_volume(),
                                {"name": "config", "configMap": {"name": REGISTRY}}],
                },
            },
        },
    }, (f"Apicurio Registry {REGISTRY_IMAGE.split(':')[1]} (as in docker-compose.yml), its "
        "schemas in Kafka (kafkasql storage), so its replicas hold no state of their own. "
        f"The services use its Confluent-compatible API: {REGISTRY_URL}."))
    service = Doc({"apiVersion": "v1", "kind": "Service",
                   "metadata": meta(REGISTRY, labels=app_labels(REGISTRY)),
                   "spec": {"selector": {"app.kubernetes.io/name": REGISTRY},
                            "ports": [{"name": "http", "port": REGISTRY_PORT,
                                       "targetPort": "http"}]}})
    budget = Doc({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                  "metadata": meta(REGISTRY, labels=app_labels(REGISTRY)),
                  "spec": {"maxUnavailable": 1,
                           "selector": {"matchLabels": {"app.kubernetes.io/name": REGISTRY}}}})
    return [*topics_, registry_user, config, deployment, service, budget]


# --- provision.yaml -----------------------------------------------------------------------------


def provision() -> list[Doc]:
    container = {
        "name": "provision", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
        "command": ["vivres", "topics", "provision"],
        "env": kafka_env(ADMIN),
        "resources": _resources("100m", "256Mi", "512Mi", "1"),
        "securityContext": SECURITY,
        "volumeMounts": [ca_mount(), {"name": "tmp", "mountPath": "/tmp"}],
    }
    return [Doc({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": meta("vivres-provision", labels=app_labels("vivres-provision")),
        "spec": {
            "backoffLimit": 10,
            "template": {
                "metadata": {"labels": app_labels("vivres-provision")},
                "spec": {"restartPolicy": "OnFailure", "containers": [container],
                         "volumes": [ca_volume(), {"name": "tmp", "emptyDir": {}}],
                         "securityContext": {"runAsNonRoot": True}},
            },
        },
    }, ("`vivres topics provision` as the administrator, once the registry answers: registers "
        "every schema (the topics are the Topic Operator's, from topics.yaml; provisioning "
        "finds them and reports any drift). A Job's template cannot change: delete the Job "
        "before applying a new image."))]


# --- monitoring.yaml ----------------------------------------------------------------------------

MONITORING_API = "monitoring.coreos.com/v1"  # the prometheus-operator's PodMonitor, PrometheusRule


@dataclass(frozen=True)
class Alert:
    """An alert for the people on call: French first, then English, as the health service's
    webhook alerts (services/health/alerts.py); `first` is the first thing to do."""

    name: str
    expr: str
    wait: str  # how long the expression must hold (Prometheus' `for`)
    severity: str  # critical: act now; warning: look today
    summary: tuple[str, str]  # (French, English)
    first: tuple[str, str]

    def rule(self) -> dict[str, Any]:
        return {"alert": self.name, "expr": self.expr, "for": self.wait,
                "labels": {"severity": self.severity},
                "annotations": {"summary": f"{self.summary[0]} / {self.summary[1]}",
                                "description": f"{self.first[0]}\n{self.first[1]}\n"}}


def _group_status(status: Status) -> str:
    return f"vivres_health_group_status == {status.severity}"


# What the health service judges (services/health: status.py for the groups, monitor.py for Kafka,
# the services and dead letters), as alerts on the figures it and the services export.
STREAM_ALERTS = [
    Alert("VivresConsumerLagGrowing", _group_status(Status.WARN), "10m", "warning",
          ("Le groupe {{ $labels.group }} consomme, mais son retard ne cesse de grandir (WARN)",
           "Group {{ $labels.group }} consumes, but its lag keeps growing (WARN)"),
          ("Première chose : comparer son retard au débit de ses topics (tableau de bord "
           "« santé des flux ») ; ajouter des réplicas jusqu'à vivres/max-replicas, ou chercher "
           "un traitement lent (vivres_handler_seconds).",
           "First: compare its lag with its topics' rates (the stream-health dashboard); add "
           "replicas up to vivres/max-replicas, or look for slow handling "
           "(vivres_handler_seconds).")),
    Alert("VivresConsumerStalled", _group_status(Status.STALL), "5m", "critical",
          ("Le groupe {{ $labels.group }} a des membres mais n'avance plus (STALL)",
           "Group {{ $labels.group }} has members but does not move (STALL)"),
          ("Première chose : `vivres health` nomme l'enregistrement bloquant et l'erreur ; "
           "lire les journaux du service, puis `vivres dlq set-aside` si l'enregistrement est "
           "en cause (docs/bad-records.md).",
           "First: `vivres health` names the record it waits on and the error; read the "
           "service's logs, then `vivres dlq set-aside` if the record is at fault "
           "(docs/bad-records.md).")),
    Alert("VivresConsumerStopped", _group_status(Status.STOP), "2m", "critical",
          ("Le groupe {{ $labels.group }} n'a plus aucun membre alors que des enregistrements "
           "attendent (STOP)",
           "Group {{ $labels.group }} has no member left while records wait (STOP)"),
          ("Première chose : les pods du service tournent-ils ? (kubectl get pods -l "
           "app.kubernetes.io/part-of=vivres) ; lire les journaux du dernier arrêt.",
           "First: are the service's pods running? (kubectl get pods -l "
           "app.kubernetes.io/part-of=vivres); read the logs of the last exit.")),
    Alert("VivresConsumerRewound", _group_status(Status.REWIND), "1m", "warning",
          ("L'offset validé du groupe {{ $labels.group }} est revenu en arrière (REWIND)",
           "Group {{ $labels.group }}'s committed offset went backwards (REWIND)"),
          ("Première chose : savoir qui a réinitialisé les offsets (une relecture voulue ?) ; "
           "les traitements sont idempotents, la relecture ne double rien.",
           "First: find who reset the offsets (a replay on purpose?); handlers are idempotent, "
           "so a replay doubles nothing.")),
    Alert("VivresRecordBlocked",
          "time() - vivres_consumer_blocked_since_timestamp_seconds > 300", "1m", "critical",
          ("{{ $labels.service }} ne passe pas {{ $labels.topic }}[{{ $labels.partition }}]@"
           "{{ $labels.offset }} depuis plus de 5 minutes",
           "{{ $labels.service }} cannot get past {{ $labels.topic }}[{{ $labels.partition }}]@"
           "{{ $labels.offset }} for over 5 minutes"),
          ("Première chose : l'erreur ({{ $labels.error }}) vient du broker ou du registre : "
           "les réparer ; sinon `vivres dlq set-aside {{ $labels.group }} {{ $labels.topic }} "
           "{{ $labels.partition }} {{ $labels.offset }}`.",
           "First: the error ({{ $labels.error }}) comes from the broker or the registry: fix "
           "them; else `vivres dlq set-aside {{ $labels.group }} {{ $labels.topic }} "
           "{{ $labels.partition }} {{ $labels.offset }}`.")),
    Alert("VivresDeadLettersArriving",
          "sum by (service, topic, stage) (increase(vivres_records_dead_lettered_total[10m]))"
          " > 0", "0m", "warning",
          ("{{ $labels.service }} a mis des enregistrements de {{ $labels.topic }} en rejets "
           "(étape {{ $labels.stage }})",
           "{{ $labels.service }} dead-lettered records of {{ $labels.topic }} "
           "(stage {{ $labels.stage }})"),
          ("Première chose : `vivres dlq show {{ $labels.topic }}` dit pourquoi ; corriger la "
           "cause, puis `vivres dlq replay` (docs/bad-records.md).",
           "First: `vivres dlq show {{ $labels.topic }}` says why; fix the cause, then "
           "`vivres dlq replay` (docs/bad-records.md).")),
    Alert("VivresServiceDown", "vivres_health_service_up == 0", "3m", "critical",
          ("Le service {{ $labels.service }} ne répond plus sur /metrics (DOWN)",
           "Service {{ $labels.service }} does not answer on /metrics (DOWN)"),
          ("Première chose : kubectl get pods -l app.kubernetes.io/name=vivres-"
           "{{ $labels.service }} ; lire ses journaux et ses événements.",
           "First: kubectl get pods -l app.kubernetes.io/name=vivres-{{ $labels.service }}; "
           "read its logs and events.")),
    Alert("VivresKafkaUnreachable", "vivres_health_kafka_up == 0", "2m", "critical",
          ("Le service de santé ne joint plus Kafka (DOWN)",
           "The health service cannot reach Kafka (DOWN)"),
          ("Première chose : l'état de la ressource Kafka (kubectl get kafka vivres) et des "
           "pods des brokers ; puis l'erreur dans le rapport de santé (TLS, SCRAM, ACL).",
           "First: the Kafka resource's status (kubectl get kafka vivres) and the brokers' pods;"
           " then the error in the health report (TLS, SCRAM, ACLs).")),
    Alert("VivresHealthMissing", "absent(vivres_health_status)", "10m", "warning",
          ("Aucun rapport du service de santé : les alertes des flux sont aveugles",
           "No report from the health service: the stream alerts are blind"),
          ("Première chose : le pod vivres-health tourne-t-il, et le PodMonitor vivres-health "
           "est-il pris par Prometheus (podMonitorSelector) ?",
           "First: is the vivres-health pod running, and does Prometheus select the PodMonitor "
           "vivres-health (podMonitorSelector)?")),
    Alert("VivresStateStale",
          "(vivres_health_state_age_seconds > 7200) and on (topic) "
          "(delta(vivres_health_topic_end_offset[30m]) > 0)", "15m", "warning",
          ("L'état que {{ $labels.service }} tire de {{ $labels.topic }} a plus de 2 heures, "
           "alors que le topic reçoit des enregistrements",
           "The state {{ $labels.service }} feeds from {{ $labels.topic }} is over 2 hours "
           "old while the topic receives records"),
          ("Première chose : le retard du groupe du service ; des caisses hors ligne qui "
           "envoient tard leurs tickets de la veille peuvent aussi le lever.",
           "First: the lag of the service's group; offline tills uploading yesterday's tickets "
           "late can raise it too.")),
    Alert("VivresGatewayErrors",
          'sum by (route) (rate(vivres_http_requests_total{status=~"5..", route!="/healthz"}'
          "[5m])) / sum by (route) (rate(vivres_http_requests_total[5m])) > 0.05", "10m",
          "warning",
          ("Plus de 5 % des requêtes {{ $labels.route }} de la passerelle échouent (5xx)",
           "Over 5 % of the gateway's {{ $labels.route }} requests fail (5xx)"),
          ("Première chose : les journaux vivres.access et les erreurs de la passerelle ; "
           "/healthz dit si ses tables suivent Kafka.",
           "First: the vivres.access log and the gateway's errors; /healthz says whether its "
           "tables follow Kafka.")),
]

# Kafka itself, from Strimzi's Kafka exporter and the brokers' JMX gauges (JMX_GAUGES): the
# health service's Kafka WARN (under-replicated) and DOWN (offline), seen from the brokers.
KAFKA_ALERTS = [
    Alert("VivresKafkaUnderReplicated",
          "sum by (topic) (kafka_topic_partition_under_replicated_partition) > 0", "5m",
          "warning",
          ("{{ $value }} partition(s) de {{ $labels.topic }} ont moins de répliques synchrones "
           "que de répliques (WARN)",
           "{{ $value }} partition(s) of {{ $labels.topic }} have fewer in-sync replicas than "
           "replicas (WARN)"),
          ("Première chose : un broker est-il arrêté ou saturé ? (kubectl get pods -l "
           "strimzi.io/cluster=vivres) ; ne redémarrer aucun autre broker avant le retour.",
           "First: is a broker down or overloaded? (kubectl get pods -l "
           "strimzi.io/cluster=vivres); restart no other broker until it is back.")),
    Alert("VivresKafkaUnderMinIsr",
          "sum(kafka_server_replicamanager_underminisrpartitioncount) > 0", "1m", "critical",
          ("Des partitions sont sous min.insync.replicas : leurs écritures sont refusées",
           "Partitions are under min.insync.replicas: writes to them are refused"),
          ("Première chose : ramener les brokers manquants ; les producteurs (acks=all) "
           "réessaient, rien n'est perdu.",
           "First: bring the missing brokers back; producers (acks=all) retry, nothing is "
           "lost.")),
    Alert("VivresKafkaOfflinePartitions",
          "max(kafka_controller_kafkacontroller_offlinepartitionscount) > 0", "1m", "critical",
          ("{{ $value }} partition(s) n'ont plus de leader (DOWN)",
           "{{ $value }} partition(s) have no leader (DOWN)"),
          ("Première chose : quels brokers manquent (kubectl get pods -l "
           "strimzi.io/cluster=vivres) et leurs volumes ; le rapport de santé nomme les "
           "partitions.",
           "First: which brokers are missing (kubectl get pods -l strimzi.io/cluster=vivres) "
           "and their volumes; the health report names the partitions.")),
    Alert("VivresKafkaNoActiveController",
          "sum(kafka_controller_kafkacontroller_activecontrollercount) != 1", "1m", "critical",
          ("Le quorum KRaft a {{ $value }} contrôleur(s) actif(s) au lieu d'un",
           "The KRaft quorum has {{ $value }} active controller(s) instead of one"),
          ("Première chose : les pods du pool controllers et leurs journaux (élection du "
           "quorum).",
           "First: the controllers pool's pods and their logs (the quorum's election).")),
]

ALERT_GROUPS = {"vivres-streams": STREAM_ALERTS, "vivres-kafka": KAFKA_ALERTS}


def rule_groups() -> list[dict[str, Any]]:
    return [{"name": name, "rules": [alert.rule() for alert in alerts]}
            for name, alerts in ALERT_GROUPS.items()]


def pod_monitor(name: str, selector: dict[str, str], endpoint: dict[str, Any],
                target_labels: list[str], comment: str) -> Doc:
    return Doc({"apiVersion": MONITORING_API, "kind": "PodMonitor",
                "metadata": meta(name, labels=app_labels(name)),
                "spec": {"selector": {"matchLabels": selector},
                         "podTargetLabels": target_labels,
                         "podMetricsEndpoints": [{**endpoint, "path": "/metrics"}]}}, comment)


def monitoring() -> list[Doc]:
    return [
        pod_monitor("vivres-kafka", STRIMZI_POD_LABELS, {"port": STRIMZI_METRICS_PORT},
                    ["strimzi.io/name", "strimzi.io/pool-name"],
                    "The Kafka nodes' JMX metrics and the Kafka exporter's (kafka.yaml), on the "
                    f"port Strimzi names {STRIMZI_METRICS_PORT}."),
        pod_monitor("vivres-services", {"app.kubernetes.io/part-of": "vivres"},
                    {"port": "metrics"}, ["app.kubernetes.io/name"],
                    "Every Vivres service's /metrics on its port named metrics "
                    "(services.yaml): the pods without one (the registry, the health service, "
                    "the provisioning Job) give no target."),
        pod_monitor("vivres-health", {"app.kubernetes.io/name": "vivres-health"},
                    {"port": "http"}, ["app.kubernetes.io/name"],
                    "The health service's figures (vivres_health_*), on its HTTP port."),
        Doc({"apiVersion": MONITORING_API, "kind": "PrometheusRule",
             "metadata": meta("vivres-alerts", labels=app_labels("vivres-alerts")),
             "spec": {"groups": rule_groups()}},
            "The alerts of docs/operations.md: the health service's statuses, dead letters, "
            "freshness and the gateway (vivres-streams), Kafka's partitions and quorum "
            "(vivres-kafka). deploy/prometheus/alerts.yml holds the same rules for compose."),
    ]


# --- the files ----------------------------------------------------------------------------------

FILES = {
    "kafka.yaml": kafka,
    "topics.yaml": topics,
    "users.yaml": users,
    "services.yaml": services,
    "registry.yaml": registry,
    "provision.yaml": provision,
    "monitoring.yaml": monitoring,
}


def documents() -> dict[str, list[Doc]]:
    return {name: build() for name, build in FILES.items()}


IMAGE_NOTE = (f"\n{IMAGE} is built from the repository's Dockerfile (`docker build -t {IMAGE} .`) "
              "and pushed where the cluster pulls from (IMAGE in generate.py).")
NOTES = {"services.yaml": IMAGE_NOTE, "provision.yaml": IMAGE_NOTE}


def render() -> dict[str, str]:
    """Each file's text, as it is committed."""
    return {name: dump(docs, HEADER + NOTES.get(name, ""))
            for name, docs in documents().items()}


RULES_HEADER = ("Generated by deploy/k8s/generate.py: the rules of deploy/k8s/monitoring.yaml's "
                "PrometheusRule, for the Prometheus of `docker compose --profile ops up` "
                "(deploy/prometheus/prometheus.yml). Do not edit: regenerate.")


def outputs() -> dict[Path, str]:
    """Every file the generator writes, by path: deploy/k8s's and the compose Prometheus' rules."""
    found = {HERE / name: text for name, text in render().items()}
    found[PROMETHEUS_RULES] = dump([Doc({"groups": rule_groups()})], RULES_HEADER)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a committed file differs")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(str(path.relative_to(ROOT)))
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)} (run .venv/bin/python deploy/k8s/generate.py)")
        return 1
    print(f"written: {', '.join(stale)}" if stale else "deploy/k8s and its rules are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
