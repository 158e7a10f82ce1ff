"""`make run` driven as a newcomer runs it, on a fresh launcher stack of its own (its ports moved
by VIVRES_PORT_OFFSET so the shared stack and its services stay as they are): started in a
session of its own, then stopped as Ctrl-C in its terminal stops it. Used by the browser test
of the demo (tests/e2e/test_producer_page.py) and by its benchmark (bench/make_run_ready.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.sales_stack import ROOT, server_ports
from tests.support import eventually, own_stack_env

GATEWAY_PORT, HEALTH_PORT = 8080, 8090  # as services.toml places them
MIN_WEEKS = 12  # weeks of history the demo must show (the forecast looks at 12)
# A hang guard for each step of make run on a fresh stack: a run that has shown nothing by then
# is stuck and fails. How soon it shows the demo (its promise: 2 minutes) is the benchmark's.
GUARD_S = 600


def fresh_env(state: Path) -> tuple[dict[str, str], int]:
    """The environment of a fresh stack in `state` and the gateway port it will have."""
    stack_port, offset = server_ports(3, 23092), free_offset()
    env = own_stack_env(state, VIVRES_KAFKA_PORT=stack_port, VIVRES_CONTROLLER_PORT=stack_port + 1,
                        VIVRES_REGISTRY_PORT=stack_port + 2, VIVRES_PORT_OFFSET=offset)
    return env, GATEWAY_PORT + offset


def start_make_run(env: dict[str, str], tokens: Path, output: Path) -> subprocess.Popen:
    """`make run` in a session of its own (a terminal's process group), its output kept."""
    with output.open("w") as out:
        return subprocess.Popen(["make", "--no-print-directory", "run", f"DEMO_TOKENS={tokens}"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def free_offset() -> int:
    """A VIVRES_PORT_OFFSET whose every service port (services.toml) can be bound now."""
    wanted = [GATEWAY_PORT, HEALTH_PORT, *range(9101, 9109)]  # services.toml's metrics
    for offset in range(11_000, 22_000, 1_000):
        try:
            for port in wanted:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return offset
    raise RuntimeError("no offset with every service port free")


async def ctrl_c(process: subprocess.Popen) -> None:
    """What Ctrl-C in the terminal does to `make run`: SIGINT to its process group; then
    until every process of the group has exited."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)

    def group_gone() -> bool:
        process.poll()  # make reaped: a zombie would keep its group alive
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        return False
    await eventually(group_gone, timeout=120, interval=0.5, what="make run stopping")
    process.wait(timeout=5)


def procs(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "deploy/local/procs.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    return done.stdout


async def served_signals(http: httpx.AsyncClient, token: str) -> list[dict]:
    """The Lyon territory signals the gateway serves the token now (none while it starts)."""
    try:
        answer = await http.get("/v1/demand", params={"territory": "lyon"},
                                headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError:
        return []
    return [s for s in answer.json() if s["shop_id"] is None] if answer.is_success else []


def months_of_history(weeks: list[int]) -> bool:
    """Most products (the median one) with MIN_WEEKS weeks of history or more."""
    return bool(weeks) and sorted(weeks)[len(weeks) // 2] >= MIN_WEEKS
