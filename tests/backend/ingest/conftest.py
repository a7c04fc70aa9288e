"""Fixtures for ingest tests; helpers live in `support.py`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.config import MqttConfig
from gateway.outbox import Outbox
from gateway.publisher import Identity, Publisher
from pantau.contract import Topics
from tests.backend.ingest.support import GATEWAY, SITE, Gateway
from tests.harness.mosquitto import Mosquitto

#: `async with gateway() as gw:` — the real gateway outbox and publisher on this test's topic root.
GatewayFactory = Callable[[], contextlib.AbstractAsyncContextManager[Gateway]]


@pytest.fixture
def gateway(mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path) -> GatewayFactory:
    """Start the real gateway outbox + publisher on this test's topic root (an async context manager)."""

    @contextlib.asynccontextmanager
    async def start() -> AsyncIterator[Gateway]:
        config = MqttConfig(host=mosquitto.host, port=mosquitto.port, topic_prefix=mqtt_topic_root)
        outbox = Outbox(tmp_path / "gateway-outbox.db")
        publisher = Publisher(config, outbox, Identity(SITE, GATEWAY))
        task = asyncio.create_task(publisher.run(), name="gateway-publisher")
        try:
            yield Gateway(outbox, publisher, Topics(mqtt_topic_root))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            outbox.close()

    return start
