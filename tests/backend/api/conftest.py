"""An API served by a real uvicorn over storage filled through the real ingest path (gateway publisher ->
Mosquitto -> BackendWorker), on SQLite and on InfluxDB."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from backend.api.app import create_app
from backend.api.auth import hash_key
from backend.config.api import ApiConfig
from backend.storage.model import Storage
from backend.storage.schema import to_points
from backend.worker import BackendWorker
from tests.backend.api import dataset
from tests.backend.api.alert_book import EngineAlertBook
from tests.harness.backend import GatewayFactory, backend_config, eventually, running
from tests.harness.mosquitto import Mosquitto

KEYS: Final = {
    "read": "rd-6f1c2b9e8a7d4c3b2a1f0e9d8c7b6a5f",
    "report": "rp-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d",
    "operator": "op-5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b",
    "admin": "ad-9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c",
}


#: Limits no test of other behaviour reaches: those tests send hundreds of wrong keys and writes from one
#: address (tests/backend/api/test_limits.py tests the shipped defaults).
UNLIMITED: Final = {
    "failed_auth": {"burst": 100_000, "per_minute": 1_000_000},
    "writes": {"burst": 100_000, "per_minute": 1_000_000},
}


def api_config(**overrides: object) -> ApiConfig:
    keys = [
        {"name": f"{role}-client", "role": role, "key_sha256": hash_key(key)} for role, key in KEYS.items()
    ]
    document = {"keys": keys, "public": ["health", "latest", "inventory"], "limits": UNLIMITED}
    return ApiConfig.model_validate(document | overrides)


@dataclass
class Served:
    url: str
    app: FastAPI
    storage: Storage
    book: EngineAlertBook
    worker: BackendWorker | None

    def client(self, role: str | None = "read") -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {KEYS[role]}"} if role else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free port of 127.0.0.1 in this event loop; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def served(
    storage: Storage, mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path, gateway: GatewayFactory
) -> AsyncIterator[Served]:
    """The API over `storage` holding `dataset`, ingested for real; the worker keeps running alongside."""
    expected = dataset.Expected()
    river, trucks = dataset.river_messages(), dataset.vehicle_messages()
    config = backend_config(mosquitto, mqtt_topic_root, tmp_path)
    async with running(config, storage) as worker, gateway() as gw:
        await gw.send([*river, *trucks])
        await eventually(
            lambda: _count_is(storage, "reading", expected.readings), timeout=60, what="readings stored"
        )
        await eventually(lambda: _count_is(storage, "vehicle", expected.vehicles), what="vehicles stored")
        async with _judged_and_served(storage, worker) as served_api:
            yield served_api


async def _count_is(storage: Storage, measurement: str, count: int) -> bool:
    return await dataset.stored(storage, measurement) == count


@pytest.fixture
async def served_sqlite(sqlite_storage: Storage) -> AsyncIterator[Served]:
    """The API over SQLite holding `dataset`, written straight into storage (no broker in the way): for
    tests of the HTTP surface itself, where how the rows arrived does not matter. `worker` is not running."""
    river, trucks = dataset.river_messages(), dataset.vehicle_messages()
    await sqlite_storage.write([point for m in [*river, *trucks] for point in to_points(m)])
    async with _judged_and_served(sqlite_storage, None) as served_api:
        yield served_api


@contextlib.asynccontextmanager
async def _judged_and_served(storage: Storage, worker: BackendWorker | None) -> AsyncIterator[Served]:
    """The rules worker's points for `dataset` stored, and the API over `storage` served by uvicorn."""
    site_inventory = dataset.inventory()
    engine, points = dataset.judge([*dataset.river_messages(), *dataset.vehicle_messages()], site_inventory)
    await storage.write(points)
    book = EngineAlertBook(engine, storage, lambda: dataset.NOW)
    app = create_app(api_config(), storage, site_inventory, book, clock=lambda: dataset.NOW, instance="api-1")
    async with serve(app) as url:
        yield Served(url, app, storage, book, worker)
