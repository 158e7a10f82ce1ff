"""What the browser tests share: the bus settings, and the services a page needs running as
child processes (`vivres serve NAME`), each stopped when its test ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.bus.settings import BusSettings
from tests.integration.sales_stack import ServiceProcess, served


@pytest.fixture(scope="session")
def settings() -> BusSettings:
    return BusSettings()


@pytest.fixture
def orders_service(settings: BusSettings, tmp_path) -> Iterator[ServiceProcess]:
    with served("orders", settings, tmp_path) as process:
        yield process


@pytest.fixture
def caisse_service(settings: BusSettings, tmp_path) -> Iterator[ServiceProcess]:
    with served("caisse", settings, tmp_path) as process:
        yield process
