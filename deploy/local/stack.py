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

    @classmethod
    def from_env(cls) -> Layout:
        cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        return cls(
            cache=Path(os.environ.get("VIVRES_CACHE_DIR", cache_home / "vivres")),
            state=Path(os.environ.get("VIVRES_STATE_DIR", ROOT / ".vivres" / "stack")),
            kafka_port=int(os.environ.get("VIVRES_KAFKA_PORT", "9092")),
            controller_port=int(os.environ.get("VIVRES_CONTROLLER_PORT", "9093")),
            registry_port=int(os.environ.get("VIVRES_REGISTRY_PORT", "8081")),
        )

    @property
    def kafka_libs(self) -> Path:
        return self.cache / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def apicurio_home(self) -> Path:
        return self.cache / f"apicurio-registry-{APICURIO_VERSION}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.registry_port}/apis/ccompat/v7"


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


def kafka_answers(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """True when a Kafka broker answers an ApiVersions request on host:port without error."""
    client_id = b"vivres-stack"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
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


def kafka_server(layout: Layout) -> Server:
    return Server("kafka", layout.state / "kafka")


def registry_server(layout: Layout) -> Server:
    return Server("registry", layout.state / "registry")


def wait_until(check, server: Server, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        if server.pid() is None:
            console = server.console
            tail = console.read_text(errors="replace")[-3000:] if console.exists() else ""
            sys.exit(f"[stack] {server.name} exited during start-up; last output:\n{tail}")
        time.sleep(0.5)
    sys.exit(f"[stack] {what} did not answer within {START_TIMEOUT_S:.0f}s; see {server.console}")


def start_kafka(layout: Layout) -> None:
    server = kafka_server(layout)
    if kafka_answers(layout.kafka_port):
        if server.pid() is None:
            sys.exit(f"[stack] another Kafka already listens on {layout.kafka_port}; "
                     "stop it or set VIVRES_KAFKA_PORT")
        say(f"kafka already running on {layout.bootstrap}")
        return
    for port in (layout.kafka_port, layout.controller_port):
        if port_taken(port):
            sys.exit(f"[stack] port {port} is taken by another program; set VIVRES_KAFKA_PORT "
                     "and VIVRES_CONTROLLER_PORT to free ports")
    data = _ensure_dir(server.workdir / "data")
    config = server.workdir / "server.properties"
    config.write_text(_kafka_properties(layout, data))
    java = _java()
    classpath = f"{layout.kafka_libs}/*"
    if not (data / "meta.properties").exists():
        cluster_id = new_cluster_id()
        say(f"formatting KRaft storage in {data}")
        subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool", "format",
                        "-t", cluster_id, "-c", str(config)], check=True, capture_output=True)
    logs = _ensure_dir(server.workdir / "logs")
    pid = server.launch([
        java, *KAFKA_HEAP, "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}", f"-Dvivres.log.dir={logs}",
        "-cp", classpath, "kafka.Kafka", str(config),
    ], cwd=server.workdir)
    say(f"kafka {KAFKA_VERSION} starting (pid {pid})")
    wait_until(lambda: kafka_answers(layout.kafka_port), server, "kafka")
    say(f"kafka answers on {layout.bootstrap}")


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url. Like Kafka's own, never with a leading
    '-', which the storage tool's argument parser would take for an option (1 time in 64)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _kafka_properties(layout: Layout, data: Path) -> str:
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{layout.controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{layout.kafka_port},"
        f"CONTROLLER://127.0.0.1:{layout.controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{layout.kafka_port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={data}",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "",
    ])


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


def cmd_start(layout: Layout) -> int:
    if (external := external_stack()) is not None:
        say(f"using the servers from the environment: {external[0]} and {external[1]}")
        return 0
    fetch(layout)
    with _exclusive(layout):
        start_kafka(layout)
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
        kafka_server(layout).stop()
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
        kafka_ok = kafka_answers(layout.kafka_port)
        registry_ok = registry_answers(layout.registry_url)
        rows = [
            ("kafka", layout.bootstrap, _pid_text(kafka_server(layout)),
             "up" if kafka_ok else "down"),
            ("registry", layout.registry_url, _pid_text(registry_server(layout)),
             "up" if registry_ok else "down"),
        ]
    if not quiet:
        for name, where, pid, state in rows:
            print(f"{name:<9} {state:<8} {pid:<10} {where}")
    return 0 if kafka_ok and registry_ok else 3


def _pid_text(server: Server) -> str:
    pid = server.pid()
    return f"pid {pid}" if pid else "-"


def env_lines(layout: Layout) -> list[str]:
    bootstrap, registry = external_stack() or (layout.bootstrap, layout.registry_url)
    return [f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}", f"SCHEMA_REGISTRY_URL={registry}"]


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
    command = [_java(), "-Xmx256m", "-cp", f"{layout.kafka_libs}/*", TOOLS.get(tool, tool),
               *args]
    return subprocess.run(command, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="resolve and cache Kafka and Apicurio")
    sub.add_parser("start", help="start Kafka and the registry, wait until both answer")
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
        return cmd_start(layout)
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
