"""The demo's field devices: one simulator per bus of the demo sites, on the link the site file names.

Modbus buses get pymodbus servers (RTU on a virtual serial cable, or Modbus TCP) whose registers follow the
demo storm on a compressed clock; record streams get a WIM controller on TCP and a weighbridge indicator on
a virtual serial cable, both fed by corridor traffic with trucks that must unload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from drivers.sim.device_signals import profile_signal
from drivers.sim.modbus_device import SimulatedModbusDevice
from drivers.sim.record_device import RecordFaults, SimulatedRecordDevice, serve_serial, serve_tcp
from drivers.sim.scenario import EnforcementTraffic, compressed_clock, demo_river
from drivers.sim.server import serial_server, tcp_server
from drivers.sim.signals import RiverScenario
from drivers.sim.virtual_cable import VirtualCable
from gateway.inventory import resolve_site
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.profiles.records.profile import RecordProfile
from pantau.site.config import SiteConfig
from pantau.site.connections import SerialBusConfig
from pantau.site.resolve import ResolvedModbusBus, ResolvedRecordStream

#: Simulated seconds per real second: the storm's hour of rising water takes a minute.
SPEED: Final = 60.0
#: Time between vehicles: a busy corridor for the WIM lane, a weighing cycle at the weighbridge.
TRUCK_EVERY: Final = {"wim": timedelta(seconds=3), "weighbridge": timedelta(seconds=9)}
OVERLOAD_SHARE: Final = 0.35
#: A burst of line noise after every Nth WIM record (about one a minute), the first after the NOISE_FIRSTth
#: (a few seconds in), so the refused frames show from the start, not after the first minute.
NOISE_EVERY: Final = 20
NOISE_FIRST: Final = 2
FILL_GAPS: Final = 16

Task = tuple[str, Callable[[], Coroutine[Any, Any, None]]]


@dataclass(frozen=True)
class World:
    """What every simulator measures: one river (in simulated time) and the clock that runs it."""

    river: RiverScenario
    clock: Callable[[], datetime]

    @classmethod
    def start(cls, speed: float = SPEED) -> World:
        now = datetime.now(UTC)
        return cls(demo_river(now), compressed_clock(now, speed))


def simulators(
    sites: list[tuple[SiteConfig, Path]], cables: dict[str, VirtualCable], world: World
) -> list[Task]:
    """(task name, coroutine factory) for every bus of every site; serial buses use `cables[bus id]`."""
    tasks: list[Task] = []
    for seed, (site, source) in enumerate(sites):
        for bus in resolve_site(site, source):
            if isinstance(bus, ResolvedModbusBus):
                tasks.append((f"sim[{bus.spec.id}]", _modbus(bus, cables, world)))
            elif isinstance(bus, ResolvedRecordStream):
                tasks.append((f"sim[{bus.spec.id}]", _records(bus, cables, seed)))
    return tasks


def _modbus(
    bus: ResolvedModbusBus, cables: dict[str, VirtualCable], world: World
) -> Callable[[], Coroutine[Any, Any, None]]:
    devices = []
    for resolved in bus.devices:
        profile = resolved.profile
        assert isinstance(profile, ModbusProfile)  # noqa: S101 - guaranteed by resolve()
        unit = resolved.config.unit if resolved.config.unit is not None else profile.default_unit_id
        signal = profile_signal(profile, world.river, resolved.config.params, unit)
        # Like most field devices, read short unmapped holes as 0 (the gateway merges reads across them).
        devices.append(
            SimulatedModbusDevice(profile, signal, unit_id=unit, clock=world.clock, fill_gaps=FILL_GAPS)
        )
    connection = bus.spec.connection
    server: ModbusSerialServer | ModbusTcpServer
    if isinstance(connection, SerialBusConfig):
        server = serial_server(devices, cables[bus.spec.id].device_end, connection)
    else:
        server = tcp_server(devices, connection.host, connection.port)

    async def serve() -> None:
        # pymodbus' serve_forever swallows cancellation; serve in the background and shut down ourselves.
        await server.serve_forever(background=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated

    return serve


def _records(
    bus: ResolvedRecordStream, cables: dict[str, VirtualCable], seed: int
) -> Callable[[], Coroutine[Any, Any, None]]:
    profile = bus.device.profile
    assert isinstance(profile, RecordProfile)  # noqa: S101 - guaranteed by resolve()
    # A WIM line picks up noise now and then, as real ones do: the demo shows the refused frames
    # counted on the live page and sampled into the backend's dead letters.
    noise = RecordFaults(garbage_every=NOISE_EVERY, garbage_first=NOISE_FIRST)
    device = SimulatedRecordDevice(
        profile,
        EnforcementTraffic(overload_share=OVERLOAD_SHARE, seed=seed),
        truck_every=TRUCK_EVERY[profile.source],
        faults=noise if profile.source == "wim" else None,
    )
    connection = bus.spec.connection

    async def serve() -> None:
        if connection.kind == "tcp":
            await serve_tcp(device, connection.host, connection.port)
        else:
            await serve_serial(device, cables[bus.spec.id].device_end)

    return serve
