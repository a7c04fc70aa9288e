"""Fixtures shared by the backend tests: storages (InfluxDB: a real influxd, one fresh database per test;
SQLite: a new file) and the real gateway publisher; helpers live in `tests/harness/backend.py`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.model import Retention, Storage
from backend.storage.sqlite import SqliteStorage
from gateway.outbox import Outbox
from gateway.publisher import Identity, Publisher
from pantau.contract import Topics
from pantau.site.config import MqttConfig
from tests.harness.backend import GATEWAY, SITE, Gateway, GatewayFactory
from tests.harness.influxd import Influxd
from tests.harness.mosquitto import Mosquitto


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


# The influx variant reaches influxd only through getfixturevalue, which the automatic marking cannot see.
@pytest.fixture(params=["sqlite", pytest.param("influx", marks=pytest.mark.services)])
def storage(request: pytest.FixtureRequest) -> Storage:
    """The backend under test, set up on an empty database of its own."""
    backend: Storage = request.getfixturevalue(f"{request.param}_storage")
    return backend


@pytest.fixture
def gateway(mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path) -> GatewayFactory:
    """Start the real gateway outbox + publisher on this test's topic root (an async context manager)."""

    @contextlib.asynccontextmanager
    async def start(site: str = SITE, gateway_id: str = GATEWAY) -> AsyncIterator[Gateway]:
        config = MqttConfig(host=mosquitto.host, port=mosquitto.port, topic_prefix=mqtt_topic_root)
        outbox = Outbox(tmp_path / f"gateway-outbox-{site}.db", receipt_window=config.outbox_receipt_window)
        publisher = Publisher(config, outbox, Identity(site, gateway_id))
        task = asyncio.create_task(publisher.run(), name="gateway-publisher")
        try:
            yield Gateway(outbox, publisher, Topics(mqtt_topic_root))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            outbox.close()

    return start
