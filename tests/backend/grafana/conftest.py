"""A real influxd filled through the real ingest path, once for this folder's query tests: the gateway
publisher (outbox, QoS 1) -> Mosquitto -> a backend worker with the Balikpapan rules and sites -> InfluxDB.
The rules engine adds its fields (QC, ODOL verdicts, scale drift) and alert transitions as in production.
"""

# Test queries name rule ids of the committed rules file (slugs), nothing from outside.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from backend.grafana.build import Build
from backend.grafana.scope import Scope
from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.model import Retention
from gateway.outbox import Outbox
from gateway.publisher import Identity, Publisher
from pantau.contract import Message, Topics
from pantau.site.config import MqttConfig
from tests.backend.grafana import dataset
from tests.harness.backend import Gateway, backend_config, eventually, running
from tests.harness.influxd import Influxd
from tests.harness.mosquitto import Mosquitto

ROOT = Path(__file__).parents[3]
SITES = ROOT / "firmware_configs" / "sites"
RULES = ROOT / "firmware_configs" / "rules" / "balikpapan.yaml"


def committed_build() -> Build:
    """The build of the committed inputs (what `pantau grafana build` writes to grafana/)."""
    return Build.of(Scope.load(SITES, RULES))


@dataclass(frozen=True)
class Filled:
    influxd: Influxd
    database: str
    now: datetime

    async def query(self, statement: str) -> dict[str, Any]:
        """One InfluxQL statement the way Grafana's datasource sends it (POST /query, epoch ms)."""
        async with httpx.AsyncClient(base_url=self.influxd.url, timeout=30) as client:
            response = await client.post("/query", data={"q": statement, "db": self.database, "epoch": "ms"})
        body = response.json()
        assert response.status_code == 200, f"{statement}: HTTP {response.status_code} {body}"
        (result,) = body["results"]
        assert "error" not in result, f"{statement}: {result['error']}"
        return dict(result)

    async def count(self, statement: str) -> int:
        result = await self.query(statement)
        return sum(row[1] for series in result.get("series", []) for row in series["values"])


async def _publish(
    mosquitto: Mosquitto, prefix: str, workdir: Path, site: str, gateway: str, messages: list[Message]
) -> None:
    """The real gateway outbox and publisher, as tests/backend/conftest.py's `gateway` fixture."""
    config = MqttConfig(host=mosquitto.host, port=mosquitto.port, topic_prefix=prefix)
    outbox = Outbox(workdir / f"outbox-{site}.db", receipt_window=config.outbox_receipt_window)
    publisher = Publisher(config, outbox, Identity(site, gateway))
    task = asyncio.create_task(publisher.run(), name=f"gateway-publisher[{site}]")
    try:
        gw = Gateway(outbox, publisher, Topics(prefix))
        await gw.send(messages)
        await gw.drained(timeout=60)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        outbox.close()


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def filled(
    mosquitto: Mosquitto, influxd: Influxd, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Filled]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    influxd.create_database(database)
    storage = InfluxStorage(InfluxConfig(url=influxd.url, database=database, retry_for=5), Retention())
    await storage.setup()
    workdir = tmp_path_factory.mktemp("grafana-fill")
    prefix = f"test/{uuid.uuid4().hex[:12]}"
    config = backend_config(
        mosquitto,
        prefix,
        workdir,
        sites=str(SITES),
        rules={"file": str(RULES), "state": str(workdir / "rules.sqlite3"), "tick": "200ms"},
    )
    now = datetime.now(UTC).replace(microsecond=0)
    river, road = dataset.river_messages(now), dataset.road_messages(now)
    filled = Filled(influxd, database, now)
    try:
        async with running(config, storage) as worker:
            assert worker.rules is not None
            async with asyncio.timeout(15):
                await worker.rules.subscriber.subscribed.wait()
            await _publish(mosquitto, prefix, workdir, dataset.RIVER, dataset.RIVER_GATEWAY, river)
            await _publish(mosquitto, prefix, workdir, dataset.ROAD, dataset.ROAD_GATEWAY, road)
            vehicles = sum(1 for m in road if m.kind == "vehicle")

            async def judged() -> bool:
                found = await filled.count('SELECT count("verdict") FROM "pantau_long"."vehicle"')
                return found == vehicles

            async def qc_done() -> bool:
                found = await filled.count(
                    'SELECT count("qc") FROM "pantau_raw"."reading" WHERE "device" = \'wl-pressure\''
                )
                return found == dataset.STORM_MINUTES

            await eventually(judged, timeout=90, what="an ODOL verdict on every vehicle")
            await eventually(qc_done, timeout=90, what="a QC verdict on every pressure reading")
            drift = 'SELECT count("drift_pct") FROM "pantau_long"."scale_drift"'
            await eventually(lambda: filled.count(drift), timeout=60, what="a WIM scale drift point")
            for rule in ("ampal-muka-air", "ampal-qc-muka-air", "odol-km13", "wim-drift-km13"):
                statement = f'SELECT count("firing") FROM "pantau_long"."alert" WHERE "rule" = \'{rule}\''
                await eventually(lambda s=statement: filled.count(s), timeout=60, what=f"an alert of {rule}")
        yield filled
    finally:
        await storage.close()
        influxd.drop_database(database)
