"""The local launcher on its own ports and state: start and stop are idempotent, start waits
until both servers answer, stop leaves no process behind, and named servers are never launched."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from tests.support import STACK, launcher as stack, own_stack_env


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_start_twice_stop_twice_leaves_nothing_running(tmp_path: Path) -> None:
    kafka, controller, registry = free_ports(3)
    env = own_stack_env(tmp_path / "stack", VIVRES_KAFKA_PORT=kafka,
                        VIVRES_CONTROLLER_PORT=controller, VIVRES_REGISTRY_PORT=registry)
    try:
        first = stack(env, "start")
        assert first.returncode == 0, first.stdout + first.stderr
        assert f"kafka answers on 127.0.0.1:{kafka}" in first.stdout
        again = stack(env, "start")
        assert f"kafka node 1 already running on 127.0.0.1:{kafka}" in again.stdout
        assert "registry already running" in again.stdout
        assert stack(env, "status").returncode == 0
        pids = [int((tmp_path / "stack" / name / "pid").read_text().split()[0])
                for name in ("kafka", "registry")]
        assert all(alive(pid) for pid in pids)
    finally:
        stopped = stack(env, "stop")
    assert stopped.returncode == 0
    assert not any(alive(pid) for pid in pids)
    assert stack(env, "stop").returncode == 0  # nothing to stop is fine
    assert stack(env, "status").returncode == 3


def test_named_servers_are_used_and_nothing_is_launched(tmp_path: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "SCHEMA_REGISTRY_URL": "http://127.0.0.1:1/apis/ccompat/v7",
           "VIVRES_STATE_DIR": str(tmp_path / "stack")}
    started = stack(env, "start")
    assert started.returncode == 0
    assert "using the servers from the environment" in started.stdout
    assert not (tmp_path / "stack").exists()
    assert stack(env, "status").returncode == 3  # and it says they do not answer


def test_cluster_ids_never_look_like_an_option() -> None:
    sys.path.insert(0, str(STACK.parent))
    try:
        from stack import new_cluster_id
    finally:
        sys.path.remove(str(STACK.parent))
    ids = [new_cluster_id() for _ in range(2000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
