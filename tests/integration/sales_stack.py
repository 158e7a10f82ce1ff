"""The sales intake running in the test's own event loop: the gateway on a free port and the
ingest stage, both on the real broker and registry, with the catalog's topics provisioned."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path


from services.bus.http import http_server
from services.auth.tokens import Principal, digest, issue
from services.bus.catalog import TOKENS, TOPICS
from services.bus.platform import Platform
from services.bus.provision import provision_catalog
from services.bus.settings import BusSettings
from services.directory.rules import HUB, PRODUCER, SHOP, TERRITORY
from services.directory.writer import DirectoryWriter
from services.events.auth import Role
from services.gateway.app import GatewayDeps, create_app
from services.gateway.main import gateway_deps
from services.sales.ingest import GROUP, SalesIngest
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[2]
# The service processes started during the running test: a failure shows their logs' ends
# (tests/integration/conftest.py), where a CI run's temporary files are gone afterwards.
STARTED: list[ServiceProcess] = []
LOG_TAIL_LINES = 25


class ServiceProcess:
    """`vivres serve NAME` as a child process, which a test can SIGKILL and start again."""

    def __init__(self, name: str, settings: BusSettings, log_path: Path) -> None:
        self.name = name
        self.env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
                    "SCHEMA_REGISTRY_URL": settings.schema_registry_url,
                    "VIVRES_METRICS_PORT": "0", "VIVRES_SESSION_TIMEOUT_MS": "6000",
                    "PYTHONUNBUFFERED": "1"}  # a SIGKILL loses no log line
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        STARTED.append(self)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli.main", "serve", self.name], cwd=ROOT,
                env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def restart(self) -> None:
        """SIGKILL, then start again: the new process reads the reference tables (mappings,
        products, offers) to their end before it consumes anything."""
        self.kill()
        self.start()

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of its log, each cut to a screen's width."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as err:
            return f"(no log: {err})"
        return "\n".join(line[:300] for line in text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def served(name: str, settings: BusSettings, log_dir: Path) -> Iterator[ServiceProcess]:
    """`vivres serve NAME` running for the block (its log in `log_dir`), stopped after."""
    process = ServiceProcess(name, settings, log_dir / f"{name}.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_ports(count: int, start: int) -> int:
    """The first of `count` consecutive ports from `start` that can be bound now, below the
    kernel's ephemeral range: a server started later must not find one taken as the local
    port of some client's connection (a broker of the three-node test once died so)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for base in range(start, low - count, count + 4):
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports from {start} below {low}")


TEST_TERRITORY = "tests"  # where the tests' shops, producers and hubs are, unless they say


async def register_for_tests(deps: GatewayDeps, role: Role, subject: str,
                             territory: str = TEST_TERRITORY) -> None:
    """Register `subject` (of `role`'s kind) in the directory, through its writer."""
    writer = DirectoryWriter(deps.directory, deps.publisher, deps.clock)
    operator = Principal(Role.OPERATOR, None)
    await writer.create(operator, TERRITORY, {"territory_id": territory, "name": territory,
                                              "timezone": "Europe/Paris", "caisse": None})
    fields = {
        Role.SHOP: (SHOP, {"shop_id": subject, "name": subject, "territory": territory,
                           "kind": "solidaire", "timezone": "Europe/Paris"}),
        Role.PRODUCER: (PRODUCER, {"producer_id": subject, "farm_name": subject,
                                   "commune": "Lyon", "farm_lat_e6": 45_764_043,
                                   "farm_lon_e6": 4_835_659, "organic": False, "labels": (),
                                   "territories": (territory,)}),
        Role.HUB: (HUB, {"hub_id": subject, "territory": territory, "name": subject,
                         "lat_e6": 45_734_000, "lon_e6": 4_869_000,
                         "delivery_weekdays": (4,)}),
    }.get(role)
    if fields is not None:
        await writer.create(operator, *fields)


@dataclass
class SalesStack:
    url: str
    platform: Platform
    deps: GatewayDeps
    ingest: SalesIngest | None  # None: the gateway alone

    async def token(self, role: Role, subject: str | None,
                    territory: str = TEST_TERRITORY) -> str:
        """Issue a token and wait until the gateway knows it; a shop, producer or hub the
        directory does not know yet is registered first, in the tests' territory, as a
        territory's coordinator would (tokens are for the directory's subjects)."""
        if subject is not None and self.deps.directory.subject(subject) is None:
            await register_for_tests(self.deps, role, subject, territory)
        token, event = issue(role, subject, "test", datetime.now(UTC))
        await self.platform.publisher.publish(TOKENS, event)
        await eventually(lambda: self.deps.tokens.get(digest(token)), what="token known")
        return token


@asynccontextmanager
async def running_gateway(settings: BusSettings, name: str = "gateway-test"
                          ) -> AsyncIterator[SalesStack]:
    """The gateway alone (no ingest stage), on a free port of the test's own event loop."""
    report = await provision_catalog(settings, TOPICS)
    assert report.ok, report.drift
    port = free_port()
    async with Platform(name, settings, handle_signals=False) as platform, \
            gateway_deps(platform, f"http://127.0.0.1:{port}") as deps:  # the DFC IRIs resolve
        server = http_server(create_app(deps, platform.metrics), "127.0.0.1", port,
                             graceful_shutdown_s=3)  # SSE never ends alone
        serving = asyncio.create_task(server.serve())
        await eventually(lambda: server.started, what="gateway started")
        try:
            yield SalesStack(f"http://127.0.0.1:{port}", platform, deps, None)
        finally:
            server.should_exit = True
            await serving


@asynccontextmanager
async def running_sales_stack(settings: BusSettings, *, ingest_window: timedelta | None = None
                              ) -> AsyncIterator[SalesStack]:
    """The gateway and the ingest stage (tickets POSTed reach sales.tickets)."""
    async with running_gateway(settings, "sales-test") as stack:
        ingest = SalesIngest(stack.platform, stack.deps.mappings, stack.deps.unmapped,
                             **({"window": ingest_window} if ingest_window else {}))
        consumer = stack.platform.consumer(GROUP, ingest.routes(), owned=ingest.seen)
        async with consumer:
            running = asyncio.create_task(consumer.run())
            try:
                yield SalesStack(stack.url, stack.platform, stack.deps, ingest)
            finally:
                died = running.done()  # the ingest must still run when its tests are over
                consumer.stop()
                await running
                assert not died, "the ingest consumer stopped before its tests ended"
