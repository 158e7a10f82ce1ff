"""Suite-wide rules: a skipped test is a failure here (integration tests must really run), a
session that used the broker leaves the stack as it found it (tests/cleanup.py), and a failed
test shows its service processes' logs."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import pytest

from services.bus.settings import BusSettings
from tests.cleanup import StackAsFound

BROKER_TIERS = {"integration", "e2e"}


@pytest.fixture(scope="session", autouse=True)
async def _leave_the_stack_as_found(request) -> AsyncIterator[None]:
    if not any(BROKER_TIERS & set(item.path.parts) for item in request.session.items):
        yield  # the unit tier never opens a connection
        return
    cleaner = StackAsFound(BusSettings())
    try:
        await cleaner.begin()
    except Exception as err:  # noqa: BLE001 - say clearly what is missing, then fail
        pytest.fail(f"Kafka is not reachable ({err!r}): run `make up`")
    yield
    await cleaner.end()


def _service_processes() -> list:
    """The `vivres serve` children the running test started (tests/integration/sales_stack.py,
    when a test imported it)."""
    stack = sys.modules.get("tests.integration.sales_stack")
    return stack.STARTED if stack is not None else []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    _service_processes().clear()  # before the test's fixtures start theirs


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test shows the end of the log of each service process it started (its
    fixtures' too): what a service was doing is the first question, and CI keeps no files."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when == "call":
        for process in dict.fromkeys(_service_processes()):
            report.sections.append((f"vivres serve {process.name} (log's end)", process.tail()))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} test(s) skipped: this suite treats a skip as a failure", red=True
        )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
