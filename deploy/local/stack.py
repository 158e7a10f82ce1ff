#!/usr/bin/env python3
"""The local Vivres stack without Docker: a real Apache Kafka broker (KRaft) and Apicurio Registry.

Both come from Maven Central through Maven, are cached outside the repository and run on loopback
with small JVM heaps. Every command is idempotent:

    stack.py fetch     resolve and cache the artifacts
    stack.py start     format KRaft storage once, start both servers, wait until each answers
    stack.py stop      stop both (SIGTERM, then SIGKILL after a grace period)
    stack.py status    say what runs; exit 0 only when both answer
    stack.py env       print the environment variables that point at the stack
    stack.py tool consumer-groups --describe --group G
                       run one of Kafka's own tools (consumer-groups, topics, metadata-quorum,
                       or a main class) against the stack, from the cached kafka-tools jars

When KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL are both set, nothing is launched: those
servers are used. Standard library only, so it runs before the project's virtualenv exists.

    VIVRES_KAFKA_BROKERS=3   three KRaft nodes (broker and controller each) on loopback, node n
                             on VIVRES_KAFKA_PORT + 2(n-1) and VIVRES_CONTROLLER_PORT + 2(n-1):
                             topics get 3 replicas and min.insync.replicas 2 from the catalog
    VIVRES_SECURE=1          SASL_SSL with SCRAM-SHA-512 users and ACLs (StandardAuthorizer): a
                             certificate made with keytool, the administrator's SCRAM user set
                             when the storage is formatted; `env` prints the administrator's
                             settings, `vivres security apply` creates the services' users
A stack keeps the shape it was formatted with: a different one needs another VIVRES_STATE_DIR
(or `make clean`).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

# Kafka 4.4.0 is the newest 4.x; faust-streaming and aiokafka (transactions included) pass our
# integration suite on it. Apicurio 3.0.9 is the newest 3.x app served that runs on Java 17:
# 3.3.x is compiled for Java 21 (class file 65) and 3.1.x/3.2.x app archives are not published.
KAFKA_VERSION = "4.4.0"
APICURIO_VERSION = "3.0.9"
KAFKA_HEAP = ["-Xms256m", "-Xmx512m"]
REGISTRY_HEAP = ["-Xms64m", "-Xmx384m"]
START_TIMEOUT_S = 120.0
STOP_GRACE_S = 30.0

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@dataclass(frozen=True)
class Layout:
    """Where the stack keeps its artifacts, data, logs and pids, and the ports it listens on."""

    cache: Path
    state: Path
    kafka_port: int
    controller_port: int
    registry_port: int
    brokers: int = 1
    secure: bool = False

    @classmethod
    def from_env(cls) -> Layout:
        """The stack the environment names; its shape (brokers, security), when not given,
        is the one it was formatted with (so `make status` after `make up SECURE=1` works)."""
        cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        state = Path(os.environ.get("VIVRES_STATE_DIR", ROOT / ".vivres" / "stack"))
        shape = dict(item.split("=") for item in _read(state / "shape").split())
        return cls(
            cache=Path(os.environ.get("VIVRES_CACHE_DIR", cache_home / "vivres")),
            state=state,
            kafka_port=int(os.environ.get("VIVRES_KAFKA_PORT", "9092")),
            controller_port=int(os.environ.get("VIVRES_CONTROLLER_PORT", "9093")),
            registry_port=int(os.environ.get("VIVRES_REGISTRY_PORT", "8081")),
            brokers=int(os.environ.get("VIVRES_KAFKA_BROKERS") or shape.get("brokers", "1")),
            secure=(os.environ.get("VIVRES_SECURE") or shape.get("secure", "0"))
            not in ("", "0", "false", "no"),
        )

    @property
    def kafka_libs(self) -> Path:
        return self.cache / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def apicurio_home(self) -> Path:
        return self.cache / f"apicurio-registry-{APICURIO_VERSION}"

    def node_ports(self, node: int) -> tuple[int, int]:
        """(client port, controller port) of node 1..brokers."""
        return self.kafka_port + 2 * (node - 1), self.controller_port + 2 * (node - 1)

    @property
    def nodes(self) -> range:
        return range(1, self.brokers + 1)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.node_ports(n)[0]}" for n in self.nodes)

    @property
    def tls(self) -> Path:
        return self.state / "tls"

    @property
    def secrets(self) -> Path:
        return self.state / "secrets"

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.registry_port}/apis/ccompat/v7"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def say(message: str) -> None:
    try:
        print(f"[stack] {message}", flush=True)
    except OSError:  # stdout is gone (e.g. Ctrl-C on a pipe): stopping must still happen
        pass


def external_stack() -> tuple[str, str] | None:
    """The servers named by the environment, when both are set: then nothing is launched."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    registry = os.environ.get("SCHEMA_REGISTRY_URL")
    return (bootstrap, registry) if bootstrap and registry else None


