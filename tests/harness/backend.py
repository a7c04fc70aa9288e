"""Backend test harness: workers and a gateway publisher against the session's real Mosquitto, in-process.

`worker(...)` runs a BackendWorker until the test ends; `gateway(...)` is the real gateway outbox and
publisher (QoS 1, sequence numbers), so what the backend ingests went through the gateway's own code.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backend.config import BackendConfig
from backend.storage.model import Storage
from backend.worker import BackendWorker
from gateway.outbox import Outbox
from gateway.publisher import Publisher
from pantau.contract import Message, Reading, Readings, Topics, encode
from tests.harness.mosquitto import Mosquitto

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
SITE = "ampal-mufakat"
GATEWAY = "gw-ampal-mufakat"


def readings(seq: int, *, device: str = "wl-radar-1", at: datetime | None = None) -> Readings:
    """One poll with three channels, a distinct timestamp per seq (10 s apart)."""
    return Readings(
        site=SITE,
        gateway=GATEWAY,
        seq=seq,
        ts=at or T0 + timedelta(seconds=10 * seq),
        device=device,
        channels={
            "level": Reading(value=1.0 + seq / 1000, unit="m"),
            "distance": Reading(value=5.2 - seq / 1000, unit="m"),
            "signal_quality": Reading.missing("timeout") if seq % 7 == 0 else Reading(value=41.0, unit="dB"),
        },
    )


def backend_config(broker: Mosquitto, prefix: str, workdir: Path, **overrides: Any) -> BackendConfig:
    worker_id = overrides.pop("worker_id", "backend-test")
    # The broker is shared by the whole session and a persistent session outlives its test: a client id
    # reused by a later test would be handed the earlier test's undelivered messages. The topic root is
    # unique per test and stable within one (a restart must find its own session again).
    client_id = f"pantau-{worker_id}-{zlib.crc32(prefix.encode()):08x}"
    mqtt = {"host": broker.host, "port": broker.port, "topic_prefix": prefix, "reconnect_cap": "1s"}
    mqtt |= {"client_id": client_id} | overrides.pop("mqtt", {})
    document: dict[str, Any] = {
        "worker_id": worker_id,
        "mqtt": mqtt,
        "spool": {"path": str(workdir / f"spool-{abs(hash(str(mqtt)))}.sqlite3"), "batch_linger": "5ms"},
        "writer": {"flush_interval": "50ms", "retry_cap": "1s"},
    }
    document |= overrides
    return BackendConfig.model_validate(document)


@dataclass
class Gateway:
    outbox: Outbox
    publisher: Publisher
    topics: Topics

    async def send(self, messages: Sequence[Message]) -> None:
        """Queue messages in the outbox (their own seq numbers kept) and let the publisher drain them."""

        def builder(message: Message) -> Callable[[int], tuple[str, bytes, bool]]:
            def build(_seq: int) -> tuple[str, bytes, bool]:
                return topic_for(self.topics, message), encode(message), False

            return build

        await asyncio.to_thread(self.outbox.append, [builder(m) for m in messages])
        self.publisher.notify()

    async def drained(self, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while self.outbox.state().depth > 0:
                await asyncio.sleep(0.05)


#: `async with gateway() as gw:` — the real gateway outbox and publisher on this test's topic root
#: (fixture `gateway` in tests/backend/conftest.py).
GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[Gateway]]


def topic_for(topics: Topics, message: Message) -> str:
    """The topic a gateway publishes `message` on."""
    device = getattr(message, "device", None)
    if message.kind == "readings":
        return topics.readings(message.site, str(device))
    if message.kind == "vehicle":
        return topics.vehicles(message.site, str(device))
    if message.kind == "device_status":
        return topics.device_status(message.site, str(device))
    if message.kind == "record_reject":
        return topics.record_rejects(message.site, str(device))
    return topics.gateway_status(message.site)


@contextlib.asynccontextmanager
async def running(config: BackendConfig, storage: Storage | None = None) -> AsyncIterator[BackendWorker]:
    """A worker running in this event loop until the block ends (then it drains and stops)."""
    worker = BackendWorker(config, storage)
    task = asyncio.create_task(worker.run(), name=f"worker[{config.worker_id}]")
    try:
        async with asyncio.timeout(15):
            while not worker.subscriber.subscribed.is_set():
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def opened(storage: Storage) -> AsyncIterator[Storage]:
    """A storage set up for the block and closed after it (a worker never closes a storage handed to it)."""
    await storage.setup()
    try:
        yield storage
    finally:
        await storage.close()


async def eventually(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> None:
    """Poll an async or sync check until it is truthy; fail naming `what` after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)
