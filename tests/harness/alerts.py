"""Alert test harness: a worker running the rules service, and a listener for the alerts it publishes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt

from backend.config import BackendConfig
from backend.storage.model import Storage
from backend.worker import BackendWorker
from pantau.contract import AlertTransition, Topics, decode
from tests.harness.backend import backend_config, running
from tests.harness.mosquitto import Mosquitto

SITES = Path(__file__).parents[2] / "firmware_configs" / "sites"


def rules_config(
    broker: Mosquitto,
    prefix: str,
    workdir: Path,
    rules_text: str,
    *,
    rules_section: dict[str, Any] | None = None,
    **overrides: Any,
) -> BackendConfig:
    """A worker config evaluating `rules_text` over the shipped site inventory, ticking every 200 ms;
    `rules_section` adds to the `rules:` section, `overrides` to the rest."""
    rules_file = workdir / "rules.yaml"
    rules_file.write_text(rules_text)
    section = {"file": str(rules_file), "state": str(workdir / "rules.sqlite3"), "tick": "200ms"}
    section |= rules_section or {}
    return backend_config(broker, prefix, workdir, sites=str(SITES), rules=section, **overrides)


@contextlib.asynccontextmanager
async def rules_worker(config: BackendConfig, storage: Storage) -> AsyncIterator[BackendWorker]:
    """`running(...)` that also waits for the rules service's own subscription."""
    async with running(config, storage) as worker:
        assert worker.rules is not None
        async with asyncio.timeout(15):
            await worker.rules.subscriber.subscribed.wait()
        yield worker


class AlertListener:
    """Every alert transition the backend publishes under `prefix`, in arrival order."""

    def __init__(self, broker: Mosquitto, prefix: str) -> None:
        self.broker, self.prefix = broker, prefix
        self.topics = Topics(prefix)
        self.transitions: list[AlertTransition] = []
        #: Topics whose retained alert was cleared (an empty payload), in arrival order.
        self.cleared: list[str] = []
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with aiomqtt.Client(self.broker.host, self.broker.port) as client:
            await client.subscribe(self.topics.alerts_filter(), qos=1)
            self.ready.set()
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes)
                if not payload:
                    self.cleared.append(str(message.topic))
                    continue
                decoded = decode(payload, topic=str(message.topic), topics=self.topics)
                assert isinstance(decoded, AlertTransition)
                self.transitions.append(decoded)

    def of(self, rule: str) -> list[AlertTransition]:
        return [t for t in self.transitions if t.rule == rule]

    def story(self, rule: str) -> list[tuple[str, str | None]]:
        return [(t.state, t.level) for t in self.of(rule)]


@contextlib.asynccontextmanager
async def listening(broker: Mosquitto, prefix: str) -> AsyncIterator[AlertListener]:
    listener = AlertListener(broker, prefix)
    task = asyncio.create_task(listener.run(), name="alert-listener")
    try:
        await asyncio.wait_for(listener.ready.wait(), 10)
        yield listener
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