# --- fetching -------------------------------------------------------------------------------------


def _mvn(*args: str) -> None:
    if shutil.which("mvn") is None:
        sys.exit("[stack] Maven (mvn) is required to fetch Kafka and the registry: "
                 "apt-get install maven")
    command = ["mvn", "-B", "-q", "--no-transfer-progress", "-f", str(HERE / "pom.xml"), *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        sys.exit(f"[stack] Maven failed: {' '.join(command)}")


def fetch(layout: Layout) -> None:
    """Resolve Kafka's runtime classpath and the Apicurio archive into the cache (once)."""
    libs = layout.kafka_libs
    if not (libs / ".complete").exists():
        say(f"fetching Apache Kafka {KAFKA_VERSION} with Maven (first run only)")
        staging = Path(tempfile.mkdtemp(prefix="kafka-", dir=_ensure_dir(libs.parent.parent)))
        _mvn(f"-Dkafka.version={KAFKA_VERSION}", "dependency:copy-dependencies",
             f"-DoutputDirectory={staging}", "-DincludeScope=runtime")
        (staging / ".complete").write_text(KAFKA_VERSION)
        shutil.rmtree(libs, ignore_errors=True)
        _ensure_dir(libs.parent)
        staging.rename(libs)
    home = layout.apicurio_home
    if not (home / ".complete").exists():
        say(f"fetching Apicurio Registry {APICURIO_VERSION} with Maven (first run only)")
        staging = Path(tempfile.mkdtemp(prefix="apicurio-", dir=_ensure_dir(layout.cache)))
        artifact = f"io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"
        _mvn("dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={staging}")
        archive = next(staging.glob("*.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(staging / "app", filter="data")
        archive.unlink()
        (staging / ".complete").write_text(APICURIO_VERSION)
        shutil.rmtree(home, ignore_errors=True)
        staging.rename(home)


def _ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def registry_jar(layout: Layout) -> Path:
    """The runnable jar: quarkus-app/quarkus-run.jar in newer archives, *-runner.jar in 3.0.x."""
    app = layout.apicurio_home / "app"
    for pattern in ("quarkus-run.jar", "*/quarkus-run.jar", "*-runner.jar"):
        found = sorted(app.glob(pattern))
        if found:
            return found[0]
    sys.exit(f"[stack] no runnable jar in {app}; delete it and run `stack.py fetch` again")


# --- probes ---------------------------------------------------------------------------------------


def kafka_answers(port: int, host: str = "127.0.0.1", timeout: float = 2.0,
                  cafile: Path | None = None) -> bool:
    """True when a Kafka broker answers an ApiVersions request on host:port without error
    (over TLS checked against `cafile` when given: a client may ask before authenticating)."""
    client_id = b"vivres-stack"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            conn = (ssl.create_default_context(cafile=str(cafile)).wrap_socket(
                raw, server_hostname=host) if cafile else raw)
            conn.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exactly(conn, 10)
    except OSError:
        return False
    if header is None:
        return False
    _size, correlation_id, error_code = struct.unpack(">iih", header)
    return correlation_id == 7 and error_code == 0


def _recv_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def registry_answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- processes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    name: str
    workdir: Path

    @property
    def pidfile(self) -> Path:
        return self.workdir / "pid"

    @property
    def console(self) -> Path:
        return self.workdir / "console.log"

    def pid(self) -> int | None:
        """The server's pid while it runs: the pidfile names the process and its start time, so
        a pid reused by another program after a reboot is not taken for ours."""
        try:
            pid_text, _, started = self.pidfile.read_text().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child, exited: reap it
                return None
        except ChildProcessError:
            pass  # started by another process (e.g. an earlier `make up`)
        state = _proc_stat(pid)
        if state is None or state[0] == "Z" or (started and state[1] != started):
            return None
        return pid

    def launch(self, command: list[str], cwd: Path, env: dict[str, str] | None = None) -> int:
        _ensure_dir(self.workdir)
        with open(self.console, "ab") as log:
            process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        stat = _proc_stat(process.pid)
        self.pidfile.write_text(f"{process.pid} {stat[1] if stat else ''}".strip())
        return process.pid

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return
        say(f"stopping {self.name} (pid {pid})")
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            say(f"{self.name} did not stop within {STOP_GRACE_S:.0f}s: SIGKILL")
            _signal_group(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.1)
        self.pidfile.unlink(missing_ok=True)


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks) of a live process, from /proc; None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def kafka_server(layout: Layout, node: int = 1) -> Server:
    name = "kafka" if node == 1 else f"kafka-{node}"
    return Server(name, layout.state / name)


def kafka_node_answers(layout: Layout, node: int) -> bool:
    return kafka_answers(layout.node_ports(node)[0],
                         cafile=layout.tls / "ca.pem" if layout.secure else None)


def registry_server(layout: Layout) -> Server:
    return Server("registry", layout.state / "registry")


def wait_until(check, server: Server, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        if server.pid() is None:  # Kafka tells why in its log, not on its console
            tail = "".join(_read(path)[-2000:] for path in (
                server.console, server.workdir / "logs" / "kafka.log"))
            sys.exit(f"[stack] {server.name} exited during start-up; last output:\n{tail}")
        time.sleep(0.5)
    sys.exit(f"[stack] {what} did not answer within {START_TIMEOUT_S:.0f}s; see {server.console}")


def start_kafka(layout: Layout) -> None:
    """Every node of the cluster that is not running, then wait until each answers (a node
    answers only once a majority of the controllers is up, so all start before any wait)."""
    check_shape(layout)
    launched = []
    for node in layout.nodes:
        server = kafka_server(layout, node)
        port, controller = layout.node_ports(node)
        if kafka_node_answers(layout, node):
            if server.pid() is None:
                sys.exit(f"[stack] another Kafka already listens on {port}; "
                         "stop it or set VIVRES_KAFKA_PORT")
            say(f"kafka node {node} already running on 127.0.0.1:{port}")
            continue
        if server.pid() is not None:  # running but not answering yet (e.g. just restarted)
            launched.append(node)
            continue
        for taken in (port, controller):
            if port_taken(taken):
                sys.exit(f"[stack] port {taken} is taken by another program; set "
                         "VIVRES_KAFKA_PORT and VIVRES_CONTROLLER_PORT to free ports")
        launch_kafka_node(layout, node)
        launched.append(node)
    for node in launched:
        wait_until(lambda n=node: kafka_node_answers(layout, n), kafka_server(layout, node),
                   f"kafka node {node}")
    protocol = "SASL_SSL" if layout.secure else "PLAINTEXT"
    say(f"kafka answers on {layout.bootstrap} ({layout.brokers} node(s), {protocol})")


def launch_kafka_node(layout: Layout, node: int) -> None:
    server = kafka_server(layout, node)
    data = _ensure_dir(server.workdir / "data")
    config = server.workdir / "server.properties"
    _write_private(config, _kafka_properties(layout, node, data))  # holds passwords if secure
    java = _java()
    classpath = f"{layout.kafka_libs}/*"
    if not (data / "meta.properties").exists():
        say(f"formatting KRaft storage in {data}")
        scram = (["--add-scram", f"SCRAM-SHA-512=[name=admin,password={admin_password(layout)}]"]
                 if layout.secure else [])
        _run_quietly([java, "-cp", classpath, "kafka.tools.StorageTool", "format",
                      "-t", cluster_id(layout), "-c", str(config), *scram], "storage format")
    logs = _ensure_dir(server.workdir / "logs")
    pid = server.launch([
        java, *KAFKA_HEAP, "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}", f"-Dvivres.log.dir={logs}",
        "-cp", classpath, "kafka.Kafka", str(config),
    ], cwd=server.workdir)
    say(f"kafka {KAFKA_VERSION} node {node} starting (pid {pid})")


def check_shape(layout: Layout) -> None:
    """A stack keeps the number of nodes and the security it was formatted with."""
    shape = f"brokers={layout.brokers} secure={int(layout.secure)}"
    marker = _ensure_dir(layout.state) / "shape"
    formatted = (layout.state / "kafka" / "data" / "meta.properties").exists()
    if formatted and not marker.exists():  # formatted before shapes were written down
        marker.write_text("brokers=1 secure=0\n")
    if marker.exists() and marker.read_text().strip() != shape and formatted:
        sys.exit(f"[stack] {layout.state} holds a stack of {marker.read_text().strip()}, not "
                 f"{shape}: use another VIVRES_STATE_DIR, or `make clean` to start over")
    if not formatted:
        marker.write_text(shape + "\n")
    if layout.secure:
        make_tls(layout)


def cluster_id(layout: Layout) -> str:
    """One id for every node of the cluster, chosen when the first is formatted."""
    path = layout.state / "cluster-id"
    if not path.exists():
        first = _read(layout.state / "kafka" / "data" / "meta.properties")
        known = [line.split("=", 1)[1] for line in first.splitlines()
                 if line.startswith("cluster.id=")]
        path.write_text(known[0] if known else new_cluster_id())
    return path.read_text().strip()


def admin_password(layout: Layout) -> str:
    path = _secrets(layout) / "admin.password"
    if not path.exists():
        _write_private(path, base64.urlsafe_b64encode(os.urandom(24)).decode())
    return path.read_text().strip()


def _secrets(layout: Layout) -> Path:
    directory = _ensure_dir(layout.secrets)
    os.chmod(directory, 0o700)
    return directory


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)


def make_tls(layout: Layout) -> None:
    """A key and a self-signed certificate for the brokers (127.0.0.1 and localhost), made
    once with the JDK's keytool; ca.pem is what clients trust."""
    tls = _ensure_dir(layout.tls)
    if (tls / "ca.pem").exists():
        return
    os.chmod(tls, 0o700)
    keytool = str(Path(_java()).with_name("keytool"))
    tls_password(layout)
    secret = str(layout.secrets / "tls.password")  # read by keytool, never on its command line
    store = ["-storetype", "PKCS12", "-storepass:file", secret]
    for leftover in ("broker.p12", "truststore.p12"):  # from an attempt that failed half-way
        (tls / leftover).unlink(missing_ok=True)
    run = lambda *args: _run_quietly([keytool, *args], "keytool")  # noqa: E731
    run("-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
        "-validity", "3650", "-dname", "CN=localhost,O=Vivres local stack",
        "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-keystore", str(tls / "broker.p12"),
        "-keypass:file", secret, *store)
    run("-exportcert", "-rfc", "-alias", "broker", "-keystore", str(tls / "broker.p12"),
        "-file", str(tls / "ca.pem"), *store)
    run("-importcert", "-noprompt", "-alias", "ca", "-file", str(tls / "ca.pem"),
        "-keystore", str(tls / "truststore.p12"), *store)
    say(f"TLS certificate made in {tls}")


def _run_quietly(command: list[str], what: str) -> None:
    """Run a tool; on failure say what it printed, not its command line (it may hold a
    password)."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"[stack] {what} failed:\n{(done.stdout + done.stderr)[-3000:]}")


def tls_password(layout: Layout) -> str:
    path = _secrets(layout) / "tls.password"
    if not path.exists():
        _write_private(path, base64.urlsafe_b64encode(os.urandom(18)).decode())
    return path.read_text().strip()


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url. Like Kafka's own, never with a leading
    '-', which the storage tool's argument parser would take for an option (1 time in 64)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _kafka_properties(layout: Layout, node: int, data: Path) -> str:
    port, controller = layout.node_ports(node)
    voters = ",".join(f"{n}@127.0.0.1:{layout.node_ports(n)[1]}" for n in layout.nodes)
    replicas, min_isr = min(3, layout.brokers), min(2, layout.brokers)
    listener = "SASL_SSL" if layout.secure else "PLAINTEXT"
    lines = [
        "process.roles=broker,controller",
        f"node.id={node}",
        f"controller.quorum.voters={voters}",
        f"listeners={listener}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners={listener}://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        f"inter.broker.listener.name={listener}",
        f"log.dirs={data}",
        "num.partitions=1",
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={min_isr}",
        f"offsets.topic.replication.factor={replicas}",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={min_isr}",
        f"share.coordinator.state.topic.replication.factor={replicas}",
        f"share.coordinator.state.topic.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
    ]
    if not layout.secure:
        lines.append("listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT")
    else:
        password = tls_password(layout)
        lines += [
            # clients and brokers: SCRAM over TLS; controllers: mutual TLS, the brokers'
            # certificate being their identity (a super user, as the administrator is)
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL",
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="admin" password="{admin_password(layout)}";',
            "listener.name.controller.ssl.client.auth=required",
            f"ssl.keystore.location={layout.tls / 'broker.p12'}",
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.password={password}",
            f"ssl.key.password={password}",
            f"ssl.truststore.location={layout.tls / 'truststore.p12'}",
            "ssl.truststore.type=PKCS12",
            f"ssl.truststore.password={password}",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            "super.users=User:admin;User:CN=localhost,O=Vivres local stack",
        ]
    return "\n".join([*lines, ""])


def start_registry(layout: Layout) -> None:
    server = registry_server(layout)
    if registry_answers(layout.registry_url):
        if server.pid() is None:
            sys.exit(f"[stack] another program answers on {layout.registry_port}; "
                     "stop it or set VIVRES_REGISTRY_PORT")
        say(f"registry already running on {layout.registry_url}")
        return
    if port_taken(layout.registry_port):
        sys.exit(f"[stack] port {layout.registry_port} is taken; set VIVRES_REGISTRY_PORT")
    store = _ensure_dir(server.workdir / "h2")
    pid = server.launch([
        _java(), *REGISTRY_HEAP,
        f"-Dquarkus.http.port={layout.registry_port}", "-Dquarkus.http.host=127.0.0.1",
        # H2 on disk, so registered schemas (and their ids) survive a restart like Kafka's data.
        f"-Dapicurio.datasource.url=jdbc:h2:file:{store}/registry",
        "-Dapicurio.ccompat.use-canonical-hash=true",
        "-Dquarkus.log.level=WARN",
        "-jar", str(registry_jar(layout)),
    ], cwd=server.workdir)
    say(f"apicurio registry {APICURIO_VERSION} starting (pid {pid})")
    wait_until(lambda: registry_answers(layout.registry_url), server, "registry")
    say(f"registry answers on {layout.registry_url}")


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java:
        sys.exit("[stack] Java 17 is required: apt-get install openjdk-17-jre-headless")
    return java


# --- commands -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(layout: Layout):
    """One start or stop at a time per state directory (two `make test` at once wait in turn)."""
    with open(_ensure_dir(layout.state) / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def cmd_start(layout: Layout, kafka_only: bool = False) -> int:
    if (external := external_stack()) is not None:
        say(f"using the servers from the environment: {external[0]} and {external[1]}")
        return 0
    fetch(layout)
    with _exclusive(layout):
        start_kafka(layout)
        if not kafka_only:
            start_registry(layout)
    for line in env_lines(layout):
        say(line)
    return 0


def cmd_stop(layout: Layout) -> int:
    if external_stack() is not None:
        say("the environment names external servers: nothing to stop")
        return 0
    with _exclusive(layout):
        registry_server(layout).stop()
        for workdir in sorted(layout.state.glob("kafka*"), reverse=True):  # whatever was started
            if workdir.is_dir():
                Server(workdir.name, workdir).stop()
    say("stopped")
    return 0


def cmd_status(layout: Layout, quiet: bool) -> int:
    if (external := external_stack()) is not None:
        bootstrap, registry = external
        host, _, port = bootstrap.split(",")[0].rpartition(":")
        kafka_ok, registry_ok = kafka_answers(int(port), host), registry_answers(registry)
        rows = [("kafka", bootstrap, "external", "up" if kafka_ok else "down"),
                ("registry", registry, "external", "up" if registry_ok else "down")]
    else:
        nodes = {node: kafka_node_answers(layout, node) for node in layout.nodes}
        kafka_ok = all(nodes.values())
        registry_ok = registry_answers(layout.registry_url)
        rows = [(kafka_server(layout, node).name, f"127.0.0.1:{layout.node_ports(node)[0]}",
                 _pid_text(kafka_server(layout, node)), "up" if up else "down")
                for node, up in nodes.items()]
        rows.append(("registry", layout.registry_url, _pid_text(registry_server(layout)),
                     "up" if registry_ok else "down"))
    if not quiet:
        for name, where, pid, state in rows:
            print(f"{name:<9} {state:<8} {pid:<10} {where}")
    return 0 if kafka_ok and registry_ok else 3


def _pid_text(server: Server) -> str:
    pid = server.pid()
    return f"pid {pid}" if pid else "-"


def env_lines(layout: Layout) -> list[str]:
    """The settings that point a client at the stack (as its administrator, when secured)."""
    external = external_stack()
    bootstrap, registry = external or (layout.bootstrap, layout.registry_url)
    lines = [f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}", f"SCHEMA_REGISTRY_URL={registry}"]
    if layout.secure and external is None:
        admin_password(layout)  # made now if the stack is not started yet
        lines += ["KAFKA_SECURITY_PROTOCOL=SASL_SSL", "KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
                  "KAFKA_SASL_USERNAME=admin",  # the password stays in its file, off argv
                  f"KAFKA_SASL_PASSWORD_FILE={layout.secrets / 'admin.password'}",
                  f"KAFKA_SSL_CAFILE={layout.tls / 'ca.pem'}"]
    return lines


TOOLS = {
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "topics": "org.apache.kafka.tools.TopicCommand",
    "metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
}


def cmd_tool(layout: Layout, tool: str, args: list[str]) -> int:
    """Kafka's own command-line tool (what kafka-consumer-groups.sh runs), on the stack unless
    the arguments name a --bootstrap-server."""
    fetch(layout)
    if "--bootstrap-server" not in args:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", layout.bootstrap)
        args = ["--bootstrap-server", bootstrap, *args]
    if layout.secure and "--command-config" not in args:  # as the administrator
        config = layout.secrets / "admin.properties"
        _write_private(config, "\n".join([
            "security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512",
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule "
            f'required username="admin" password="{admin_password(layout)}";',
            f"ssl.truststore.location={layout.tls / 'truststore.p12'}",
            "ssl.truststore.type=PKCS12", f"ssl.truststore.password={tls_password(layout)}",
            ""]))
        args = [*args, "--command-config", str(config)]
    command = [_java(), "-Xmx256m", "-cp", f"{layout.kafka_libs}/*", TOOLS.get(tool, tool),
               *args]
    return subprocess.run(command, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="resolve and cache Kafka and Apicurio")
    start = sub.add_parser("start", help="start Kafka and the registry, wait until both answer")
    start.add_argument("--kafka-only", action="store_true", help="no registry")
    sub.add_parser("stop", help="stop both")
    status = sub.add_parser("status", help="exit 0 when both answer")
    status.add_argument("--quiet", action="store_true")
    sub.add_parser("env", help="print the variables that point at the stack")
    tool = sub.add_parser("tool", help="run one of Kafka's tools against the stack")
    tool.add_argument("tool", help=f"{', '.join(TOOLS)} or a main class")
    tool.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    layout = Layout.from_env()
    if args.command == "fetch":
        fetch(layout)
        return 0
    if args.command == "start":
        return cmd_start(layout, args.kafka_only)
    if args.command == "stop":
        return cmd_stop(layout)
    if args.command == "status":
        return cmd_status(layout, args.quiet)
    if args.command == "tool":
        return cmd_tool(layout, args.tool, args.args)
    for line in env_lines(layout):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
