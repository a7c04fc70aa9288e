"""A field site in a box: simulated devices on a real RS-485-like line (socat pty) served by pymodbus, a site
file pointing a gateway at them and at a real Mosquitto, and an MQTT recorder of what the broker delivers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml

from drivers.profiles import load_profile
from drivers.sim.device_signals import profile_signal
from drivers.sim.modbus_device import SimulatedModbusDevice
from drivers.sim.signals import RiverScenario
from gateway.outbox import Outbox
from gateway.publisher import Identity, Publisher
from pantau.contract import Message, Topics, decode
from pantau.profiles.files import PROFILE_DIR
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.resilience import SYSTEM_CLOCK, Clock
from pantau.site.config import MqttConfig
from tests.harness.modbus import ModbusServerThread
from tests.harness.mosquitto import Mosquitto
from tests.harness.serial_pty import SocatPtyPair

DEVICES = (("wl-radar", "vegapuls-c21", 246), ("wl-pressure", "qdy30a", 1), ("rain", "deltaohm-hd2016", 3))
PARAMS = {"wl-radar": {"mounting_height_m": 6.2}, "wl-pressure": {"datum_m": -0.35}, "rain": {}}


@dataclass
class FieldSite:
    """Simulated devices keyed by device id, the serial line, and a writer of site files."""

    devices: dict[str, SimulatedModbusDevice]
    server: ModbusServerThread
    port: Path
    workdir: Path

    def site_file(
        self, broker: Mosquitto, *, poll_interval: str = "1s", prefix: str = "pantau/v1", **extra: Any
    ) -> Path:
        document = {
            "site": "ampal-mufakat",
            "name": "Sungai Ampal — Mufakat (test)",
            "kind": "river_gauge",
            "location": {"lat": -1.2494, "lon": 116.8586},
            "gateway": "gw-test",
            "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": prefix, "reconnect_cap": "2s"},
            "outbox": {"path": str(self.workdir / "outbox.db")},
            "status_interval": "2s",
            "buses": [
                {
                    "id": "rs485-1",
                    "kind": "modbus",
                    "connection": {"transport": "rtu", "port": str(self.port), "baudrate": 19200},
                    "timing": {"timeout": "300ms", "inter_frame_delay": "5ms", "retries": 0},
                    "devices": [
                        {
                            "id": name,
                            "profile": profile,
                            "unit": unit,
                            "poll_interval": poll_interval,
                            "params": PARAMS[name],
                        }
                        for name, profile, unit in DEVICES
                    ],
                }
            ],
        } | extra
        path = self.workdir / "site.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True))
        return path


@pytest.fixture
def field_site(pty_pair: SocatPtyPair, tmp_path: Path) -> Iterator[FieldSite]:
    river = RiverScenario()
    devices = {}
    for name, profile_id, unit in DEVICES:
        profile = load_profile(PROFILE_DIR / f"{profile_id}.yaml")
        assert isinstance(profile, ModbusProfile)
        devices[name] = SimulatedModbusDevice(
            profile, profile_signal(profile, river, PARAMS[name], unit), unit_id=unit
        )
    server = ModbusServerThread(
        [d.sim_device() for d in devices.values()], serial_port=pty_pair.device_end, baudrate=19200
    )
    server.start()
    yield FieldSite(devices, server, pty_pair.host_end, tmp_path)
    server.stop()


@dataclass
class Recorder:
    """Everything the broker delivers under a prefix, decoded against the contract on arrival."""

    received: list[tuple[str, Message]] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)

    def seqs(self) -> list[int]:
        return [m.seq for _topic, m in self.received if hasattr(m, "gateway")]

    def of_kind(self, kind: str) -> list[tuple[str, Message]]:
        return [(t, m) for t, m in self.received if m.kind == kind]

    async def wait_for(self, predicate: Callable[[Recorder], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self):
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def recording(
    broker: Mosquitto, prefix: str = "pantau/v1", client_id: str = "recorder"
) -> AsyncIterator[Recorder]:
    """Subscribe (QoS 1, persistent session, survives broker restarts) and record until the block ends."""
    recorder = Recorder()
    topics = Topics(prefix)
    subscribed = asyncio.Event()

    def record(message: aiomqtt.Message) -> None:
        topic, payload = message.topic.value, bytes(message.payload)  # type: ignore[arg-type]
        try:
            recorder.received.append((topic, decode(payload, topic=topic, topics=topics)))
        except ValueError as exc:
            recorder.invalid.append((topic, str(exc)))

    async def listen() -> None:
        while True:
            client = aiomqtt.Client(broker.host, broker.port, identifier=client_id, clean_session=False)
            try:
                async with client:
                    await client.subscribe(f"{prefix}/#", qos=1)
                    subscribed.set()
                    async for message in client.messages:
                        record(message)
            except aiomqtt.MqttError:
                # paho acknowledged what sits in aiomqtt's queue already, and aiomqtt stops iterating at a
                # disconnect: take those too, or the recorder (not the gateway) would lose them.
                queue = client._queue
                while not queue.empty():
                    record(queue.get_nowait())
                await asyncio.sleep(0.2)  # broker down: keep trying, the persistent session holds the rest

    task = asyncio.create_task(listen(), name="recorder")
    try:
        async with asyncio.timeout(10):
            await subscribed.wait()
        yield recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def publishing(
    config: MqttConfig, outbox: Outbox, identity: Identity, clock: Clock = SYSTEM_CLOCK
) -> AsyncIterator[Publisher]:
    """The real publisher, running until the block ends (then stopped as the gateway stops it)."""
    publisher = Publisher(config, outbox, identity, clock=clock)
    task = asyncio.create_task(publisher.run(), name="publisher")
    try:
        yield publisher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
