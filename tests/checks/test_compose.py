"""docker-compose.yml: valid under the Compose specification, and the same demo as `make run`.

The validator is compose-go, the Compose specification's reference loader that `docker compose
config` is built on, in a small program (deploy/tools/compose-check, built by `make
compose-check`): there is no Docker engine nor compose plugin here, and Debian's docker-compose
1.29 rejects valid modern files. Then, so that a lenient validator cannot let a wrong file through,
its normalized project (what `docker compose config --format json` prints) is held against
deploy/local/services.toml, what `make run` starts. The operators' tools (Kafka UI, Prometheus,
Grafana) sit behind the `ops` profile: validated with it, absent without it, and held against
the files they read (deploy/prometheus, deploy/grafana/provisioning).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from services.health.service import parse_targets
from tests.checks.deploy_tools import go_tool, load_yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = tomllib.loads((ROOT / "deploy/local/services.toml").read_text(encoding="utf-8"))

# The services that run until stopped (`vivres serve NAME`), and the demo jobs that end.
SERVING = [e for e in SERVICES["service"] if e["command"].startswith("vivres serve ")]
JOBS = [e for e in SERVICES["service"] if not e["command"].startswith("vivres serve ")]
OPS = {"kafka-ui", "prometheus", "grafana"}  # `docker compose --profile ops up`


def check(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(go_tool("compose-check")), *options, str(path)],
                          capture_output=True, text=True,
                          timeout=120, check=False)


def load(path: Path, *options: str) -> dict[str, Any]:
    result = check(path, "-json", *options)
    assert result.returncode == 0, f"{path.name} is not a valid Compose file:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return load(COMPOSE)


@pytest.fixture(scope="module")
def ops_project() -> dict[str, Any]:
    return load(COMPOSE, "-profile", "ops")


def test_docker_compose_yml_is_valid() -> None:
    result = check(COMPOSE)
    assert result.returncode == 0, result.stderr


def test_an_unknown_top_level_key_is_rejected(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text(encoding="utf-8") + "\nhelicopters: {}\n",
                      encoding="utf-8")
    result = check(broken)
    assert result.returncode != 0
    assert "helicopters" in result.stderr


def _drop_image(p: dict) -> None:
    for key in ("image", "build"):
        p["services"]["provision"].pop(key, None)


def _undefined_dependency(p: dict) -> None:
    p["services"]["gateway"]["depends_on"]["nowhere"] = {"condition": "service_healthy"}


def _undefined_volume(p: dict) -> None:
    p["volumes"].pop("kafka-data")


def _misspelt_key(p: dict) -> None:
    p["services"]["stock"]["healthchek"] = p["services"]["stock"].pop("healthcheck")


def _wrong_type(p: dict) -> None:
    p["services"]["gateway"]["healthcheck"]["retries"] = "many"


@pytest.mark.parametrize("breakage", [_drop_image, _undefined_dependency, _undefined_volume,
                                      _misspelt_key, _wrong_type])
def test_a_broken_project_is_rejected(project: dict, breakage: Any, tmp_path: Path) -> None:
    # JSON is YAML: the normalized project loads back as it is, and not once broken.
    intact, broken = tmp_path / "intact.json", tmp_path / "broken.json"
    intact.write_text(json.dumps(project), encoding="utf-8")
    assert load(intact)["services"].keys() == project["services"].keys()
    changed = json.loads(json.dumps(project))
    breakage(changed)
    broken.write_text(json.dumps(changed), encoding="utf-8")
    result = check(broken)
    assert result.returncode != 0, f"{breakage.__name__} was accepted"


def test_every_serving_service_of_make_run_runs_with_a_healthcheck(ops_project: dict) -> None:
    services = ops_project["services"]
    for entry in SERVING:
        service = services.get(entry["name"])
        assert service is not None, f"{entry['name']} (services.toml) is not in docker-compose.yml"
        assert service["command"] == shlex.split(entry["command"])
        assert service["restart"] == "unless-stopped"
        assert service["depends_on"]["provision"]["condition"] == "service_completed_successfully"
    for name, service in services.items():
        if service.get("restart") == "unless-stopped":
            test = service.get("healthcheck", {}).get("test")
            assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
            assert not service["healthcheck"].get("disable")


def test_the_demo_jobs_run_once_after_the_seed(project: dict) -> None:
    services = project["services"]
    assert services["provision"]["command"] == ["vivres", "topics", "provision"]
    assert services["seed"]["command"] == ["vivres", "demo", "seed"]
    assert services["seed"]["depends_on"]["provision"]["condition"] == \
        "service_completed_successfully"
    for entry in JOBS:
        job = services.get(entry["name"])
        assert job is not None, f"{entry['name']} (services.toml) is not in docker-compose.yml"
        command = shlex.split(entry["command"])
        assert job["command"][:len(command)] == command
        assert job["restart"] == "no"
        assert job["depends_on"]["seed"]["condition"] == "service_completed_successfully"
        tokens = [v for v in job.get("volumes", []) if v["target"] == "/app/.vivres"]
        assert tokens and tokens[0]["source"] == "vivres-demo", "the demo tokens are not shared"
    assert any(v["target"] == "/app/.vivres" and v["source"] == "vivres-demo"
               for v in services["seed"]["volumes"])


def test_the_services_expose_their_metrics_and_health_scrapes_them_all(project: dict) -> None:
    services = project["services"]
    expected = {}
    for entry in SERVING:
        env = services[entry["name"]]["environment"]
        if "metrics" in entry:
            assert env["VIVRES_METRICS_PORT"] == str(entry["metrics"])
            assert env["VIVRES_METRICS_HOST"] == "0.0.0.0"
            expected[entry["name"]] = f"http://{entry['name']}:{entry['metrics']}/metrics"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["SCHEMA_REGISTRY_URL"] == "http://registry:8081/apis/ccompat/v7"
    health = services["health"]
    assert parse_targets(health["environment"]["VIVRES_HEALTH_TARGETS"]) == expected
    assert health["environment"]["VIVRES_HEALTH_HOST"] == "0.0.0.0"
    assert _published(health) == {8090: ("127.0.0.1", "8090")}
    assert "8090/healthz" in " ".join(health["healthcheck"]["test"])
    gateway = services["gateway"]
    assert gateway["environment"]["VIVRES_HTTP_HOST"] == "0.0.0.0"
    assert _published(gateway) == {8080: ("127.0.0.1", "8080")}
    assert "8080/healthz" in " ".join(gateway["healthcheck"]["test"])


def test_kafka_is_the_official_image_in_kraft_mode_with_its_data_in_a_volume(project: dict) -> None:
    kafka = project["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "kafka-data" in project["volumes"]
    assert {"type": "volume", "source": "kafka-data", "target": env["KAFKA_LOG_DIRS"]}.items() \
        <= kafka["volumes"][0].items()
    registry = project["services"]["registry"]
    assert registry["depends_on"]["kafka"]["condition"] == "service_healthy"
    for stack in ("kafka", "registry"):
        assert project["services"]["provision"]["depends_on"][stack]["condition"] == \
            "service_healthy"


def test_the_demand_tables_live_in_a_volume(project: dict) -> None:
    demand = project["services"]["demand"]
    datadir = demand["environment"]["VIVRES_DEMAND_DATADIR"]
    assert any(v["type"] == "volume" and v["target"] == datadir for v in demand["volumes"])


def test_every_vivres_container_runs_the_one_image_built_here(project: dict) -> None:
    services = project["services"]
    ours = {n: s for n, s in services.items() if n not in ("kafka", "registry")}
    assert {s["image"] for s in ours.values()} == {"vivres:local"}
    built = [n for n, s in ours.items() if "build" in s]
    assert built == ["provision"], "one service builds the image, the others run it"
    assert Path(services["provision"]["build"]["context"]) == ROOT


def test_ports_listen_on_loopback_only(ops_project: dict) -> None:
    for name, service in ops_project["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"


def test_settings_come_from_the_environment() -> None:
    changed = load(COMPOSE, "-e", "VIVRES_HTTP_PORT=18080", "-e", "VIVRES_HEALTH_PORT=18090",
                   "-e", "VIVRES_LOG_LEVEL=DEBUG", "-e", "VIVRES_HEALTH_WEBHOOK_URL=http://x/y",
                   "-e", "VIVRES_KAFKA_PORT=19092")
    services = changed["services"]
    assert _published(services["gateway"]) == {8080: ("127.0.0.1", "18080")}
    assert _published(services["health"]) == {8090: ("127.0.0.1", "18090")}
    assert services["health"]["environment"]["VIVRES_HEALTH_WEBHOOK_URL"] == "http://x/y"
    assert _published(services["kafka"]) == {29092: ("127.0.0.1", "19092")}
    assert "HOST://127.0.0.1:19092" in services["kafka"]["environment"][
        "KAFKA_ADVERTISED_LISTENERS"]
    assert {s["environment"].get("VIVRES_LOG_LEVEL") for n, s in services.items()
            if n not in ("kafka", "registry")} == {"DEBUG"}


def _published(service: dict) -> dict[int, tuple[str, str]]:
    return {p["target"]: (p.get("host_ip"), p["published"]) for p in service.get("ports", [])}


# --- the operators' tools (`docker compose --profile ops up`) ---------------------------------


def test_the_ops_profile_is_valid_and_off_by_default(project: dict, ops_project: dict) -> None:
    result = check(COMPOSE, "-profile", "ops")
    assert result.returncode == 0, result.stderr
    assert not OPS & project["services"].keys(), "`docker compose up` starts the ops tools"
    assert ops_project["services"].keys() - project["services"].keys() == OPS
    for name in OPS:
        service = ops_project["services"][name]
        assert service["profiles"] == ["ops"]
        image, _, tag = service["image"].rpartition(":")
        assert image and tag and tag not in ("latest", "main"), f"{name} is not pinned"
    assert {"prometheus-data", "grafana-data"} <= ops_project["volumes"].keys()


def _grafana_without_its_source(p: dict) -> None:
    p["services"]["grafana"]["depends_on"]["nowhere"] = {"condition": "service_started"}


def _prometheus_port_not_a_port(p: dict) -> None:
    p["services"]["prometheus"]["ports"][0]["target"] = "ninety"


def _kafka_ui_misspelt(p: dict) -> None:
    p["services"]["kafka-ui"]["enviroment"] = p["services"]["kafka-ui"].pop("environment")


@pytest.mark.parametrize("breakage", [_grafana_without_its_source, _prometheus_port_not_a_port,
                                      _kafka_ui_misspelt])
def test_a_broken_ops_service_is_rejected(ops_project: dict, breakage: Any,
                                          tmp_path: Path) -> None:
    changed = json.loads(json.dumps(ops_project))
    breakage(changed)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(changed), encoding="utf-8")
    assert check(broken, "-profile", "ops").returncode != 0, f"{breakage.__name__} was accepted"


def _mounted(service: dict, target: str) -> Path:
    """The host file or directory a bind mount puts at `target` (or under it)."""
    for volume in service["volumes"]:
        if volume["type"] == "bind" and volume["target"] == target:
            return Path(volume["source"])
    raise AssertionError(f"nothing is mounted at {target}")


def _metrics_address(name: str, service: dict) -> str | None:
    """Where a Vivres service of compose serves /metrics: its metrics port, or the health
    service's HTTP port (its /metrics is there)."""
    if (service.get("command") or [])[:2] != ["vivres", "serve"]:
        return None
    env = service["environment"]
    port = env.get("VIVRES_METRICS_PORT") or env.get("VIVRES_HEALTH_PORT")
    assert port, f"{name} serves no /metrics that Prometheus could scrape"
    return f"{name}:{port}"


