"""Storage fixtures shared by the backend tests (InfluxDB: a real influxd, one fresh database per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.model import Retention, Storage
from backend.storage.sqlite import SqliteStorage
from tests.harness.influxd import Influxd


@pytest.fixture
async def influx_storage(influxd: Influxd, influx_db: str) -> AsyncIterator[InfluxStorage]:
    """An InfluxStorage on this test's own database, set up (retention policies created), closed after."""
    storage = InfluxStorage(InfluxConfig(url=influxd.url, database=influx_db, retry_for=5), Retention())
    await storage.setup()
    yield storage
    await storage.close()


@pytest.fixture
async def sqlite_storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    """A SqliteStorage on a new file in a directory that does not exist yet, set up, closed after."""
    storage = SqliteStorage(tmp_path / "storage" / "pantau.sqlite3", Retention())
    await storage.setup()
    yield storage
    await storage.close()


@pytest.fixture(params=["sqlite", "influx"])
def storage(request: pytest.FixtureRequest) -> Storage:
    """The backend under test, set up on an empty database of its own."""
    backend: Storage = request.getfixturevalue(f"{request.param}_storage")
    return backend
