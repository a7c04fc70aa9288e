"""The poll grid under a controlled wall clock (the one seam faked here: time itself)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from drivers.modbus.bus import ModbusBus
from drivers.modbus.device import ModbusDevice
from drivers.sim.modbus_device import SimulatedModbusDevice, constant_signal
from gateway.outbox import Builder
from gateway.scheduler import BusPoller, ScheduledDevice, next_slot
from pantau.contract import Readings, Topics
from pantau.resilience import VirtualClock
from pantau.site.config import DeviceConfig
from pantau.site.connections import BusTiming, TcpBusConfig
from tests.harness.modbus import ModbusServerFactory, shipped_modbus_profile

START = datetime(2026, 12, 3, 6, 0, 0, tzinfo=UTC)


def test_next_slot_is_on_the_grid() -> None:
    assert next_slot(1000.3, 10) == 1010
    assert next_slot(1010.0, 10) == 1020
    assert next_slot(1000.3, 10, skip=2) == 1030


async def test_a_clock_stepped_back_re_grids_instead_of_stalling(
    modbus_tcp_server: ModbusServerFactory,
) -> None:
    profile = shipped_modbus_profile("dfrobot-sen0676")
    sim = SimulatedModbusDevice(profile, constant_signal({"level": 1.0, "installation_height": 4.0}))
    server = modbus_tcp_server([sim.sim_device()])
    clock = VirtualClock(START)
    bus = ModbusBus(
        TcpBusConfig(transport="tcp", host=server.host, port=server.port), BusTiming(), clock=clock
    )
    config = DeviceConfig(id="radar", profile="dfrobot-sen0676", poll_interval=timedelta(seconds=10))
    batches: list[list[Builder]] = []

    async def sink(batch: list[Builder]) -> None:
        batches.append(batch)

    poller = BusPoller(
        "bus",
        [ScheduledDevice(config, ModbusDevice(profile, bus, unit_id=1, clock=clock))],
        sink,
        site="s",
        gateway="g",
        topics=Topics(),
        clock=clock,
    )
    task = asyncio.create_task(poller.run())
    try:
        async with asyncio.timeout(20):
            while poller.polls_total < 3:
                await asyncio.sleep(0.001)
            clock.step_wall(-3600)  # NTP finally corrects a box that booted an hour ahead
            while poller.polls_total < 7:
                await asyncio.sleep(0.001)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()
        await clock.aclose()
    # Re-gridded at once: 7 polls in about 8 intervals of monotonic time, not after 360 idle intervals.
    assert clock.monotonic() < 9 * 10
    built = [build(seq) for seq, build in enumerate(b for batch in batches for b in batch)]
    stamps = [Readings.model_validate_json(p).ts.timestamp() for t, p, _r in built if t.endswith("/readings")]
    assert all(t % 10 == pytest.approx(0, abs=1e-3) for t in stamps), stamps  # on the grid, before and after
    assert stamps[3] < stamps[2]  # the step is in the data, as it happened on the box