def test_prometheus_scrapes_every_vivres_service_of_compose(ops_project: dict) -> None:
    services = ops_project["services"]
    prometheus = services["prometheus"]
    config_dir = _mounted(prometheus, "/etc/prometheus")
    assert config_dir == ROOT / "deploy" / "prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    [config] = load_yaml(config_dir / "prometheus.yml")
    targets = {target for job in config["scrape_configs"]
               for static in job.get("static_configs", []) for target in static["targets"]}
    expected = {address for name, service in services.items()
                if (address := _metrics_address(name, service))}
    assert len(expected) == len(SERVING)
    assert expected <= targets, f"not scraped: {sorted(expected - targets)}"
    ours = {t for t in targets if t.split(":")[0] in services}
    assert ours == expected, f"scraped at a wrong port or not a service: {ours - expected}"
    for rules in config["rule_files"]:
        assert (config_dir / Path(rules).relative_to("/etc/prometheus")).is_file(), rules


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(ops_project: dict) -> None:
    services = ops_project["services"]
    grafana = services["grafana"]
    provisioning = _mounted(grafana, "/etc/grafana/provisioning")
    assert provisioning == ROOT / "deploy" / "grafana" / "provisioning"
    [sources] = load_yaml(provisioning / "datasources" / "vivres.yaml")
    [source] = sources["datasources"]
    port = services["prometheus"]["ports"][0]["target"]
    assert (source["type"], source["url"], source["isDefault"]) == (
        "prometheus", f"http://prometheus:{port}", True)
    [dashboards] = load_yaml(provisioning / "dashboards" / "vivres.yaml")
    [provider] = dashboards["providers"]
    assert provider["type"] == "file"
    mounted = [(Path(v["source"]), v["target"]) for v in grafana["volumes"]
               if v["type"] == "bind" and v["target"].startswith(provider["options"]["path"] + "/")]
    assert mounted == [(ROOT / "deploy" / "grafana" / "vivres-streams.json",
                        provider["options"]["path"] + "/vivres-streams.json")]
    assert mounted[0][0].is_file()
    env = grafana["environment"]
    assert env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == mounted[0][1]
    assert (env["GF_AUTH_ANONYMOUS_ENABLED"], env["GF_AUTH_ANONYMOUS_ORG_ROLE"]) == (
        "true", "Viewer")
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "vivres"  # the documented local default
    changed = load(COMPOSE, "-profile", "ops", "-e", "VIVRES_GRAFANA_ADMIN_PASSWORD=s3cret")
    assert changed["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "s3cret"


def test_the_kafka_ui_reads_the_cluster_and_the_registrys_confluent_api(
        ops_project: dict) -> None:
    services = ops_project["services"]
    env = services["kafka-ui"]["environment"]
    bus = services["gateway"]["environment"]
    registry_port = services["registry"]["environment"]["QUARKUS_HTTP_PORT"]
    assert env["KAFKA_CLUSTERS_0_SCHEMAREGISTRY"] == bus["SCHEMA_REGISTRY_URL"] == (
        f"http://registry:{registry_port}/apis/ccompat/v7")
    assert env["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == bus["KAFKA_BOOTSTRAP_SERVERS"]
    assert env["KAFKA_CLUSTERS_0_READONLY"] == "true"
    for stack in ("kafka", "registry"):
        assert services["kafka-ui"]["depends_on"][stack]["condition"] == "service_healthy"
    published = {name: _published(services[name]) for name in OPS}
    assert published == {"kafka-ui": {8080: ("127.0.0.1", "8082")},
                         "prometheus": {9090: ("127.0.0.1", "9090")},
                         "grafana": {3000: ("127.0.0.1", "3000")}}
