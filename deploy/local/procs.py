#!/usr/bin/env python3
"""Runs the Vivres services of the local stack, as listed in deploy/local/services.toml.

    procs.py up       start every service in the background (logs and pids under .vivres/)
    procs.py down     stop them (SIGTERM: each drains and commits; SIGKILL after a grace period)
    procs.py status   say which run
    procs.py run      start them, print where to look, and stop everything on Ctrl-C
                      (with --stop-stack, Kafka and the registry too)

Each `[[service]]` there has a name, a command (run from the repository root with .venv/bin on
the PATH), optionally the URL people open (and `pages`, more of them), `follow = true` to show
its output under `run`, and `oneshot = true` for a task that ends by itself. Standard library
only, like stack.py.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from stack import Layout, Server, env_lines  # noqa: E402 - stack.py sits beside this file


def say(message: str) -> None:
    try:
        print(f"[services] {message}", flush=True)
    except OSError:  # the terminal or pipe is gone (Ctrl-C on `make run | tee`): carry on
        pass

SERVICES = HERE / "services.toml"
STARTUP_GRACE_S = 3.0


def services() -> list[dict]:
    """Every service of services.toml, in start order, its ports moved by VIVRES_PORT_OFFSET;
    one with `workers` (the variable saying how many, 1 by default) as that many: `demand`,
    `demand-2`, ..., each with its own `worker_env` ({n}: its number, {state}: the directory
    of the services' state) and metrics port (+100 per worker)."""
    found = []
    for entry in tomllib.loads(SERVICES.read_text(encoding="utf-8")).get("service", []):
        count = int(os.environ.get(entry["workers"], "1") or 1) if "workers" in entry else 1
        for n in range(1, count + 1):
            found.append(_placed(_worker(entry, n) if "workers" in entry else entry))
    return found


def _worker(entry: dict, n: int) -> dict:
    state = Layout.from_env().state.parent
    worker = {**entry, "env": {k: v.format(n=n, state=state)
                               for k, v in entry.get("worker_env", {}).items()}}
    if n > 1:
        worker["name"] = f"{entry['name']}-{n}"
        if "metrics" in entry:
            worker["metrics"] = entry["metrics"] + 100 * (n - 1)
    return worker


def _placed(entry: dict) -> dict:
    """The entry with its ports, and its urls' ports, moved by VIVRES_PORT_OFFSET."""
    offset = int(os.environ.get("VIVRES_PORT_OFFSET", "0") or 0)
    if not offset:
        return entry
    placed = {**entry, **{key: entry[key] + offset for key in ("metrics", "port") if key in entry}}
    if "port" in entry:
        moved = f":{entry['port']}/", f":{entry['port'] + offset}/"
        if "url" in entry:
            placed["url"] = entry["url"].replace(*moved)
        placed["pages"] = [{**page, "url": page["url"].replace(*moved)}
                           for page in entry.get("pages", [])]
    return placed


def gateway_url() -> str:
    """Where the services (the simulators) find the gateway."""
    gateway = next(e for e in services() if e["name"] == "gateway")
    return f"http://127.0.0.1:{gateway['port']}"


def started() -> list[str]:
    """The services running or last started, more workers than now asked for included."""
    names = [e["name"] for e in services()]
    state = Layout.from_env().state.parent / "services"
    extra = sorted(p.name for p in state.glob("*-[0-9]*") if p.name not in names)
    return names + extra


def server(name: str) -> Server:
    return Server(name, Layout.from_env().state.parent / "services" / name)


def environment() -> dict[str, str]:
    """What every service is started with: where the stack is (as its administrator on a
    secured stack; `own_identity()` then gives each service its own user)."""
    env = dict(os.environ)
    for line in env_lines(Layout.from_env()):
        name, _, value = line.partition("=")
        env.setdefault(name, value)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def own_identity(entry: dict, env: dict[str, str]) -> dict[str, str]:
    """A service's own Kafka user and password on a secured stack (the passwords written by
    `vivres security apply` beside the stack's other secrets)."""
    user = entry.get("user")
    if not user or not env.get("KAFKA_SECURITY_PROTOCOL", "").startswith("SASL"):
        return {}
    users = Layout.from_env().secrets / "kafka-users.json"
    passwords = json.loads(users.read_text()) if users.exists() else {}
    if user not in passwords:
        sys.exit(f"[services] no password for {user} in {users}: run `vivres security apply`")
    return {"KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": passwords[user],
            "KAFKA_SASL_PASSWORD_FILE": ""}  # not the administrator's


def metrics_targets() -> str:
    """What the health service scrapes: each service's /metrics, as services.toml places them."""
    return ",".join(f"{e['name']}=http://127.0.0.1:{e['metrics']}/metrics"
                    for e in services() if "metrics" in e)


def up() -> int:
    env = environment()
    env.setdefault("VIVRES_HEALTH_TARGETS", metrics_targets())
    env.setdefault("VIVRES_GATEWAY_URL", gateway_url())
    started = []
    for entry in services():
        name, command = entry["name"], entry["command"]
        proc = server(name)
        if proc.pid() is not None:
            say(f"{name} already running (pid {proc.pid()})")
            continue
        own = {**env, "VIVRES_METRICS_PORT": str(entry.get("metrics", 0)),
               **({entry["port_env"]: str(entry["port"])} if "port_env" in entry else {}),
               **own_identity(entry, env), **entry.get("env", {})}
        pid = proc.launch(["/bin/sh", "-c", f"exec {command}"], cwd=ROOT, env=own)
        started.append((name, proc))
        say(f"{name} started (pid {pid}), logs: {proc.console}")
    deadline = time.monotonic() + STARTUP_GRACE_S
    while started and time.monotonic() < deadline:
        time.sleep(0.2)
    oneshot = {e["name"] for e in services() if e.get("oneshot")}
    failed = [name for name, proc in started if proc.pid() is None and name not in oneshot]
    for name in failed:
        say(f"{name} exited at start-up; see {server(name).console}")
    return 1 if failed else 0


def down() -> int:
    for name in reversed(started()):
        server(name).stop()
    return 0


def status() -> int:
    healthy, asked = True, {e["name"] for e in services()}
    for name in started():
        pid = server(name).pid()
        if pid is None and name not in asked:
            continue  # a worker of an earlier `make up DEMAND_WORKERS=…`, stopped
        healthy &= pid is not None
        print(f"{name:<12} {'up' if pid else 'down':<8} {f'pid {pid}' if pid else '-':<10} "
              f"{server(name).console}")
    return 0 if healthy else 3


def run(stop_stack: bool = False) -> int:
    """Start everything, say where to look, wait for Ctrl-C (or SIGTERM), stop everything."""
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        if up() != 0:
            return 1
        print_where_to_look()
        followed = [Follow(server(e["name"]).console) for e in services() if e.get("follow")]
        while not stopping:
            time.sleep(0.5)
            for follow in followed:
                follow.echo()
            dead = [e["name"] for e in services()
                    if not e.get("oneshot") and server(e["name"]).pid() is None]
            if dead:
                names = ", ".join(dead)
                say(_(f"arrêt inattendu : {names} ; voir .vivres/services/*/console.log",
                      f"stopped unexpectedly: {names}; see .vivres/services/*/console.log"))
                return 1
        return 0
    finally:
        say(_("Arrêt de tout…", "Stopping everything…"))
        down()
        if stop_stack:
            from stack import cmd_stop

            cmd_stop(Layout.from_env())


class Follow:
    """Echoes what a service appends to its console log (e.g. the simulator's live tickets)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def echo(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        self.offset += len(chunk)
        if chunk:
            try:
                sys.stdout.write(chunk.decode("utf-8", "replace"))
                sys.stdout.flush()
            except OSError:
                pass


def print_where_to_look() -> None:
    layout = Layout.from_env()
    env = environment()
    lines = [
        "",
        _("Vivres tourne. Où regarder :", "Vivres is running. Where to look:"),
        f"  {'Kafka':<23} {env['KAFKA_BOOTSTRAP_SERVERS']}",
        f"  {_('Registre de schémas', 'Schema registry'):<23} "
        f"{env['SCHEMA_REGISTRY_URL']}/subjects",
        f"  {_('Journal du broker', 'Broker log'):<23} "
        f"{layout.state / 'kafka' / 'logs' / 'kafka.log'}",
        f"  {_('Jetons de démo', 'Demo tokens'):<23} "
        f"{os.environ.get('VIVRES_DEMO_TOKENS', ROOT / '.vivres' / 'demo-tokens.json')}",
    ]
    for entry in services():
        name = entry["name"]
        if "url" in entry:
            lines.append(f"  {entry.get('title', name):<23} {entry['url']}")
        for page in entry.get("pages", []):
            lines.append(f"  {page['title']:<23} {page['url']}{_with_token(page.get('token'))}")
        lines.append(f"  {_('journal ', 'log ') + name:<23} {server(name).console}")
    lines += [f"  {'Topics':<23} .venv/bin/vivres topics list",
              _("Ctrl-C arrête tout.", "Press Ctrl-C to stop everything."), ""]
    print("\n".join(lines), flush=True)


def _with_token(path: str | None) -> str:
    """The fragment that opens a page with a demo token (`#token=...`; never sent to a server,
    never in its logs), or nothing when the demo has no such token."""
    tokens = Path(os.environ.get("VIVRES_DEMO_TOKENS", ROOT / ".vivres" / "demo-tokens.json"))
    try:
        found = json.loads(tokens.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    for part in (path or "").split("."):
        found = found.get(part) if isinstance(found, dict) else None
    if isinstance(found, dict):  # a group: its first entry
        found = next(iter(found.values()), None)
    return f"#token={found}" if isinstance(found, str) and path else ""


def _(french: str, english: str) -> str:
    """French first; English with VIVRES_LANG=en."""
    return english if os.environ.get("VIVRES_LANG", "fr").startswith("en") else french


def main(argv: list[str]) -> int:
    commands = {"up": up, "down": down, "status": status,
                "run": lambda: run(stop_stack="--stop-stack" in argv[1:])}
    if not argv or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
